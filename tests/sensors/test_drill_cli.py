"""The demo drill day and the sensors CLI end to end: import, replay with alarms in four colours, detect-leaks."""

import json

import pytest

from app.cli import main
from simulation.sensors.drill import drill_day
from simulation.sensors.store import ReadingStore


@pytest.fixture
def project(tmp_path, sensor_twin):
    from twin.project import save

    return save(sensor_twin, tmp_path / "town.gpkg")


def test_drill_day_stages_incidents_in_the_readings(sensor_twin):
    table, incidents = drill_day(sensor_twin, seed=3)
    names = [i.name for i in incidents]
    assert "gas main leak into a sewer well" in names and "biogas in a septic tank" in names
    ids = table.column("sensor_id").to_numpy(zero_copy_only=False)
    values = table.column("value").to_numpy()
    leak = next(i for i in incidents if i.name.startswith("gas main"))
    assert values[ids == leak.sensors[0]].max() > 60  # into the red band
    smoke = values[ids == "SM-1"]
    assert len(smoke) == 8640 and smoke.max() > 4  # every 10 s, fire above its red level
    again, _ = drill_day(sensor_twin, seed=3)
    assert again.equals(table)  # seeded: the same day every time


def test_cli_import_replay_prints_alarms_in_four_colours(project, sensor_twin, tmp_path, capsys):
    table, _ = drill_day(sensor_twin, seed=3)
    csv = tmp_path / "drill.csv"
    frame = table.to_pandas()
    frame["phenomenon_time"] = frame["phenomenon_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame[["phenomenon_time", "sensor_id", "value"]].to_csv(csv, index=False)
    assert main(["sensors", "import", "csv", str(csv), "--project", str(project), "--time-col", "phenomenon_time",
                 "--sensor-col", "sensor_id", "--value-col", "value"]) == 0
    out = capsys.readouterr().out
    assert f"{table.num_rows:,} readings of 9 sensor(s)" in out
    log = tmp_path / "alarms.json"
    assert main(["sensors", "replay", str(project), "--from", "2024-05-01T00:00Z", "--to", "2024-05-02T00:00Z",
                 "--speed", "10000", "--instant", "--log", str(log)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    for colour in ("RED", "ORANGE", "YELLOW", "BLUE"):
        assert any(f" {colour} " in line for line in lines), colour
    assert any("likely gas-main leak" in line for line in lines)
    assert any("likely biogas" in line for line in lines)
    alarms = json.loads(log.read_text())["alarms"]
    assert len(alarms) == len(lines) and alarms[0]["time"] <= alarms[-1]["time"]
    assert "alarm events" in captured.err


def test_cli_errors_are_one_line(project, tmp_path, capsys):
    assert main(["sensors", "import", "battledim", str(tmp_path / "nope.csv"), "--project", str(project)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("nope.csv: no such file") and "\n" not in err
    assert main(["sensors", "replay", str(project), "--from", "2024-05-01", "--to", "2024-05-02"]) == 2
    assert "no readings" in capsys.readouterr().err
    assert main(["sensors", "record", "--mqtt", "nohost", "--topic", "x", "--project", str(project)]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["sensors", "replay", str(project), "--from", "2024-05-01", "--to", "2024-05-02",
                 "--speed", "20000"]) == 2
    capsys.readouterr()
    # a mistyped sensor id is named, not reported as an empty recording
    assert main(["sensors", "replay", str(project), "--from", "2024-05-01", "--to", "2024-05-02",
                 "--sensors", "PT-1,NOPE"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readings of sensor(s) PT-1, NOPE in " in err
    assert main(["sensors", "replay", str(project), "--from", "2024-05-01", "--to", "2024-05-02", "--fps", "0"]) == 2
    assert "error: argument --fps: 0 is outside (0, 240]" in capsys.readouterr().err


def test_cli_detect_leaks_json_on_real_flows(shared, capsys):
    flows = shared("ltown", "2019_Flows.csv")
    assert main(["sensors", "detect-leaks", str(flows), "--levels", str(shared("ltown", "2019_Levels.csv")),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["balance"] == "p227 + p235 - A_T1·dh/dt"
    assert len(doc["events"]) >= 5
    first = doc["events"][0]
    assert set(first) >= {"start", "detected", "size_m3h"}
    assert first["start"].endswith("Z") and first["start"] < first["detected"] and first["size_m3h"] > 0


def test_cli_record_through_a_real_broker(mosquitto, project, capsys):
    import threading
    import time

    import paho.mqtt.client as mqtt

    host, port, _, _ = mosquitto

    def publish():
        # retained, one topic per reading: the broker hands every one to the recorder whenever its
        # subscription lands, so the test does not race the command's start-up
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.connect(host, port)
        c.loop_start()
        for i in range(50):
            c.publish(f"town/PT-2/{i:02d}", json.dumps({"sensor": "PT-2", "phenomenonTime": 1_714_521_600 + 300 * i,
                                                        "result": 30.0 if i != 20 else 4.0}),
                      qos=1, retain=True).wait_for_publish(5)
        c.loop_stop()

    th = threading.Thread(target=publish)
    th.start()
    time.sleep(0.5)
    assert main(["sensors", "record", "--mqtt", f"{host}:{port}", "--topic", "town/#", "--project", str(project),
                 "--count", "50", "--duration", "30", "--flush-s", "0.2"]) == 0
    th.join()
    out = capsys.readouterr().out
    assert "50 observations, 50 readings stored, 0 malformed" in out
    assert "RED" in out and "PT-2" in out  # the alarm fired live
    assert ReadingStore.for_project(project).count() == 50


def test_drill_showcase_step_writes_the_alarm_log(project, sensor_twin, tmp_path):
    from simulation.sensors.drill import drill_showcase

    out = tmp_path / "out"
    paths = drill_showcase(sensor_twin, project, out)
    assert [p.name for p in paths] == ["sensor_alarms.csv", "sensor_alarms.json"]
    doc = json.loads(paths[1].read_text())
    assert doc["speed"] == 10_000 and doc["frames"] == 260  # 8.64 s of wall time at 30 frames/s, virtual
    assert doc["readings"] == ReadingStore.for_project(project).count()
    assert doc["raised"]["red"] >= 2  # the gas leak and the fire
    csv_lines = paths[0].read_text().splitlines()
    assert csv_lines[0].startswith("time,level,state,kind,sensor_id") and len(csv_lines) == len(doc["alarms"]) + 1
    gas = [a for a in doc["alarms"] if a["context"]]
    assert any(a["context"] == "likely gas-main leak" for a in gas)


def test_drill_burst_drives_its_flow_main_above_red(sensor_twin):
    import geopandas as gpd
    from shapely.geometry import Point

    twin = sensor_twin
    frame = twin["sensors"].copy()
    flow = gpd.GeoDataFrame({"id": ["FT-1"], "sensor_type": ["flow"], "unit": ["m3/h"], "layer": ["water_pipes"],
                             "feature_id": ["P1"], "period_s": [60.0],
                             "thresholds": ['{"direction": "above", "blue": 300, "red": 600}']},
                            geometry=[Point(6, 5)], crs=frame.crs)
    twin.set_layer("sensors", gpd.pd.concat([frame, flow], ignore_index=True))
    table, incidents = drill_day(twin, seed=1)
    burst = next(i for i in incidents if i.name == "water main burst")
    assert burst.sensors[0] == "FT-1"
    ids = table.column("sensor_id").to_numpy(zero_copy_only=False)
    values = table.column("value").to_numpy()
    assert values[ids == "FT-1"].max() == pytest.approx(750, rel=0.01)  # 1.25 x its red level
    for pressure in burst.sensors[1:]:
        assert values[ids == pressure].min() < 14


def test_cli_imports_a_folder_of_picarro_logs(project, shared, capsys):
    folder = shared("methane")
    assert main(["sensors", "import", "picarro", str(folder), "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert f"{1835 + 121 + 525:,} readings from 3 file(s)" in out
    store = ReadingStore.for_project(project)
    assert store.count() == 1835 + 121 + 525 and store.positions().num_rows == 1835 + 120 + 525
    assert main(["sensors", "import", "bwdf", str(folder), "--project", str(project)]) == 2
    assert "no *.xlsx files for a bwdf import" in capsys.readouterr().err


def test_cli_info_summarises_the_store(project, shared, capsys):
    assert main(["sensors", "import", "picarro", str(shared("methane", "CFADS2274-20170315-162958Z-DataLog_User.dat")),
                 "--project", str(project)]) == 0
    capsys.readouterr()
    assert main(["sensors", "info", str(project), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["days"] == 1
    assert doc["sensors"] == [{"sensor": "CFADS2274:CH4", "type": None, "unit": None, "feature": None,
                               "readings": 121, "first": "2017-03-15T16:29:55.979Z",
                               "last": "2017-03-15T16:31:00.473Z", "uncertain": 0, "bad": 0, "positions": 120}]
    assert main(["sensors", "info", str(project)]) == 0
    assert "121 readings of 1 sensor(s) over 1 day(s)" in capsys.readouterr().out
