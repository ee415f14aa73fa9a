"""Flooded streets slow or close their roads: the road graph, the travel tables and the response follow."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString

from simulation.emergency.config import Roads
from simulation.emergency.roads import RoadGraph
from simulation.emergency.travel import RoadTravel


def _grid():
    """Two ways from A (0, 0) to B (2000, 0): straight along R1+R2 (2 km), or round R3-R4-R5 (4 km)."""
    lines = {"R1": [(0, 0), (1000, 0)], "R2": [(1000, 0), (2000, 0)], "R3": [(0, 0), (0, 1000)],
             "R4": [(0, 1000), (2000, 1000)], "R5": [(2000, 1000), (2000, 0)]}
    return gpd.GeoDataFrame({"id": list(lines), "road_class": "primary", "speed_kmh": 36.0},
                            geometry=[LineString(v) for v in lines.values()], crs=3857)


def test_a_slowed_road_takes_longer_and_a_closed_one_is_driven_round():
    g = RoadGraph.from_roads(_grid())
    a, b = g.snap(np.array([[0.0, 0.0], [2000.0, 0.0]]))[0]
    assert g.times_from([a])[0, b] == pytest.approx(200.0)            # 2 km at 10 m/s
    half = g.slowed({"R2": 0.5})
    assert half.times_from([a])[0, b] == pytest.approx(100.0 + 200.0)  # R2 at half speed
    closed = g.slowed({"R2": 0.0})
    assert closed.times_from([a])[0, b] == pytest.approx(400.0)        # round by R3, R4, R5
    assert closed.n_edges == g.n_edges - 2                             # R2 both ways gone
    assert g.times_from([a])[0, b] == pytest.approx(200.0)             # the dry graph is unchanged
    assert g.slowed({"no-such-road": 0.0}).n_edges == g.n_edges
    with pytest.raises(ValueError, match="road 'R1': speed factor must be within 0..1, not 1.5"):
        g.slowed({"R1": 1.5})


def test_travel_from_a_station_follows_the_flooded_roads():
    g = RoadGraph.from_roads(_grid())
    travel = RoadTravel(g, np.array([[0.0, 0.0]]), Roads(), station_ids=["S1"])
    site = travel.locate(np.array([[2000.0, 0.0]]))
    assert travel.out_times(site, 0)[0] == pytest.approx(200.0)
    wet = travel.slowed({"R1": 0.0})
    assert wet.out_times(wet.locate(np.array([[2000.0, 0.0]])), 0)[0] == pytest.approx(400.0)
    assert travel.slowed({}) is travel
