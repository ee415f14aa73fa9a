"""Houses, shops and blocks along the demo town's streets, holding the people the water serves.

Lots are laid along both sides of every street; each lot gets a LOD1 footprint
(a rectangle facing the street, set back behind the pavement or front yard)
sized by zone — tall blocks in the centre, two-storey houses in town, farm
houses along country roads, sheds in an industrial quarter on the main roads.
Footprints that would sit on a road or on another building are dropped.

Population follows the water: every building is served by its nearest junction
with demand, and the people that junction's average demand serves
(``TownPlan.population_per_junction``: demand / 250 L per person per day) are
shared among its buildings by floor area (shops, offices and public buildings
count for less than homes).  In the countryside only as many houses are kept as
the junction's people need (2.6 per household), so the total population is the
network's demand divided by the per-person use, to within rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from twin.town.plan import CENTRE_RADIUS, TownPlan
from twin.town.streets import HALF_WIDTH, Streets

STEP = 9.0                 # m between lot candidates along a street
KEEP_EVERY = {"centre": 2, "town": 2, "rural": 4, "industrial": 4}
PERSONS_PER_HOUSEHOLD = 2.6
#: How much each use counts, per m² of floor, when a junction's people are shared out.
USE_WEIGHT = {"residential": 1.0, "commercial": 0.25, "public": 0.15, "industrial": 0.05}
STOREY_M = {"residential": 3.0, "commercial": 3.8, "public": 4.0, "industrial": 5.0}


@dataclass
class Buildings:
    frame: gpd.GeoDataFrame   # the buildings layer (schema columns)
    zone: np.ndarray          # centre / town / rural / industrial
    back: np.ndarray          # (n, 2) unit vector pointing away from the street
    front: np.ndarray         # (n, 2) lot point on the street centreline
    road_index: np.ndarray    # street (row of Streets.frame) the building faces
    road_class: np.ndarray    # that street's class
    orphans: int              # junctions with demand but no building (people moved to a neighbour)


def _candidates(plan: TownPlan, streets: Streets, rng: np.random.Generator, industrial_bearing: float):
    roads = streets.frame
    geoms = roads.geometry.values
    length = shapely.length(geoms)
    counts = np.maximum(np.floor(length / STEP).astype(int), 0)
    road = np.repeat(np.arange(len(geoms)), counts)
    k = np.concatenate([np.arange(c) for c in counts]) if counts.sum() else np.zeros(0, int)
    d = (k + 0.5) * STEP
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(geoms[road], d))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(geoms[road], np.minimum(d + 1.0, length[road])))
    p_1 = shapely.get_coordinates(shapely.line_interpolate_point(geoms[road], np.maximum(d - 1.0, 0.0)))
    tangent = p1 - p_1
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]

    cls = roads["road_class"].to_numpy()[road]
    dist = plan.centre_distance(p0)
    town = roads["in_town"].to_numpy()[road] & plan.in_town(p0)
    zone = np.where(dist < CENTRE_RADIUS, "centre", np.where(town, "town", "rural")).astype(object)
    bearing = np.degrees(np.arctan2(p0[:, 0] - plan.centre[0], p0[:, 1] - plan.centre[1]))
    off = np.abs((bearing - industrial_bearing + 180.0) % 360.0 - 180.0)
    industrial = (zone == "town") & (dist > 1100) & (dist < 3200) & (off < 40) & \
        np.isin(cls, ["primary", "secondary", "tertiary"])
    zone[industrial] = "industrial"
    keep_every = np.array([KEEP_EVERY[z] for z in zone])
    keep = (k % keep_every == 0) & (d > 14.0) & (length[road] - d > 14.0) & (cls != "service")
    road, d, p0, tangent, zone, cls, dist = (a[keep] for a in (road, d, p0, tangent, zone, cls, dist))

    # Both sides of the street; country roads get a second row of houses further back.
    side = np.concatenate([np.ones(len(road)), -np.ones(len(road))])
    rep = lambda a: np.concatenate([a, a])  # noqa: E731
    road, d, p0, tangent, zone, cls, dist = map(rep, (road, d, p0, tangent, zone, cls, dist))
    row = np.zeros(len(road), dtype=int)
    rural = zone == "rural"
    second = np.flatnonzero(rural)
    road, d, p0, tangent, zone, cls, dist, side = (
        np.concatenate([a, a[second]]) for a in (road, d, p0, tangent, zone, cls, dist, side))
    row = np.concatenate([row, np.ones(len(second), dtype=int)])
    n = len(road)

    width, depth, setback = np.empty(n), np.empty(n), np.empty(n)
    half = np.array([HALF_WIDTH[c] for c in cls])
    # Centre blocks fill their 18 m frontage (2 m apart); houses stand in their lots.
    for name, w, dp, sb in (("centre", (14, 16), (16, 30), (2.5, 4.0)),
                            ("town", (8, 13), (8, 12), (5.0, 9.0)),
                            ("rural", (9, 15), (8, 12), (12.0, 30.0)),
                            ("industrial", (25, 45), (20, 40), (8.0, 14.0))):
        m = zone == name
        width[m] = rng.uniform(*w, m.sum())
        depth[m] = rng.uniform(*dp, m.sum())
        setback[m] = half[m] + rng.uniform(*sb, m.sum())
    setback += row * 45.0
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]]) * side[:, None]
    centre = p0 + normal * (setback + depth / 2.0)[:, None]
    corners = np.stack([
        centre + tangent * (sx * width / 2)[:, None] + normal * (sy * depth / 2)[:, None]
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))], axis=1)
    polys = shapely.polygons(corners)
    return dict(road=road, p0=p0, zone=zone, cls=cls, dist=dist, row=row, width=width, depth=depth,
                normal=normal, polygons=polys)


def _greedy_non_overlapping(polys: np.ndarray, order: np.ndarray, gap: float) -> np.ndarray:
    """Keep footprints in ``order`` unless they come within ``gap`` of one already kept."""
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="dwithin", distance=gap)
    pair = left != right
    left, right = left[pair], right[pair]
    rank = np.empty(len(polys), dtype=int)
    rank[order] = np.arange(len(order))
    # Only a higher-ranked neighbour can veto a footprint.
    veto = rank[right] < rank[left]
    left, right = left[veto], right[veto]
    sort = np.argsort(left, kind="stable")
    left, right = left[sort], right[sort]
    start = np.searchsorted(left, np.arange(len(polys)))
    stop = np.searchsorted(left, np.arange(len(polys)), side="right")
    kept = np.zeros(len(polys), dtype=bool)
    for i in order:
        if not kept[right[start[i]:stop[i]]].any():
            kept[i] = True
    return kept


def build_buildings(plan: TownPlan, streets: Streets, exclusion=None) -> Buildings:
    """The buildings layer; ``exclusion`` is a geometry nothing may be built on (the airfield)."""
    rng = plan.rng("buildings")
    industrial_bearing = _industrial_bearing(plan, streets, rng)
    c = _candidates(plan, streets, rng, industrial_bearing)
    polys = c["polygons"]

    # Off the carriageways, the tanks and pump stations, and the exclusion zone.
    roads = streets.frame
    road_area = shapely.buffer(roads.geometry.values, roads["road_class"].map(HALF_WIDTH).to_numpy() + 1.0)
    blocked = np.zeros(len(polys), dtype=bool)
    hit, _ = shapely.STRtree(road_area).query(polys, predicate="intersects")
    blocked[hit] = True
    works = [plan.node_xy[n] for n in (*plan.network.tank_name_list, *plan.network.reservoir_name_list)]
    works += [plan.node_xy[plan.network.get_link(p).start_node_name] for p in plan.network.pump_name_list]
    works_area = shapely.buffer(shapely.points(np.asarray(works)), 45.0)
    hit, _ = shapely.STRtree(works_area).query(polys, predicate="intersects")
    blocked[hit] = True
    if exclusion is not None:
        blocked |= shapely.intersects(polys, exclusion)
    cand = np.flatnonzero(~blocked)

    # Bigger and more central first; then a seeded shuffle settles who gets a contested corner.
    priority = np.lexsort((rng.random(len(cand)), c["row"][cand],
                           -(c["width"] * c["depth"])[cand] * (c["zone"][cand] != "rural")))
    kept = _greedy_non_overlapping(polys[cand], priority, gap=2.0)
    cand = cand[kept]

    # Countryside: only as many houses as the junction's people need.
    people = plan.population_per_junction
    centroids = shapely.get_coordinates(shapely.centroid(polys[cand]))
    junction, _ = plan.nearest_junction(centroids, demand_only=True)
    junction = _adopt_orphans(plan, people, junction, centroids)
    rural = c["zone"][cand] == "rural"
    urban_count = np.bincount(junction[~rural], minlength=len(people))
    quota = np.maximum(np.ceil(people / PERSONS_PER_HOUSEHOLD).astype(int) - urban_count, 0)
    quota[(people > 0) & (urban_count == 0)] = np.maximum(quota[(people > 0) & (urban_count == 0)], 1)
    order = np.lexsort((rng.random(rural.sum()), c["row"][cand][rural], junction[rural]))
    rj = junction[rural][order]
    first = np.searchsorted(rj, rj)
    rank_in_junction = np.arange(len(rj)) - first
    keep_rural = np.zeros(rural.sum(), dtype=bool)
    keep_rural[order] = rank_in_junction < quota[rj]
    keep = np.ones(len(cand), dtype=bool)
    keep[np.flatnonzero(rural)] = keep_rural
    cand, junction = cand[keep], junction[keep]

    zone = c["zone"][cand]
    n = len(cand)
    use = np.full(n, "residential", dtype=object)
    u = rng.random(n)
    main_road = np.isin(c["cls"][cand], ["primary", "secondary"])
    use[(zone == "centre") & (u < 0.55)] = "commercial"
    use[(zone == "centre") & (u >= 0.55) & (u < 0.70)] = "public"
    use[(zone == "town") & (u < np.where(main_road, 0.25, 0.05))] = "commercial"
    use[(zone == "town") & (u > 0.97)] = "public"
    use[(zone == "rural") & (u > 0.97)] = "industrial"
    use[zone == "industrial"] = np.where(u[zone == "industrial"] < 0.85, "industrial", "commercial")

    floors = np.ones(n, dtype=int)
    closeness = np.clip(1.0 - c["dist"][cand] / CENTRE_RADIUS, 0.0, 1.0)
    m = zone == "centre"
    floors[m] = 2 + np.round(closeness[m] * rng.uniform(1.0, 7.0, m.sum())).astype(int)
    m = zone == "town"
    floors[m] = rng.choice([1, 2, 3], m.sum(), p=[0.35, 0.5, 0.15])
    m = zone == "rural"
    floors[m] = rng.choice([1, 2], m.sum(), p=[0.6, 0.4])
    m = zone == "industrial"
    floors[m] = rng.choice([1, 2], m.sum(), p=[0.7, 0.3])
    storey = np.array([STOREY_M[x] for x in use])
    roof = np.where(use == "residential", 1.5, 0.8)
    height = np.round(floors * storey + roof, 1)

    polys_kept = polys[cand]
    area = shapely.area(polys_kept)
    centroid = shapely.get_coordinates(shapely.centroid(polys_kept))
    population, orphans = _share_people(people, junction, area * floors * np.array([USE_WEIGHT[x] for x in use]),
                                        plan.junction_xy)

    risk = np.full(n, "", dtype=object)
    r = rng.random(n)
    old_or_tall = (floors >= 5) | (zone == "centre")
    risk[r < 0.004] = "red"
    risk[(r >= 0.004) & (r < 0.012)] = "orange"
    risk[(r >= 0.012) & (r < np.where(old_or_tall, 0.10, 0.03))] = "yellow"
    risk[(r >= 0.97)] = "blue"

    frame = gpd.GeoDataFrame({
        "id": [f"B{i + 1:05d}" for i in range(n)],
        "height": height, "floors": floors, "population": population, "use": use,
        "risk_level": risk, "base_elevation": np.round(plan.ground(centroid), 2),
        "junction_id": plan.junction_ids[junction],
    }, geometry=gpd.GeoSeries(polys_kept, crs=plan.crs), crs=plan.crs)
    return Buildings(frame, zone, -c["normal"][cand], c["p0"][cand], c["road"][cand], c["cls"][cand], orphans)


def share_population(plan: TownPlan, frame: gpd.GeoDataFrame) -> np.ndarray:
    """Population per building from its junction, use, floors and footprint (after uses changed)."""
    index = {j: i for i, j in enumerate(plan.junction_ids)}
    junction = np.array([index[j] for j in frame["junction_id"]])
    use = frame["use"].to_numpy()
    weight = shapely.area(frame.geometry.values) * frame["floors"].to_numpy(dtype=float) \
        * np.array([USE_WEIGHT.get(u, 0.25) for u in use])
    population, _ = _share_people(plan.population_per_junction, junction, weight, plan.junction_xy)
    return population


def _share_people(people: np.ndarray, junction: np.ndarray, weight: np.ndarray,
                  xy: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer population per building: each junction's people shared by weight (largest remainder)."""
    served = np.bincount(junction, minlength=len(people)) > 0
    orphan = (people > 0) & ~served
    people = people.copy()
    if orphan.any():
        # No building left near this junction (all lots taken or blocked): its people are
        # counted at the nearest served junction, so the town's total is never lost.
        idx = np.flatnonzero(served)
        _, near = cKDTree(xy[idx]).query(xy[orphan])
        np.add.at(people, idx[near], people[orphan])
        people[orphan] = 0.0
    total = np.round(people).astype(int)
    wsum = np.bincount(junction, weights=weight, minlength=len(people))
    share = total[junction] * weight / np.maximum(wsum[junction], 1e-12)
    base = np.floor(share).astype(int)
    short = total - np.bincount(junction, weights=base, minlength=len(people)).astype(int)
    frac = share - base
    order = np.lexsort((-frac, junction))
    sj = junction[order]
    rank = np.arange(len(sj)) - np.searchsorted(sj, sj)
    bonus = np.zeros(len(junction), dtype=int)
    bonus[order] = (rank < short[sj]).astype(int)
    return base + bonus, int(orphan.sum())


