"""Who answers a call in the demo town: fire stations, micro fire stations and utility depots.

Three career/volunteer fire stations (the centre, the second-densest part of
town, and the largest rural settlement far out), ten micro fire stations
(community first-response posts with one small engine, the Chinese
"微型消防站") spread over where people live, an EMS base at the hospital, the
water utility's repair depot by the treatment plant and the gas company's
emergency crew by its gate station.  Units are JSON objects, unit type → count,
using the unit types of ``scenarios/emergency-default.yaml`` (engine, ladder,
rescue, tanker, micro_engine, ambulance, water_crew, gas_crew).
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import shapely

from twin.town.plan import TownPlan, spread_out

MICRO_STATIONS = 10


def build_stations(plan: TownPlan, buildings_frame, zone: np.ndarray, *, hospital_xy, water_plant_xy,
                   gate_xy) -> gpd.GeoDataFrame:
    rng = plan.rng("stations")
    geoms = buildings_frame.geometry.values
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    people = buildings_frame["population"].to_numpy().astype(float)
    dist = plan.centre_distance(xy)
    density = plan.density(xy)
    rows = []

    def add(name, kind, units, at):
        rows.append({"name": name, "kind": kind, "units": json.dumps(units), "geometry": shapely.Point(at)})

    # Station 1 close to the centre (not on the square itself); station 2 in the other dense quarter.
    central = np.flatnonzero((dist > 250) & (dist < 800))
    s1 = central[np.argmin(np.abs(dist[central] - 450) + rng.random(len(central)))] if len(central) else 0
    add("Fire Station 1 (Central)", "station", {"engine": 2, "ladder": 1, "rescue": 1}, xy[s1])
    far = np.flatnonzero(dist > 2500)
    s2 = far[np.argmax(density[far] + rng.random(len(far)))] if len(far) else s1
    add("Fire Station 2 (South Side)", "station", {"engine": 2, "tanker": 1, "ambulance": 1}, xy[s2])
    # Station 3: the most populous 1.5 km neighbourhood more than 8 km out (a volunteer company).
    outer = np.flatnonzero(dist > 8000)
    if len(outer):
        from scipy.spatial import cKDTree

        tree = cKDTree(xy[outer])
        around = tree.query_ball_point(xy[outer], 1500.0)
        load = np.array([people[outer[a]].sum() for a in around])
        s3 = outer[int(np.argmax(load))]
        add("Fire Station 3 (Volunteer)", "station", {"engine": 1, "tanker": 1}, xy[s3])

    # Micro stations where people live, away from the career stations.
    # Micro stations serve neighbourhoods: town streets and the denser settlements only.
    lived = np.flatnonzero((people > 0) & (density >= 5))
    weight = np.sqrt(people[lived])
    picked = lived[spread_out(xy[lived], MICRO_STATIONS, rng, weight)]
    for k, i in enumerate(picked):
        units = {"micro_engine": 1}
        add(f"Micro Fire Station {k + 1}", "micro_station", units, xy[i])

    add("Hospital EMS Base", "ems", {"ambulance": 3}, np.asarray(hospital_xy) + np.array([25.0, 0.0]))
    add("Water Utility Repair Depot", "water_repair", {"water_crew": 2},
        np.asarray(water_plant_xy) + np.array([0.0, 90.0]))
    add("Gas Emergency Crew", "gas_emergency", {"gas_crew": 2}, np.asarray(gate_xy) + np.array([30.0, 30.0]))
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    frame.insert(0, "id", [f"FS{i + 1:02d}" for i in range(len(frame))])
    return frame
