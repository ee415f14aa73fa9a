"""Gas mains and the utility tunnel of the demo town.

Gas is piped in town only (the countryside burns propane): a gate station
where an arterial enters town feeds a medium-pressure A line (0.2-0.4 MPa,
steel) to a medium-pressure B grid (0.01-0.2 MPa) under the town's arterial and
collector streets — a looped ring — which feeds low-pressure PE distribution
(< 0.01 MPa) under every other town street.  Classes follow GB 50028.  Gas
runs on the far side of the street from the water main (``2 × ROAD_SHIFT``
from it), as separation rules ask.

The utility tunnel runs under the main arterial through the centre: the
longest stretch of arterial within ``TUNNEL_REACH`` of the centre.

In-town streets fall into pieces (the service roads are left out), so the
mains as laid do too: :func:`join_sections` joins every section no source
reaches to the fed network along the shortest road path, laid as
medium-pressure B PE mains of 160 mm (new ids after the last), so the gas
network is one that the gate station feeds (``simulation/gas`` refuses
sections no source reaches).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from twin.town.plan import TownPlan
from twin.town.streets import ROAD_SHIFT, Streets

TUNNEL_REACH = 1600.0
TUNNEL_MAX_LENGTH = 2600.0


@dataclass
class GasNetwork:
    frame: gpd.GeoDataFrame
    gate_xy: np.ndarray     # where the gate (city-gate) station stands


def gas_mains(plan: TownPlan, streets: Streets) -> GasNetwork:
    rng = plan.rng("gas")
    roads = streets.frame
    town = roads["in_town"].to_numpy() & (roads["road_class"] != "service").to_numpy()
    cls = roads["road_class"].to_numpy()
    # The feeder: the shortest country arterial (>= 300 m) that ends at a town street.
    nodes = streets.node_ids
    town_nodes = set(nodes[town].ravel())
    feeders = [i for i in np.flatnonzero(~town & (cls == "primary"))
               if (nodes[i, 0] in town_nodes) != (nodes[i, 1] in town_nodes)
               and shapely.length(streets.main_line[i]) >= 300]
    feeders.sort(key=lambda i: (shapely.length(streets.main_line[i]), i))
    feeder = feeders[0] if feeders else None

    rows = np.flatnonzero(town)
    pressure = np.where(np.isin(cls[rows], ["primary", "secondary"]), "medium_b", "low").astype(object)
    if feeder is not None:
        rows = np.r_[rows, feeder]
        pressure = np.r_[pressure, np.array(["medium_a"], dtype=object)]
        far = 1 if nodes[feeder, 0] in town_nodes else 0
        gate = shapely.get_coordinates(shapely.get_point(streets.main_line[feeder], -far))[0]
    else:
        gate = shapely.get_coordinates(shapely.get_point(streets.main_line[rows[0]], 0))[0]
    n = len(rows)
    geom = shapely.transform(streets.main_line[rows], lambda c: c + 2 * ROAD_SHIFT)
    diameter = np.select([pressure == "medium_a", pressure == "medium_b"],
                         [0.273, rng.choice([0.160, 0.200], n)], rng.choice([0.063, 0.090, 0.110], n))
    material = np.where(pressure == "medium_a", "steel",
                        np.where((pressure == "medium_b") & (rng.random(n) < 0.4), "steel", "PE"))
    year = np.clip(np.round(rng.normal(1998, 9, n)), 1978, 2023).astype(int)
    frame = gpd.GeoDataFrame({
        "id": [f"G{i + 1:04d}" for i in range(n)],
        "pressure_class": pressure, "material": material, "diameter": diameter,
        "burial_depth": np.round(rng.uniform(0.9, 1.2, n), 2), "install_year": year,
        "road_id": roads["id"].to_numpy()[rows],
    }, geometry=gpd.GeoSeries(geom, crs=plan.crs), crs=plan.crs)
    return GasNetwork(frame, gate + 2 * ROAD_SHIFT)


def utility_tunnel(plan: TownPlan, streets: Streets) -> gpd.GeoDataFrame:
    roads = streets.frame
    mid = shapely.get_coordinates(shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True))
    near = (roads["road_class"].to_numpy() == "primary") & (plan.centre_distance(mid) < TUNNEL_REACH)
    if not near.any():
        near = plan.centre_distance(mid) == plan.centre_distance(mid).min()
    merged = shapely.line_merge(shapely.union_all(roads.geometry.values[near]))
    parts = list(getattr(merged, "geoms", [merged]))
    line = max(parts, key=lambda g: (g.length, g.wkb))
    if line.length > TUNNEL_MAX_LENGTH:
        at = line.project(shapely.Point(plan.centre))
        start = float(np.clip(at - TUNNEL_MAX_LENGTH / 2, 0, line.length - TUNNEL_MAX_LENGTH))
        line = substring(line, start, start + TUNNEL_MAX_LENGTH)
    return gpd.GeoDataFrame({
        "id": ["UT1"], "width": [3.6], "height": [3.2], "burial_depth": [2.5],
        "contents": ["water,power,telecom,heat"], "name": ["Main Street utility tunnel"],
    }, geometry=gpd.GeoSeries([line], crs=plan.crs), crs=plan.crs)


def places(points: np.ndarray, tol: float) -> np.ndarray:
    """A place number for each point: points within ``tol`` of each other (transitively) share one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    m = len(points)
    pairs = cKDTree(points).query_pairs(tol, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, label = connected_components(graph, directed=False)
    # places numbered in order of first appearance, so the numbering follows the layer's order
    _, first = np.unique(label, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[label]


def join_sections(mains: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, gate_xy) -> gpd.GeoDataFrame:
    """``mains`` with each section no source reaches joined to the fed network along ``roads``.

    The demo town's gas main runs ``ROAD_SHIFT`` beside its road (``road_id``).  First every
    medium-pressure section is joined to the gate station's (at ``gate_xy``), then every low-pressure
    section that meets no medium-pressure main to the nearest medium-pressure place; each join follows
    the shortest road path (service roads left out) and is laid as medium-pressure B mains (PE, 160 mm).
    """
    import networkx as nx
    from scipy.spatial import cKDTree

    roads = roads[roads["road_class"] != "service"]
    lines = roads.geometry.values
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(lines, 0)),
                      shapely.get_coordinates(shapely.get_point(lines, -1))])
    place = places(ends, 1.0)
    n = len(roads)
    graph = nx.Graph()
    for k in range(n):
        a, b = int(place[k]), int(place[n + k])
        w = float(shapely.length(lines[k]))
        if a != b and (not graph.has_edge(a, b) or graph[a][b]["w"] > w):
            graph.add_edge(a, b, w=w, road=k)
    road_row = {rid: k for k, rid in enumerate(roads["id"])}
    klass = dict(zip(mains["road_id"], mains["pressure_class"]))
    medium = {road_row[r] for r, c in klass.items() if r in road_row and c != "low"}
    low = {road_row[r] for r, c in klass.items() if r in road_row and c == "low"}
    gate_node = int(place[cKDTree(ends).query(np.asarray(gate_xy, dtype=float) - ROAD_SHIFT)[1]])
    added: list[int] = []

    def sections(roads_of):
        g = nx.Graph()
        g.add_edges_from((int(place[k]), int(place[n + k])) for k in roads_of)
        return list(nx.connected_components(g))

    def lay(section, home):
        length, path = nx.multi_source_dijkstra(graph, section, weight="w")
        target = min((v for v in home if v in length), key=lambda v: length[v], default=None)
        if target is None:
            return set()
        route = path[target]
        for u, v in zip(route, route[1:]):
            k = graph[u][v]["road"]
            if k not in medium:
                medium.add(k)
                added.append(k)
        return set(route)

    home = next(s for s in sections(medium) if gate_node in s)
    for section in sorted(sections(medium), key=lambda s: (-len(s), min(s))):
        if not section & home:
            home |= section | lay(section, home)
    for section in sorted(sections(low), key=lambda s: (-len(s), min(s))):
        if not section & home:
            home |= section | lay(section, home)
    rows = [{"id": f"G{len(mains) + i + 1:04d}", "pressure_class": "medium_b", "material": "PE", "diameter": 0.160,
             "burial_depth": 1.0, "install_year": 2005, "road_id": roads["id"].iloc[k],
             "geometry": shapely.transform(lines[k], lambda c: c + ROAD_SHIFT)} for i, k in enumerate(added)]
    extra = gpd.GeoDataFrame(rows, geometry="geometry", crs=mains.crs)
    return gpd.GeoDataFrame(pd.concat([mains, extra], ignore_index=True), geometry="geometry", crs=mains.crs)
