"""Fixtures of the scene tests: a small real twin built from wntr's ky10 network.

ky10 (a real Kentucky utility, shipped inside wntr, EPSG:3089 in US feet) is
moved to its metric sibling EPSG:3088; the DEM is interpolated from the junction
elevations; a few buildings, roads, sites, gas mains, sewers, manholes and an
airspace zone are laid around the network's middle so every layer kind is drawn.
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import CRS, Transformer
from shapely.geometry import LineString, Point, Polygon, box

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


def ky10_twin(with_extras: bool = True):
    from twin.model import Twin
    from twin.network import network_layers, read_network, transform_coordinates
    from twin.terrain import Terrain
    import wntr
    from pathlib import Path

    wn = read_network(Path(wntr.__path__[0]) / "library" / "networks" / "ky10.inp")
    to_m = Transformer.from_crs(3089, 3088, always_xy=True)
    transform_coordinates(wn, to_m.transform)
    crs = CRS.from_epsg(3088)
    layers = network_layers(wn, crs)
    j = layers["water_junctions"]
    xs, ys = j.geometry.x.to_numpy(), j.geometry.y.to_numpy()
    terrain = Terrain.from_points(xs, ys, j["elevation"].to_numpy() + 1.5, crs, cell=250.0, margin=500.0)
    twin = Twin("ky10 test town", crs, terrain=terrain, network=wn)
    for name, frame in layers.items():
        if len(frame):
            twin.set_layer(name, frame)
    if not with_extras:
        return twin
    rng = np.random.default_rng(3)
    cx, cy = np.median(xs), np.median(ys)
    near = np.argsort(np.hypot(xs - cx, ys - cy))[:60]
    uses = ["residential", "commercial", "industrial", "public"]
    risks = ["red", "orange", "yellow", "blue", ""]
    rows, geoms = [], []
    for i, k in enumerate(near):
        x0, y0 = xs[k] + 40 + rng.uniform(-10, 10), ys[k] + 30
        geoms.append(box(x0, y0, x0 + rng.uniform(25, 60), y0 + rng.uniform(20, 45)))
        rows.append({"id": f"B{i}", "height": float(rng.uniform(6, 45)), "use": uses[i % 4],
                     "risk_level": risks[i % 5], "population": int(rng.integers(0, 300))})
    twin.set_layer("buildings", gpd.GeoDataFrame(rows, geometry=geoms, crs=crs))
    pipes = twin["water_pipes"]
    sel = pipes.iloc[:40]
    twin.set_layer("gas_mains", gpd.GeoDataFrame(
        {"id": [f"G{i}" for i in range(len(sel))], "pressure_class": "medium_a", "diameter": 0.1,
         "burial_depth": 0.9},
        geometry=[LineString(np.asarray(g.coords) + [12.0, 12.0]) for g in sel.geometry], crs=crs))
    ground = terrain.sample
    sew = pipes.iloc[40:70]
    sewer_rows = []
    for i, g in enumerate(sew.geometry):
        (ax, ay), (bx, by) = g.coords[0], g.coords[-1]
        sewer_rows.append({"id": f"S{i}", "upstream_invert": float(ground(ax, ay)) - 3.0,
                           "downstream_invert": float(ground(bx, by)) - 3.5, "diameter": 0.4})
    twin.set_layer("sewers", gpd.GeoDataFrame(
        sewer_rows, geometry=[LineString(np.asarray(g.coords) - [15.0, 15.0]) for g in sew.geometry], crs=crs))
    twin.set_layer("manholes", gpd.GeoDataFrame(
        {"id": [f"M{i}" for i in range(10)], "well_type": "sewer", "depth": 3.0},
        geometry=[Point(np.asarray(g.coords[0]) - [15.0, 15.0]) for g in sew.geometry[:10]], crs=crs))
    twin.set_layer("hydrants", gpd.GeoDataFrame(
        {"id": [f"H{i}" for i in range(15)], "node_id": j["id"].iloc[near[:15]].to_numpy()},
        geometry=[Point(xs[k] + 5, ys[k] + 5) for k in near[:15]], crs=crs))
    twin.set_layer("roads", gpd.GeoDataFrame(
        {"id": [f"R{i}" for i in range(30)], "road_class": "residential", "speed_kmh": 40.0, "lanes": 2},
        geometry=[LineString(np.asarray(g.coords) + [6.0, -6.0]) for g in pipes.geometry.iloc[:30]], crs=crs))
    twin.set_layer("sites", gpd.GeoDataFrame(
        {"id": ["gas-station-1", "school-1"], "name": ["Fuel stop", "Elm school"],
         "category": ["gas station", "school"], "lec_l": [6.0, 1.0], "lec_e": [6.0, 3.0], "lec_c": [15.0, 7.0]},
        geometry=[Point(cx + 300, cy + 200), box(cx - 400, cy - 300, cx - 300, cy - 220)], crs=crs))
    # Altitudes are on the DEM's datum (like aeronautical charts), not above the ground.
    g0 = float(ground(cx, cy))
    twin.set_layer("airspace_zones", gpd.GeoDataFrame(
        {"id": ["NFZ-1"], "name": ["Hospital no-fly"], "kind": ["no_fly"], "floor_m": [g0 - 20.0],
         "ceiling_m": [g0 + 120.0]},
        geometry=[Point(cx, cy).buffer(600)], crs=crs))
    twin.set_layer("drone_corridors", gpd.GeoDataFrame(
        {"id": ["C1"], "name": ["north route"], "width_m": [40.0]},
        geometry=[LineString([(cx - 3000, cy - 2000, g0 + 80), (cx, cy, g0 + 90), (cx + 3000, cy + 2500, g0 + 80)])],
        crs=crs))
    t0 = pd.Timestamp("2026-05-01T10:00:00Z")
    track = [(cx - 1000 + 100 * i, cy - 800 + 60 * i, g0 + 50 + i) for i in range(12)]
    twin.set_layer("drone_tracks", gpd.GeoDataFrame(
        {"id": [f"T{i}" for i in range(12)], "track_id": "D1",
         "time": [t0 + pd.Timedelta(seconds=10 * i) for i in range(12)]},
        geometry=[Point(p) for p in track], crs=crs))
    return twin


@pytest.fixture(scope="session")
def town():
    """The ky10 test town (shared: tests must not modify it)."""
    return ky10_twin()
