"""Low-altitude traffic over the demo town: no-fly zones, drone corridors and recorded flights.

No-fly zones cover the hazardous sites (the chemical plant and the LPG depot,
500 m and 300 m around them, from the ground to 300 m above it).  Corridors
run from the drone port at Fire Station 1 to the other fire stations and the
outlying settlements, along the streets (the usual way to keep drones over
public land), at ``CRUISE_AGL`` above the ground, smoothed; a corridor that
would enter a no-fly zone or the aerodrome's inner horizontal surface is not
opened.  Z is altitude in the DEM's datum.  Recorded flights follow the first
corridors out and back at ``CRUISE_SPEED`` with GNSS-like scatter, one point
every ``TRACK_STEP_S`` seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from twin.town.plan import TownPlan
from twin.town.streets import Streets, road_nodes

MAX_CORRIDORS = 7
CRUISE_AGL = 90.0
CORRIDOR_WIDTH = 60.0
CRUISE_SPEED = 15.0
TRACK_STEP_S = 2.0
FIRST_FLIGHT = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


def no_fly_zones(plan: TownPlan, sites: gpd.GeoDataFrame, first_id: int) -> gpd.GeoDataFrame:
    rows = []
    for category, radius in (("chemical plant", 500.0), ("LPG depot", 300.0)):
        hit = sites[sites["category"] == category]
        for name, geom in zip(hit["name"], hit.geometry.values):
            zone = shapely.buffer(shapely.centroid(geom), radius, quad_segs=16)
            ring = shapely.get_coordinates(shapely.segmentize(zone.exterior, 50.0))
            ground = plan.ground(ring)
            rows.append({"name": f"No-fly: {name}", "kind": "no_fly",
                         "floor_m": round(float(np.nanmin(ground)), 2),
                         "ceiling_m": round(float(np.nanmax(ground)) + 300.0, 2), "geometry": zone})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    frame.insert(0, "id", [f"AZ{first_id + i:03d}" for i in range(len(frame))])
    return frame


def corridors(plan: TownPlan, streets: Streets, hub_xy, destinations: list[tuple[str, np.ndarray]],
              avoid, limit: int = MAX_CORRIDORS) -> gpd.GeoDataFrame:
    """Corridors from the hub to the first ``limit`` destinations that can be reached clear of ``avoid``."""
    xy, ends = road_nodes(streets)
    lines = streets.frame.geometry.values
    length = shapely.length(lines)
    n = len(xy)
    graph = coo_matrix((np.r_[length, length], (np.r_[ends[:, 0], ends[:, 1]], np.r_[ends[:, 1], ends[:, 0]])),
                       shape=(n, n)).tocsr()
    best_edge: dict[tuple[int, int], int] = {}
    for i, (a, b) in enumerate(ends):
        key = (min(a, b), max(a, b))
        if key not in best_edge or length[i] < length[best_edge[key]]:
            best_edge[key] = i
    from scipy.spatial import cKDTree

    tree = cKDTree(xy)
    hub = int(tree.query(hub_xy)[1])
    _, pred = dijkstra(graph, directed=False, indices=hub, return_predecessors=True)
    rows = []
    for name, dest in destinations:
        if len(rows) >= limit:
            break
        node = int(tree.query(dest)[1])
        if node == hub or pred[node] < 0:
            continue
        path = [node]
        while path[-1] != hub:
            path.append(int(pred[path[-1]]))
        path.reverse()
        coords = []
        for a, b in zip(path[:-1], path[1:]):
            edge = best_edge[(min(a, b), max(a, b))]
            c = shapely.get_coordinates(lines[edge])
            if ends[edge, 0] != a:
                c = c[::-1]
            coords.extend(c if not coords else c[1:])
        route = shapely.simplify(shapely.LineString(coords), 40.0)
        if avoid is not None and shapely.intersects(route, avoid):
            continue
        route = shapely.segmentize(route, 100.0)
        c = shapely.get_coordinates(route)
        ground = plan.ground(c)
        kernel = np.ones(5) / 5
        smooth = np.convolve(np.pad(ground, 2, mode="edge"), kernel, mode="valid")
        z = np.maximum(smooth, ground) + CRUISE_AGL
        rows.append({"name": name, "width_m": CORRIDOR_WIDTH,
                     "geometry": shapely.LineString(np.column_stack([c, np.round(z, 2)]))})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    frame.insert(0, "id", [f"DC{i + 1:02d}" for i in range(len(frame))])
    return frame


def flights(plan: TownPlan, corridor_frame: gpd.GeoDataFrame, count: int = 3) -> gpd.GeoDataFrame:
    rng = plan.rng("flights")
    parts = []
    for k, line in enumerate(corridor_frame.geometry.values[:count]):
        total = line.length
        step = CRUISE_SPEED * TRACK_STEP_S
        out = np.arange(0.0, total, step)
        along = np.r_[out, [total], (total - out)[1:]]
        pts = shapely.line_interpolate_point(line, along)
        xyz = shapely.get_coordinates(pts, include_z=True)
        xyz[:, :2] += rng.normal(0.0, 2.0, (len(xyz), 2))
        xyz[:, 2] += rng.normal(0.0, 1.5, len(xyz))
        start = FIRST_FLIGHT + timedelta(minutes=45 * k)
        times = [start + timedelta(seconds=TRACK_STEP_S * i) for i in range(len(xyz))]
        parts.append(pd.DataFrame({"track_id": f"DF{k + 1:03d}", "time": times,
                                   "corridor_id": corridor_frame["id"].iloc[k],
                                   "x": xyz[:, 0], "y": xyz[:, 1], "z": np.round(xyz[:, 2], 2)}))
    if not parts:
        return gpd.GeoDataFrame({"id": [], "track_id": [], "time": []}, geometry=[], crs=plan.crs)
    df = pd.concat(parts, ignore_index=True)
    geom = shapely.points(np.column_stack([np.round(df[["x", "y"]].to_numpy(), 3), df["z"].to_numpy()]))
    frame = gpd.GeoDataFrame(df.drop(columns=["x", "y", "z"]), geometry=gpd.GeoSeries(geom, crs=plan.crs),
                             crs=plan.crs)
    frame.insert(0, "id", [f"TP{i + 1:05d}" for i in range(len(frame))])
    return frame
