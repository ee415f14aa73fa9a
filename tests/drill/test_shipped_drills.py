"""The gas-leak and high-rise drills on the demo city: the trainees drive the response, the twin plays the city."""

from __future__ import annotations

import pytest

from app.cli import main
from simulation.clock import iso
from simulation.drill.controller import play
from simulation.drill.model import ActionEntry, load_actions, load_drill
from simulation.drill.scoring import kpis, score
from tests.drill.conftest import DRILLS

T0 = "2026-06-01T"


def _play(name: str, demo_twin, actions_name: str = "good", change=None):
    drill, scenario, folder = load_drill(DRILLS / f"{name}-drill.yaml")
    actions = load_actions(DRILLS / f"{name}-{actions_name}.yaml", drill)
    if change is not None:
        change(actions)
    session, controller = play(drill, scenario, folder, actions, twin=demo_twin)
    return {"session": session, "scenario": scenario, "scores": score(controller, actions),
            "controller": controller}


@pytest.fixture(scope="module")
def gas(demo_twin):
    return _play("gas-leak-school", demo_twin)


@pytest.fixture(scope="module")
def gas_no_crew(demo_twin):
    """The monitoring centre sends only the fire engine: no gas crew ever reaches the leak."""
    def engine_only(actions):
        for a in actions.actions:
            if a.action == "dispatch":
                a.parameters = {"units": ["FS01/engine-1"]}
    return _play("gas-leak-school", demo_twin, change=engine_only)


@pytest.fixture(scope="module")
def fire(demo_twin):
    return _play("highrise-fire", demo_twin)


def _status(run) -> dict:
    return {(r["inject"], r["action"], r["index"]): r["status"] for r in run["scores"]["expected"]}


def test_gas_drill_the_trainees_send_the_crew_that_shuts_the_main_off(gas):
    log = gas["session"].log
    sent = log.of("unit_dispatched")
    # the units the trainee named, at the trainee's time (inject 2 at 10:08:30, dispatch 60 s later)
    assert sorted(e.get("unit") for e in sent) == ["FS01/engine-1", "FS16/gas_crew-1"]
    assert {iso(e.time) for e in sent} == {T0 + "10:09:30Z"}
    crew = next(e for e in log.of("unit_arrived") if e.get("unit") == "FS16/gas_crew-1")
    assert crew.get("unit_type") == "gas_crew"
    # the crew makes the main safe 15 min (gas make_safe_min) after it is on scene; the leak stops then
    shut = log.of("valve_closed")
    assert [(e.layer, e.feature) for e in shut] == [("gas_mains", "G0234")]
    assert shut[0].time == pytest.approx(crew.time + 15 * 60)
    stopped = [e for e in log.of("leak_stopped") if e.layer == "gas_mains"]
    assert len(stopped) == 1 and stopped[0].time == shut[0].time and stopped[0].value > 0
    # the school evacuated by the supervisor: an event with the building and its population on record
    evac = log.of("evacuation_ordered")
    assert [(e.feature, e.get("role"), iso(e.time)) for e in evac] == [("B11103", "supervisor", T0 + "10:12:30Z")]
    assert [e.get("whom") for e in log.of("notified")] == ["school", "gas_company", "residents"]
    # the incident is closed by the trainee 5 min after inject 4 (the crew's report that the main is shut)
    closed = log.of("incident_closed")
    assert len(closed) == 1 and closed[0].time == pytest.approx(shut[0].time + 300)


def test_gas_drill_scores_and_kpis(gas):
    assert set(_status(gas).values()) == {"met"} and len(_status(gas)) == 8
    assert [o["rating"] for o in gas["scores"]["objectives"]] == ["P"] * 5
    figures = {k["kpi"]: k["value"] for k in kpis(gas["session"], gas["scenario"])}
    # water KPIs only when a pipe broke; the gas chain's from the leak at 10:05
    assert "people_hours_without_water" not in figures
    log = gas["session"].log
    leak = next(e for e in log.of("leak_started") if e.layer == "gas_mains")
    stop = next(e for e in log.of("leak_stopped") if e.layer == "gas_mains")
    assert figures["minutes_leak_to_leak_stopped"] == pytest.approx(round((stop.time - leak.time) / 60.0, 2))
    assert figures["methane_released_m3"] == pytest.approx(round(stop.value, 2))
    assert 0 < figures["minutes_leak_to_methane_alarm"] < figures["minutes_leak_to_gas_crew_on_scene"]


