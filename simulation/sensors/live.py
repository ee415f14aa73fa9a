"""Live sensor feeds over MQTT, and the recorder that appends them to the readings store.

Payload (UTF-8 JSON, SensorThings-like), one observation or an array of them::

    {"sensor": "PT-12",                         # or "sensor_id"; default: last level of the topic
     "phenomenonTime": "2024-05-01T10:00:00Z",  # ISO 8601 (naive = UTC) or POSIX seconds
     "result": 3.21,                            # a number, in the sensor's unit
     "resultTime": "2024-05-01T10:00:01Z",      # optional; default: when it was received
     "quality": "good",                         # optional: good | uncertain | bad | 0 | 1 | 2
     "location": [lon, lat]}                    # optional: a moving sensor's position

A malformed message (not JSON, missing field, non-numeric result, bad time) is
counted by reason and logged (the first ten, then every thousandth), never
raised: a feed must survive a misbehaving device.  So is a payload larger than
:data:`MAX_PAYLOAD_BYTES` (**1 MiB**; the message is dropped unread), JSON nested
deeper than Python can parse (``RecursionError``), one too large to hold in
memory (``MemoryError``) and any other failure while parsing one message: each
is one malformed message, and recording goes on with the next.

Sensor ids are strings: ``"PT-12"`` as sent (surrounding spaces removed); a
whole number (``12`` or ``12.0``) becomes ``"12"``, the same id as ``"12"``;
any other type (fractions, booleans, lists, objects) is a malformed message.

The topic filter and the port are checked before connecting (:func:`check_topic_filter`,
:func:`check_port`): a filter such as ``#/a``, ``a/#/b``, ``a+/b`` or an empty one,
and a port outside 1..65535, are one :class:`ValueError` naming them.

:class:`Recorder` buffers observations and writes them to the store every
``flush_s`` seconds (default 1 s) or every ``max_batch`` observations (default
5,000), whichever comes first; each write is an fsynced, atomically renamed
Parquet part.  :class:`MqttFeed` hands parsed messages to it every 0.2 s or
every 500 observations.  **A crash loses at most the observations received
since the last write: at most ``flush_s`` + 0.2 seconds' worth and at most
``max_batch`` + 500 observations** (plus what the broker had not delivered yet,
which a QoS 1 session with a fixed client id redelivers on reconnection).
Parts are merged every ``compact_s`` seconds (default 600 s) and on stop.

:class:`MqttFeed` subscribes with paho-mqtt; connection losses are retried with
exponential backoff from ``backoff[0]`` to ``backoff[1]`` seconds, and the first
connection is retried the same way when the broker is not up yet.

:class:`Recording` is the two together with an alarm engine: every batch the
recorder writes is fed to the engine, so alarms fire as the feed is recorded
(``lifeline-twin sensors record``).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pyarrow as pa

from simulation.sensors.store import QUALITY_NAMES, ReadingStore, positions_table

log = logging.getLogger("lifeline.sensors.live")


_loads = json.loads
_NUMBER = (int, float)
#: Phenomenon times the store can hold and every reader can turn into a date (pandas' nanosecond range
#: ends 2262-04-11): a time outside is a malformed message, or one message would fail its whole batch's write.
_T_MIN_S, _T_MAX_S = -2_208_988_800.0, 9_223_372_036.0  # 1900-01-01 .. 2262-04-11, POSIX s
#: Comparisons, unlike math.isfinite, never raise OverflowError on a JSON integer of 400 digits (and are
#: False for NaN and infinities).
_FLOAT_MAX = sys.float_info.max


def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


#: Largest payload parsed, bytes (1 MiB): a bigger message is counted malformed ("payload too large")
#: and dropped unread, so one misbehaving device cannot stall or exhaust the feed.
MAX_PAYLOAD_BYTES = 1 << 20


class PayloadError(ValueError):
    """A message that is not a valid observation; the text says which field."""


def sensor_key(value, where: str = "") -> str:
    """A sensor id as the store keeps it: a string.

    Text is stripped; a whole number (``12``, ``12.0``, numpy integers) becomes
    ``"12"`` so a device sending ``12`` and one sending ``"12"`` are one sensor.
    Anything else (fractions, NaN, booleans, containers, empty text) raises
    :class:`PayloadError` naming ``where``.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise PayloadError(f"{where}'sensor' is empty")
        return text
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{where}'sensor' must be a string or a whole number, found {value!r}")
    try:
        import numbers

        if isinstance(value, numbers.Integral):
            return str(int(value))
        if isinstance(value, numbers.Real) and _finite(value) and float(value) == int(value):
            return str(int(value))
    except (OverflowError, ValueError, TypeError):
        pass
    raise PayloadError(f"{where}'sensor' must be a string or a whole number, found {str(value)[:30]!r}")


