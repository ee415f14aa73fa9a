"""The playback without Qt: a session on a view model's clock, what it records, alarms, incidents, acknowledgements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.playback import ALARM, BROKEN, STAGES, AlarmBoard, IncidentBoard, Playback, sources, twin_mismatch
from app.view_model import ViewModel
from simulation.session.events import EventLog
from simulation.session.scenario import build_session, load_scenario

MAIN_BURST = Path(__file__).resolve().parents[1] / "scenarios" / "main-burst.yaml"
H = 3600.0


def _log(*rows) -> list:
    """Events from (time, kind, source, layer, feature, data) rows, in order."""
    log = EventLog()
    return [log.make(t, kind, source, layer, feature, None, f"{kind} {feature}", **data)
            for t, kind, source, layer, feature, data in rows]


# ---------------------------------------------------------------------- alarm and incident boards
def test_the_alarm_board_keeps_each_sensor_rule_apart_and_asks_again_after_an_escalation():
    board = AlarmBoard()
    pt = {"sensor": "PT1", "sensor_type": "pressure"}
    board.feed(_log((10, "alarm_raised", "sensors", "water_junctions", "J-1", {**pt, "alarm_kind": "rate",
                                                                                 "level": "orange"}),
                    (20, "alarm_raised", "sensors", "water_junctions", "J-1", {**pt, "alarm_kind": "low",
                                                                                 "level": "orange"}),
                    (30, "incident_opened", "emergency", "incidents", "INC-001", {"sensor": "PT1"}),
                    (40, "alarm_acknowledged", "operator", "water_junctions", "J-1", {"sensor": "PT1",
                                                                                        "alarm_kind": "low"}),
                    (50, "alarm_cleared", "sensors", "water_junctions", "J-1", {**pt, "alarm_kind": "rate",
                                                                                  "level": "orange"})))
    [low] = board.active()
    assert (low.who, low.kind, low.level, low.raised, low.acknowledged, low.acknowledged_by) == \
        ("PT1", "low", "orange", 20, 40, "operator")
    assert low.incident == "INC-001"
    # the rate alarm cleared, the low-pressure one is still active: the board says so, by rule
    changed = board.feed(_log((60, "alarm_escalated", "sensors", "water_junctions", "J-1",
                               {**pt, "alarm_kind": "low", "level": "red"})))
    [low] = board.active()
    assert changed and low.level == "red" and low.changed == 60 and low.raised == 20
    assert low.acknowledged is None   # escalated: to be acknowledged again
    board.feed(_log((70, "alarm_lowered", "sensors", "water_junctions", "J-1",
                     {**pt, "alarm_kind": "low", "level": "yellow"})))
    assert board.active()[0].level == "yellow"
    assert board.levels() == {("sensors", "PT1"): "yellow"}


def test_the_alarm_board_puts_the_most_severe_first_and_drone_alerts_on_their_zone():
    board = AlarmBoard()
    board.feed(_log((10, "alarm_raised", "sensors", "water_tanks", "T-1", {"sensor": "LT1", "alarm_kind": "low",
                                                                           "level": "blue"}),
                    (20, "alarm_raised", "airspace", "airspace_zones", "Z-9", {"track": "UAV-1", "level": "red"}),
                    (30, "alarm_raised", "sensors", "water_junctions", "J-2", {"sensor": "PT2", "alarm_kind": "low",
                                                                               "level": "orange"})))
    assert [(a.who, a.level) for a in board.active()] == [("UAV-1", "red"), ("PT2", "orange"), ("LT1", "blue")]
    assert board.levels()[("airspace_zones", "Z-9")] == "red"
    board.feed(_log((40, "alarm_cleared", "airspace", "airspace_zones", "Z-9", {"track": "UAV-1", "level": "red"})))
    assert [a.who for a in board.active()] == ["PT2", "LT1"]


def test_the_incident_board_gives_each_step_of_the_life_cycle_its_time():
    board = IncidentBoard()
    board.feed(_log((100, "incident_opened", "emergency", "incidents", "INC-001", {"type": "fire", "ref": "b/1"}),
                    (160, "alarm_acknowledged", "emergency", "buildings", "B-1", {"incident": "INC-001"}),
                    (180, "unit_dispatched", "emergency", "fire_stations", "FS1", {"incident": "INC-001",
                                                                                    "unit": "micro-1"}),
                    (180, "unit_dispatched", "emergency", "fire_stations", "FS2", {"incident": "INC-001",
                                                                                    "unit": "engine-1"}),
                    (300, "unit_arrived", "emergency", "incidents", "INC-001", {"unit": "micro-1"}),
                    (400, "unit_arrived", "emergency", "incidents", "INC-001", {"unit": "engine-1"}),
                    (2000, "unit_released", "emergency", "incidents", "INC-001", {"unit": "micro-1"}),
                    (2100, "unit_released", "emergency", "incidents", "INC-001", {"unit": "engine-1"}),
                    (2400, "incident_closed", "emergency", "incidents", "INC-001", {"served": True}),
                    (500, "incident_opened", "emergency", "incidents", "INC-002", {"type": "water_main_break"}),
                    (560, "incident_closed", "emergency", "incidents", "INC-002", {"false_alarm": True})))
    fire, false = board.all()
    assert [fire.times[s] for s in STAGES] == [100, 160, 180, 300, 2100, 2400]
    assert fire.units == ["micro-1", "engine-1"] and fire.closed and fire.stage == "close"
    assert [false.times[s] for s in STAGES] == [500, 560, None, None, None, 560]
    assert false.false_alarm


def test_a_scenario_runs_only_on_its_own_city(demo_twin, tmp_path):
    scenario, folder = load_scenario(MAIN_BURST)
    assert scenario.twin.demo_seed == 7 and twin_mismatch(scenario, folder, demo_twin) is None
    other = tmp_path / "other.yaml"
    other.write_text(MAIN_BURST.read_text().replace("demo_seed: 7", "demo_seed: 3"))
    s3, f3 = load_scenario(other)
    assert "seed 3" in twin_mismatch(s3, f3, demo_twin) and "seed 7" in twin_mismatch(s3, f3, demo_twin)
    on_project = tmp_path / "project.yaml"
    on_project.write_text(MAIN_BURST.read_text().replace("demo_seed: 7", "project: city.gpkg"))
    sp, fp = load_scenario(on_project)
    assert "city.gpkg" in twin_mismatch(sp, fp, demo_twin, None)
    assert twin_mismatch(sp, fp, demo_twin, tmp_path / "city.gpkg") is None


# ---------------------------------------------------------------------- a real session on a clock
def _view_model(twin) -> ViewModel:
    """The view model of ``twin`` with a view of every non-empty layer (what a scene bound to it adds)."""
    model = ViewModel.for_twin(twin)
    for name, frame in twin.layers.items():
        if len(frame) and name not in model.layers:
            model.add_layer(name)
    return model


@pytest.fixture(scope="module")
def played(demo_twin):
    """The main-burst session on a view model, brought to 07:52 by the clock (a red alarm on PT001 by then)."""
    scenario, folder = load_scenario(MAIN_BURST)
    session = build_session(scenario, folder, twin=demo_twin)
    model = _view_model(demo_twin)
    pb = Playback(model, session, rebuild=lambda: build_session(scenario, folder, twin=demo_twin,
                                                                system=session.water.system))
    heard = []
    pb.events_arrived.connect(heard.extend)
    pb.rewound.connect(heard.clear)
    model.clock.time = session.start + 7 * H + 52 * 60
    yield pb, model, heard
    pb.close()


def test_the_clock_drives_the_session_and_every_event_is_handed_on_in_order(played):
    pb, model, heard = played
    s = pb.session
    assert s.now == model.clock.time == s.start + 7 * H + 52 * 60
    assert heard == s.log.events and len(heard) > 500
    assert [e.time for e in heard] == sorted(e.time for e in heard)
    assert (model.clock.start, model.clock.end) == (s.start, s.end)
    assert set(model.highlights[BROKEN].ids) == {"P-83"}
    assert model.highlights[ALARM.format("red")].layer == "sensors"


def test_the_history_holds_the_modelled_pressure_and_the_readings_of_the_run(played):
    pb, _model, _heard = played
    s, water = pb.session, pb.session.water
    model_trace, readings = pb.traces("sensors", "PT001")
    assert not model_trace.measured and readings.measured
    assert model_trace.name == "J-141 pressure (model)" and model_trace.unit == "m"
    # the last modelled value is the solution the water network holds now
    j141 = water.solver.node_index["J-141"]
    assert model_trace.values[-1] == pytest.approx(water.pressure[j141], abs=1e-3)
    assert model_trace.times[0] == s.start and model_trace.times[-1] <= s.now
    # before the break the junction holds its pressure; after it, the model and the sensor both see the fall
    before = model_trace.values[model_trace.times < s.start + 7.5 * H]
    after = model_trace.values[model_trace.times > s.start + 7.5 * H + 600]
    assert before.min() > 50 and after.max() < 15
    sensors = next(e for e in s.engines if type(e).__name__ == "VirtualSensors")
    mine = [(t, v) for who, t, v in sensors.readings if who == "PT001"]
    assert list(zip(readings.times, readings.values)) == mine
    # a junction with a sensor on it shows both; a pipe its flow
    names = [t.name for t in pb.traces("water_junctions", "J-141")]
    assert names == ["J-141 pressure (model)", "PT001 readings"]
    [flow] = pb.traces("water_pipes", "P-83")
    assert flow.unit == "m³/h" and np.isfinite(flow.values).all()
    assert pb.traces("buildings", "B-1") == []


def test_an_acknowledgement_is_logged_and_kept_through_a_re_run(played):
    pb, model, heard = played
    s = pb.session
    red = [a for a in pb.alarms.active() if a.level == "red" and a.who == "PT001"]
    assert red and red[0].acknowledged is None
    at = s.now
    event = pb.acknowledge("PT001", red[0].kind)
    assert (event.kind, event.source, event.time, event.get("sensor")) == ("alarm_acknowledged", "operator", at,
                                                                            "PT001")
    assert heard[-1] is event and s.log.events[-1] is event
    assert pb.alarms.alarms[red[0].key].acknowledged == at
    with pytest.raises(ValueError, match="no active alarm of PT999"):
        pb.acknowledge("PT999")
    first_run, old = list(s.log.events), s
    # back before it: the re-run (a new session) has no acknowledgement yet ...
    model.clock.time = at - 600
    s = pb.session
    assert s is not old and s.now == at - 600
    assert not [e for e in s.log.of("alarm_acknowledged") if e.source == "operator"]
    # ... and forward again it is published once more, at the same clock time, among the same events
    model.clock.time = at + 600
    again = [e for e in s.log.of("alarm_acknowledged") if e.source == "operator"]
    assert [(e.time, e.get("sensor")) for e in again] == [(at, "PT001")]
    times = [e.time for e in s.log.events]
    assert times == sorted(times)
    assert heard == s.log.events
    same = [(e.time, e.kind, e.feature) for e in s.log.events if e.time <= at]
    assert same == [(e.time, e.kind, e.feature) for e in first_run if e.time <= at]


def test_run_to_stops_between_frames_when_its_progress_says_so_and_catch_up_shows_it(played):
    pb, model, heard = played
    s = pb.session
    start_at = s.now
    calls = []

    class Stop(Exception):
        pass

    def progress(done, total, text):
        calls.append((done, total, text))
        if len(calls) == 3:
            raise Stop

    with pytest.raises(Stop):
        pb.run_to(s.end, progress)   # calls at most every 0.1 s of wall time: three calls, some frames apart
    assert start_at < s.now < s.end
    assert (s.now - s.start) % s.step_s == pytest.approx(0, abs=1e-6) or s.now == start_at
    assert calls[0][0] == 0 and calls[0][1] == pytest.approx((s.end - start_at) / s.step_s, abs=1)
    assert len(heard) < len(s.log.events)   # run_to hands nothing on ...
    pb.catch_up()                             # ... catch_up does
    assert heard == s.log.events
    model.clock.time = s.now


def test_sources_name_the_virtual_sensors_and_no_recorded_or_live_feed(played):
    pb, _model, _heard = played
    [virtual] = sources(pb.session)
    assert virtual["kind"] == "virtual" and "103 sensors" in virtual["what"]


def test_closing_takes_the_session_off_the_view_model(demo_twin):
    scenario, folder = load_scenario(MAIN_BURST)
    session = build_session(scenario, folder, twin=demo_twin)
    model = _view_model(demo_twin)
    pb = Playback(model, session)
    model.clock.time = session.start + 7.6 * H
    assert BROKEN in model.highlights and model.values["water_junctions"][0] == "pressure"
    pb.close()
    assert not model.highlights and "water_junctions" not in model.values
    model.clock.time = session.start + 8 * H
    assert session.now == session.start + 7.6 * H   # the clock no longer drives it
