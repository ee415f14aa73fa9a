"""The built-in demo city: reproducible, consistent with its network, and shaped like a town."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from twin.demo import build_demo
from twin.town.plan import LITRES_PER_PERSON_DAY


@pytest.fixture(scope="session")
def demo_twin():
    """The seed-7 demo city, built once per test session (other areas may reuse it)."""
    return build_demo(seed=7)


def test_same_seed_same_city_other_seed_other_city(demo_twin):
    again = build_demo(seed=7)
    for name, frame in demo_twin.layers.items():
        other = again[name]
        assert list(frame["id"]) == list(other["id"]), name
        assert frame.drop(columns="geometry").equals(other.drop(columns="geometry")), name
        assert shapely.equals_exact(frame.geometry.values, other.geometry.values, tolerance=0).all(), name
    assert np.array_equal(demo_twin.terrain.heights, again.terrain.heights)
    different = build_demo(seed=8)
    assert not np.array_equal(demo_twin.terrain.heights, different.terrain.heights)
    assert len(different["buildings"]) != len(demo_twin["buildings"]) or not shapely.equals_exact(
        different["buildings"].geometry.values, demo_twin["buildings"].geometry.values, tolerance=0).all()


def test_network_is_ky10_in_metres_and_consistent(demo_twin):
    assert demo_twin.crs.to_epsg() == 3088
    assert demo_twin.network_problems() == []
    assert len(demo_twin["water_junctions"]) == 920
    assert len(demo_twin["water_pipes"]) == 1043
    minx, miny, maxx, maxy = demo_twin["water_junctions"].total_bounds
    assert 25_000 < maxx - minx < 40_000 and 25_000 < maxy - miny < 40_000


def test_population_matches_network_demand(demo_twin):
    junctions = demo_twin["water_junctions"]
    wn = demo_twin.network
    demand = sum(j.base_demand * np.mean(wn.get_pattern(j.demand_timeseries_list[0].pattern_name).multipliers)
                 for _, j in wn.junctions())
    expected = demand * 86400 * 1000 / LITRES_PER_PERSON_DAY
    population = demo_twin["buildings"]["population"].sum()
    assert abs(population - expected) / expected < 0.01
    # Every junction with demand serves at least one building.
    served = set(demo_twin["buildings"]["junction_id"])
    with_demand = set(junctions.loc[junctions["base_demand"] > 0, "id"])
    assert with_demand <= served
