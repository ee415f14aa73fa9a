"""Fixtures for the sensor tests: a small twin with sensors (the mosquitto broker is in tests/conftest.py)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point


@pytest.fixture
def sensor_twin():
    """A small metric twin: manholes (sewer, gas), a septic tank, one gas main, and sensors on them."""
    from twin.model import Twin

    crs = "EPSG:32650"
    twin = Twin("sensor-town", crs)
    twin.set_layer("gas_mains", gpd.GeoDataFrame(
        {"id": ["G1"], "pressure_class": ["medium_b"]},
        geometry=[LineString([(0, 0), (100, 0)])], crs=crs))
    twin.set_layer("manholes", gpd.GeoDataFrame(
        {"id": ["MH-near", "MH-far", "MH-gas", "MH-eth"], "well_type": ["sewer", "sewer", "gas", "telecom"]},
        geometry=[Point(50, 4), Point(50, 80), Point(10, 1), Point(60, 300)], crs=crs))
    twin.set_layer("septic_tanks", gpd.GeoDataFrame(
        {"id": ["ST1"]}, geometry=[Point(200, 200)], crs=crs))
    rows = [
        ("CH4-near", "methane", "%LEL", "manholes", "MH-near", 60.0, None, (50, 4)),
        ("CH4-far", "methane", "%LEL", "manholes", "MH-far", 60.0, None, (50, 80)),
        ("CH4-gaswell", "methane", "%LEL", "manholes", "MH-gas", 60.0, None, (10, 1)),
        ("CH4-septic", "methane", "%LEL", "septic_tanks", "ST1", 60.0, None, (200, 200)),
        ("CH4-eth", "methane", "%LEL", "manholes", "MH-eth", 60.0, None, (60, 300)),
        ("C2H6-eth", "ethane", "ppm", "manholes", "MH-eth", 60.0, None, (60, 300)),
        ("PT-1", "pressure", "m", "water_junctions", "J1", 300.0, None, (5, 5)),
        ("PT-2", "pressure", "m", "water_junctions", "J2", 300.0, '{"low": {"red": 8}, "debounce": 1}', (6, 6)),
        ("SM-1", "smoke", "%obs/m", "buildings", "B1", 10.0, None, (7, 7)),
    ]
    twin.set_layer("sensors", gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "sensor_type": [r[1] for r in rows], "unit": [r[2] for r in rows],
         "layer": [r[3] for r in rows], "feature_id": [r[4] for r in rows], "period_s": [r[5] for r in rows],
         "thresholds": [r[6] for r in rows]},
        geometry=[Point(*r[7]) for r in rows], crs=crs))
    return twin