def test_gas_drill_without_the_gas_crew_the_leak_runs_and_the_engine_stands_by(gas_no_crew, gas):
    log = gas_no_crew["session"].log
    assert [e.get("unit") for e in log.of("unit_dispatched")] == ["FS01/engine-1"]
    assert not [e for e in log.of("leak_stopped") if e.layer == "gas_mains"]
    assert not log.of("valve_closed") and not log.of("unit_released") and not log.of("incident_closed")
    status = _status(gas_no_crew)
    assert status[(2, "dispatch", 0)] == "missed"
    # the missed dispatch releases contingency inject 6 at its deadline; the crew's injects never come
    delivered = [int(e.value) for e in log.of("inject_delivered")]
    assert 6 in delivered and 3 not in delivered and 4 not in delivered
    assert status[(3, "notify", 0)] == "not_played" and status[(4, "close_incident", 0)] == "not_played"
    ratings = {o["id"]: o["rating"] for o in gas_no_crew["scores"]["objectives"]}
    assert ratings["O2"] == "U" and ratings["O1"] == "P"
    # the leak keeps running to the end of the drill, and the engine is still on scene
    leaks = gas_no_crew["session"].state["gas_leaks"]
    assert [(v["feature"], v["active"]) for v in leaks.values()] == [("G0234", True)]
    assert gas_no_crew["session"].state["units"]["FS01/engine-1"]["status"] == "on_scene"
    assert [v["active"] for v in gas["session"].state["gas_leaks"].values()] == [False]


def test_highrise_drill_units_ladder_evacuation_and_the_second_fire(fire):
    log = fire["session"].log
    sent = [(e.get("unit"), e.get("incident")) for e in log.of("unit_dispatched")]
    assert sent == [("FS04/micro-1", "INC-001"), ("FS01/engine-1", "INC-001"), ("FS01/ladder-1", "INC-001"),
                    ("FS11/micro-1", "INC-002"), ("FS01/engine-2", "INC-002")]
    verified = [(e.feature, e.get("role")) for e in log.of("alarm_acknowledged") if e.get("verified")]
    assert verified == [("B00240", "fire_dispatch"), ("B11509", "fire_dispatch")]
    # fire out 40 min (handle_min) after the first unit on scene; every unit of the incident released then
    first = min(e.time for e in log.of("unit_arrived") if e.feature == "INC-001")
    released = [e for e in log.of("unit_released") if e.feature == "INC-001"]
    assert len(released) == 3 and {e.time for e in released} == {first + 40 * 60}
    closed = [(e.feature, e.time) for e in log.of("incident_closed")]
    # INC-001 closed by the trainee 5 min after inject 6 (the crews leaving); INC-002 never closed: no action
    assert closed == [("INC-001", released[0].time + 300)]
    assert [e.feature for e in log.of("evacuation_ordered")] == ["B00240"]
    assert [e.get("role") for e in log.of("mutual_aid_requested")] == ["commander"]


def test_highrise_drill_scores_and_the_1_3_5_minutes(fire):
    assert set(_status(fire).values()) == {"met"} and len(_status(fire)) == 10
    figures = {k["kpi"]: (k["value"], k["target"], k["met"]) for k in kpis(fire["session"], fire["scenario"])}
    assert figures["minutes_alarm_to_verified"] == (0.0, 1.0, True)      # verified at the red alarm
    value, target, met = figures["minutes_alarm_to_micro_on_scene"]
    assert target == 3.0 and met and 0 < value <= 3.0
    assert figures["minutes_alarm_to_fire_station_on_scene"][1:] == (5.0, True)


def test_the_shipped_drills_run_headless_with_their_reports(tmp_path, capsys):
    for name, met in (("gas-leak-school", 8), ("highrise-fire", 10)):
        out = tmp_path / name
        assert main(["drill", "run", str(DRILLS / f"{name}-drill.yaml"), "--actions",
                     str(DRILLS / f"{name}-good.yaml"), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"{met} met, 0 late, 0 missed" in printed
        assert sorted(p.name for p in out.iterdir()) == ["aar.html", "aar.pdf", "events.csv", "events.parquet",
                                                         "scores.json"]
        page = (out / "aar.html").read_text()
        assert "Improvement plan" in page and "data:image/png;base64," in page


def test_an_evacuation_of_a_building_the_city_lacks_is_refused(demo_twin, tmp_path):
    from simulation.drill.model import check_features
    from twin.errors import SourceError

    drill, _, _ = load_drill(DRILLS / "gas-leak-school-drill.yaml")
    bad = tmp_path / "actions.yaml"
    bad.write_text("actions:\n  - {inject: 2, after_s: 60, role: supervisor, action: evacuate,"
                   " parameters: {building: B99999}}\n")
    actions = load_actions(bad, drill)
    with pytest.raises(SourceError) as err:
        check_features(DRILLS / "gas-leak-school-drill.yaml", drill, demo_twin, actions_path=bad, actions=actions)
    assert str(err.value) == (f"{bad}: line 2: field actions.0.parameters.building: "
                              "no building 'B99999' in the city")
    with pytest.raises(ValueError, match="evacuate: give the building's id"):
        ActionEntry(inject=2, after_s=60, role="supervisor", action="evacuate")
