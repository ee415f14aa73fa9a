"""Alarms: four levels, hysteresis, debounce, rate, stuck, missing; methane source context; replay on the clock."""

import numpy as np
import pytest

from simulation.clock import Clock, ManualTimeSource
from simulation.sensors.alarms import AlarmEngine, rules_for
from simulation.sensors.methane import BIOGAS, GAS_MAIN, UNKNOWN, MethaneContext
from simulation.sensors.registry import SensorRegistry
from simulation.sensors.replay import Replay, SensorTimeline
from simulation.sensors.store import BAD, ReadingStore, readings_table
from twin.errors import LayerError

T0 = 1_714_521_600.0  # 2024-05-01T00:00Z


@pytest.fixture
def registry(sensor_twin):
    return SensorRegistry.from_twin(sensor_twin)


def states(alarms):
    return [(a.level, a.state, a.kind) for a in alarms]


def test_methane_levels_follow_gb_t_50493_with_hysteresis(registry):
    engine = AlarmEngine(registry)
    seen = []
    engine.subscribe(seen.append)
    values = [5, 12, 26, 51, 80, 49.5, 47, 30, 23.5, 22, 9, 7]
    engine.feed("CH4-far", T0 + 60 * np.arange(len(values)), values)
    high = [(a.level, a.state) for a in seen if a.kind == "high"]
    assert high == [("blue", "raised"), ("yellow", "escalated"), ("orange", "escalated"), ("red", "escalated"),
                    ("orange", "lowered"),   # 49.5: below red - 2, still above orange - 2 (hysteresis)
                    ("yellow", "lowered"),   # 47
                    ("blue", "lowered"),     # 22 (23.5 held yellow)
                    ("blue", "cleared")]     # 7 (9 held blue)
    lowered_to_yellow = next(a for a in seen if a.kind == "high" and a.level == "yellow" and a.state == "lowered")
    assert lowered_to_yellow.value == 47
    blue_lowered = next(a for a in seen if a.kind == "high" and a.state == "lowered" and a.level == "blue")
    assert blue_lowered.value == 22  # 23.5 held yellow
    rate = [a for a in seen if a.kind == "rate"]
    assert rate[0].level == "orange" and rate[0].value == 26  # +21 %LEL within a minute
    red = next(a for a in seen if a.level == "red")
    assert red.feature == "manholes/MH-far" and red.threshold == 75 and red.time == T0 + 240
    assert "75" in red.message and red.opens_incident
    assert engine.log == seen


def test_pressure_debounce_low_and_per_sensor_thresholds(registry):
    engine = AlarmEngine(registry)
    # PT-1: defaults, debounce 2: a single dip to 4 m raises nothing; 12 then 9 m raise the milder
    # level of the two (yellow) on the second reading, and orange needs two readings of its own
    out = engine.feed("PT-1", T0 + 300 * np.arange(7), [40, 4, 40, 12, 9, 9, 9])
    assert [(a.level, a.state, a.time) for a in out if a.kind == "low"] == \
        [("yellow", "raised", T0 + 1200), ("orange", "escalated", T0 + 1800)]
    # PT-2: thresholds JSON replaces the low levels with one red level at 8 m and no debounce
    out = engine.feed("PT-2", T0 + 300 * np.arange(3), [30, 7.5, 30])
    assert [(a.level, a.state, a.threshold) for a in out if a.kind == "low"] == \
        [("red", "raised", 8.0), ("red", "cleared", 8.0)]
    assert any(a.kind == "rate" and a.state == "raised" for a in out)  # a 22.5 m fall in 5 min


def test_bad_quality_is_ignored_and_stuck_and_missing(registry):
    engine = AlarmEngine(registry)
    out = engine.feed("SM-1", [T0, T0 + 10], [9.0, 0.0], quality=[BAD, 0])
    assert out == []
    t = T0 + 300 * np.arange(80)
    out = engine.feed("PT-1", t, np.full(80, 35.0))
    stuck = [a for a in out if a.kind == "stuck"]
    assert len(stuck) == 1 and stuck[0].time == T0 + 6 * 3600 and stuck[0].level == "blue"
    out = [a for a in engine.check_missing(t[-1] + 901) if a.sensor_id == "PT-1"]  # overdue after 3 x 300 s
    assert states(out) == [("blue", "raised", "missing")] and out[0].time == t[-1] + 900
    assert engine.check_missing(t[-1] + 5000) == []  # raised once (SM-1 was raised above as well)
    out = engine.feed("PT-1", [t[-1] + 6000], [36.0])
    assert ("blue", "cleared", "missing") in states(out) and ("blue", "cleared", "stuck") in states(out)
    # a gap inside one batch is reported too, at the instant it became overdue
    out = AlarmEngine(registry).feed("SM-1", [T0 + 20, T0 + 200], [0.0, 0.0])
    assert [(a.state, a.time) for a in out if a.kind == "missing"] == [("raised", T0 + 20 + 60), ("cleared", T0 + 200)]


def test_unknown_sensors_are_counted_and_bad_thresholds_named(registry, sensor_twin):
    engine = AlarmEngine(registry)
    assert engine.feed("nope", [T0], [1.0]) == [] and engine.unknown == {"nope": 1}
    with pytest.raises(KeyError, match="unknown sensor id 'nope'"):
        registry["nope"]
    s = registry["PT-2"]
    from dataclasses import replace
    with pytest.raises(LayerError, match="sensor 'PT-2' thresholds: unknown key 'purple'"):
        rules_for(replace(s, thresholds={"purple": 3}))
    with pytest.raises(LayerError, match="expected a number"):
        rules_for(replace(s, thresholds={"red": "high"}))
    twin = sensor_twin
    frame = twin["sensors"].copy()
    frame.loc[0, "thresholds"] = "{not json"
    twin.set_layer("sensors", frame)
    with pytest.raises(LayerError, match="feature 'CH4-near' column 'thresholds': not valid JSON"):
        SensorRegistry.from_twin(twin)


