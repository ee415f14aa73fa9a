"""Road graph: nodes, one-way streets, parts, snapping, station tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString

from simulation.emergency.config import Roads
from simulation.emergency.roads import RoadGraph
from simulation.emergency.travel import RoadTravel
from twin.errors import LayerError

from .conftest import CRS, grid_roads

X0, Y0 = 500000.0, 3400000.0


def node_at(graph, x, y):
    return int(np.flatnonzero(np.hypot(*(graph.xy - [x, y]).T) < 1e-6)[0])


def test_grid_graph_times_follow_speed_and_length():
    g = RoadGraph.from_roads(grid_roads(5))  # 36 km/h = 10 m/s, 200 m blocks: 20 s per block
    assert g.n_nodes == 25
    assert g.n_edges == 2 * 2 * 5 * 4  # 40 two-way segments
    assert g.length_m == pytest.approx(40 * 200.0)
    a, b = node_at(g, X0, Y0), node_at(g, X0 + 800, Y0 + 800)
    t = g.times_from([a])[0, b]
    assert t == pytest.approx(8 * 20.0)
    assert g.n_parts == 1


def test_oneway_street_is_driven_only_in_its_direction():
    g = RoadGraph.from_roads(grid_roads(5, oneway_rows=(0,)))  # row 0 eastbound only
    a, b = node_at(g, X0, Y0), node_at(g, X0 + 200, Y0)
    assert g.times_from([a])[0, b] == pytest.approx(20.0)
    # westbound must go round the block: up, across, down
    assert g.times_from([b])[0, a] == pytest.approx(60.0)
    assert g.times_to([a])[0, b] == pytest.approx(60.0)


def test_speed_factor_and_single_lane_penalty():
    roads = grid_roads(3)
    roads["lanes"] = 1
    g = RoadGraph.from_roads(roads, {"residential": 0.5}, single_lane_factor=0.8)
    a, b = node_at(g, X0, Y0), node_at(g, X0, Y0 + 200)  # vertical streets are residential
    assert g.times_from([a])[0, b] == pytest.approx(200.0 / (10.0 * 0.5 * 0.8))


def test_parallel_roads_keep_the_fastest():
    roads = gpd.GeoDataFrame([
        {"id": "slow", "road_class": "service", "speed_kmh": 18.0, "geometry": LineString([(0, 0), (100, 0)])},
        {"id": "fast", "road_class": "primary", "speed_kmh": 36.0, "geometry": LineString([(0, 0), (100, 0)])},
    ], crs=CRS)
    g = RoadGraph.from_roads(roads)
    assert g.n_nodes == 2 and g.n_edges == 2
    assert g.times_from([0])[0, 1] == pytest.approx(10.0)


def test_disconnected_part_is_reported_and_incidents_there_are_flagged():
    roads = grid_roads(4)
    island = gpd.GeoDataFrame([{"id": "island", "road_class": "residential", "speed_kmh": 30.0,
                                "oneway": False, "lanes": 2,
                                "geometry": LineString([(X0 + 5000, Y0), (X0 + 5300, Y0)])}], crs=CRS)
    g = RoadGraph.from_roads(gpd.GeoDataFrame(pd_concat([roads, island]), crs=CRS))
    parts = g.parts()
    assert g.n_parts == 2
    assert parts[0].nodes == 16 and parts[1].nodes == 2
    assert parts[1].road_ids == ("island",)
    assert parts[1].length_m == pytest.approx(300.0)
    travel = RoadTravel(g, np.array([[X0, Y0]]), Roads(max_snap_m=500))
    assert travel.unreachable_nodes == 2
    assert any("2 of 18 road nodes cannot be reached" in n for n in travel.notes)
    sites = travel.locate(np.array([[X0 + 5100, Y0], [X0 + 210, Y0 + 5]]))
    # the island node is unreachable: snapped to the nearest reachable node of the grid
    assert sites.snap_m[0] == pytest.approx(np.hypot(5100 - 600, 0))
    assert sites.far.tolist() == [True, False]
    assert sites.snap_m[1] == pytest.approx(np.hypot(10, 5))


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_station_table_adds_off_road_legs():
    g = RoadGraph.from_roads(grid_roads(4))
    roads = Roads(access_speed_kmh=3.6, max_snap_m=50)  # 1 m/s: legs in seconds = metres
    travel = RoadTravel(g, np.array([[X0 - 30, Y0], [X0 + 600, Y0 + 600 + 80]]), roads, ["near", "far"])
    assert travel.station_snap_m.tolist() == pytest.approx([30.0, 80.0])
    assert any("'far' is 80 m from the nearest road" in n for n in travel.notes)
    sites = travel.locate(np.array([[X0 + 200, Y0 + 10]]))
    out = travel.out_times(sites, 0)
    assert out[0] == pytest.approx(30 + 20 + 10)
    assert out[1] == pytest.approx(80 + 5 * 20 + 10)  # (600, 600) -> (200, 0): 5 blocks
    assert travel.back_time(sites, 0, 1) == pytest.approx(out[1])
    assert travel.table(sites)[0].tolist() == pytest.approx(out.tolist())


def test_bad_roads_are_refused_with_the_road_named():
    roads = grid_roads(3)
    roads.loc[2, "speed_kmh"] = 0.0
    with pytest.raises(LayerError, match=r"road 'rh0_1' has speed 0.0"):
        RoadGraph.from_roads(roads)
    with pytest.raises(LayerError, match="'roads' is empty"):
        RoadGraph.from_roads(roads.iloc[:0])
