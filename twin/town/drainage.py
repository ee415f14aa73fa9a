"""Sewers, storm drains, their manholes, and the septic tanks of the unsewered countryside.

Town streets carry a sanitary sewer under the centreline; arterials and
collectors also carry a storm drain by the kerb.  Manholes stand at every
intersection and at most ``MANHOLE_SPACING`` m apart (the usual 50-100 m).

Gravity decides the inverts: every manhole drains to its lowest neighbouring
manhole when that one is lower (steepest descent on the DEM); a manhole lower
than all its neighbours is a low point — an outfall to the creek for storm
water, a lift station pumping to the treatment works for sewage.  Walking that
drainage tree from the heads downstream, every manhole's invert is at least the
minimum cover below ground and at least the minimum slope below every manhole
draining into it, so inverts fall with the ground and deepen only where the
ground is flatter than the minimum slope.  Every pipe runs from its higher
invert to its lower one; pipe size grows with the manholes upstream.

Houses beyond the sewers have a septic tank in the back garden.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from shapely.ops import substring

from twin.town.plan import TownPlan
from twin.town.streets import ROAD_SHIFT, Streets

MANHOLE_SPACING = 80.0
#: Relative to the water main: the sanitary sewer under the street's centreline,
#: the storm drain under the kerb on the far side.
SANITARY_SHIFT = ROAD_SHIFT
STORM_SHIFT = ROAD_SHIFT * 1.8 + np.array([0.6, 0.6])
SYSTEMS = {
    #           cover at the head (m), minimum slope, diameters by manholes upstream
    "sanitary": (1.8, 0.004, ((0, 0.20), (40, 0.25), (150, 0.30), (400, 0.375), (900, 0.45))),
    # storm drains by the rational method (GB 50014): a storm manhole drains about 0.66 ha at a runoff
    # coefficient of about 0.5; q(P = 2-3 years, t = 10 min) = 320-355 L/(s ha), so 110-175 L/s a manhole
    # upstream, against the full-pipe Manning capacity of each size (0.6 m: about 0.4-0.7 m3/s)
    "storm": (1.2, 0.003, ((0, 0.60), (3, 0.80), (10, 1.00), (30, 1.35), (80, 1.80), (200, 2.40))),
}


@dataclass
class SewerSystem:
    sewers: gpd.GeoDataFrame
    manholes: gpd.GeoDataFrame
    outfalls: np.ndarray    # xy of each low point (outfall or lift station), largest catchment first
    outfall_ids: np.ndarray # their manhole ids


def _pieces(lines: np.ndarray) -> tuple[list, np.ndarray]:
    """Split lines into pieces of at most MANHOLE_SPACING m (equal lengths per line)."""
    out, owner = [], []
    for i, line in enumerate(lines):
        n = max(1, int(np.ceil(line.length / MANHOLE_SPACING)))
        cuts = np.linspace(0.0, line.length, n + 1)
        for a, b in zip(cuts[:-1], cuts[1:]):
            out.append(substring(line, a, b) if n > 1 else line)
            owner.append(i)
    return out, np.asarray(owner)


def sewer_system(plan: TownPlan, streets: Streets, kind: str, prefix: str, first_id: int = 1) -> SewerSystem:
    rng = plan.rng(f"sewer-{kind}")
    roads = streets.frame
    cls = roads["road_class"].to_numpy()
    rows = roads["in_town"].to_numpy() & (cls != "service")
    if kind == "storm":
        rows &= np.isin(cls, ["primary", "secondary"])
    shift = SANITARY_SHIFT if kind == "sanitary" else STORM_SHIFT
    lines = shapely.transform(streets.main_line[rows], lambda c: c + shift)
    pieces, _ = _pieces(lines)
    pieces = np.asarray(pieces, dtype=object)
    a = shapely.get_coordinates(shapely.get_point(pieces, 0))
    b = shapely.get_coordinates(shapely.get_point(pieces, -1))
    nodes, inverse = np.unique(np.round(np.vstack([a, b]), 2), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    u, v = inverse[: len(pieces)], inverse[len(pieces):]
    keep = u != v
    pieces, u, v = pieces[keep], u[keep], v[keep]
    length = shapely.length(pieces)
    n = len(nodes)
    graph = coo_matrix((np.r_[length, length], (np.r_[u, v], np.r_[v, u])), shape=(n, n)).tocsr()

    ground = plan.ground(nodes)
    cover, slope, sizes = SYSTEMS[kind]
    # Each manhole drains to its lowest neighbour when that is lower (steepest descent); a
    # manhole lower than all its neighbours is a low point: an outfall or a lift station.
    csr = graph.tocsr()
    pred = np.full(n, -1)
    step_to = np.zeros(n)
    for node in range(n):
        lo, hi = csr.indptr[node], csr.indptr[node + 1]
        if hi > lo:
            k = lo + int(np.argmin(ground[csr.indices[lo:hi]]))
            if ground[csr.indices[k]] < ground[node]:
                pred[node] = csr.indices[k]
                step_to[node] = csr.data[k]
    invert = ground - cover - rng.uniform(0.0, 0.3, n)
    upstream = np.ones(n)
    for node in np.argsort(-ground, kind="stable"):
        parent = pred[node]
        if parent >= 0:
            invert[parent] = min(invert[parent], invert[node] - slope * step_to[node])
            upstream[parent] += upstream[node]
    low_points = np.flatnonzero(pred < 0)

    # Orient every pipe downhill (higher invert first).
    flip = invert[u] < invert[v]
    pieces = np.where(flip, shapely.reverse(pieces), pieces)
    up, down = np.where(flip, v, u), np.where(flip, u, v)
    up_inv = invert[up]
    down_inv = invert[down]
    level = up_inv - down_inv < 0.005
    up_inv = np.where(level, down_inv + 0.005, up_inv)  # a drop into the lower manhole
    load = np.maximum(upstream[up], 1)
    diameter = np.zeros(len(pieces))
    for threshold, size in sizes:
        diameter[load >= threshold] = size

    mh_ids = np.array([f"{prefix}{i + first_id:05d}" for i in range(n)], dtype=object)
    well = "sewer" if kind == "sanitary" else "storm"
    manholes = gpd.GeoDataFrame({
        "id": mh_ids, "well_type": well, "rim_elevation": np.round(ground, 3),
        "depth": np.round(ground - invert, 3),
    }, geometry=gpd.GeoSeries(shapely.points(nodes), crs=plan.crs), crs=plan.crs)
    material = np.where(diameter >= 0.6, "RC", "PVC") if kind == "storm" else \
        np.where(rng.random(len(pieces)) < 0.3, "VC", "PVC")
    sewers = gpd.GeoDataFrame({
        "id": [f"{'SS' if kind == 'sanitary' else 'SD'}{i + 1:05d}" for i in range(len(pieces))],
        "upstream_invert": np.round(up_inv, 3), "downstream_invert": np.round(down_inv, 3),
        "diameter": diameter, "kind": kind, "material": material,
        "upstream_manhole": mh_ids[up], "downstream_manhole": mh_ids[down],
    }, geometry=gpd.GeoSeries(pieces, crs=plan.crs), crs=plan.crs)
    order = np.argsort(-upstream[low_points], kind="stable")
    return SewerSystem(sewers, manholes, nodes[low_points[order]], mh_ids[low_points[order]])


def septic_tanks(plan: TownPlan, buildings, rural: np.ndarray) -> gpd.GeoDataFrame:
    """One tank behind each unsewered house or workshop."""
    rng = plan.rng("septic")
    frame = buildings.frame
    idx = np.flatnonzero(rural & frame["use"].isin(["residential", "industrial"]).to_numpy())
    geoms = frame.geometry.values[idx]
    centroid = shapely.get_coordinates(shapely.centroid(geoms))
    # Half the house depth plus a few metres of garden, straight back from the street.
    reach = np.sqrt(shapely.area(geoms)) / 2.0 + rng.uniform(4.0, 8.0, len(idx))
    xy = centroid + buildings.back[idx] * reach[:, None]
    people = frame["population"].to_numpy()[idx]
    volume = np.where(people <= 4, 3.8, np.where(people <= 8, 5.7, 7.6))  # 1,000 / 1,500 / 2,000 gal
    return gpd.GeoDataFrame({
        "id": [f"ST{i + 1:05d}" for i in range(len(idx))],
        "volume_m3": volume, "building_id": frame["id"].to_numpy()[idx],
        "depth": np.round(rng.uniform(1.5, 2.0, len(idx)), 2),
    }, geometry=gpd.GeoSeries(shapely.points(xy), crs=plan.crs), crs=plan.crs)


def utility_wells(plan: TownPlan, gas: gpd.GeoDataFrame, valves: gpd.GeoDataFrame,
                  pipes: gpd.GeoDataFrame, first_id: int = 1) -> gpd.GeoDataFrame:
    """Valve chambers: gas (at the ends of medium-pressure mains) and water (valves on mains >= 250 mm)."""
    medium = gas[gas["pressure_class"] != "low"].geometry.values
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(medium, 0)),
                      shapely.get_coordinates(shapely.get_point(medium, -1))])
    gas_xy = np.unique(np.round(ends, 2), axis=0)
    big = valves[(valves["valve_type"] == "isolation") & (valves["diameter"] >= 0.25)]
    water_xy = shapely.get_coordinates(big.geometry.values)
    xy = np.vstack([gas_xy, water_xy])
    kind = np.r_[np.full(len(gas_xy), "gas", dtype=object), np.full(len(water_xy), "water", dtype=object)]
    ground = plan.ground(xy)
    depth = np.where(kind == "gas", 1.6, 2.2)
    return gpd.GeoDataFrame({
        "id": [f"MH-{'G' if k == 'gas' else 'W'}{i + first_id:05d}" for i, k in enumerate(kind)],
        "well_type": kind, "rim_elevation": np.round(ground, 3), "depth": depth,
    }, geometry=gpd.GeoSeries(shapely.points(xy), crs=plan.crs), crs=plan.crs)
