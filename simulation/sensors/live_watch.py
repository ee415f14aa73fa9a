"""A live MQTT feed watched for alarms, for the window: readings in, graded alarms out, on the wall clock.

:class:`LiveWatch` subscribes with :class:`~simulation.sensors.live.MqttFeed`
(same payloads, same malformed-message accounting) and queues what arrives
on the feed's thread; :meth:`LiveWatch.drain`, called by whoever shows it
(the window's timer), feeds the queued readings to an
:class:`~simulation.sensors.alarms.AlarmEngine` over the twin's sensors in
phenomenon-time order and returns the alarms they fired.  Readings of
sensors the twin does not know are counted (``unknown``), not raised.
Nothing is written to disk here: ``lifeline-twin sensors record`` keeps a
feed.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from simulation.sensors.alarms import AlarmEngine
from simulation.sensors.live import MqttFeed, Observations
from simulation.sensors.registry import SensorRegistry


class LiveWatch:
    """One MQTT subscription, the twin's sensors and their alarms."""

    def __init__(self, twin, host: str, port: int, topic: str, *, client_id: str | None = None):
        self.registry = SensorRegistry.from_twin(twin)
        self.engine = AlarmEngine(self.registry)
        self._queue: deque[Observations] = deque()
        self._lock = threading.Lock()
        self.feed = MqttFeed(host, port, topic, self._arrived, client_id=client_id)
        self.readings = 0
        self.latest: dict[str, tuple[float, float]] = {}   # sensor -> (time s, value)

    def _arrived(self, obs: Observations) -> None:   # the feed's thread
        with self._lock:
            self._queue.append(obs)

    def start(self, wait_s: float = 0.0) -> "LiveWatch":
        """Connect (retrying in the background); with ``wait_s``, wait that long for the connection."""
        self.feed.start()
        if wait_s:
            self.feed.wait_connected(wait_s)
        return self

    @property
    def connected(self) -> bool:
        return self.feed.connected.is_set()

    @property
    def unknown(self) -> int:
        return sum(self.engine.unknown.values())

    @property
    def malformed(self) -> int:
        return self.feed.malformed_total

    def drain(self) -> list:
        """Feed what has arrived to the alarm engine (oldest first); returns the alarms it fired."""
        with self._lock:
            batches = list(self._queue)
            self._queue.clear()
        if not batches:
            return []
        obs = Observations()
        for b in batches:
            obs.extend(b)
        if not len(obs):
            return []
        t = np.asarray(obs.phenomenon_ms, dtype=float) / 1000.0
        v = np.asarray(obs.value, dtype=float)
        q = np.asarray(obs.quality)
        sensors = np.asarray(obs.sensor, dtype=object)
        order = np.argsort(t, kind="stable")
        fired = []
        for k in order:
            fired += self.engine.feed(str(sensors[k]), t[k], v[k], q[k:k + 1], publish=True)
            self.latest[str(sensors[k])] = (float(t[k]), float(v[k]))
        self.readings += len(order)
        return fired

    def active(self) -> list:
        """The alarms in force now, most severe first."""
        return sorted(self.engine.active(), key=lambda a: (-a.severity, a.sensor_id))

    def stop(self) -> None:
        self.feed.stop()
