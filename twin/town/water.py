"""The demo town's water layers: pipe records, hydrants and isolation valves on the real network.

ky10 gives the hydraulics (diameters, roughness, elevations, demands); a
utility's GIS adds what the model lacks, generated here plausibly and seeded:

* install year by zone (the town's grid was laid first, the rural lines later)
  and material by era and size (cast iron before 1960, asbestos cement and
  ductile iron in the 1960s-80s, PVC and ductile iron after, PE since 2005,
  steel or ductile iron for trunk mains); cover 1.2-1.5 m over the crown;
* hydrants on mains of 150 mm and more, every ``HYDRANT_SPACING_TOWN`` m in
  town and ``HYDRANT_SPACING_RURAL`` m along country lines (AWWA M31 ranges),
  on the verge beside the main, drawing from the nearer junction;
* isolation valves by the N-1 rule: at a junction joined by N pipes, valves on
  N-1 of them — all but the largest, which a crew isolates at the next
  junction along it — and on every pipe at a tank or reservoir.  Each valve
  names its pipe and the node it closes off, which is what isolation segments
  are built from.  About 3 % are recorded as inoperable (seized), as
  field surveys typically find.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.town.plan import TownPlan
from twin.town.streets import ROAD_SHIFT

HYDRANT_SPACING_TOWN = 120.0
HYDRANT_SPACING_RURAL = 300.0
HYDRANT_MIN_DIAMETER = 0.150   # 6-inch (152.4 mm) mains and larger
VALVE_OFFSET = 2.0             # m from the junction along the pipe
INOPERABLE_SHARE = 0.03


def pipe_records(plan: TownPlan, pipes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``pipes`` with material, install_year and burial_depth filled in."""
    rng = plan.rng("pipe-records")
    out = pipes.copy()
    mid = shapely.get_coordinates(shapely.line_interpolate_point(out.geometry.values, 0.5, normalized=True))
    town = plan.in_town(mid)
    dist = plan.centre_distance(mid)
    n = len(out)
    # The grid near the centre is oldest; the town grew outwards, rural lines came with the water district.
    year = np.where(town, rng.normal(1948 + dist / 60.0, 10.0, n), rng.normal(1984, 11.0, n))
    year = np.clip(np.round(year), 1920, 2023).astype(int)
    d = out["diameter"].to_numpy()
    u = rng.random(n)
    material = np.empty(n, dtype=object)
    material[:] = "PVC"
    era = np.select([year < 1960, year < 1985, year < 2005], [0, 1, 2], 3)
    material[era == 0] = "CI"
    m = era == 1
    material[m] = np.where(u[m] < 0.35, "AC", np.where(u[m] < 0.8, "DI", "PVC"))
    m = era == 2
    material[m] = np.where(u[m] < 0.45, "DI", "PVC")
    m = era == 3
    material[m] = np.where(u[m] < 0.4, "PE", np.where(u[m] < 0.75, "PVC", "DI"))
    trunk = d >= 0.30
    material[trunk & (era >= 1)] = np.where(u[trunk & (era >= 1)] < 0.7, "DI", "steel")
    out["material"] = material
    out["install_year"] = year
    out["burial_depth"] = np.round(rng.uniform(1.2, 1.5, n), 2)
    return out


def junction_ground(plan: TownPlan, junctions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = junctions.copy()
    xy = shapely.get_coordinates(out.geometry.values)
    ground = plan.ground(xy)
    out["terrain_elevation"] = np.round(ground, 3)
    out["burial_depth"] = np.round(ground - out["elevation"].to_numpy(), 3)
    out["zone"] = np.where(plan.in_town(xy), "town", "rural")
    return out


def hydrants(plan: TownPlan, pipes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Hydrants along mains >= 150 mm, evenly spaced per pipe, beside the main on the verge."""
    junctions = set(plan.network.junction_name_list)
    mains = pipes[(pipes["diameter"] >= HYDRANT_MIN_DIAMETER - 0.003)
                  & (pipes["start_node"].isin(junctions) | pipes["end_node"].isin(junctions))]
    geoms = mains.geometry.values
    length = shapely.length(geoms)
    mid = shapely.get_coordinates(shapely.line_interpolate_point(geoms, 0.5, normalized=True))
    spacing = np.where(plan.in_town(mid), HYDRANT_SPACING_TOWN, HYDRANT_SPACING_RURAL)
    # ceil keeps every gap within the spacing; pipes shorter than a third of it are covered
    # by their neighbours' hydrants.
    count = np.where(length >= spacing / 3.0, np.ceil(length / spacing), 0).astype(int)
    row = np.repeat(np.arange(len(mains)), count)
    k = np.concatenate([np.arange(c) for c in count]) if count.sum() else np.zeros(0, int)
    along = (k + 0.5) * length[row] / count[row]
    pts = shapely.get_coordinates(shapely.line_interpolate_point(geoms[row], along))
    away = -ROAD_SHIFT / np.hypot(*ROAD_SHIFT)
    pts = pts + away * 1.5
    start = mains["start_node"].to_numpy()[row]
    end = mains["end_node"].to_numpy()[row]
    use_start = ((along <= length[row] / 2) & np.isin(start, list(junctions))) | ~np.isin(end, list(junctions))
    node = np.where(use_start, start, end)
    dist = np.where(use_start, along, length[row] - along)
    return gpd.GeoDataFrame({
        "id": [f"H{i + 1:05d}" for i in range(len(row))],
        "node_id": node, "distance_to_node": np.round(dist, 2),
        "pipe_id": mains["id"].to_numpy()[row],
    }, geometry=gpd.GeoSeries(shapely.points(pts), crs=plan.crs), crs=plan.crs)


def isolation_valves(plan: TownPlan, pipes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """N-1 isolation valves at junctions, one per pipe at tanks and reservoirs."""
    rng = plan.rng("valves")
    wn = plan.network
    ends = pd.DataFrame({
        "pipe": np.concatenate([pipes["id"], pipes["id"]]),
        "node": np.concatenate([pipes["start_node"], pipes["end_node"]]),
        "at_start": np.r_[np.ones(len(pipes), bool), np.zeros(len(pipes), bool)],
        "diameter": np.concatenate([pipes["diameter"], pipes["diameter"]]),
        "length": np.concatenate([pipes["length"], pipes["length"]]),
    })
    storage = set(wn.tank_name_list) | set(wn.reservoir_name_list)
    ends = ends[ends["node"].isin(set(wn.junction_name_list) | storage)]
    ends = ends.sort_values(["node", "diameter", "pipe"], ascending=[True, False, True])
    rank = ends.groupby("node").cumcount()
    # The largest pipe at a junction gets no valve (N-1); storage is isolated on every pipe.
    ends = ends[(rank > 0) | ends["node"].isin(storage)].sort_values(["pipe", "at_start"]).reset_index(drop=True)
    geom = pipes.set_index("id").geometry.loc[ends["pipe"]].values
    glen = shapely.length(geom)
    offset = np.minimum(VALVE_OFFSET, glen * 0.25)
    along = np.where(ends["at_start"], offset, glen - offset)
    pts = shapely.line_interpolate_point(geom, along)
    operable = rng.random(len(ends)) >= INOPERABLE_SHARE
    return gpd.GeoDataFrame({
        "id": [f"IV{i + 1:05d}" for i in range(len(ends))],
        "valve_type": "isolation", "pipe_id": ends["pipe"].to_numpy(), "node_id": ends["node"].to_numpy(),
        "link_id": None, "diameter": ends["diameter"].to_numpy(), "operable": operable,
    }, geometry=gpd.GeoSeries(pts, crs=plan.crs), crs=plan.crs)
