"""The live session: the main-break chain on one clock, the event stream, determinism, seeking, scenario files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from app.cli import main
from simulation.session import report
from simulation.session.events import KINDS, EventLog
from simulation.session.scenario import build_session, load_scenario
from twin import project

SCENARIO = """\
name: Main burst (test)
twin:
  project: demo.gpkg
start: "2026-06-01T00:00:00Z"
duration_h: 14
step_s: 60
seed: 3
breaks:
  - at: "07:30"
    pipe: P-83
    hole_mm: 150
response:
  isolate_min: 30
  repair_h: 4
targets:
  isolation_min: 90
"""


@pytest.fixture(scope="module")
def scenario_file(demo_twin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    project.save(demo_twin, folder / "demo.gpkg")
    path = folder / "burst.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def burst(scenario_file):
    scenario, folder = load_scenario(scenario_file)
    return scenario, build_session(scenario, folder).run()


def test_the_main_break_chain_happens_in_order_on_one_clock(burst):
    scenario, session = burst
    doc = report.summary(session, scenario)
    steps = {r["kind"]: r for r in doc["chain"]}
    assert doc["chain_complete"] and doc["chain_in_order"]
    assert steps["pipe_broken"]["time"] == "2026-06-01T07:30:00Z"
    # a pressure sensor sees it within one hydraulic step (60 s), the twin verifies and dispatches
    assert steps["alarm_raised"]["minutes_after_break"] <= 1.0
    opened = steps["incident_opened"]["minutes_after_break"]
    assert steps["unit_dispatched"]["minutes_after_break"] == pytest.approx(opened + 2.0)  # verify + dispatch
    # the verification against the model is in the log, one minute after the incident opened
    first = next(e for e in session.log.of("incident_opened") if e.time >= session.start + 7.5 * 3600)
    verified = [e for e in session.log.of("alarm_acknowledged") if e.get("incident") == first.feature]
    assert len(verified) == 1 and verified[0].get("verified") is True
    assert "m below the model's pressure" in verified[0].message
    assert verified[0].time - first.time == pytest.approx(60.0)
    arrived = steps["unit_arrived"]["minutes_after_break"]
    assert steps["valve_closed"]["minutes_after_break"] == pytest.approx(arrived + 30.0, abs=0.02)
    # the valves stop the leak at the next hydraulic step, and the repair takes 4 h
    assert 0 <= steps["leak_stopped"]["minutes_after_break"] - steps["valve_closed"]["minutes_after_break"] <= 1.0
    assert steps["repair_done"]["minutes_after_break"] == pytest.approx(steps["valve_closed"]["minutes_after_break"]
                                                                        + 240.0, abs=0.02)
    assert doc["targets"] == [{"kpi": "minutes_break_to_isolation", "target": 90.0,
                               "value": steps["valve_closed"]["minutes_after_break"], "met": True}]


def test_people_lose_and_regain_water_and_the_log_is_in_time_order(burst):
    _, session = burst
    log = session.log.frame()
    assert list(log["time_s"]) == sorted(log["time_s"])
    assert set(log["kind"]) <= set(KINDS)
    lost = log[log["kind"] == "service_lost"]
    after = lost[lost["time_s"] >= session.start + 7.5 * 3600]
    assert len(after) > 0 and after["value"].sum() > 0  # people behind the break lose water...
    # ...and no junction is still without water at the end that lost it because of the break
    assert session.water.people_without < after["value"].sum()
    leak = session.log.of("leak_started")[0]
    assert leak.value > 50  # L/s through a 150 mm hole at service pressure
    stopped = session.log.of("leak_stopped")[0]
    assert stopped.value == pytest.approx(sum(b["volume_m3"] for b in session.water.breaks.values()))


def test_same_seed_same_run_event_for_event(scenario_file, burst):
    scenario, session = burst
    scenario2, folder = load_scenario(scenario_file)
    again = build_session(scenario2, folder, twin=session.twin).run()
    a = session.log.frame().drop(columns=["seq"])
    b = again.log.frame().drop(columns=["seq"])
    pd.testing.assert_frame_equal(a, b)


def test_seeking_back_re_runs_from_the_start(burst, scenario_file):
    scenario, session = burst
    fresh = build_session(scenario, scenario_file.parent, twin=session.twin)
    fresh.advance_to(fresh.start + 9 * 3600)
    at9 = fresh.log.frame().drop(columns=["seq"])
    fresh.advance_to(fresh.start + 10 * 3600)
    before = fresh
    fresh = fresh.seek(fresh.start + 9 * 3600)
    assert fresh is not before and before.now == before.start + 10 * 3600
    with pytest.raises(ValueError, match="cannot advance back"):
        before.advance_to(before.start)
    assert fresh.now == fresh.start + 9 * 3600
    pd.testing.assert_frame_equal(fresh.log.frame().drop(columns=["seq"]), at9)


def test_the_log_round_trips_through_parquet_and_csv(burst, tmp_path):
    _, session = burst
    paths = session.log.write(tmp_path)
    table = pd.read_parquet(paths[0])
    pd.testing.assert_frame_equal(table, session.log.frame())
    assert pd.read_csv(paths[1])["kind"].tolist() == table["kind"].tolist()


def test_events_are_typed_and_immutable():
    log = EventLog()
    e = log.make(1.0, "valve_closed", "emergency", "water_valves", "V1", link="P1")
    with pytest.raises(Exception):
        e.kind = "valve_opened"
    assert e.get("link") == "P1"
    with pytest.raises(ValueError, match="unknown event kind 'valve_shut'"):
        log.make(1.0, "valve_shut", "x")
    with pytest.raises(ValueError, match="time must be a finite number"):
        log.make(math.nan, "valve_closed", "x")


def test_the_run_command_writes_log_summary_and_a_self_contained_report(scenario_file, tmp_path, capsys):
    assert main(["run", str(scenario_file), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "chain complete: yes, in order: yes" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "events.parquet", "report.html",
                                                          "summary.json"]
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    # the 3D view at the break, with the valves closed and after the repair (junctions by pressure)
    assert page.count("<figure>") == 3
    assert "2026-06-01T07:30:00Z: pipe P-83 broken; junctions coloured by pressure (m)" in page
    assert json.loads((tmp_path / "summary.json").read_text())["chain_complete"] is True


@pytest.mark.parametrize("change, says", [
    (("  hole_mm: 150", "  hole_mm: 150\n    hole_cm: 15"), "line 12: field breaks.0.hole_cm: unknown key"),
    (("duration_h: 14", "duration_h: nan"), "line 5: field duration_h: Input should be a finite number"),
    (('at: "07:30"', 'at: "17:30"'), "breaks: pipe P-83 at '17:30' falls outside the run"),
    (("step_s: 60", "step_s: [60"), "not valid YAML"),
])
def test_scenario_errors_name_the_file_line_and_field(scenario_file, tmp_path, change, says, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace(*change))
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and says in err[0], err
    assert not (tmp_path / "o").exists()


def test_the_published_json_schema_is_the_scenario_model():
    """docs/scenario.schema.json is what the validator enforces (regenerate: python -m simulation.session.scenario)."""
    from simulation.session.scenario import SCHEMA_PATH, json_schema

    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(json_schema()))
    schema = json_schema()
    assert schema["additionalProperties"] is False  # unknown keys are refused
    assert {"name", "twin", "start"} <= set(schema["required"])


def test_a_sensor_stays_in_alarm_while_any_of_its_alarms_is_in_force(burst):
    """The runtime state lists a sensor at its most severe alarm in force, as the log says, at every alarm."""
    _, session = burst
    in_force: dict = {}
    severity = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
    both = 0
    for e in session.log.events:
        if not e.kind.startswith("alarm_") or e.source != "sensors" or e.kind == "alarm_acknowledged":
            continue
        kinds = in_force.setdefault(e.get("sensor"), {})
        if e.kind == "alarm_cleared":
            kinds.pop(e.get("alarm_kind"), None)
        else:
            kinds[e.get("alarm_kind")] = e.get("level")
        both += len(kinds) > 1
    expected = {s: max(k.values(), key=severity.get) for s, k in in_force.items() if k}
    assert session.state["alarms"] == expected
    assert both > 0   # the day has sensors with two alarms at once (a sudden fall and a low pressure)
