"""Live MQTT through a real mosquitto broker: recorded, malformed counted, reconnect after a broker restart."""

import json
import time

import paho.mqtt.client as mqtt
import pytest

from simulation.sensors.live import MqttFeed, Observations, PayloadError, Recorder, parse_payload
from simulation.sensors.store import ReadingStore


def publisher(host, port):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect(host, port)
    c.loop_start()
    return c


def wait_for(cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_payload_parsing_and_errors():
    obs = Observations()
    n = parse_payload(b'{"sensor": "P1", "phenomenonTime": "2024-05-01T00:00:00Z", "result": 3.5, '
                      b'"quality": "uncertain", "location": [1.5, 2.5]}', "city/s/P1", 42, obs)
    assert n == 1 and obs.sensor == ["P1"] and obs.phenomenon_ms == [1_714_521_600_000]
    assert obs.result_ms == [42] and obs.quality == [1] and (obs.pos_x, obs.pos_y) == ([1.5], [2.5])
    parse_payload(b'[{"phenomenonTime": 1714521600.5, "result": 1}]', "city/s/P9", 0, obs)
    assert obs.sensor[-1] == "P9" and obs.phenomenon_ms[-1] == 1_714_521_600_500
    for payload, message in [(b"{not json", "not JSON"), (b'{"sensor": "a", "result": 1}', "phenomenonTime"),
                             (b'{"sensor": "a", "phenomenonTime": 0, "result": "x"}', "finite number"),
                             (b'{"sensor": "a", "phenomenonTime": "soon", "result": 1}', "ISO 8601"),
                             (b'{"sensor": "a", "phenomenonTime": 0, "result": 1, "quality": 7}', "quality")]:
        with pytest.raises(PayloadError, match=message):
            parse_payload(payload, "t", 0, Observations())


def test_one_unstorable_message_is_malformed_and_the_batch_is_kept(tmp_path):
    """A time past 2262 or an integer of 400 digits passed the parser: the first made the recorder's
    whole batch fail to write (all its good readings lost), the second raised OverflowError out of
    the MQTT callback.  Both are malformed messages now; an empty sensor id too."""
    huge = b"1" + b"0" * 400
    for payload, message in [(b'{"sensor": "A", "phenomenonTime": 1e30, "result": 1}',
                              r"^'phenomenonTime' outside 1900\.\.2262: '1e\+30'$"),
                             (b'{"sensor": "A", "phenomenonTime": "9999-01-01T00:00:00Z", "result": 1}',
                              "'phenomenonTime' outside 1900..2262"),
                             (b'{"sensor": "A", "phenomenonTime": ' + huge + b', "result": 1}',
                              "'phenomenonTime' is not a finite number"),
                             (b'{"sensor": "A", "phenomenonTime": 1714521600, "result": ' + huge + b"}",
                              "'result' must be a finite number"),
                             (b'{"sensor": "", "phenomenonTime": 1714521600, "result": 1}', "'sensor' is empty")]:
        obs = Observations()
        with pytest.raises(PayloadError, match=message):
            parse_payload(payload, "t", 0, obs)
        assert len(obs) == 0
    store = ReadingStore(tmp_path / "r")
    recorder = Recorder(store, flush_s=60)
    obs = Observations()
    for i in range(3):
        parse_payload(b'{"sensor": "A", "phenomenonTime": %d, "result": %d}' % (1714521600 + 300 * i, i), "t", 0, obs)
    recorder.add(obs)
    assert recorder.flush() == 3 and store.query().column("value").to_pylist() == [0.0, 1.0, 2.0]


def test_recording_through_a_real_broker(mosquitto, tmp_path):
    host, port, stop, start = mosquitto
    store = ReadingStore(tmp_path / "r")
    recorder = Recorder(store, flush_s=0.2, max_batch=100).start()
    feed = MqttFeed(host, port, "city/sensors/#", recorder.add, qos=1, backoff=(1, 2)).start()
    assert feed.wait_connected(10)
    pub = publisher(host, port)
    t0 = 1_714_521_600
    for i in range(500):
        pub.publish(f"city/sensors/P{i % 5}", json.dumps({"phenomenonTime": t0 + i, "result": i * 0.5}), qos=1)
    pub.publish("city/sensors/P0", b"garbage", qos=1)
    pub.publish("city/sensors/P0", json.dumps({"phenomenonTime": t0, "result": None}), qos=1)
    assert wait_for(lambda: feed.observations == 500 and feed.malformed_total == 2)
    assert wait_for(lambda: recorder.stored == 500)  # flushed within the bound, before stop
    # the broker goes away and comes back: the feed reconnects with backoff and keeps recording
    stop()
    assert wait_for(lambda: not feed.connected.is_set(), 5)
    start()
    assert feed.wait_connected(15)
    pub2 = publisher(host, port)
    pub2.publish("city/sensors/P7", json.dumps({"phenomenonTime": t0 + 999, "result": 7.0}), qos=1)
    assert wait_for(lambda: feed.observations == 501)
    feed.stop()
    recorder.stop()
    pub.loop_stop()
    pub2.loop_stop()
    table = store.query()
    assert table.num_rows == 501 and store.count() == 501
    assert sorted(set(table.column("sensor_id").to_pylist())) == ["P0", "P1", "P2", "P3", "P4", "P7"]
    p3 = store.query(sensors=["P3"]).column("value").to_pylist()
    assert p3 == [i * 0.5 for i in range(3, 500, 5)]
    assert feed.connects == 2 and dict(feed.malformed) and feed.malformed_total == 2
    assert len(list((tmp_path / "r" / "readings").glob("day=*/live-*.parquet"))) == 1  # compacted on stop


def test_recorder_killed_mid_feed_keeps_everything_older_than_its_flush_bound(mosquitto, tmp_path):
    """kill -9 the recorder process: what arrived more than flush_s + 0.2 s before is on disk, readable."""
    import os
    import signal
    import subprocess
    import sys

    from twin.model import Twin
    from twin.project import save

    host, port, _, _ = mosquitto
    project = save(Twin("crash", "EPSG:32650"), tmp_path / "crash.gpkg")
    env = dict(os.environ, PYTHONPATH=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "sensors", "record", "--mqtt", f"{host}:{port}",
                             "--topic", "crash/#", "--project", str(project), "--flush-s", "0.5", "--qos", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = ReadingStore.for_project(project)
        pub = publisher(host, port)
        t0 = 1_714_521_600

        def probed():  # the recorder is subscribed once a probe reaches its store
            pub.publish("crash/probe", json.dumps({"phenomenonTime": t0, "result": 0.0}), qos=1)
            return wait_for(lambda: store.count() > 0, 0.5)

        assert wait_for(probed, 60), proc.stderr.read() if proc.poll() is not None else "no probe arrived"
        for i in range(2000):
            pub.publish("crash/S1", json.dumps({"phenomenonTime": t0 + i, "result": float(i)}), qos=1)
        assert wait_for(lambda: store.query(sensors=["S1"]).num_rows == 2000, 20)
        for i in range(2000, 2500):  # more arrive; the process dies before the next flush may run
            pub.publish("crash/S1", json.dumps({"phenomenonTime": t0 + i, "result": float(i)}), qos=1)
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        pub.loop_stop()
    finally:
        if proc.poll() is None:
            proc.kill()
    store.recover()
    values = store.query(sensors=["S1"]).column("value").to_pylist()
    assert 2000 <= len(values) <= 2500
    assert values == [float(i) for i in range(len(values))]  # a prefix, no hole, no half-written part


def test_a_failed_write_keeps_the_batch_for_the_next_flush(tmp_path, monkeypatch):
    """The recorder took the batch out of its buffer before writing: a disk error lost every reading in it
    although the recorder thread logs 'will retry'.  Now the batch goes back in front of later readings."""
    store = ReadingStore(tmp_path / "r")
    recorder = Recorder(store, flush_s=60)

    def batch(times):
        obs = Observations()
        for t in times:
            parse_payload(b'{"sensor": "A", "phenomenonTime": %d, "result": %d}' % (1714521600 + t, t), "t", 0, obs)
        return obs

    recorder.add(batch([0, 300]))
    real_append = store.append
    monkeypatch.setattr(store, "append", lambda *a, **k: (_ for _ in ()).throw(OSError("No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        recorder.flush()
    assert recorder.pending() == 2 and recorder.stored == 0
    recorder.add(batch([600]))
    monkeypatch.setattr(store, "append", real_append)
    assert recorder.flush() == 3 and recorder.stored == 3
    assert store.query().column("value").to_pylist() == [0.0, 300.0, 600.0]
