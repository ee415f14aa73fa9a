"""The built-in demo city: a town grown around wntr's real ky10 network, reproducible from a seed.

``build_demo(seed)`` reads ky10 (a Kentucky water district: a small town's
street grid plus rural lines, 920 junctions and 1,043 pipes over ~31 × 34 km),
moves it from EPSG:3089 (US survey feet) to its metric sibling EPSG:3088, and
grows every other layer of the twin from it (see :mod:`twin.town`): terrain
through the junctions, streets over the mains, buildings holding the people
the demand serves, hydrants, N-1 isolation valves, gas mains, sewers falling
with the ground, manholes, septic tanks, a utility tunnel, sensors, fire
stations, the site register, cameras, an airfield with its obstacle
limitation surfaces, no-fly zones, drone corridors and flights.  The same seed
gives the same city, layer for layer; nothing is read from outside the
installed packages.  The hydraulic model itself is ky10 unchanged (only its
coordinates move), so every seed solves exactly as ky10 does.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import wntr
from pyproj import CRS, Transformer

from twin.crs import metric_crs_for
from twin.model import Twin
from twin.network import network_layers, read_network, transform_coordinates
from twin.town import airfield as town_airfield
from twin.town import buildings as town_buildings
from twin.town import drainage, drones, gas, landform, monitoring, register, response, water
from twin.town import streets as town_streets
from twin.town.plan import LITRES_PER_PERSON_DAY, TownPlan, spread_out

NETWORK = "ky10.inp"
SOURCE_CRS = "EPSG:3089"   # Kentucky Single Zone (ftUS), the CRS of ky10's coordinates


def network_path() -> Path:
    return Path(wntr.__file__).resolve().parent / "library" / "networks" / NETWORK


def build_demo(seed: int = 7, *, timings: dict[str, float] | None = None) -> Twin:
    """Build the demo city; the same ``seed`` always gives the same city.

    ``timings``, when given, receives the seconds each stage took (for the bench).
    """
    lap = _Laps(timings)
    wn = read_network(network_path())
    source = CRS.from_user_input(SOURCE_CRS)
    crs = metric_crs_for(source)
    to_metric = Transformer.from_crs(source, crs, always_xy=True)
    transform_coordinates(wn, to_metric.transform)
    wn.name = "ky10"
    plan = TownPlan(crs, wn, int(seed))
    lap("network")

    streets = town_streets.build_streets(plan)
    lap("streets")
    plan.terrain = landform.build_terrain(plan, streets.main_line)
    lap("terrain")
    field = town_airfield.site_airfield(plan, streets)
    lap("airfield")
    # The works come before the houses so no house stands on them.
    sanitary = drainage.sewer_system(plan, streets, "sanitary", "MH-S")
    storm = drainage.sewer_system(plan, streets, "storm", "MH-D")
    reservoirs = np.array([plan.node_xy[r] for r in wn.reservoir_name_list])
    road_lines = streets.frame.geometry.values
    water_plant = register.works_lot(reservoirs.mean(axis=0), 60.0, road_lines)
    outfall = sanitary.outfalls[0]
    away = (outfall - plan.centre) / max(float(np.hypot(*(outfall - plan.centre))), 1.0)
    sewage_works = register.works_lot(outfall + away * 60.0, 50.0, road_lines)
    exclusion = shapely.union_all([field.exclusion, water_plant, sewage_works])
    houses = town_buildings.build_buildings(plan, streets, exclusion=exclusion)
    lap("buildings")

    layers = network_layers(wn, crs)
    layers["water_pipes"] = water.pipe_records(plan, layers["water_pipes"])
    layers["water_junctions"] = water.junction_ground(plan, layers["water_junctions"])
    valves = water.isolation_valves(plan, layers["water_pipes"])
    layers["water_valves"] = _concat(layers["water_valves"], valves)
    layers["hydrants"] = water.hydrants(plan, layers["water_pipes"])
    lap("water")

    gas_mains = gas.gas_mains(plan, streets)
    layers["gas_mains"] = gas_mains.frame
    layers["utility_tunnels"] = gas.utility_tunnel(plan, streets)
    layers["sewers"] = _concat(sanitary.sewers, storm.sewers)
    wells = drainage.utility_wells(plan, gas_mains.frame, layers["water_valves"], layers["water_pipes"])
    layers["manholes"] = _concat(sanitary.manholes, storm.manholes, wells)
    layers["septic_tanks"] = drainage.septic_tanks(plan, houses, houses.zone == "rural")
    layers["roads"] = streets.frame[["id", "road_class", "speed_kmh", "name", "oneway", "lanes", "geometry"]]
    # the mains as laid fall into pieces with the streets: joined into one network the gate station feeds
    # (the wells, sites and stations placed from the mains as laid keep their places and ids)
    layers["gas_mains"] = gas.join_sections(gas_mains.frame, streets.frame, gas_mains.gate_xy)
    lap("gas and drainage")

    sites, buildings_frame = register.build_sites(
        plan, houses, water_plant_lot=water_plant, sewage_works_lot=sewage_works,
        gate_xy=gas_mains.gate_xy, gas_mains=gas_mains.frame, airfield_polygon=field.runway)
    # Schools, shops and plants taken into the register hold fewer residents than homes.
    buildings_frame["population"] = town_buildings.share_population(plan, buildings_frame)
    houses.frame = buildings_frame
    layers["buildings"] = buildings_frame
    layers["sites"] = sites
    hospital = sites.loc[sites["category"] == "hospital"].geometry.values[0]
    layers["fire_stations"] = response.build_stations(
        plan, buildings_frame, houses.zone, hospital_xy=shapely.get_coordinates(hospital.centroid)[0],
        water_plant_xy=shapely.get_coordinates(water_plant.centroid)[0], gate_xy=gas_mains.gate_xy)
    layers["cameras"] = monitoring.cameras(plan, streets)
    bridge = monitoring.bridge(plan, streets)
    if bridge is not None:
        roads = layers["roads"].copy()
        roads.loc[roads["id"] == bridge, "name"] = "Town Branch Bridge"
        layers["roads"] = roads
    layers["sensors"] = monitoring.sensors(plan, layers, bridge_road=bridge)
    lap("sites, stations, sensors")

    no_fly = drones.no_fly_zones(plan, sites, first_id=len(field.zones) + 1)
    layers["airspace_zones"] = _concat(field.zones, no_fly)
    ihs = field.zones.geometry.values[0]
    avoid = shapely.union_all([ihs, *no_fly.geometry.values])
    stations = layers["fire_stations"]
    hub = shapely.get_coordinates(stations.geometry.values[0])[0]
    layers["drone_corridors"] = drones.corridors(plan, streets, hub, _destinations(plan, stations, houses), avoid)
    layers["drone_tracks"] = drones.flights(plan, layers["drone_corridors"])
    lap("airspace")

    twin = Twin(f"Lifeline demo town (seed {seed})", crs, terrain=plan.terrain, network=wn, metadata={
        "demo": {"seed": int(seed), "network": NETWORK, "network_crs": SOURCE_CRS,
                 "litres_per_person_day": LITRES_PER_PERSON_DAY,
                 "population_basis": "junction average demand / litres_per_person_day, "
                                     "shared among the buildings each junction serves",
                 "centre": [round(float(v), 2) for v in plan.centre],
                 "airfield_elevation_m": round(field.elevation, 2),
                 "bridge_road": bridge, "orphan_junctions": houses.orphans,
                 # ky10 junctions whose elevation disagrees with their neighbours' by > 40 m:
                 # left out of the ground (their burial_depth shows the disagreement).
                 "elevation_outliers": sorted(plan.junction_ids[~landform.plausible_junctions(
                     plan.junction_xy, plan.junction_elevation)].tolist())},
    })
    for name, frame in layers.items():
        twin.set_layer(name, frame, source=f"demo:{name}")
    lap("validation")
    return twin


class _Laps:
    """Stage timer: each call records the time since the previous one under a name."""

    def __init__(self, sink: dict | None):
        self.sink = sink
        self.last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        if self.sink is not None:
            self.sink[name] = self.sink.get(name, 0.0) + now - self.last
        self.last = now


def _destinations(plan: TownPlan, stations: gpd.GeoDataFrame, houses) -> list[tuple[str, np.ndarray]]:
    """Where drone corridors lead: the other fire stations, then the biggest outlying settlements."""
    out = []
    hub = shapely.get_coordinates(stations.geometry.values[0])[0]
    for name, kind, geom in zip(stations["name"], stations["kind"], stations.geometry.values):
        if kind == "station" and not np.allclose(shapely.get_coordinates(geom)[0], hub):
            out.append((f"Station 1 to {name}", shapely.get_coordinates(geom)[0]))
    rural = np.flatnonzero(houses.zone == "rural")
    xy = shapely.get_coordinates(shapely.centroid(houses.frame.geometry.values[rural]))
    far = plan.centre_distance(xy) > 3000
    from scipy.spatial import cKDTree

    people = houses.frame["population"].to_numpy()[rural].astype(float)
    load = np.array([people[i].sum() for i in cKDTree(xy).query_ball_point(xy, 1000.0)])
    picks = spread_out(xy[far], 14, plan.rng("drone-destinations"), load[far])
    names = houses.frame["junction_id"].to_numpy()[rural][far]
    for k in picks:
        out.append((f"Station 1 to settlement at {names[k]}", xy[far][k]))
    return out


def _concat(*frames):
    present = [f for f in frames if len(f)]
    crs = next((f.crs for f in frames if f.crs is not None), None)
    return gpd.GeoDataFrame(pd.concat(present, ignore_index=True), geometry="geometry", crs=crs)