def check_port(port) -> int:
    """The port as an int in 1..65535, or a ValueError naming it."""
    text = str(port).strip()
    if isinstance(port, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"MQTT port {port!r} is not a port number (a whole number from 1 to 65535)")
    return int(text)


def check_topic_filter(topic) -> str:
    """The MQTT topic filter if valid (MQTT 3.1.1 section 4.7), else a ValueError saying what is wrong."""
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"MQTT topic filter {topic!r} is empty (e.g. 'city/sensors/#')")
    if "\x00" in topic:
        raise ValueError(f"MQTT topic filter {topic!r} contains a NUL character")
    if len(topic.encode("utf-8", "surrogatepass")) > 65535:
        raise ValueError(f"MQTT topic filter of {len(topic)} characters is longer than 65535 bytes")
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"MQTT topic filter {topic!r}: '#' must be a whole level and the last one "
                             "(e.g. 'city/sensors/#')")
        if "+" in level and level != "+":
            raise ValueError(f"MQTT topic filter {topic!r}: '+' must be a whole level (e.g. 'city/+/pressure')")
    return topic


@dataclass
class Observations:
    """A batch of parsed observations (parallel lists)."""

    sensor: list = field(default_factory=list)
    phenomenon_ms: list = field(default_factory=list)
    result_ms: list = field(default_factory=list)
    value: list = field(default_factory=list)
    quality: list = field(default_factory=list)
    pos_sensor: list = field(default_factory=list)
    pos_ms: list = field(default_factory=list)
    pos_x: list = field(default_factory=list)
    pos_y: list = field(default_factory=list)

    def extend(self, other: "Observations") -> None:
        """Append ``other``'s observations (and positions) after these."""
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def __len__(self) -> int:
        return len(self.sensor)


