"""A recorded drill day for the demo city: a seeded day of sensor readings with scripted incidents.

:func:`drill_day` writes 24 hours of readings for every sensor of a twin, at
each sensor's own sampling period, with realistic daily baselines and noise,
and stages the incidents a drill organiser would want to rehearse:

========  =====================================================================
02:10     gas main leak: methane climbs to ~82 %LEL in a sewer well beside a gas
          main (red), a neighbouring gas-valve well follows to ~30 %LEL
06:00     a methane sensor goes offline for two hours (missing data)
08:00     morning traffic loads the bridge: strain to ~450 µε (yellow)
09:30     water main burst: pressure collapses around a trunk main, its flow
          jumps above the red level; isolated at 11:15
12:00     a pressure sensor freezes for eight hours (stuck value)
14:20     fire: smoke in a watched building climbs past its red level
16:30     cloudburst: storm wells fill, a few to 80 % of their depth (orange)
19:30     biogas in a septic tank to ~30 %LEL (yellow, tagged biogas)
========  =====================================================================

:func:`drill_showcase` (a step of ``lifeline-twin start``) records that day
beside the demo project, replays it on the one clock at x10,000 (30 frames/s of
virtual time, so the job does not wait) and writes the alarm log as CSV and
JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from simulation.clock import to_seconds
from simulation.sensors.registry import SensorRegistry
from simulation.sensors.store import ReadingStore, readings_table
from twin import atomic
from twin.schema import RISK_LEVELS

DAY_S = 86_400


@dataclass(frozen=True)
class DrillIncident:
    """One scripted incident: when, what, and the sensors it shows on."""

    start: float
    name: str
    sensors: tuple[str, ...]

    def as_dict(self) -> dict:
        from simulation.clock import iso

        return {"start": iso(self.start), "incident": self.name, "sensors": list(self.sensors)}


def _levels(sensor) -> dict:
    t = dict(sensor.thresholds or {})
    return {k: float(v) for k, v in t.items() if k in RISK_LEVELS}


def _demand_shape(h: np.ndarray) -> np.ndarray:
    """Water use through the day, 0 at night to 1 at the evening peak."""
    return np.clip(0.15 + 0.7 * np.exp(-((h - 8.0) / 1.6) ** 2) + 0.85 * np.exp(-((h - 19.5) / 2.0) ** 2), 0, 1)


def _bump(h, start, rise_h, hold_h, fall_h):
    """0 before ``start``, up to 1 over ``rise_h``, held ``hold_h``, back to 0 over ``fall_h`` (hours)."""
    up = np.clip((h - start) / rise_h, 0, 1)
    down = np.clip(1 - (h - start - rise_h - hold_h) / fall_h, 0, 1)
    return np.minimum(up, down)


def drill_day(twin, *, seed: int = 7, day: str = "2024-05-01") -> tuple[pa.Table, list[DrillIncident]]:
    """The readings of one drill day for every sensor of ``twin`` and the incidents staged in them."""
    registry = SensorRegistry.from_twin(twin)
    if not len(registry):
        raise ValueError(f"twin {twin.name!r} has no sensors to record a drill for")
    rng = np.random.default_rng(seed)
    t0 = to_seconds(f"{day}T00:00:00Z")
    by_type: dict[str, list] = {}
    for s in registry:
        by_type.setdefault(s.sensor_type, []).append(s)
    manholes = twin["manholes"]
    well = dict(zip(manholes["id"], manholes["well_type"])) if len(manholes) else {}
    xy = {s.id: np.array([s.x, s.y]) for s in registry}
    incidents: list[DrillIncident] = []
    special: dict[str, callable] = {}  # sensor id -> f(h, base) -> values
    offline: dict[str, tuple[float, float]] = {}
    stuck: dict[str, float] = {}

    def nearest(candidates, to, k):
        c = [s for s in candidates if s.id in xy]
        d = [float(np.hypot(*(xy[s.id] - to))) for s in c]
        return [c[i] for i in np.argsort(d)[:k]]

    methane = by_type.get("methane", [])
    sewer = [s for s in methane if s.layer == "manholes" and well.get(s.feature_id) == "sewer"]
    gas_wells = [s for s in methane if s.layer == "manholes" and well.get(s.feature_id) == "gas"]
    septic = [s for s in methane if s.layer == "septic_tanks"]
    if sewer:
        leak = sewer[int(rng.integers(len(sewer)))]
        special[leak.id] = lambda h, b: b + 82.0 * _bump(h, 2 + 10 / 60, 0.5, 1.8, 1.0)
        ids = [leak.id]
        if gas_wells:
            nb = nearest(gas_wells, xy[leak.id], 1)[0]
            special[nb.id] = lambda h, b: b + 30.0 * _bump(h, 2.4, 0.6, 1.4, 1.0)
            ids.append(nb.id)
        incidents.append(DrillIncident(t0 + 2 * 3600 + 600, "gas main leak into a sewer well", tuple(ids)))
    if septic:
        tank = septic[int(rng.integers(len(septic)))]
        special[tank.id] = lambda h, b: b + 30.0 * _bump(h, 19.5, 0.7, 0.8, 0.5)
        incidents.append(DrillIncident(t0 + 19.5 * 3600, "biogas in a septic tank", (tank.id,)))
    if len(methane) > 2:
        quiet = [s for s in methane if s.id not in special]
        gone = quiet[int(rng.integers(len(quiet)))]
        offline[gone.id] = (6.0, 8.0)
        incidents.append(DrillIncident(t0 + 6 * 3600, "methane sensor offline", (gone.id,)))

    pressure = by_type.get("pressure", [])
    flow = by_type.get("flow", [])
    if flow and pressure:
        main = flow[int(rng.integers(len(flow)))]
        red = _levels(main).get("red") or 500.0
        # default arguments bind each incident's numbers now: a closure would see the last values
        special[main.id] = lambda h, b, red=red: b + (1.25 * red - b) * _bump(h, 9.5, 0.1, 1.65, 0.1)
        hit = nearest(pressure, xy[main.id], 3)
        for k, s in enumerate(hit):
            low = 5.0 + 3.0 * k
            special[s.id] = lambda h, b, low=low, k=k: b - (b - low) * _bump(h, 9.5 + 0.03 * k, 0.15, 1.6, 0.3)
        incidents.append(DrillIncident(t0 + 9.5 * 3600, "water main burst",
                                       (main.id, *[s.id for s in hit])))
    if len(pressure) > 4:
        frozen = [s for s in pressure if s.id not in special]
        f = frozen[int(rng.integers(len(frozen)))]
        stuck[f.id] = 12.0
        incidents.append(DrillIncident(t0 + 12 * 3600, "pressure sensor stuck", (f.id,)))
    smoke = by_type.get("smoke", [])
    if smoke:
        fire = smoke[int(rng.integers(len(smoke)))]
        red = _levels(fire).get("red", 4.0)
        special[fire.id] = lambda h, b, red=red: b + 1.35 * red * _bump(h, 14 + 20 / 60, 0.25, 1.0, 0.5)
        incidents.append(DrillIncident(t0 + 14 * 3600 + 1200, "building fire", (fire.id,)))
    strain = [s for s in by_type.get("strain", []) if s.layer == "roads"]
    if strain:
        for s in strain:
            special[s.id] = lambda h, b: b + 370.0 * _bump(h, 8.0, 0.2, 0.3, 0.2)
        incidents.append(DrillIncident(t0 + 8 * 3600, "bridge overload", tuple(s.id for s in strain)))
    wl = by_type.get("water_level", [])
    flooded: set[str] = set()
    if wl:
        flooded = set(s.id for s in [wl[i] for i in rng.choice(len(wl), size=min(5, len(wl)), replace=False)])
        incidents.append(DrillIncident(t0 + 16.5 * 3600, "cloudburst floods storm wells", tuple(sorted(flooded))))

    tables = []
    for s in registry:
        period = s.period_s or 60.0
        n = int(DAY_S // period)
        t = t0 + period * np.arange(n)
        h = (t - t0) / 3600.0
        lv = _levels(s)
        typ = s.sensor_type
        if typ == "pressure":
            base = rng.uniform(36, 50) - 7.0 * _demand_shape(h) + rng.normal(0, 0.25, n)
        elif typ == "flow":
            cap = lv.get("blue", 300.0) / 1.5  # m3/h at 1 m/s
            base = cap * (0.25 + 0.55 * _demand_shape(h)) * (1 + rng.normal(0, 0.02, n))
        elif typ == "level":
            lo = lv.get("red", 0.0)
            top = lv.get("blue", lo + 1.0)
            span = max(top - lo, 0.5) / 0.36 * 0.6
            base = top + 0.3 * span + 0.25 * span * np.sin(2 * np.pi * (h - 4) / 24) + rng.normal(0, 0.01, n)
        elif typ == "methane":
            base = np.abs(rng.normal(0.6, 0.3, n))
        elif typ == "smoke":
            base = np.abs(rng.normal(0.12, 0.04, n))
        elif typ == "water_level":
            depth = lv.get("blue", 0.6) / 0.3
            peak = 0.8 if s.id in flooded else rng.uniform(0.1, 0.35)
            base = depth * (0.04 + peak * _bump(h, 16.5 + rng.uniform(0, 0.3), 0.8, 0.7, 1.5)) \
                + rng.normal(0, 0.005, n)
            base = np.maximum(base, 0.0)
        elif typ == "strain":
            base = 60.0 + 40.0 * _demand_shape(h) + rng.normal(0, 4.0, n)
        else:
            base = rng.normal(0, 1, n)
        values = special[s.id](h, base) if s.id in special else base
        if s.id in stuck:
            a = int(np.searchsorted(h, stuck[s.id]))
            b = int(np.searchsorted(h, stuck[s.id] + 8.0))
            values = values.copy()
            values[a:b] = round(float(values[a]), 2)
        keep = np.ones(n, bool)
        if s.id in offline:
            lo_h, hi_h = offline[s.id]
            keep = (h < lo_h) | (h >= hi_h)
        tables.append(readings_table(s.id, np.round(t[keep] * 1000).astype("int64"), np.round(values[keep], 3)))
    return pa.concat_tables(tables), sorted(incidents, key=lambda i: i.start)


def drill_showcase(twin, project_path, out_dir) -> list[Path]:
    """``lifeline-twin start`` step: record the drill day, replay it at x10,000, write the alarm log."""
    from simulation.sensors.alarms import raised_by_level, write_alarm_log
    from simulation.sensors.replay import Replay

    out_dir = Path(out_dir)
    day = "2024-05-01"
    table, incidents = drill_day(twin, seed=7, day=day)
    store = ReadingStore.for_project(project_path)
    store.append(table, part=f"drill-{day}", durable=False)
    registry = SensorRegistry.from_twin(twin)
    t0 = to_seconds(f"{day}T00:00:00Z")
    replay = Replay.of_recording(store, twin, registry, t0, t0 + DAY_S, speed=10_000, frame_rate=30, instant=True)
    engine = replay.engine
    frames = replay.run()
    csv_path = write_alarm_log(engine.log, out_dir / "sensor_alarms.csv")
    json_path = out_dir / "sensor_alarms.json"
    summary = {
        "day": day, "readings": replay.readings_fed, "sensors": len(registry), "frames": frames,
        "speed": replay.clock.speed, "incidents": [i.as_dict() for i in incidents],
        "raised": raised_by_level(engine.log),
        "alarms": [a.as_dict() for a in engine.log],
    }
    atomic.write(json_path, json.dumps(summary, indent=1))
    return [csv_path, json_path]
