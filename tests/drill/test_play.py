"""The main-burst drill played with scripted trainees: injects on time, actions that change the city, scores."""

from __future__ import annotations

import pytest

from simulation.clock import iso
from simulation.drill.scoring import kpis, people_hours, rate
from tests.drill.conftest import played

T0 = "2026-06-01T"


def _expected(run) -> dict:
    return {(r["inject"], r["action"], r["index"]): r for r in run["scores"]["expected"]}


def _arrival(run) -> float:
    return run["session"].log.of("unit_arrived")[0].time


def test_injects_are_delivered_at_their_triggers_in_order(good):
    session = good["session"]
    delivered = [(int(e.value), iso(e.time)) for e in session.log.of("inject_delivered")]
    arrival = _arrival(good)
    repair = session.log.of("repair_done")[0].time
    assert delivered == [(1, T0 + "07:31:00Z"),      # on the first rate alarm (the burst at 07:30)
                         (2, T0 + "07:34:00Z"),      # 3 min after inject 1
                         (3, iso(arrival)),          # on the crew's arrival
                         (4, T0 + "08:00:00Z"),      # at 08:00
                         (8, T0 + "09:00:00Z"),      # by the controller (recorded in the actions file)
                         (5, iso(repair))]           # on the repair done
    dispatched = session.log.of("unit_dispatched")[0]
    # the crew the trainee named, sent at the trainee's time, travels the roads: turnout + road travel
    assert dispatched.get("unit") == "FS15/water_crew-1" and iso(dispatched.time) == T0 + "07:36:00Z"
    assert arrival == pytest.approx(dispatched.time + 120.0 + dispatched.value)
    assert iso(arrival) == T0 + "07:57:31Z"
    c = good["controller"]
    assert c.state == {1: "done", 2: "done", 3: "done", 4: "done", 5: "done", 6: "on_hold", 7: "on_hold",
                       8: "done"}
    assert [s for _, s in c.history[2]] == ["scheduled", "delivered", "done"]


def test_the_response_waits_for_the_trainees_and_closes_the_valves_they_chose(good):
    log = good["session"].log
    ack = [e for e in log.of("alarm_acknowledged") if e.get("verified")]   # the trainee's verification
    assert [iso(e.time) for e in ack] == [T0 + "07:35:00Z"] and ack[0].get("role") == "control_room"
    closed = log.of("valve_closed")
    # chosen at 3 min after the crew's report, closed 30 min (isolate_min) later
    assert sorted(e.feature for e in closed) == ["IV00128", "IV00884"]
    assert closed[0].time == pytest.approx(_arrival(good) + 180.0 + 1800.0)
    assert iso(log.of("incident_closed")[0].time) == iso(log.of("inject_delivered")[-1].time + 600.0)
    assert [e.get("whom") for e in log.of("notified")] == ["school", "residents"]


def test_good_run_every_expected_action_met_with_its_time(good):
    ex = _expected(good)
    assert {k: r["status"] for k, r in ex.items()} == {
        (1, "acknowledge", 0): "met", (1, "verify", 1): "met", (2, "dispatch", 0): "met",
        (3, "close_valves", 0): "met", (4, "notify", 0): "met", (4, "notify", 1): "met",
        (5, "close_incident", 0): "met"}
    assert [ex[k]["minutes"] for k in sorted(ex)] == [1.0, 4.0, 2.0, 3.0, 5.0, 15.0, 10.0]
    assert ex[(2, "dispatch", 0)]["taken"] == T0 + "07:36:00Z"
    assert ex[(4, "notify", 1)]["by"] == "supervisor"
    assert [(o["id"], o["rating"]) for o in good["scores"]["objectives"]] == [
        ("O1", "P"), ("O2", "P"), ("O3", "P"), ("O4", "P"), ("O5", "P")]


