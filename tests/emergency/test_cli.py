"""``lifeline-twin emergency ...`` on saved projects: outputs, JSON, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from twin.project import save

from .conftest import grid_twin

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def project(tmp_path):
    return save(grid_twin(8), tmp_path / "grid.gpkg")


def test_run_json_and_outputs(project, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["emergency", "run", str(project), "--days", "30", "--replications", "2", "--json",
                 "--out", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["replications"] == 2 and report["days"] == 30
    kpis = report["kpis"]
    assert set(kpis["by_type"]) <= {"structure_fire", "medical", "gas_leak", "water_main_break",
                                    "drain_flooding", "drone_incident"}
    med = kpis["overall"]["response_s"]["median"]
    assert med["ci95"][0] <= med["mean"] <= med["ci95"][1]
    names = [s["name"] for s in kpis["standards"]]
    assert "NFPA 1710 first engine travel (240 s)" in names
    assert any("water_repair station(s) list no units" in n for n in report["notes"])
    for name in ("response_ecdf.png", "utilisation.png", "coverage.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert json.loads((out / "kpis.json").read_text())["kpis"] == kpis
    header = (out / "incidents.csv").read_text().splitlines()[0]
    assert header.startswith("incident,ref,type,priority,false_alarm,report_day,report_time,")
    assert all(c.endswith(("_min", "_m")) for c in header.split(",")[7:] if c != "unfilled_slots"), header
    body = (out / "incidents.csv").read_text() + (out / "crews.csv").read_text()
    assert "e+" not in body and "e-0" not in body  # no scientific notation for planners
    # every output saved atomically: exactly the listed files, no temporary left beside them
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(f).name for f in report["files"]) == [
        "coverage.png", "crews.csv", "incidents.csv", "kpis.json", "response_ecdf.png", "utilisation.png"]


def test_run_text_report(project, capsys):
    assert main(["emergency", "run", str(project), "--days", "10", "--replications", "2"]) == 0
    out = capsys.readouterr().out
    assert "standards (share meeting the limit, 95% CI over replications):" in out
    assert "China: micro fire station on scene within 3 min" in out
    assert "utilisation: mean" in out and "queued calls:" in out


def test_coverage_and_siting_json(project, tmp_path, capsys):
    assert main(["emergency", "coverage", str(project), "--minutes", "2", "--json"]) == 0
    cov = json.loads(capsys.readouterr().out)
    assert cov["buildings"] == 49 and 0 < cov["building_share"] < 1
    assert main(["emergency", "site-stations", str(project), "--add", "1", "--minutes", "2", "--json",
                 "--out", str(tmp_path)]) == 0
    site = json.loads(capsys.readouterr().out)
    assert len(site["new_stations"]) == 1
    assert site["population_share_after"] > site["population_share_before"]
    assert (tmp_path / "siting.png").read_bytes().startswith(PNG)


def test_replayed_incidents_far_from_roads_are_flagged(project, tmp_path, capsys):
    calls = tmp_path / "calls.csv"
    calls.write_text("time,type,x,y\n0,medical,500300,3400300\n600,medical,509000,3400300\n")
    assert main(["emergency", "run", str(project), "--days", "1", "--replications", "1",
                 "--incidents", str(calls), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kpis"]["far_incidents"]["mean"] == 1
    assert any("1 incident(s) lie more than 500 m from the reachable road network" in n and
               f"{calls}:3" in n for n in report["notes"])


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    empty = grid_twin(4, station_rows=[("fs1", "Empty", "station", {}, 500000, 3400000)])
    path = save(empty, tmp_path / "nounits.gpkg")
    assert main(["emergency", "run", str(path), "--days", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lifeline-twin emergency: error: layer 'fire_stations': no station has any unit, "
                   "nothing can be dispatched"]
    assert main(["emergency", "coverage", str(tmp_path / "missing.gpkg"), "--minutes", "5"]) == 2
    assert "missing.gpkg" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: one\n")
    assert main(["emergency", "coverage", str(path), "--minutes", "5", "--scenario", str(bad)]) == 2
    assert "bad.yaml: field seed" in capsys.readouterr().err
    assert main(["emergency", "run", str(path), "--days", "0"]) == 2  # refused before any work
    assert "argument --days: 0 is outside (0, 3660]" in capsys.readouterr().err


def test_run_on_an_alarm_log(project, tmp_path, capsys):
    """The sensors drill writes its alarm log as JSON; each raised red/orange alarm is an incident."""
    alarms = {"alarms": [
        {"time": "2024-05-01T02:14:30Z", "level": "orange", "state": "raised", "sensor_id": "CH1",
         "sensor_type": "methane", "layer": "manholes", "feature_id": "MH1", "message": "methane 51 %LEL",
         "x": 500300.0, "y": 3400200.0},
        {"time": "2024-05-01T02:20:00Z", "level": "red", "state": "escalated", "sensor_id": "CH1",
         "sensor_type": "methane", "layer": "manholes", "feature_id": "MH1", "message": "methane 68 %LEL",
         "x": 500300.0, "y": 3400200.0},
        {"time": "2024-05-01T09:30:00Z", "level": "red", "state": "raised", "sensor_id": "PT7",
         "sensor_type": "pressure", "layer": "water_junctions", "feature_id": "J7", "message": "pressure fell",
         "x": 500900.0, "y": 3400900.0},
        {"time": "2024-05-01T11:15:00Z", "level": "red", "state": "cleared", "sensor_id": "PT7",
         "sensor_type": "pressure", "layer": "water_junctions", "feature_id": "J7", "message": "back",
         "x": 500900.0, "y": 3400900.0}]}
    path = tmp_path / "alarms.json"
    path.write_text(json.dumps(alarms))
    out = tmp_path / "out"
    assert main(["emergency", "run", str(project), "--alarms", str(path), "--replications", "2", "--json",
                 "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 1
    assert set(report["kpis"]["by_type"]) == {"gas_leak", "water_main_break"}
    rows = (out / "incidents.csv").read_text().splitlines()
    assert len(rows) == 3 and "manholes/MH1" in rows[1] and ",1," in rows[1]  # escalated: priority 1
    path.write_text("[{\"time\": 1}")
    assert main(["emergency", "run", str(project), "--alarms", str(path)]) == 2
    assert "alarms.json: line 1: not valid JSON" in capsys.readouterr().err


def test_malformed_alarm_files_name_the_file_alarm_and_field(project, tmp_path, capsys):
    """An alarm log with a missing or non-numeric field is one line naming the file, the alarm and the field."""
    good = {"time": "2024-05-01T02:14:30Z", "level": "red", "state": "raised", "sensor_id": "CH1",
            "sensor_type": "methane", "x": 500300.0, "y": 3400200.0}
    cases = [({k: v for k, v in good.items() if k != "sensor_id"}, "alarm #2: missing field(s) 'sensor_id'"),
             ({k: v for k, v in good.items() if k not in ("time", "level")},
              "alarm #2: missing field(s) 'time', 'level'"),
             ({**good, "x": "abc"}, "alarm #2: field 'x' is not a number: 'abc'"),
             ({**good, "time": "yesterday"}, "alarm #2 from sensor 'CH1': time 'yesterday' is not a time")]
    path = tmp_path / "alarms.json"
    for bad, message in cases:
        path.write_text(json.dumps({"alarms": [good, bad]}))
        assert main(["emergency", "run", str(project), "--alarms", str(path), "--replications", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"error: {path}: {message}" in err, err


def test_replayed_incidents_beyond_the_days_or_without_a_time_are_refused(project, tmp_path, capsys):
    """Incidents after --days were served outside the utilisation window (utilisation over-counted);
    an empty time cell turned every time into NaN once shifted to the first."""
    calls = tmp_path / "calls.csv"
    calls.write_text("time,type,x,y\n0,medical,500300,3400300\n864000,medical,500300,3400300\n")
    argv = ["emergency", "run", str(project), "--replications", "1", "--incidents", str(calls), "--json"]
    assert main([*argv, "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calls.csv: incidents run to day 10.00, beyond --days 1: give --days 11" in err
    assert main([*argv, "--days", "11"]) == 0
    assert json.loads(capsys.readouterr().out)["kpis"]["overall"]["incidents"]["mean"] == 2
    calls.write_text("time,type,x,y\n0,medical,500300,3400300\n,medical,500300,3400300\n")
    assert main([*argv, "--days", "1"]) == 2
    assert "calls.csv: line 3 column 'time': empty or not a number" in capsys.readouterr().err
