"""The built-in demo city: a town grown around wntr's real ky10 network, reproducible from a seed.

``build_demo(seed)`` reads ky10 (a Kentucky water district: a small town's
street grid plus rural lines, 920 junctions and 1,043 pipes over ~30 × 34 km),
moves it from EPSG:3089 (US survey feet) to its metric sibling EPSG:3088, and
grows every other layer of the twin from it (see :mod:`twin.town`): terrain
through the junctions, streets over the mains, buildings holding the people
the demand serves, hydrants, N-1 isolation valves, gas mains, sewers falling
with the ground, manholes, septic tanks, a utility tunnel, sensors, fire
stations, the site register, cameras, an airfield with its obstacle
limitation surfaces, drone corridors and flights.  The same seed gives the
same city, layer for layer; nothing is read from outside the installed
packages.
"""

from __future__ import annotations

from pathlib import Path

import wntr
from pyproj import CRS, Transformer

from twin.crs import metric_crs_for
from twin.model import Twin
from twin.network import network_layers, read_network, transform_coordinates
from twin.town import buildings as town_buildings
from twin.town import landform, streets as town_streets, water
from twin.town.plan import LITRES_PER_PERSON_DAY, TownPlan

NETWORK = "ky10.inp"
SOURCE_CRS = "EPSG:3089"   # Kentucky Single Zone (ftUS), the CRS of ky10's coordinates


def network_path() -> Path:
    return Path(wntr.__file__).resolve().parent / "library" / "networks" / NETWORK


def build_demo(seed: int = 7) -> Twin:
    """Build the demo city; the same ``seed`` always gives the same city."""
    wn = read_network(network_path())
    source = CRS.from_user_input(SOURCE_CRS)
    crs = metric_crs_for(source)
    to_metric = Transformer.from_crs(source, crs, always_xy=True)
    transform_coordinates(wn, to_metric.transform)
    wn.name = "ky10"
    plan = TownPlan(crs, wn, int(seed))

    streets = town_streets.build_streets(plan)
    plan.terrain = landform.build_terrain(plan, streets.main_line)
    houses = town_buildings.build_buildings(plan, streets)

    twin = Twin(f"Lifeline demo town (seed {seed})", crs, terrain=plan.terrain, network=wn, metadata={
        "demo": {"seed": int(seed), "network": NETWORK, "network_crs": SOURCE_CRS,
                 "litres_per_person_day": LITRES_PER_PERSON_DAY,
                 "population_basis": "junction average demand / litres_per_person_day, "
                                     "shared among the buildings each junction serves"},
    })
    layers = network_layers(wn, crs)
    layers["water_pipes"] = water.pipe_records(plan, layers["water_pipes"])
    layers["water_junctions"] = water.junction_ground(plan, layers["water_junctions"])
    valves = water.isolation_valves(plan, layers["water_pipes"])
    layers["water_valves"] = _concat(layers["water_valves"], valves)
    layers["hydrants"] = water.hydrants(plan, layers["water_pipes"])
    layers["roads"] = streets.frame[["id", "road_class", "speed_kmh", "name", "oneway", "lanes", "geometry"]]
    layers["buildings"] = houses.frame
    for name, frame in layers.items():
        twin.set_layer(name, frame, source=f"demo:{name}")
    return twin


def _concat(a, b):
    import pandas as pd
    import geopandas as gpd

    frames = [f for f in (a, b) if len(f)]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=b.crs)