def test_late_run_late_dispatch_wrong_valve_missed_notification(late):
    ex = _expected(late)
    assert ex[(1, "verify", 1)]["status"] == "met" and ex[(1, "verify", 1)]["minutes"] == 8.0
    d = ex[(2, "dispatch", 0)]
    assert (d["status"], d["taken"], d["minutes"], d["due"]) == ("late", T0 + "07:59:00Z", 25.0, T0 + "07:44:00Z")
    v = ex[(3, "close_valves", 0)]
    assert v["status"] == "missed" and v["taken"] is None  # IV00393 instead of IV00884: not the expected set
    assert ex[(4, "notify", 0)]["status"] == "met" and ex[(4, "notify", 1)]["status"] == "missed"
    assert ex[(5, "close_incident", 0)]["status"] == "met"
    assert late["scores"]["counts"] == {"met": 4, "late": 1, "missed": 2, "not_played": 0}
    objectives = {o["id"]: o for o in late["scores"]["objectives"]}
    assert {k: o["rule"] for k, o in objectives.items()} == {"O1": "P", "O2": "S", "O3": "U", "O4": "M", "O5": "P"}
    # the evaluator overrides O4 (the rule says M)
    assert objectives["O4"]["rating"] == "S" and objectives["O4"]["overridden"]


def test_missed_actions_release_their_contingency_injects_at_the_deadline(late):
    c, log = late["controller"], late["session"].log
    delivered = {int(e.value): e.time for e in log.of("inject_delivered")}
    assert iso(delivered[6]) == T0 + "07:44:00Z"  # inject 2 at 07:34 + 10 min, dispatch not yet taken
    assert delivered[7] == pytest.approx(delivered[3] + 600.0)  # the wrong valves: inject 3 + 10 min
    assert _expected(late)[(2, "dispatch", 0)]["contingency_released"] == [6]
    assert c.state[6] == c.state[7] == "done" and c.state[8] == "on_hold"
    order = [int(e.value) for e in log.of("inject_delivered")]
    assert order == [1, 2, 6, 4, 3, 7, 5]


def test_the_wrong_valve_leaves_the_leak_running_and_more_people_without_water(late, demo_twin):
    def right_valves(actions):
        for a in actions.actions:
            if a.action == "close_valves":
                a.parameters["valves"] = ["IV00128", "IV00884"]
    right = played("late", demo_twin, right_valves)  # the same late timing, the right valves
    wrong_log, right_log = late["session"].log, right["session"].log
    # the leak stops when the right valves close, only at the repair with the wrong one (the next hydraulic step)
    assert 0 <= wrong_log.of("leak_stopped")[0].time - wrong_log.of("repair_done")[0].time <= 60.0
    assert right_log.of("leak_stopped")[0].time < right_log.of("repair_done")[0].time
    wrong_ph = people_hours(wrong_log, late["session"].end)
    right_ph = people_hours(right_log, right["session"].end)
    assert wrong_ph > right_ph + 1000.0
    assert round(wrong_ph, 1) == 9512.8 and round(right_ph, 1) == 7172.8
    k = {r["kpi"]: r for r in kpis(late["session"], late["scenario"])}
    assert k["people_hours_without_water"]["value"] == round(wrong_ph, 1)
    assert k["minutes_break_to_isolation"]["value"] == 325.0 and k["minutes_break_to_isolation"]["met"] is False
    assert _expected(right)[(3, "close_valves", 0)]["status"] == "met"


def test_the_rating_rule():
    assert rate(["met", "met"]) == "P"
    assert rate(["met", "late"]) == "S"
    assert rate(["met", "missed"]) == "M" and rate(["late", "missed"]) == "M"
    assert rate(["missed"]) == "U"
    assert rate(["not_played"]) is None and rate([]) is None


def test_a_trainees_acknowledge_acknowledges_the_alarms_in_force_with_the_role(good):
    session = good["session"]
    act = next(e for e in session.log.of("action_taken") if e.get("action") == "acknowledge")
    acks = [e for e in session.log.of("alarm_acknowledged") if e.source == "drill"]
    assert acks and all(e.time == act.time and e.get("role") == "control_room" for e in acks)
    # exactly the sensors in alarm at that moment: raised or escalated before it and not cleared since
    in_force: dict = {}
    for e in session.log.events:
        if e.time > act.time or e.source != "sensors":
            continue
        if e.kind in ("alarm_raised", "alarm_escalated", "alarm_lowered"):
            in_force.setdefault(e.get("sensor"), set()).add(e.get("alarm_kind"))
        elif e.kind == "alarm_cleared":
            in_force.get(e.get("sensor"), set()).discard(e.get("alarm_kind"))
    assert sorted(e.feature for e in acks) == sorted(s for s, kinds in in_force.items() if kinds)
