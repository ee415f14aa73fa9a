"""Flooded roads: Pregnolato et al.'s depth-speed rule and the roads a flooding manhole reaches."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from simulation.drainage.roads import (STREET_AREA_M2, road_depths, road_speed_factors, safe_speed_kmh,
                                       speed_factor)


def test_depth_speed_rule():
    v = safe_speed_kmh([0.0, 0.05, 0.1, 0.2, 0.299, 0.3, 0.5])
    # v = 0.0009 w² - 0.5529 w + 86.9448 (w in mm), closed from 300 mm
    np.testing.assert_allclose(v, [86.9448, 61.5498, 40.6548, 12.3648, 2.0886, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(speed_factor([0.0, 0.1, 0.3]), [1.0, 40.6548 / 86.9448, 0.0])
    assert STREET_AREA_M2 == 560.0


def test_roads_within_reach_get_the_deepest_water():
    roads = gpd.GeoDataFrame({"id": ["R1", "R2", "R3"]}, geometry=[
        shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 30), (100, 30)]),
        shapely.LineString([(0, 200), (100, 200)])], crs="EPSG:3857")
    xy = np.array([[50.0, 5.0], [90.0, 20.0], [50.0, 500.0]])
    depth = road_depths(xy, np.array([0.12, 0.35, 0.5]), roads, reach_m=40.0)
    assert depth.to_dict() == {"R1": 0.35, "R2": 0.35}
    factors = road_speed_factors(depth)
    assert factors == {"R1": 0.0, "R2": 0.0}
    depth = road_depths(xy, np.array([0.12, 0.005, 0.0]), roads, reach_m=40.0)
    assert depth.to_dict() == {"R1": 0.12, "R2": 0.12}
    assert road_speed_factors(depth)["R1"] == pytest.approx(float(speed_factor(0.12)))
    assert road_depths(xy, np.zeros(3), roads).empty
