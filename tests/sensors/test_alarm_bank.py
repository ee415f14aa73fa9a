"""A sensor bank fires exactly the alarms of feeding its sensors one reading at a time.

Random series with spikes, long stretches in a level, ramps (rate of change),
stuck stretches, gaps (sensors not read, NaN, BAD quality), infinite values
and an unknown sensor go through :meth:`AlarmEngine.feed` reading by reading
and through :meth:`SensorBank.feed` an instant at a time; every alarm (its
``as_dict()``), what subscribers read from the engine while alarms are
published, and the engines' final state must be the same.  Two sabotaged banks
(calm bounds one level off, a rate window 30 s short) must be caught.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation.sensors import alarms as alarms_module
from simulation.sensors.alarms import (DEFAULT_RULES, AlarmEngine, RateRule, SensorRules, ThresholdRule,
                                       _bands, rules_for)
from simulation.sensors.registry import Sensor, SensorRegistry
from simulation.sensors.store import BAD, GOOD

T0 = 1_780_272_000.0
STEP = 30.0
INSTANTS = 1500

# (id, type, period s, thresholds JSON, typical value, noise sd)
SENSORS = [
    ("P-def", "pressure", 30.0, {}, 30.0, 0.3),
    ("P-cfg", "pressure", 30.0, {"low": {"yellow": 18, "red": 9}, "high": {"orange": 65}, "hysteresis": 1.5,
                                 "debounce": 3, "rate": {"delta": 6, "window_s": 120, "direction": "either",
                                                         "level": "yellow"}, "stuck_s": 600, "missing_s": 200},
     30.0, 0.5),
    ("P-nop", "pressure", None, {"stuck_s": 450}, 40.0, 0.0),  # no period: no missing-data rule; noiseless
    ("CH4", "methane", 30.0, {}, 3.0, 0.4),
    ("CH4-b", "methane", 30.0, {"yellow": 30, "red": 60, "rate": {"delta": 8, "window_s": 300,
                                                                    "direction": "fall"}}, 5.0, 0.5),
    ("WL", "water_level", 30.0, {}, 0.2, 0.01),  # 600 s rate window: 21 readings, the ring must grow
    ("WL-slow", "water_level", 30.0, {"rate": {"delta": 1.0, "window_s": 900, "direction": "rise"}}, 0.2, 0.01),
    ("SM", "smoke", 30.0, {}, 0.3, 0.1),
    ("ST", "strain", 30.0, {}, 200.0, 20.0),
    ("FL", "flow", 30.0, {"stuck_s": 300}, 50.0, 0.0),
    ("LV", "level", 30.0, {"direction": "below", "yellow": 2.0, "red": 1.0, "stuck_s": 900}, 4.0, 0.05),
    ("DR", "drift", 30.0, {}, 2.0, 0.05),  # stuck tolerance 0.2 (rules patched in below)
    ("C2H6", "ethane", 30.0, {}, 10.0, 1.0),  # no rules but missing data
]
UNKNOWN = "GHOST"  # read but not in the registry


@pytest.fixture
def drift_rules(monkeypatch):
    monkeypatch.setitem(DEFAULT_RULES, "drift", SensorRules(
        (ThresholdRule("high", {"yellow": 5.0, "red": 9.0}, hysteresis=0.5),),
        rate=RateRule(3.0, 90.0, "either", "orange"), stuck_s=400, stuck_tolerance=0.2))


def registry() -> SensorRegistry:
    return SensorRegistry([Sensor(sid, kind, "u", "layer", f"F-{sid}", period, thresholds, 0.0, 0.0)
                           for sid, kind, period, thresholds, *_ in SENSORS])


def series(seed: int):
    """(values, read, quality): instants x sensors (the last column the unknown sensor)."""
    rng = np.random.default_rng(seed)
    n = len(SENSORS) + 1
    base = np.array([s[4] for s in SENSORS] + [1.0])
    sd = np.array([s[5] for s in SENSORS] + [0.1])
    values = base + rng.normal(0.0, 1.0, (INSTANTS, n)) * sd
    read = np.ones((INSTANTS, n), bool)
    quality = np.full((INSTANTS, n), GOOD)
    reg = registry()
    for j in range(n):
        scale = max(abs(base[j]), 1.0)
        rules = rules_for(reg[SENSORS[j][0]]) if j < len(SENSORS) else SensorRules()
        # the readings on the edges of the calm bands: each level, with and without hysteresis, and the
        # floats next to them
        edges = [x for rule in rules.thresholds for thr in rule.levels.values()
                 for h in (rule.hysteresis if rule.hysteresis is not None else 0.05 * abs(thr),)
                 for x in (thr, thr - h, thr + h, math.nextafter(thr, -math.inf), math.nextafter(thr, math.inf),
                           math.nextafter(thr - h, -math.inf), math.nextafter(thr + h, math.inf))]
        for _ in range(rng.integers(15, 30)):
            a = int(rng.integers(0, INSTANTS - 1))
            what = rng.choice(["spike", "level", "stairs", "ramp", "edge", "rate edge", "stuck", "gap", "nan", "bad",
                               "inf"], p=[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.12, 0.1, 0.06, 0.06, 0.06])
            if what == "edge" and edges:  # held there a few readings (debounce)
                values[a:a + int(rng.integers(1, 5)), j] = edges[int(rng.integers(len(edges)))]
            elif what == "rate edge" and rules.rate is not None:
                # a noiseless ramp that reaches the rate limit over the whole window and not one reading less
                rate, intervals = rules.rate, int(rules.rate.window_s // STEP)
                slope = rate.delta / intervals * (1 + rng.uniform(0.1, 0.9) / intervals)
                sign = {"rise": 1, "fall": -1}.get(rate.direction, rng.choice([-1, 1]))
                b = min(a + intervals + int(rng.integers(1, 5)), INSTANTS)
                values[a:b, j] = values[a, j] + sign * slope * np.arange(b - a)
            elif what == "stairs":  # up through the levels and back down, a while on each step
                sign, steps = rng.choice([-1, 1]), rng.uniform(0.1, 0.8, int(rng.integers(2, 5))) * scale
                for offset in [*np.cumsum(steps), *np.cumsum(steps)[-2::-1]]:
                    b = a + int(rng.integers(4, 20))
                    values[a:b, j] += sign * offset
                    a = b
            elif what == "spike":  # a few readings far off, up or down
                b = a + int(rng.integers(1, 6))
                values[a:b, j] += rng.choice([-1, 1]) * scale * rng.uniform(0.3, 3.0)
            elif what == "level":  # a long stretch in (or around) an alarm level
                b = a + int(rng.integers(20, 120))
                values[a:b, j] += rng.choice([-1, 1]) * scale * rng.uniform(0.2, 2.0)
            elif what == "ramp":  # short and steep, or long and slow (longer than the rate windows)
                b = min(a + int(rng.choice([rng.integers(3, 30), rng.integers(30, 150)])), INSTANTS)
                values[a:b, j] += np.linspace(0.0, rng.choice([-1, 1]) * scale * rng.uniform(0.1, 1.5), b - a)
            elif what == "stuck":  # the same value over and over (a little drift for the tolerant rule)
                b = min(a + int(rng.integers(5, 60)), INSTANTS)
                drift = j < len(SENSORS) and SENSORS[j][1] == "drift"
                values[a:b, j] = values[a, j] + (rng.uniform(-0.1, 0.1, b - a) if drift else 0.0)
            elif what == "gap":  # not read at all for a while
                read[a:a + int(rng.integers(2, 15)), j] = False
            elif what == "nan":
                values[a:a + int(rng.integers(1, 8)), j] = np.nan
            elif what == "bad":
                quality[a:a + int(rng.integers(1, 8)), j] = BAD
            else:
                values[a, j] = rng.choice([np.inf, -np.inf])
    return values, read, quality


def run(seed: int, sabotage=None) -> tuple[dict, dict, dict]:
    """Feed the same series one by one and through a bank: what each engine logged, published and read."""
    ids = [s[0] for s in SENSORS] + [UNKNOWN]
    values, read, quality = series(seed)
    rng = np.random.default_rng(seed + 1000)
    one, batch = AlarmEngine(registry()), AlarmEngine(registry())
    bank = batch.bank(ids)
    if sabotage is not None:
        sabotage(bank)
    out = {}
    for engine in (one, batch):
        seen = out[id(engine)] = {"published": [], "peeks": [], "fired": [], "missing": []}

        def peek(alarm, engine=engine, seen=seen):
            # a subscriber reading other sensors' state mid-instant (as the methane context does)
            seen["published"].append(alarm.as_dict())
            seen["peeks"].append((engine.latest("C2H6"), engine.latest("DR"), engine.at_rest("P-cfg")))

        engine.subscribe(peek)
    fed = {"exact": 0, "readings": 0}
    feed = batch.feed

    def counting(*args, **kw):
        fed["exact"] += 1
        return feed(*args, **kw)

    batch.feed = counting
    reset_at = int(rng.integers(INSTANTS // 2, INSTANTS))
    for i in range(INSTANTS):
        t = T0 + i * STEP
        if i == reset_at:  # seeking back: both forget their state
            one.reset()
            batch.reset()
        rows = np.flatnonzero(read[i])
        if rng.random() < 0.5:
            rows = rng.permutation(rows)  # any order: the one-by-one loop follows it
        whole = len(rows) == len(ids) and rng.random() < 0.5
        if whole:
            rows = np.arange(len(ids))
        flagged = (quality[i, rows] == BAD).any() or rng.random() < 0.5  # else no quality given at all
        fired_one = []
        for k in rows.tolist():
            fired_one += one.feed(ids[k], t, values[i, k], quality[i, k:k + 1] if flagged else None)
        fired_batch = bank.feed(t, values[i, rows], None if whole else rows, quality[i, rows] if flagged else None)
        fed["readings"] += len(rows)
        out[id(one)]["fired"].append([a.as_dict() for a in fired_one])
        out[id(batch)]["fired"].append([a.as_dict() for a in fired_batch])
        if i % 97 == 0:
            out[id(one)]["missing"].append([a.as_dict() for a in one.check_missing(t + 100.0)])
            out[id(batch)]["missing"].append([a.as_dict() for a in batch.check_missing(t + 100.0)])
    for engine in (one, batch):
        seen = out[id(engine)]
        seen["log"] = [a.as_dict() for a in engine.log]
        seen["final"] = [(engine.latest(sid), engine.at_rest(sid)) for sid in ids]
        seen["unknown"] = dict(engine.unknown)
    return out[id(one)], out[id(batch)], fed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_bank_fires_exactly_what_feeding_one_reading_at_a_time_fires(seed, drift_rules):
    one, batch, fed = run(seed)
    assert batch["log"] == one["log"]
    assert batch["published"] == one["published"]
    assert batch["fired"] == one["fired"]
    assert batch["missing"] == one["missing"]
    assert batch["peeks"] == one["peeks"]
    assert batch["final"] == one["final"]
    assert batch["unknown"] == one["unknown"] and one["unknown"][UNKNOWN] > 0
    # the series exercise every rule and state, and the bank both absorbs and hands over readings
    log = one["log"]
    assert {a["kind"] for a in log} >= {"high", "low", "rate", "stuck", "missing"}
    assert {a["state"] for a in log} == {"raised", "escalated", "lowered", "cleared"}
    assert {a["sensor_id"] for a in log if a["kind"] == "stuck"} >= {"FL", "DR", "P-nop"}
    assert len(log) > 300
    assert 0.02 * fed["readings"] < fed["exact"] < 0.5 * fed["readings"]


def _bands_one_level_off(rule):
    bands = _bands(rule)
    return bands[1:] + bands[-1:]  # level L judged with the band of level L + 1


def _bands_one_float_loose(rule):
    """Each finite bound one float further out: a reading exactly at a level judged calm."""
    return [(math.nextafter(lo, -math.inf) if math.isfinite(lo) else lo,
             math.nextafter(hi, math.inf) if math.isfinite(hi) else hi) for lo, hi in _bands(rule)]


def _window_short(bank):
    bank.window_s -= STEP  # the reading at the start of the rate window left out


@pytest.mark.parametrize("sabotage", ["calm bands one level off", "calm bands one float loose",
                                      "rate window one reading short"])
def test_the_comparison_catches_a_bank_that_is_slightly_wrong(sabotage, drift_rules, monkeypatch):
    if sabotage == "calm bands one level off":
        monkeypatch.setattr(alarms_module, "_bands", _bands_one_level_off)
    elif sabotage == "calm bands one float loose":
        monkeypatch.setattr(alarms_module, "_bands", _bands_one_float_loose)
    one, batch, _ = run(1, sabotage=_window_short if sabotage == "rate window one reading short" else None)
    assert batch["log"] != one["log"]


def test_the_bands_are_the_readings_that_keep_a_level():
    top = np.finfo(float).max
    high = ThresholdRule("high", {"blue": 10.0, "yellow": 25.0, "red": 75.0}, hysteresis=2.0)
    assert _bands(high)[0] == (-np.inf, np.nextafter(10.0, -np.inf))  # at rest: below blue
    assert _bands(high)[2] == (23.0, np.nextafter(75.0, -np.inf))     # yellow: held down to 25 - 2
    assert _bands(high)[4] == (73.0, top)                             # red: held down to 75 - 2
    low = ThresholdRule("low", {"blue": 20.0, "red": 5.0})             # hysteresis: 5 % of each level
    assert _bands(low)[0] == (np.nextafter(20.0, np.inf), np.inf)
    assert _bands(low)[1] == (np.nextafter(5.0, np.inf), 21.0)        # blue holds up to 20 + 1
    assert _bands(low)[4] == (-top, 5.25)
    for rule in (high, low):
        for level, (lo, hi) in enumerate(_bands(rule)):
            if level not in (0, *(alarms_module.SEVERITY[name] for name in rule.levels)):
                continue  # a rule is never at a level it does not have
            for inside, outside in ((lo, math.nextafter(lo, -math.inf)), (hi, math.nextafter(hi, math.inf))):
                if abs(inside) < top:  # each bound is the last reading that keeps the level ...
                    assert rule.crossed(inside) <= level <= rule.crossed(inside, with_hysteresis=True)
                    # ... and the next float does not
                    assert not rule.crossed(outside) <= level <= rule.crossed(outside, with_hysteresis=True)


def test_the_rate_window_keeps_every_calm_reading_it_spans():
    """31 calm readings in a 900 s window (the ring starts with room for 8): the raise needs the oldest."""
    reg = SensorRegistry([Sensor("WL-1", "water_level", "m", "layer", "F", 30.0,
                                 {"red": 100.0, "rate": {"delta": 1.0, "window_s": 900, "direction": "rise"}})])
    values = [0.03 * k for k in range(30)] + [0.03 * 30 + 0.12]  # 1.02 above the reading 900 s before
    one, batch = AlarmEngine(reg), AlarmEngine(reg)
    bank = batch.bank(["WL-1"])
    for k, v in enumerate(values):
        one.feed("WL-1", T0 + k * STEP, v)
        bank.feed(T0 + k * STEP, [v])
    assert [(a.kind, a.state) for a in one.log] == [("rate", "raised")]
    assert [a.as_dict() for a in batch.log] == [a.as_dict() for a in one.log]
    assert bank.ring_t.shape[1] >= 31


def test_a_sensor_first_read_invalid_is_known_to_the_engine_from_then_on():
    """The engine makes a sensor's state at its first reading, even NaN; overdue alarms come in that order."""
    reg = SensorRegistry([Sensor(sid, "flow", "m3/h", "water_pipes", f"P-{sid}", 30.0) for sid in ("A", "B")])
    one, batch = AlarmEngine(reg), AlarmEngine(reg)
    bank = batch.bank(["A", "B"])
    for k, readings in enumerate([(np.nan, 1.0), (2.0, 3.0)]):
        for sid, v in zip("AB", readings):
            one.feed(sid, T0 + k * STEP, v)
        bank.feed(T0 + k * STEP, readings)
    overdue = one.check_missing(T0 + 1000.0)
    assert [a.sensor_id for a in overdue] == ["A", "B"]
    assert [a.as_dict() for a in batch.check_missing(T0 + 1000.0)] == [a.as_dict() for a in overdue]