def _adopt_orphans(plan: TownPlan, people: np.ndarray, junction: np.ndarray,
                   centroids: np.ndarray) -> np.ndarray:
    """Give every junction with demand a building: the nearest lot whose own junction has others."""
    junction = junction.copy()
    counts = np.bincount(junction, minlength=len(people))
    orphans = np.flatnonzero((people > 0) & (counts == 0))
    if len(orphans) == 0 or len(centroids) == 0:
        return junction
    tree = cKDTree(centroids)
    k = min(40, len(centroids))
    _, near = tree.query(plan.junction_xy[orphans], k=k)
    for j, candidates in zip(orphans, np.atleast_2d(near)):
        for i in candidates:
            if counts[junction[i]] >= 2:
                counts[junction[i]] -= 1
                junction[i] = j
                counts[j] += 1
                break
    return junction


def _industrial_bearing(plan: TownPlan, streets: Streets, rng: np.random.Generator) -> float:
    """Bearing (deg from north) of the industrial quarter: towards town streets 1-3 km out."""
    mid = shapely.get_coordinates(shapely.line_interpolate_point(streets.frame.geometry.values, 0.5,
                                                                 normalized=True))
    dist = plan.centre_distance(mid)
    ok = np.flatnonzero((dist > 1200) & (dist < 3000) & plan.in_town(mid)
                        & np.isin(streets.frame["road_class"], ["primary", "secondary"]))
    if len(ok) == 0:
        return float(rng.uniform(0, 360))
    pick = mid[ok[rng.integers(len(ok))]]
    return float(np.degrees(np.arctan2(pick[0] - plan.centre[0], pick[1] - plan.centre[1])))
