"""The live feed survives anything a broker delivers (issue 10, item 5), and sensor ids and timestamps are
read one way whatever form they arrive in (item 4)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pandas as pd
import paho.mqtt.client as mqtt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.cli import main
from simulation.sensors import live
from simulation.sensors.importers import ColumnMapping, import_table
from simulation.sensors.live import (MAX_PAYLOAD_BYTES, MqttFeed, Observations, PayloadError, Recorder,
                                     check_port, check_topic_filter, parse_payload)
from simulation.sensors.store import ReadingStore
from twin.errors import SourceError

DEEP = b"[" * 200_000 + b"]" * 200_000  # 400 kB: under the size cap, far deeper than json can follow
HUGE = b'{"sensor": "A", "phenomenonTime": 1714521600, "result": 1, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'


def good(i: int, sensor: str = "A") -> bytes:
    return b'{"sensor": "%s", "phenomenonTime": %d, "result": %d}' % (sensor.encode(), 1714521600 + 60 * i, i)


def message(payload: bytes, topic: str = "city/sensors/A"):
    return SimpleNamespace(payload=payload, topic=topic)


def test_deep_and_huge_payloads_are_one_malformed_message_each():
    with pytest.raises(PayloadError, match=r"^nested too deeply \(JSON deeper than the parser can follow\)$"):
        parse_payload(DEEP, "t", 0, Observations())
    with pytest.raises(PayloadError) as err:
        parse_payload(HUGE, "t", 0, Observations())
    assert str(err.value) == f"payload too large ({len(HUGE):,} bytes; the limit is 1,048,576)"
    assert MAX_PAYLOAD_BYTES == 1_048_576


def test_the_message_callback_never_raises_and_recording_goes_on(tmp_path, monkeypatch):
    store = ReadingStore(tmp_path / "r")
    recorder = Recorder(store, flush_s=60)
    feed = MqttFeed("127.0.0.1", 1883, "city/sensors/#", recorder.add)  # never started: no broker needed
    payloads = [good(0), DEEP, HUGE, b"\xff\xfe not utf-8", b"[" * 5000 + b"1" + b"]" * 5000, good(1),
                b'{"sensor": [1], "phenomenonTime": 1714521600, "result": 1}', good(2)]
    for p in payloads:
        feed._on_message(None, None, message(p))
    assert feed.received == 8 and feed.observations == 3
    assert dict(feed.malformed) == {"nested too deeply": 2, "payload too large": 1, "not JSON": 1,
                                    "'sensor' must be a string or a whole number, found '[1]'": 1}
    # a failure nobody foresaw inside the parser costs one message too
    monkeypatch.setattr(live, "_loads", lambda payload: (_ for _ in ()).throw(KeyError("surprise")))
    feed._on_message(None, None, message(good(3)))
    assert feed.malformed["unreadable (KeyError)"] == 1
    monkeypatch.undo()
    feed._on_message(None, None, message(good(4)))
    assert feed.drain() == 4
    assert recorder.flush() == 4
    assert store.query().column("value").to_pylist() == [0.0, 1.0, 2.0, 4.0]


def test_a_deeply_nested_message_through_a_real_broker_does_not_stop_the_feed(mosquitto, tmp_path):
    """Before: RecursionError escaped the paho callback, the network thread died and every later
    message was lost while `sensors record` still exited 0."""
    host, port, _, _ = mosquitto
    store = ReadingStore(tmp_path / "r")
    recorder = Recorder(store, flush_s=0.2).start()
    feed = MqttFeed(host, port, "city/sensors/#", recorder.add, qos=1, backoff=(0.2, 1)).start()
    try:
        assert feed.wait_connected(10)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect(host, port)
        pub.loop_start()
        pub.publish("city/sensors/A", good(0), qos=1).wait_for_publish(5)
        pub.publish("city/sensors/A", DEEP, qos=1).wait_for_publish(5)
        pub.publish("city/sensors/A", HUGE, qos=1).wait_for_publish(5)
        for i in range(1, 6):
            pub.publish("city/sensors/A", good(i), qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and feed.observations < 6:
            time.sleep(0.05)
        pub.loop_stop()
        pub.disconnect()
        assert feed._network.is_alive()
    finally:
        feed.stop()
        recorder.stop()
    assert feed.received == 8 and feed.observations == 6
    assert dict(feed.malformed) == {"nested too deeply": 1, "payload too large": 1}
    assert store.query().column("value").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("topic, text", [
    ("#/a", "MQTT topic filter '#/a': '#' must be a whole level and the last one (e.g. 'city/sensors/#')"),
    ("a/#/b", "MQTT topic filter 'a/#/b': '#' must be a whole level and the last one (e.g. 'city/sensors/#')"),
    ("a/b#", "MQTT topic filter 'a/b#': '#' must be a whole level and the last one (e.g. 'city/sensors/#')"),
    ("a+/b", "MQTT topic filter 'a+/b': '+' must be a whole level (e.g. 'city/+/pressure')"),
    ("", "MQTT topic filter '' is empty (e.g. 'city/sensors/#')"),
])
def test_invalid_topic_filters_are_refused_before_connecting(topic, text):
    with pytest.raises(ValueError) as err:
        MqttFeed("127.0.0.1", 1883, topic, lambda b: None)
    assert str(err.value) == text
    for ok in ("#", "city/sensors/#", "+/pressure/+", "city/+/#"):
        assert check_topic_filter(ok) == ok


@pytest.mark.parametrize("port", [0, 70000, "abc", -1, True])
def test_invalid_ports_are_refused_before_connecting(port):
    with pytest.raises(ValueError) as err:
        MqttFeed("127.0.0.1", port, "city/#", lambda b: None)
    assert str(err.value) == f"MQTT port {port!r} is not a port number (a whole number from 1 to 65535)"
    assert check_port("1883") == 1883 and check_port(65535) == 65535


def test_record_cli_bad_topic_or_port_is_one_line_and_exit_2(sensor_twin, tmp_path, capsys):
    from twin.project import save

    project = tmp_path / "town.gpkg"
    save(sensor_twin, project)
    assert main(["sensors", "record", "--mqtt", "127.0.0.1:70000", "--topic", "city/#",
                 "--project", str(project), "--duration", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["lifeline-twin sensors: error: MQTT port 70000 is not a port number "
                   "(a whole number from 1 to 65535)"]
    assert main(["sensors", "record", "--mqtt", "127.0.0.1:1883", "--topic", "a/#/b",
                 "--project", str(project), "--duration", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["lifeline-twin sensors: error: MQTT topic filter 'a/#/b': '#' must be a whole level and "
                   "the last one (e.g. 'city/sensors/#')"]


# ---------------------------------------------------------------------- sensor ids: one id per sensor
def test_numeric_sensor_ids_in_payloads_are_the_same_sensor_as_text():
    obs = Observations()
    for sensor in (b'12', b'12.0', b'"12"', b'" 12 "'):
        payload = b'{"sensor": %s, "phenomenonTime": 1714521600, "result": 1, "quality": 0}' % sensor
        parse_payload(payload, "t", 0, obs)
    parse_payload(b'{"sensor": " 12 ", "phenomenonTime": 1714521600, "result": 1}', "t", 0, obs)  # fast path
    assert obs.sensor == ["12"] * 5
    for sensor, shown in ((b"12.5", "'12.5'"), (b"true", "True"), (b'{"id": 1}', "\"{'id': 1}\"")):
        with pytest.raises(PayloadError) as err:
            parse_payload(b'{"sensor": %s, "phenomenonTime": 1714521600, "result": 1}' % sensor, "t", 0, Observations())
        assert str(err.value) == f"'sensor' must be a string or a whole number, found {shown}"


def test_imported_sensor_ids_and_offsets_are_read_one_way(tmp_path):
    store = ReadingStore(tmp_path / "r")
    csv = tmp_path / "long.csv"
    # a change to summer time: +01:00 then +02:00; one id written with spaces; an infinite value
    csv.write_text("time,sensor,value\n2024-03-31 00:30:00+01:00,12,1\n2024-03-31 03:30:00+02:00, 12 ,2\n"
                   "2024-03-31 04:00:00+02:00,12,inf\n")
    report = import_table(csv, store, ColumnMapping(sensor="sensor"))
    assert [s.sensor_id for s in report.series] == ["12"]
    assert report.series[0].empty_values == 1
    got = store.query().to_pandas()
    assert got["sensor_id"].tolist() == ["12", "12"]
    assert [t.isoformat() for t in got["phenomenon_time"]] == ["2024-03-30T23:30:00+00:00",
                                                               "2024-03-31T01:30:00+00:00"]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("time,sensor,value\n2024-03-31 00:30:00+01:00,A,1\n2024-03-31 03:30:00,A,2\n")
    with pytest.raises(SourceError) as err:
        import_table(mixed, store, ColumnMapping(sensor="sensor"))
    assert str(err.value) == (f"{mixed}: column 'time': timestamps with a UTC offset (line 2: "
                              "'2024-03-31 00:30:00+01:00') and without one (line 3: '2024-03-31 03:30:00'): "
                              "give every timestamp an offset or none")
    empty = tmp_path / "empty.csv"
    empty.write_text("time,sensor,value\n2024-03-31 00:30:00,A,1\n2024-03-31 00:35:00,,1\n")
    with pytest.raises(SourceError, match=r"empty.csv: line 3, column 'sensor': empty sensor id$"):
        import_table(empty, store, ColumnMapping(sensor="sensor"))
    times = pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)
    pq.write_table(pa.table({"time": times, "sensor": [12.0, 12.0], "value": [1.0, 2.0]}), tmp_path / "f.parquet")
    report = import_table(tmp_path / "f.parquet", ReadingStore(tmp_path / "r2"), ColumnMapping(sensor="sensor"))
    assert [s.sensor_id for s in report.series] == ["12"]  # not "12.0"
    pq.write_table(pa.table({"time": times, "sensor": [12.5, 13.0], "value": [1.0, 2.0]}), tmp_path / "g.parquet")
    with pytest.raises(SourceError, match=r"g.parquet: line 2, column 'sensor': sensor id 12.5 is not a name or "
                                          r"a whole number"):
        import_table(tmp_path / "g.parquet", store, ColumnMapping(sensor="sensor"))


def test_alarm_thresholds_must_be_finite_and_known():
    from simulation.sensors.alarms import rules_for
    from simulation.sensors.registry import Sensor
    from twin.errors import LayerError

    with pytest.raises(LayerError, match=r"sensor 'P1' thresholds 'red': expected a finite number, found nan"):
        rules_for(Sensor("P1", "pressure", "m", thresholds={"red": float("nan")}))
    with pytest.raises(LayerError, match=r"sensor 'P1' thresholds: unknown key 'hysterisis' \(did you mean "
                                         r"'hysteresis'\?"):
        rules_for(Sensor("P1", "pressure", "m", thresholds={"hysterisis": 1}))
    with pytest.raises(LayerError, match=r"'rate': unknown key 'window' \(did you mean 'window_s'\?"):
        rules_for(Sensor("P1", "pressure", "m", thresholds={"rate": {"delta": 1, "window": 60}}))
