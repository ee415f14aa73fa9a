"""Methane from a leak into wells, septic tanks and tunnels: the soil, the entry, the ventilation, the alarms."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

from tests.gas.conftest import CLOSE_AT, LEAK_AT, START, line_twin


def test_dispersion_coefficients():
    from simulation.gas.migration import dispersion_coefficient

    # pneumatic diffusivity k·pa/(φ·μ): 1e-12 m² · 101,325 Pa / (0.30 · 1.1e-5 Pa·s)
    assert dispersion_coefficient("silty_sand") == pytest.approx(0.0307045, rel=1e-5)
    assert dispersion_coefficient("gravel") == pytest.approx(30.7045, rel=1e-5)
    assert dispersion_coefficient("clay") == pytest.approx(3.07045e-5, rel=1e-5)
    with pytest.raises(ValueError) as err:
        dispersion_coefficient("loam")
    assert str(err.value) == "unknown soil class 'loam' (known: gravel, sand, silty_sand, silt, clay)"


def test_soil_gas_superposes_the_leak_steps():
    from simulation.gas.migration import soil_gas

    d, phi, r = 0.03, 0.30, 4.0
    one = lambda q, dt: q / 1000 / (4 * math.pi * phi * d * r) * math.erfc(r / (2 * math.sqrt(d * dt)))  # noqa
    steps = [(0.0, 100.0)]
    assert soil_gas(r, 0.0, steps, d) == 0.0
    assert soil_gas(r, 600.0, steps, d) == pytest.approx(one(100.0, 600.0), rel=1e-12)
    assert soil_gas(r, 1e12, steps, d) == pytest.approx(0.1 / (4 * math.pi * phi * d * r), rel=1e-4)
    # the flow falls to 40 L/s at 600 s and stops at 1200 s: three steps superposed
    steps = [(0.0, 100.0), (600.0, 40.0), (1200.0, 0.0)]
    t = 1500.0
    assert soil_gas(r, t, steps, d) == pytest.approx(one(100, t) - one(60, t - 600) - one(40, t - 1200), rel=1e-12)


FLOW = [(0.0, 100.0), (7200.0, 0.0)]


def leak_state():
    """The session's runtime state as a gas network engine leaves it: one leak of 100 L/s at (50, 0) from t = 0
    to 7,200 s (and a scripted leak in a well, which has no flow in the soil and must be left alone)."""
    return {"gas_leaks": {"gas_mains/G1": {"layer": "gas_mains", "feature": "G1", "x": 50.0, "y": 0.0,
                                           "active": True, "flow": list(FLOW)},
                          "manholes/MH1": {"layer": "manholes", "feature": "MH1", "x": 53.0, "y": 4.0,
                                           "active": True}}}


def _spaces_twin():
    twin = line_twin()
    twin["manholes"] = gpd.GeoDataFrame({"id": ["MH1", "MH2"], "well_type": ["sewer", "gas"], "depth": [2.0, 1.5]},
                                        geometry=[Point(53.0, 4.0), Point(250.0, 30.0)], crs=twin.crs)
    twin["septic_tanks"] = gpd.GeoDataFrame({"id": ["ST1"], "volume_m3": [4.0]}, geometry=[Point(40.0, -6.0)],
                                            crs=twin.crs)
    twin["utility_tunnels"] = gpd.GeoDataFrame({"id": ["UT1"], "width": [3.0], "height": [3.0]},
                                               geometry=[LineString([(-500, 20), (500, 20)])], crs=twin.crs)
    levels = json.dumps({"direction": "above", "blue": 10.0, "yellow": 25.0, "orange": 50.0, "red": 75.0})
    twin["sensors"] = gpd.GeoDataFrame(
        {"id": ["CH1", "CH2", "CH3", "CH4"], "sensor_type": ["methane"] * 4, "unit": ["%LEL"] * 4,
         "layer": ["manholes", "manholes", "septic_tanks", "utility_tunnels"],
         "feature_id": ["MH1", "MH2", "ST1", "UT1"],
         "period_s": [30.0, 30.0, 60.0, 30.0], "thresholds": [levels] * 4},
        geometry=[Point(53.0, 4.0), Point(250.0, 30.0), Point(40.0, -6.0), Point(250.0, 20.0)], crs=twin.crs)
    return twin


def _migration(**kw):
    from simulation.gas.migration import Migration
    from simulation.sensors.alarms import AlarmEngine
    from simulation.sensors.registry import SensorRegistry
    from simulation.session.session import Session

    twin = _spaces_twin()
    alarms = AlarmEngine(SensorRegistry.from_twin(twin))
    migration = Migration(twin, alarms, **kw)
    assert migration.sensors == []   # the leaks are known once attached, from the session's state
    session = Session(twin, 0.0, 4 * 3600.0, seed=3)
    session.state.update(leak_state())
    session.attach(migration)
    return session, migration, alarms


def test_the_spaces_within_reach():
    from simulation.gas.migration import dispersion_coefficient

    _, migration, _ = _migration()
    seen = {s.id: (sp.layer, round(sp.volume_m3, 4), sp.distance["G1"]) for s, sp in migration.sensors}
    assert all(set(sp.distance) == {"G1"} for _, sp in migration.sensors)   # not the scripted leak in MH1
    # MH2 is 200 m away: beyond the 100 m reach; the tunnel sensor at x = 250 watches 150-350: 100.5 m away
    assert seen == {"CH1": ("manholes", round(math.pi / 4 * 2.0, 4), 5.0), "CH3": ("septic_tanks", 1.0,
                                                                                   math.hypot(10, 6))}
    _, wide, _ = _migration(reach_m=120.0)
    tunnel = next(sp for s, sp in wide.sensors if s.id == "CH4")
    assert tunnel.volume_m3 == 3.0 * 3.0 * 200.0
    assert tunnel.distance["G1"] == pytest.approx(math.hypot(100.0, 20.0))
    assert migration.d == dispersion_coefficient("silty_sand")


def test_a_space_settles_at_its_ventilation_balance():
    """After a long steady leak the well holds G·c/(G + Qv): wall exchange against air changes."""
    from simulation.gas.migration import AIR_FILLED_POROSITY, soil_gas

    _, migration, _ = _migration()
    sensor, space = next((s, sp) for s, sp in migration.sensors if s.id == "CH1")
    migration.attach(type("S", (), {"start": 0.0, "child_rng": lambda self, n: None, "state": leak_state()})())
    sensor, space = next((s, sp) for s, sp in migration.sensors if s.id == "CH1")
    c = migration.concentration("CH1", 7000.0)
    d = migration.d
    a = (3 * space.volume_m3 / (4 * math.pi)) ** (1 / 3)
    g = 4 * math.pi * a * AIR_FILLED_POROSITY * d
    qv = 0.5 / 3600 * space.volume_m3
    wall = soil_gas(5.0, 7000.0, FLOW, d)
    assert c == pytest.approx(g * wall / (g + qv), rel=2e-3)
    assert 100 * c / 0.044 == pytest.approx(316.9, abs=0.1)        # %LEL, beyond the detector's 100
    # after the leak stops the well airs out, with what is left in the ground
    assert migration.concentration("CH1", 7200.0 + 3600.0) < 0.25 * c


def test_alarms_rise_with_the_leak_and_carry_the_gas_main_context():
    from simulation.sensors.methane import BIOGAS, GAS_MAIN

    session, migration, alarms = _migration()
    raised = []
    alarms.subscribe(raised.append)
    session.run()
    well = [(a.time, a.state, a.level, a.kind) for a in raised if a.sensor_id == "CH1"]
    # 5 m from a 100 L/s leak in silty sand: a quick rise (the rate alarm), yellow at 2.5 min, red at 4.5
    assert well[:5] == [(120.0, "raised", "blue", "high"), (120.0, "raised", "orange", "rate"),
                        (150.0, "escalated", "yellow", "high"), (210.0, "escalated", "orange", "high"),
                        (270.0, "escalated", "red", "high")]
    # the leak stops at 2 h: lowered to orange 33 min later, to blue at 3 h 52 min
    assert [(t, level) for t, state, level, _ in well if state == "lowered"] == [
        (9180.0, "orange"), (10380.0, "yellow"), (13950.0, "blue")]
    assert {a.context for a in raised if a.sensor_id == "CH1" and a.state != "cleared"} == {GAS_MAIN}
    # the septic tank 11.7 m away: slower (more air, further), and the context says biogas, as it does
    # for any septic tank without an ethane reading
    tank = [(a.time, a.level) for a in raised if a.sensor_id == "CH3" and a.state in ("raised", "escalated")]
    assert tank == [(660.0, "blue"), (1080.0, "yellow"), (2040.0, "orange"), (3840.0, "red")]
    assert {a.context for a in raised if a.sensor_id == "CH3"} == {BIOGAS}
    assert [v for sid, t, v in migration.readings if t <= 0.0] == [0.0, 0.0]


def test_demo_leak_alarms_the_sewer_well_beside_it(leak_run):
    """G0234's leak (116 L/s) reaches the sewer well MH-S00553 3.4 m away: yellow within a minute, then red."""
    from simulation.sensors.methane import GAS_MAIN

    _, _, migration, raised = leak_run
    assert [(s.id, sp.feature, round(sp.distance["G0234"], 2)) for s, sp in migration.sensors] == \
        [("CH028", "MH-S00553", 3.39)]
    mine = [(a.time - START, a.state, a.level, a.kind) for a in raised if a.sensor_id == "CH028"]
    assert mine[0] == (LEAK_AT - START + 70.0, "raised", "yellow", "high")
    assert ("escalated", "red", "high") in [m[1:] for m in mine]
    assert all(a.context == GAS_MAIN for a in raised if a.state in ("raised", "escalated"))
    # shut off at 10:30: the well airs out, the alarm is lowered within the hour
    lowered = [m for m in mine if m[1] == "lowered" and m[2] == "blue"]
    assert lowered and START + lowered[0][0] < CLOSE_AT + 3600
    calm = [v for sid, t, v in migration.readings if t < LEAK_AT]
    assert len(calm) == 71 and max(calm) < 2.5
