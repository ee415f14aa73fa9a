"""Controller operations on a bare session clock (no city): deliver now, hold, cancel, ad-hoc injects."""

from __future__ import annotations

import pytest

from simulation.drill.controller import ExerciseController, matches
from simulation.drill.model import Drill, Inject
from simulation.session.scenario import Scenario
from simulation.session.session import Session

SCENARIO = Scenario(name="bare", twin={"demo_seed": 7}, start="2026-06-01T07:00:00Z", duration_h=2)
START = SCENARIO.start_s()


def _drill(injects) -> Drill:
    return Drill.model_validate({"name": "d", "date": "today", "scenario": SCENARIO.model_dump(),
                                 "objectives": [{"id": "O1", "text": "t"}], "injects": injects})


def _session(drill, actions=None):
    session = Session(None, START, START + 7200, step_s=60)
    c = ExerciseController(drill, SCENARIO, actions)
    session.attach(c)
    return session, c


def test_hold_deliver_now_cancel_and_an_ad_hoc_inject():
    drill = _drill([
        {"number": 1, "trigger": {"at": "07:10"}, "from": "a", "to": "b", "method": "phone", "message": "one"},
        {"number": 2, "trigger": {"at": "07:20"}, "from": "a", "to": "b", "method": "radio", "message": "two"},
        {"number": 3, "trigger": {"controller": True}, "from": "a", "to": "b", "method": "message", "message": "3"},
        {"number": 4, "trigger": {"after": 3, "delay_min": 5}, "from": "a", "to": "b", "method": "phone",
         "message": "four"}])
    session, c = _session(drill)
    assert c.state == {1: "scheduled", 2: "scheduled", 3: "on_hold", 4: "on_hold"}
    session.advance_to(START + 300)
    c.hold(1)
    c.cancel(2)
    session.advance_to(START + 1800)
    assert c.state[1] == "on_hold" and c.state[2] == "cancelled"
    c.deliver_now(3)  # at 07:30, and inject 4 follows 5 min later
    c.deliver_now(1)
    c.add_inject(Inject.model_validate({"number": 9, "trigger": {"at": "08:00"}, "from": "controller", "to": "b",
                                        "method": "message", "message": "ad hoc"}))
    session.run()
    got = [(int(e.value), e.time - START) for e in session.log.of("inject_delivered")]
    assert got == [(3, 1800.0), (1, 1800.0), (4, 2100.0), (9, 3600.0)]
    assert c.state == {1: "done", 2: "cancelled", 3: "done", 4: "done", 9: "done"}
    with pytest.raises(ValueError, match="inject 2 is cancelled"):
        c.deliver_now(2)


def test_an_action_at_its_deadline_is_met_and_one_after_is_late():
    from simulation.drill.model import Actions

    drill = _drill([{"number": 1, "trigger": {"at": "07:10"}, "from": "a", "to": "b", "method": "phone",
                     "message": "m", "expect": [
                         {"action": "notify", "parameters": {"whom": "school"}, "deadline_min": 5, "objective": "O1"},
                         {"action": "request_mutual_aid", "deadline_min": 5, "objective": "O1"}]}])
    actions = Actions.model_validate({"actions": [
        {"inject": 1, "after_s": 300, "role": "b", "action": "notify", "parameters": {"whom": "school"}},
        {"inject": 1, "after_s": 301, "role": "b", "action": "request_mutual_aid"}]})
    session, c = _session(drill, actions)
    session.run()
    assert c.expected[(1, 0)]["met_at"] - START == 900.0 and c.expected[(1, 0)]["due"] - START == 900.0
    assert c.expected[(1, 1)]["met_at"] - START == 901.0
    assert [e.kind for e in session.log.events if e.kind != "inject_delivered"] == [
        "action_taken", "notified", "action_taken", "mutual_aid_requested"]


def test_parameters_match_lists_as_sets():
    assert matches({"valves": ["A", "B"]}, {"valves": ["B", "A"]})
    assert not matches({"valves": ["A", "B"]}, {"valves": ["A", "C"]})
    assert not matches({"valves": ["A", "B"]}, {"valves": ["A"]})
    assert matches({"whom": "school"}, {"whom": "school", "note": "x"})
    assert not matches({"whom": "school"}, {})


def test_recorded_controller_operations_are_replayed():
    from simulation.drill.model import Actions

    drill = _drill([
        {"number": 1, "trigger": {"at": "07:10"}, "from": "a", "to": "b", "method": "phone", "message": "one"},
        {"number": 2, "trigger": {"at": "07:20"}, "from": "a", "to": "b", "method": "radio", "message": "two"},
        {"number": 3, "trigger": {"controller": True}, "from": "a", "to": "b", "method": "message", "message": "3"}])
    actions = Actions.model_validate({"controller": [{"at": "07:10", "op": "hold", "inject": 1},
                                                     {"at": "07:15", "op": "cancel", "inject": 2},
                                                     {"at": "07:40", "op": "deliver", "inject": 3},
                                                     {"at": "07:50", "op": "deliver", "inject": 1}]})
    session, c = _session(drill, actions)
    session.run()
    assert [(int(e.value), e.time - START) for e in session.log.of("inject_delivered")] == [(3, 2400.0), (1, 3000.0)]
    assert c.state == {1: "done", 2: "cancelled", 3: "done"}


def test_an_ad_hoc_inject_recorded_in_the_actions_file_is_delivered_on_replay(tmp_path):
    from simulation.drill.model import load_actions
    from twin.errors import SourceError

    drill = _drill([{"number": 1, "trigger": {"at": "07:10"}, "from": "a", "to": "b", "method": "phone",
                     "message": "one"}])
    path = tmp_path / "actions.yaml"
    path.write_text("injects:\n  - {number: 2, trigger: {controller: true}, from: controller, to: b, method: radio,"
                    " message: the press is at the gate}\ncontroller:\n  - {at: '07:40', op: deliver, inject: 2}\n")
    actions = load_actions(path, drill)
    session, c = _session(drill, actions)
    session.run()
    got = [(int(e.value), e.time - START) for e in session.log.of("inject_delivered")]
    assert got == [(1, 600.0), (2, 2400.0)] and c.injects[2].message == "the press is at the gate"
    # an ad-hoc inject takes a new number, and only the controller delivers it
    path.write_text("injects:\n  - {number: 1, trigger: {controller: true}, from: c, to: b, method: radio,"
                    " message: m}\n")
    with pytest.raises(SourceError) as err:
        load_actions(path, drill)
    assert str(err.value) == (f"{path}: line 2: field injects.0.number: inject 1 is in the drill already: "
                              "an ad-hoc inject takes a new number")
    path.write_text("injects:\n  - {number: 5, trigger: {at: '07:30'}, from: c, to: b, method: radio, message: m}\n")
    with pytest.raises(SourceError, match="ad-hoc inject 5: its trigger is the controller"):
        load_actions(path, drill)
