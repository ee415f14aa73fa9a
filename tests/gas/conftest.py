"""Fixtures of the gas tests: the demo city's gas network, a small twin.

The demo town lays its gas mains along the in-town streets and joins the
pieces into one network the gate station feeds (``twin.town.gas.join_sections``).
"""

from __future__ import annotations

import copy

import geopandas as gpd
import pytest

from simulation.session.orders import Orders


@pytest.fixture(scope="session")
def gas_twin(demo_twin):
    """The demo city (read-only), whose gas mains are one network."""
    return demo_twin


@pytest.fixture(scope="session")
def demo_grid(gas_twin):
    from simulation.gas.network import gas_network

    return gas_network(gas_twin)


def line_twin(*, isolated: bool = False, gate: bool = True):
    """A small twin: a gate station at (0, 0), two medium-pressure B mains and a low-pressure district.

    ::

        gate (0,0) --G1 mb-- (100,0) --G2 low-- (200,0) --G3 low-- (300,0)
           \\                                        |                 |
            \\-------------G5 mb (below, to 300,0)---+-----------------/
                                                  G4 low up to (200,100)

    Regulators at (100, 0) and (300, 0).  Buildings: B1 (26 people, 9.92 households) and B4 (commercial,
    200 m², 2 household-equivalents) on G2, B2 (13 people) on G3, B3 (5 people) on G4.
    ``isolated`` adds G9, a low main (500,0)-(600,0) no source reaches.
    """
    from shapely.geometry import LineString, Point, box

    from twin.model import Twin

    twin = Twin("line", "EPSG:32650")
    mains = [("G1", "medium_b", "steel", 0.100, [(0, 0), (100, 0)]),
             ("G2", "low", "PE", 0.063, [(100, 0), (200, 0)]),
             ("G3", "low", "PE", 0.063, [(200, 0), (300, 0)]),
             ("G4", "low", "PE", 0.063, [(200, 0), (200, 100)]),
             ("G5", "medium_b", "PE", 0.110, [(0, 0), (0, -50), (300, -50), (300, 0)])]
    if isolated:
        mains.append(("G9", "low", "PE", 0.063, [(500, 0), (600, 0)]))
    twin["gas_mains"] = gpd.GeoDataFrame(
        {"id": [m[0] for m in mains], "pressure_class": [m[1] for m in mains], "material": [m[2] for m in mains],
         "diameter": [m[3] for m in mains]}, geometry=[LineString(m[4]) for m in mains], crs=twin.crs)
    if gate:
        twin["sites"] = gpd.GeoDataFrame({"id": ["S1"], "name": ["Gate"], "category": ["gas gate station"]},
                                         geometry=[Point(0.4, 0.3)], crs=twin.crs)
    twin["buildings"] = gpd.GeoDataFrame(
        {"id": ["B1", "B2", "B3", "B4"], "height": [9.0, 6.0, 3.0, 4.0], "floors": [3, 2, 1, 1],
         "population": [26, 13, 5, 0], "use": ["residential", "residential", "residential", "commercial"]},
        geometry=[box(140, 15, 160, 25), box(240, 15, 260, 25), box(205, 55, 215, 65), box(110, -20, 130, -10)],
        crs=twin.crs)
    return twin


START = 1780306200.0                       # 2026-06-01T09:30:00Z
LEAK_AT = START + 35 * 60 + 20             # 10:05:20, inside a frame
CLOSE_AT = START + 60 * 60                 # the crew shuts G0234 off at 10:30
REPAIR_AT = START + 80 * 60                # repaired at 10:50
OPEN_AT = START + 100 * 60                 # reopened at 11:10
#: the hour's share of the design hour, by local (UTC) hour: 09 h 0.8, 10 h 1.0, 11 h 0.9
HOURLY = [0.3] * 9 + [0.8, 1.0, 0.9] + [0.5] * 12


def run_leak(gas_twin, grid, step_s: float = 60.0):
    """The demo leak on the clock: G0234 leaks from 10:05:20, shut 10:30, repaired 10:50, reopened 11:10."""
    from simulation.gas.engine import GasNetwork
    from simulation.gas.migration import Migration
    from simulation.sensors.alarms import AlarmEngine
    from simulation.sensors.registry import SensorRegistry
    from simulation.session.session import Session

    session = Session(gas_twin, START, START + 2 * 3600, seed=1, step_s=step_s)
    gas = GasNetwork(grid, hourly_factors=HOURLY)
    gas.leak("G0234", LEAK_AT, 20.0, along=0.4)
    session.attach(gas)
    alarms = AlarmEngine(SensorRegistry.from_twin(gas_twin))
    raised = []
    alarms.subscribe(raised.append)
    migration = Migration(gas_twin, alarms)
    session.attach(migration)
    session.attach(Orders([(CLOSE_AT, "valve_closed", "G0234"), (REPAIR_AT, "repair_done", "G0234"),
                         (OPEN_AT, "valve_opened", "G0234")]))
    session.run()
    return session, gas, migration, raised


@pytest.fixture(scope="session")
def leak_run(gas_twin, demo_grid):
    return run_leak(gas_twin, copy.deepcopy(demo_grid))
