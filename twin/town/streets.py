"""Streets over the mains: the demo town's road network, derived from the water network.

Water mains are laid under streets, so the street network is read off the pipe
network: links are chained into streets between intersections (nodes where
other than two links meet: that is where collinear pipes merge), parallel pipes
become one street, and each street is classed by the size of the main beneath
it — a 250 mm+ trunk main runs under an arterial, a 100 mm main under a
residential street.  The street centreline runs ``ROAD_SHIFT`` beside the main
(the main sits under the near lane, as utilities do); shifting every street
by the same vector keeps intersections exactly shared, so the road graph is as
connected as the pipe network.

Road classes use OpenStreetMap's words (``primary`` is the arterial), so the
demo reads like an imported OSM town.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.town.plan import TownPlan

#: Street centreline relative to the water main beneath it, m (3.4 m to the north-west).
ROAD_SHIFT = np.array([-2.4, 2.4])

#: (minimum length-weighted main diameter in m, class) — largest first.
CLASS_BY_DIAMETER = ((0.24, "primary"), (0.19, "secondary"), (0.14, "tertiary"), (0.0, "residential"))
#: Speed limits, km/h, in town and in the countryside.
SPEED_KMH = {
    "primary": (50.0, 90.0), "secondary": (50.0, 80.0), "tertiary": (40.0, 70.0),
    "residential": (30.0, 60.0), "unclassified": (50.0, 60.0), "service": (20.0, 20.0)}
LANES = {"primary": (4, 2), "secondary": (2, 2), "tertiary": (2, 2), "residential": (2, 2),
         "unclassified": (2, 2), "service": (1, 1)}
#: Half the paved width, m: buildings and lots keep clear of it.
HALF_WIDTH = {"primary": 7.0, "secondary": 5.5, "tertiary": 4.5, "residential": 4.0,
              "unclassified": 3.5, "service": 3.0}

_TREES = ("Oak", "Maple", "Elm", "Walnut", "Cedar", "Hickory", "Locust", "Poplar", "Chestnut",
          "Sycamore", "Dogwood", "Magnolia", "Willow", "Birch", "Ash", "Pine", "Laurel", "Holly")
_PEOPLE = ("Clay", "Boone", "Lincoln", "Madison", "Monroe", "Jackson", "Franklin", "Taylor",
           "Shelby", "Harrison", "Logan", "Marshall", "Scott", "Warren", "Mercer", "Todd")
_SUFFIX = {"primary": ("Avenue", "Boulevard", "Pike"), "secondary": ("Street", "Avenue", "Road"),
           "tertiary": ("Street", "Road", "Drive"), "residential": ("Street", "Lane", "Court", "Drive", "Way"),
           "unclassified": ("Road", "Lane", "Hollow Road", "Ridge Road"), "service": ("Access Road",)}


@dataclass
class Streets:
    """The street chains: geometry along the mains (``main_line``) and as roads (``geometry``)."""

    frame: gpd.GeoDataFrame  # one row per street; geometry = road centreline
    main_line: np.ndarray    # shapely lines along the mains (unshifted), aligned with frame
    node_ids: np.ndarray     # (n, 2) network node at each end of each street


def _link_table(plan: TownPlan) -> pd.DataFrame:
    wn = plan.network
    rows = []
    for name, link in wn.links():
        a, b = link.start_node_name, link.end_node_name
        if a == b:
            continue
        diameter = getattr(link, "diameter", None)
        rows.append({"link": name, "a": a, "b": b, "kind": link.link_type,
                     "diameter": float(diameter) if diameter else 0.0,
                     "coords": [plan.node_xy[a], *link.vertices, plan.node_xy[b]]})
    links = pd.DataFrame(rows)
    # Parallel links between the same two nodes are one street: keep the largest.
    pair = links.apply(lambda r: tuple(sorted((r["a"], r["b"]))), axis=1)
    links["pair"] = pair
    links = links.sort_values(["pair", "diameter", "link"], ascending=[True, False, True])
    return links.drop_duplicates("pair").reset_index(drop=True)


def _chains(links: pd.DataFrame) -> list[list[tuple[int, bool]]]:
    """Chains of (link row, reversed?) between nodes of degree != 2 (and closed loops)."""
    adjacency: dict[str, list[int]] = {}
    for i, (a, b) in enumerate(zip(links["a"], links["b"])):
        adjacency.setdefault(a, []).append(i)
        adjacency.setdefault(b, []).append(i)
    a_of, b_of = links["a"].to_numpy(), links["b"].to_numpy()
    used = np.zeros(len(links), dtype=bool)
    chains = []

    def walk(start: str, first: int) -> list[tuple[int, bool]]:
        chain, node, edge = [], start, first
        while True:
            used[edge] = True
            rev = a_of[edge] != node
            chain.append((edge, bool(rev)))
            node = a_of[edge] if rev else b_of[edge]
            nxt = [e for e in adjacency[node] if not used[e]]
            if len(adjacency[node]) != 2 or node == start or not nxt:
                return chain
            edge = nxt[0]

    for node in sorted(adjacency):
        if len(adjacency[node]) != 2:
            for edge in adjacency[node]:
                if not used[edge]:
                    chains.append(walk(node, edge))
    for edge in range(len(links)):  # closed loops of degree-2 nodes
        if not used[edge]:
            chains.append(walk(a_of[edge], edge))
    return chains


def build_streets(plan: TownPlan) -> Streets:
    rng = plan.rng("streets")
    links = _link_table(plan)
    chains = _chains(links)
    lines, ends, diam, kinds, n_links = [], [], [], [], []
    coords_of = links["coords"].tolist()
    a_of, b_of = links["a"].tolist(), links["b"].tolist()
    d_of, kind_of = links["diameter"].tolist(), links["kind"].tolist()
    len_of = [_length(c) for c in coords_of]
    for chain in chains:
        coords = []
        for edge, rev in chain:
            c = coords_of[edge][::-1] if rev else coords_of[edge]
            coords.extend(c if not coords else c[1:])
        lines.append(np.asarray(coords, dtype=float))
        (first, frev), (last, lrev) = chain[0], chain[-1]
        ends.append((b_of[first] if frev else a_of[first], a_of[last] if lrev else b_of[last]))
        seg_len = np.array([len_of[e] for e, _ in chain])
        d = np.array([d_of[e] for e, _ in chain])
        diam.append(float((seg_len * d).sum() / max(seg_len.sum(), 1e-9)))
        kinds.append({kind_of[e] for e, _ in chain})
        n_links.append(len(chain))
    main_line = shapely.linestrings(np.vstack(lines), indices=np.repeat(np.arange(len(lines)), [len(c) for c in lines]))
    ends = np.array(ends, dtype=object)
    diam = np.array(diam)
    mid = shapely.get_coordinates(shapely.line_interpolate_point(main_line, 0.5, normalized=True))
    town = plan.in_town(mid)
    tank_nodes = set(plan.network.tank_name_list) | set(plan.network.reservoir_name_list)

    classes = np.full(len(lines), "residential", dtype=object)
    for threshold, name in reversed(CLASS_BY_DIAMETER):
        classes[diam >= threshold] = name
    classes[(~town) & (classes == "residential")] = "unclassified"
    # Pump stations and tank sites are reached by service roads.
    no_pipe = np.array([k.isdisjoint({"Pipe"}) for k in kinds])
    to_tank = np.array([(a in tank_nodes) or (b in tank_nodes) for a, b in ends])
    length = shapely.length(main_line)
    classes[no_pipe | (to_tank & (length < 400))] = "service"

    speed = np.array([SPEED_KMH[c][0 if t else 1] for c, t in zip(classes, town)])
    lanes = np.array([LANES[c][0 if t else 1] for c, t in zip(classes, town)])
    names = _names(classes, rng)
    road = shapely.transform(main_line, lambda c: c + ROAD_SHIFT)
    frame = gpd.GeoDataFrame({
        "id": [f"R{i + 1:04d}" for i in range(len(lines))],
        "road_class": classes, "speed_kmh": speed, "name": names,
        "oneway": np.zeros(len(lines), dtype=bool), "lanes": lanes,
        "in_town": town, "main_diameter": diam, "links": n_links,
    }, geometry=gpd.GeoSeries(road, crs=plan.crs), crs=plan.crs)
    return Streets(frame, main_line, ends)


def _length(coords) -> float:
    c = np.asarray(coords, dtype=float)
    return float(np.hypot(*np.diff(c, axis=0).T).sum())


def _names(classes: np.ndarray, rng: np.random.Generator) -> list[str]:
    stems = np.array([*_TREES, *_PEOPLE], dtype=object)
    out = []
    for cls in classes:
        suffix = _SUFFIX[cls]
        out.append(f"{stems[rng.integers(len(stems))]} {suffix[rng.integers(len(suffix))]}")
    return out


def road_nodes(streets: Streets) -> tuple[np.ndarray, np.ndarray]:
    """(xy of every road end point, (n, 2) index of each street's two end points)."""
    geoms = streets.frame.geometry.values
    starts = shapely.get_coordinates(shapely.get_point(geoms, 0))
    ends = shapely.get_coordinates(shapely.get_point(geoms, -1))
    both = np.round(np.vstack([starts, ends]), 3)
    uniq, inverse = np.unique(both, axis=0, return_inverse=True)
    n = len(geoms)
    return uniq, np.column_stack([inverse[:n], inverse[n:]])
