"""Small real twins for the emergency tests: a grid town with roads, buildings and stations."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from twin.model import Twin

CRS = "EPSG:32650"


def grid_roads(n: int = 8, spacing: float = 200.0, speed: float = 36.0, oneway_rows=(), x0=500000.0,
               y0=3400000.0, prefix="r") -> gpd.GeoDataFrame:
    """An n × n street grid; rows listed in ``oneway_rows`` are one-way eastbound."""
    rows = []
    for i in range(n):
        for j in range(n):
            x, y = x0 + j * spacing, y0 + i * spacing
            if j + 1 < n:
                rows.append({"id": f"{prefix}h{i}_{j}", "road_class": "primary" if i == n // 2 else "residential",
                             "speed_kmh": speed, "oneway": i in oneway_rows, "lanes": 2,
                             "geometry": LineString([(x, y), (x + spacing, y)])})
            if i + 1 < n:
                rows.append({"id": f"{prefix}v{i}_{j}", "road_class": "residential", "speed_kmh": speed,
                             "oneway": False, "lanes": 2, "geometry": LineString([(x, y), (x, y + spacing)])})
    return gpd.GeoDataFrame(rows, crs=CRS)


def grid_buildings(n: int = 8, spacing: float = 200.0, x0=500000.0, y0=3400000.0, seed=3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n - 1):
        for j in range(n - 1):
            cx, cy = x0 + (j + 0.5) * spacing, y0 + (i + 0.5) * spacing
            rows.append({"id": f"b{i}_{j}", "height": 12.0, "population": int(rng.integers(10, 200)),
                         "risk_level": "red" if (i, j) == (0, 0) else "",
                         "geometry": box(cx - 30, cy - 30, cx + 30, cy + 30)})
    return gpd.GeoDataFrame(rows, crs=CRS)


def stations(rows) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        [{"id": sid, "name": name, "kind": kind, "units": None if units is None else json.dumps(units),
          "geometry": Point(x, y)} for sid, name, kind, units, x, y in rows], crs=CRS)


def grid_twin(n: int = 8, station_rows=None, **road_kw) -> Twin:
    twin = Twin("grid town", CRS)
    twin.set_layer("roads", grid_roads(n, **road_kw))
    twin.set_layer("buildings", grid_buildings(n))
    x0, y0, s = 500000.0, 3400000.0, 200.0
    station_rows = station_rows or [
        ("fs1", "Central", "station", {"engine": 2, "ladder": 1}, x0 + 10, y0 + 10),
        ("fs2", "East", "station", {"engine": 1}, x0 + (n - 1) * s - 10, y0 + (n - 1) * s - 10),
        ("ms1", "Micro North", "micro_station", {"engine": 1}, x0 + 2 * s, y0 + (n - 2) * s),
        ("ems1", "Ambulance base", "ems", {"ambulance": 2}, x0 + 3 * s, y0 + 3 * s),
        ("wr1", "Water depot", "water_repair", None, x0 + 5 * s, y0 + s),
        ("gs1", "Gas depot", "gas_emergency", {"gas_crew": 1}, x0 + s, y0 + 5 * s),
    ]
    twin.set_layer("fire_stations", stations(station_rows))
    return twin


@pytest.fixture
def town() -> Twin:
    return grid_twin()


@pytest.fixture
def scenario():
    from simulation.emergency.config import load_scenario

    return load_scenario()


def exact_scenario(**overrides):
    """The default scenario with fixed durations and no travel noise: timestamps become exact."""
    from simulation.emergency.config import load_scenario

    base = load_scenario()
    data = base.model_dump(exclude_none=True)
    data["verify"] = {"fixed": 30}
    data["dispatch"] = {"fixed": 20}
    data["feedback"] = {"fixed": 100}
    for ut in data["unit_types"].values():
        ut["turnout"] = {"fixed": 60}
    for it in data["incident_types"].values():
        it["handle"] = {"fixed": 1000}
        it["false_alarm"] = 0.0
    data["roads"]["speed_factor"] = {}
    data["roads"]["travel_sigma"] = 0.0
    for key, value in overrides.items():
        data[key] = value
    from simulation.emergency.config import scenario_from_dict

    return scenario_from_dict(data)


@pytest.fixture
def exact():
    return exact_scenario