def _time_ms(value, name: str) -> int:
    if isinstance(value, bool):
        raise PayloadError(f"{name} must be an ISO 8601 time or POSIX seconds, found {value!r}")
    if isinstance(value, (int, float)):
        if not _finite(value):
            raise PayloadError(f"{name} is not a finite number")
        seconds = float(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise PayloadError(f"{name} is not an ISO 8601 time: {value[:40]!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        seconds = dt.timestamp()
    else:
        seconds = None
    if seconds is not None:
        if not _T_MIN_S <= seconds <= _T_MAX_S:
            raise PayloadError(f"{name} outside 1900..2262: {str(value)[:40]!r}")  # ':' ends the count's key
        return int(round(seconds * 1000))
    raise PayloadError(f"{name} must be an ISO 8601 time or POSIX seconds, found {type(value).__name__}")


def parse_payload(payload: bytes, topic: str, received_ms: int, into: Observations) -> int:
    """Parse one MQTT message into ``into``; returns the number of observations added.

    Raises :class:`PayloadError` naming the problem; nothing is added then.  A payload over
    :data:`MAX_PAYLOAD_BYTES`, nested too deep or too big to parse is a PayloadError too.
    """
    if payload is None:
        raise PayloadError("not JSON (empty payload)")
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload too large ({size:,} bytes; the limit is {MAX_PAYLOAD_BYTES:,})")
    try:
        doc = _loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON ({exc.__class__.__name__}: {str(exc)[:60]})") from None
    except RecursionError:
        raise PayloadError("nested too deeply (JSON deeper than the parser can follow)") from None
    except MemoryError:
        raise PayloadError("payload too large to parse (out of memory)") from None
    except (TypeError, ValueError) as exc:  # not bytes/str, or a number JSON cannot hold
        raise PayloadError(f"not JSON ({exc.__class__.__name__}: {str(exc)[:60]})") from None
    if type(doc) is dict and len(doc) == 3:
        # the common message from a device: {"sensor", "phenomenonTime" (POSIX s), "result"};
        # taken without the general checks below, which cost more than the JSON parse itself
        sensor, t, result = doc.get("sensor"), doc.get("phenomenonTime"), doc.get("result")
        if (type(sensor) is str and sensor and not sensor[0].isspace() and not sensor[-1].isspace()
                and type(t) in _NUMBER and type(result) in _NUMBER
                and _T_MIN_S <= t <= _T_MAX_S and -_FLOAT_MAX <= result <= _FLOAT_MAX):
            into.sensor.append(sensor)
            into.phenomenon_ms.append(int(round(t * 1000)))
            into.result_ms.append(received_ms)
            into.value.append(float(result))
            into.quality.append(0)
            return 1
    items = doc if isinstance(doc, list) else [doc]
    parsed = []
    for k, item in enumerate(items):
        where = f"observation {k}: " if len(items) > 1 else ""
        if not isinstance(item, dict):
            raise PayloadError(f"{where}expected a JSON object, found {type(item).__name__}")
        sensor = item.get("sensor", item.get("sensor_id"))
        if sensor is not None:
            sensor = sensor_key(sensor, where)
        else:
            sensor = topic.rsplit("/", 1)[-1].strip()
            if not sensor:
                raise PayloadError(f"{where}no 'sensor' field and the topic {topic!r} does not end in a sensor id")
        if "phenomenonTime" not in item:
            raise PayloadError(f"{where}no 'phenomenonTime' field")
        if "result" not in item:
            raise PayloadError(f"{where}no 'result' field")
        result = item["result"]
        if isinstance(result, bool) or not isinstance(result, (int, float)) or not _finite(result):
            raise PayloadError(f"{where}'result' must be a finite number, found {str(result)[:30]!r}")
        t = _time_ms(item["phenomenonTime"], where + "'phenomenonTime'")
        rt = _time_ms(item["resultTime"], where + "'resultTime'") if "resultTime" in item else received_ms
        q = item.get("quality", 0)
        if isinstance(q, str):
            code = QUALITY_NAMES.get(q.lower())
        elif isinstance(q, int) and not isinstance(q, bool) and q in (0, 1, 2):
            code = q
        else:
            code = None
        if code is None:
            raise PayloadError(f"{where}'quality' must be good, uncertain, bad, 0, 1 or 2, found {q!r}")
        loc = item.get("location")
        if loc is not None:
            if (not isinstance(loc, (list, tuple)) or len(loc) < 2
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in loc[:2])):
                raise PayloadError(f"{where}'location' must be [x, y] (lon, lat), found {str(loc)[:40]}")
        loc_xy = None
        if loc is not None:
            loc_xy = (float(loc[0]), float(loc[1]))
            if not (_finite(loc_xy[0]) and _finite(loc_xy[1])):
                raise PayloadError(f"{where}'location' must be finite numbers, found {str(loc)[:40]}")
        parsed.append((sensor, t, rt, float(result), code, loc_xy))
    for sensor, t, rt, v, code, loc in parsed:
        into.sensor.append(sensor)
        into.phenomenon_ms.append(t)
        into.result_ms.append(rt)
        into.value.append(v)
        into.quality.append(code)
        if loc is not None:
            into.pos_sensor.append(sensor)
            into.pos_ms.append(t)
            into.pos_x.append(float(loc[0]))
            into.pos_y.append(float(loc[1]))
    return len(parsed)


class Recorder:
    """Appends live observations to a store with a bounded loss on crash."""

    def __init__(self, store: ReadingStore, *, flush_s: float = 1.0, max_batch: int = 5000,
                 compact_s: float = 600.0, on_flush: Callable[[Observations], None] | None = None):
        if flush_s <= 0 or max_batch <= 0:
            raise ValueError("flush_s and max_batch must be positive")
        self.store = store
        self.flush_s = flush_s
        self.max_batch = max_batch
        self.compact_s = compact_s
        self.on_flush = on_flush
        self.stored = 0
        self.flushes = 0
        self._buffer = Observations()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_compact = time.monotonic()
        store.recover()

    def add(self, obs: Observations) -> None:
        """Take a parsed batch (thread-safe)."""
        with self._lock:
            b = self._buffer
            b.sensor += obs.sensor
            b.phenomenon_ms += obs.phenomenon_ms
            b.result_ms += obs.result_ms
            b.value += obs.value
            b.quality += obs.quality
            if obs.pos_sensor:
                b.pos_sensor += obs.pos_sensor
                b.pos_ms += obs.pos_ms
                b.pos_x += obs.pos_x
                b.pos_y += obs.pos_y
            full = len(b) >= self.max_batch
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Write what is buffered now; returns the number of readings written."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, Observations()
            if not len(batch):
                return 0
            try:
                written = self._write(batch)
            except BaseException:
                # put the batch back in front of what arrived meanwhile: the next flush retries it
                # (a full disk must cost time, not readings)
                with self._lock:
                    late, self._buffer = self._buffer, batch
                    self._buffer.extend(late)
                raise
            if self.on_flush is not None:
                self.on_flush(batch)
            return written

    def _write(self, batch: Observations) -> int:
        """One batch to the store (readings, then positions) under one part name."""
        table = pa.Table.from_arrays(
            [pa.array(batch.sensor, pa.string()),
             pa.array(np.asarray(batch.phenomenon_ms, "int64")).cast(pa.timestamp("ms", tz="UTC")),
             pa.array(np.asarray(batch.result_ms, "int64")).cast(pa.timestamp("ms", tz="UTC")),
             pa.array(np.asarray(batch.value, "float64")),
             pa.array(np.asarray(batch.quality, "uint8"))],
            names=["sensor_id", "phenomenon_time", "result_time", "value", "quality"])
        stamp = f"live-{time.time_ns():x}"
        self.store.append(table, part=stamp)
        if batch.pos_sensor:
            self.store.append_positions(positions_table(batch.pos_sensor, batch.pos_ms, batch.pos_x, batch.pos_y),
                                        part=stamp)
        self.stored += len(batch)
        self.flushes += 1
        return len(batch)

    def start(self) -> "Recorder":
        self._thread = threading.Thread(target=self._run, name="lifeline-recorder", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
                if time.monotonic() - self._last_compact >= self.compact_s:
                    with self._write_lock:
                        self.store.compact("live-")
                        self.store.compact("live-", kind="positions")
                    self._last_compact = time.monotonic()
            except Exception:  # a full disk must not kill the feed silently: log loudly, keep buffering
                log.exception("recorder: writing to %s failed; will retry", self.store.root)
                time.sleep(min(self.flush_s, 1.0))

    def stop(self, compact: bool = True) -> None:
        """Flush what is left, merge the parts, stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        if compact:
            self.store.compact("live-")
            self.store.compact("live-", kind="positions")


class MqttFeed:
    """An MQTT subscription delivering parsed :class:`Observations` to a callback."""

    def __init__(self, host: str, port: int, topic: str, on_observations: Callable[[Observations], None], *,
                 qos: int = 1, client_id: str | None = None, backoff: tuple[float, float] = (1.0, 60.0),
                 session: bool = False, batch: int = 500):
        import paho.mqtt.client as mqtt

        if not isinstance(host, str) or not host.strip():
            raise ValueError(f"MQTT host {host!r} is empty")
        port = check_port(port)
        check_topic_filter(topic)
        if qos not in (0, 1, 2):
            raise ValueError(f"MQTT QoS {qos!r} must be 0, 1 or 2")
        self.host, self.port, self.topic, self.qos = host, port, topic, int(qos)
        self.on_observations = on_observations
        self.received = 0
        self.observations = 0
        self.malformed: Counter = Counter()
        self.connects = 0
        self.connected = threading.Event()
        self._batch_size = batch
        self._batch = Observations()
        self._batch_lock = threading.Lock()
        kwargs = dict(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "",
                      protocol=mqtt.MQTTv311)
        if client_id and session:
            kwargs["clean_session"] = False
        self.client = mqtt.Client(**kwargs)
        self.backoff = (max(0.1, float(backoff[0])), max(float(backoff[0]), float(backoff[1])))
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._drain_stop = threading.Event()
        self._drainer: threading.Thread | None = None
        self._network: threading.Thread | None = None

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def start(self) -> "MqttFeed":
        self._network = threading.Thread(target=self._network_loop, name="lifeline-mqtt", daemon=True)
        self._network.start()
        self._drainer = threading.Thread(target=self._drain_loop, name="lifeline-mqtt-drain", daemon=True)
        self._drainer.start()
        return self

    def stop(self) -> None:
        self._drain_stop.set()
        if self._drainer is not None:
            self._drainer.join()
        try:
            self.client.disconnect()
        except Exception:  # already gone: nothing to say goodbye to
            pass
        if self._network is not None:
            self._network.join(5)
        self.drain()

    def _network_loop(self) -> None:
        """Connect, read, keep alive and reconnect with exponential backoff until stopped.

        paho's own loop waits in select() before every packet; at tens of
        thousands of messages a second that is most of the cost.  This loop
        selects once, then reads every packet already arrived.
        """
        import select

        import paho.mqtt.client as mqtt

        delay = self.backoff[0]
        ever = False
        while not self._drain_stop.is_set():
            try:
                delay, ever = self._network_step(mqtt, select, delay, ever)
            except Exception:  # nothing a broker sends may end the thread: log, pause, go on
                log.exception("mqtt %s:%s: network loop error; continuing", self.host, self.port)
                if self._drain_stop.wait(0.2):
                    break

    def _network_step(self, mqtt, select, delay: float, ever: bool) -> tuple[float, bool]:
        """One turn of :meth:`_network_loop`: connect (with backoff) or read, write, keep alive."""
        sock = self.client.socket()
        if sock is None:
            try:
                if ever:
                    self.client.reconnect()
                else:
                    self.client.connect(self.host, self.port, keepalive=30)
                    ever = True
                delay = self.backoff[0]
            except (OSError, ValueError) as exc:
                log.warning("mqtt %s:%s unreachable (%s); retrying in %.0f s", self.host, self.port, exc, delay)
                if self._drain_stop.wait(delay):
                    return delay, ever
                delay = min(2 * delay, self.backoff[1])
            return delay, ever
        try:
            readable, writable, _ = select.select([sock], [sock] if self.client.want_write() else [], [], 0.2)
        except (OSError, ValueError):  # the socket closed under us
            readable = writable = []
        if readable:
            for _ in range(10_000):  # every packet already arrived, then back to select
                before = self.received
                if self.client.loop_read() != mqtt.MQTT_ERR_SUCCESS or self.received == before:
                    break
        if writable or self.client.want_write():
            self.client.loop_write()
        self.client.loop_misc()
        return delay, ever

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Wait until connected *and* subscribed; False on timeout."""
        return self.connected.wait(timeout)

    # paho callbacks run on the network thread: keep them short
    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            log.warning("mqtt %s:%s refused the connection: %s", self.host, self.port, reason_code)
            return
        self.connects += 1
        if self.connects > 1:
            log.info("mqtt %s:%s reconnected (%d)", self.host, self.port, self.connects - 1)
        client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        # ready means the broker has acknowledged the subscription, not merely the connection:
        # a message published in between would not reach us
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.warning("mqtt %s:%s refused the subscription to %r: %s", self.host, self.port, self.topic, failed[0])
            return
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.connected.clear()
        if reason_code != 0:
            log.warning("mqtt %s:%s connection lost (%s); retrying with backoff", self.host, self.port, reason_code)

    def _on_message(self, client, userdata, msg):
        """One message: parsed into the batch, or counted malformed.  Never raises: an exception
        here would leave paho's read loop and end the network thread, losing every later message."""
        self.received += 1
        try:
            topic = msg.topic
        except Exception:  # paho decodes the topic as UTF-8 on access
            topic = repr(getattr(msg, "_topic", b""))[:80]
        try:
            with self._batch_lock:
                n = parse_payload(msg.payload, topic, time.time_ns() // 1_000_000, self._batch)
                self.observations += n
                full = len(self._batch) >= self._batch_size
        except PayloadError as exc:
            self._malformed(str(exc).split(":")[0].split("(")[0].strip(), topic, exc)
            return
        except Exception as exc:  # a parser bug must cost one message, not the feed
            self._malformed(f"unreadable ({type(exc).__name__})", topic, exc)
            return
        if full:
            try:
                self.drain()
            except Exception:
                log.exception("mqtt %s: handing observations on failed; recording goes on", self.topic)

    def _malformed(self, reason: str, topic: str, exc: BaseException) -> None:
        self.malformed[reason] += 1
        total = self.malformed_total
        if total <= 10 or total % 1000 == 0:
            log.warning("mqtt %s: malformed message #%d on %r: %s", self.topic, total, topic, exc)

    def drain(self) -> int:
        """Hand the parsed observations gathered so far to the callback."""
        with self._batch_lock:
            batch, self._batch = self._batch, Observations()
        if len(batch):
            self.on_observations(batch)
        return len(batch)

    def _drain_loop(self) -> None:
        while not self._drain_stop.wait(0.2):
            try:
                self.drain()
            except Exception:  # the consumer failed on one batch: keep handing on the next ones
                log.exception("mqtt %s: handing observations on failed; recording goes on", self.topic)


class Recording:
    """A live MQTT feed recorded into a store, each written batch fed to an alarm engine."""

    def __init__(self, store: ReadingStore, engine, host: str, port: int, topic: str, *, qos: int = 1,
                 client_id: str | None = None, flush_s: float = 1.0, max_batch: int = 5000):
        self.engine = engine  # an AlarmEngine (anything with .feed(sensor_id, times, values, quality))
        self.recorder = Recorder(store, flush_s=flush_s, max_batch=max_batch, on_flush=self._alarms)
        # with a client id the broker keeps a session, so QoS 1 messages sent while away are redelivered
        self.feed = MqttFeed(host, port, topic, self.recorder.add, qos=qos, client_id=client_id,
                             session=bool(client_id))

    def start(self) -> "Recording":
        self.recorder.start()
        self.feed.start()
        return self

    def stop(self) -> None:
        self.feed.stop()
        self.recorder.stop()

    def _alarms(self, batch: Observations) -> None:
        """The engine takes one sensor's readings in time order: group the batch by sensor and sort."""
        by_sensor: dict[str, list] = {}
        for sid, t, v, q in zip(batch.sensor, batch.phenomenon_ms, batch.value, batch.quality):
            by_sensor.setdefault(sid, []).append((t / 1000.0, v, q))
        for sid, rows in by_sensor.items():
            rows.sort()
            self.engine.feed(sid, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