def test_methane_context_tags_the_source_with_a_reason(registry, sensor_twin):
    context = MethaneContext(sensor_twin, registry, distance_m=10)
    engine = AlarmEngine(registry, context=context)
    tags = {}
    for sid in ("CH4-near", "CH4-far", "CH4-gaswell", "CH4-septic"):
        a = engine.feed(sid, [T0], [30.0])[0]
        tags[sid] = (a.context, a.reason)
    assert tags["CH4-near"][0] == GAS_MAIN and "gas main G1 4.0 m away" in tags["CH4-near"][1]
    assert tags["CH4-far"][0] == BIOGAS and "sewer well MH-far" in tags["CH4-far"][1]
    assert tags["CH4-gaswell"][0] == GAS_MAIN and "gas-network well MH-gas" in tags["CH4-gaswell"][1]
    assert tags["CH4-septic"][0] == BIOGAS and "septic tank ST1" in tags["CH4-septic"][1]
    # ethane channel: 30 %LEL = 15,000 ppm CH4; 300 ppm ethane = 2 % -> natural gas
    engine.feed("C2H6-eth", [T0], [300.0])
    a = engine.feed("CH4-eth", [T0 + 1], [30.0])[0]
    assert a.context == GAS_MAIN and "ethane/methane ratio 2.00%" in a.reason
    engine2 = AlarmEngine(registry, context=context)
    engine2.feed("C2H6-eth", [T0], [0.0])
    assert engine2.feed("CH4-eth", [T0 + 1], [30.0])[0].context == BIOGAS
    engine3 = AlarmEngine(registry, context=context)  # no ethane reading: telecom well far from mains
    assert engine3.feed("CH4-eth", [T0], [30.0])[0].context == UNKNOWN


def test_replay_on_the_clock_fires_the_same_alarms_at_any_speed(tmp_path, registry):
    store = ReadingStore(tmp_path)
    t = T0 + 60 * np.arange(240)  # four hours of a methane well, one reading a minute
    v = np.where((t >= T0 + 3600) & (t < T0 + 5400), 60.0, 3.0)
    store.append(readings_table("CH4-far", (t * 1000).astype("int64"), v))
    tp = T0 + 300 * np.arange(48)
    store.append(readings_table("PT-1", (tp * 1000).astype("int64"), np.linspace(40, 30, 48)))
    logs = []
    for speed in (100, 10_000):
        timeline = SensorTimeline.load(store, T0, T0 + 4 * 3600, registry=registry)
        engine = AlarmEngine(registry)
        src = ManualTimeSource()
        clock = Clock(T0, duration=4 * 3600, speed=speed, source=src)
        replay = Replay(timeline, engine, clock)
        clock.run(sleep=src.advance)
        assert replay.readings_fed == 240 + 48
        logs.append(states(engine.log))
        assert [a.time for a in engine.log] == sorted(a.time for a in engine.log)
    assert logs[0] == logs[1]
    assert ("orange", "raised", "high") in logs[0] and ("orange", "cleared", "high") in logs[0]
    # value at time: pressure interpolated, methane holds its last value
    assert timeline.value_at("PT-1", T0 + 150) == pytest.approx(40 - 10 / 47 / 2)
    assert timeline.value_at("CH4-far", T0 + 3600 + 59) == 60.0
    assert np.isnan(timeline.value_at("PT-1", T0 - 1))


def test_seeking_back_restarts_alarm_state(tmp_path, registry):
    store = ReadingStore(tmp_path)
    t = T0 + 60 * np.arange(10)
    store.append(readings_table("CH4-far", (t * 1000).astype("int64"), [0, 0, 30, 30, 30, 0, 0, 0, 0, 0]))
    engine = AlarmEngine(registry)
    clock = Clock(T0, duration=600, source=ManualTimeSource())
    Replay(SensorTimeline.load(store, registry=registry), engine, clock)
    clock.seek(T0 + 200)
    clock.seek(T0 + 30)
    clock.seek(T0 + 200)
    raised = [a for a in engine.log if a.kind == "high" and a.state == "raised"]
    assert len(raised) == 2  # the yellow level was raised again after seeking back before it


def test_replay_fast_path_fires_exactly_what_the_reading_by_reading_loop_fires(tmp_path, registry, sensor_twin):
    from simulation.sensors.drill import drill_day

    table, _ = drill_day(sensor_twin, seed=5)
    store = ReadingStore(tmp_path)
    store.append(table)
    timeline = SensorTimeline.load(store, registry=registry)
    t0 = min(ts[0] for ts in timeline.times.values())
    replayed = AlarmEngine(registry)
    src = ManualTimeSource()
    clock = Clock(t0, duration=86_400, speed=10_000, source=src)
    replay = Replay(timeline, replayed, clock)
    clock.run(sleep=src.advance)
    exact = AlarmEngine(registry)
    for sid in timeline.sensor_ids:
        exact.feed(sid, timeline.times[sid], timeline.values[sid], timeline.quality[sid])

    def key(a):
        return (a.time, a.sensor_id, a.kind, a.level, a.state)

    assert len(replayed.log) >= 20
    assert sorted(map(key, replayed.log)) == sorted(map(key, exact.log))
    assert replay.readings_fed == table.num_rows
