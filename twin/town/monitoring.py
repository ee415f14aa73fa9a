"""What watches the demo town: traffic cameras at the main crossings and a few hundred sensors.

Sensors sit on real features of the other layers (``layer`` + ``feature_id``):
pressure at junctions spread over the network, flow on the trunk mains, level
in every tank, methane in sewer manholes along gas mains, in gas valve
chambers, in septic tanks and in the utility tunnel, water level in storm
wells, smoke in tall and public buildings, strain on the bridge and in the
tunnel.  ``thresholds`` is a JSON object: ``direction`` ("above": alarm when
the value rises past a level; "below": when it falls under it) and the value
for each warning level ``blue``, ``yellow``, ``orange``, ``red``.

Methane follows GB/T 50493-2019: level-1 alarm at 25 %LEL (yellow here),
level-2 at 50 %LEL (orange); blue marks an early 10 %LEL trace and red 75 %LEL.
Pressure levels are low-pressure alarms (14 m = 0.14 MPa minimum service head,
CJJ 207; 5 m risks intrusion); smoke levels follow EN 54-7's range (2 %obs/m
pre-alarm, 4 fire); flow levels are the main's flow at 1.5 / 2 / 2.5 / 3 m/s;
storm-well levels are fractions of the well's depth.  These match the defaults
of :mod:`simulation.sensors.alarms` where it has them.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import shapely

from twin.town.plan import TownPlan, spread_out

METHANE = {"direction": "above", "blue": 10.0, "yellow": 25.0, "orange": 50.0, "red": 75.0}
PRESSURE = {"direction": "below", "blue": 20.0, "yellow": 14.0, "orange": 10.0, "red": 5.0}
SMOKE = {"direction": "above", "blue": 1.0, "yellow": 2.0, "orange": 3.0, "red": 4.0}
STRAIN = {"direction": "above", "blue": 300.0, "yellow": 500.0, "orange": 1000.0, "red": 1500.0}


def cameras(plan: TownPlan, streets, limit: int = 40) -> gpd.GeoDataFrame:
    """Cameras on the corners of town crossings where an arterial or collector meets other streets."""
    rng = plan.rng("cameras")
    from twin.town.streets import road_nodes

    xy, ends = road_nodes(streets)
    frame = streets.frame
    degree = np.bincount(ends.ravel(), minlength=len(xy))
    major = np.isin(frame["road_class"].to_numpy(), ["primary", "secondary"])
    major_at = np.zeros(len(xy), dtype=int)
    np.add.at(major_at, ends[major].ravel(), 1)
    ok = np.flatnonzero((degree >= 3) & (major_at >= 1) & plan.in_town(xy))
    score = major_at[ok] * 10 + degree[ok] + rng.random(len(ok))
    ok = ok[np.argsort(-score, kind="stable")][:limit]
    ok = np.sort(ok)
    # Heading: along the first major street leaving the crossing.
    heading = np.zeros(len(ok))
    geoms = frame.geometry.values
    for k, node in enumerate(ok):
        streets_here = np.flatnonzero(((ends[:, 0] == node) | (ends[:, 1] == node)) & major)
        line = geoms[streets_here[0]]
        at_start = ends[streets_here[0], 0] == node
        p = line.interpolate(min(15.0, line.length / 2) if at_start else max(line.length - 15.0, line.length / 2))
        dx, dy = p.x - xy[node, 0], p.y - xy[node, 1]
        heading[k] = np.degrees(np.arctan2(dx, dy)) % 360.0
    corner = xy[ok] + np.array([6.0, 6.0])
    return gpd.GeoDataFrame({
        "id": [f"CAM{i + 1:03d}" for i in range(len(ok))],
        "height": 6.0, "heading": np.round(heading, 1),
    }, geometry=gpd.GeoSeries(shapely.points(corner), crs=plan.crs), crs=plan.crs)


def sensors(plan: TownPlan, layers: dict, *, bridge_road: str | None) -> gpd.GeoDataFrame:
    rng = plan.rng("sensors")
    rows = []

    def add(prefix, sensor_type, unit, layer, frame, picks, period, thresholds, at=None):
        geoms = frame.geometry.values[picks]
        pts = at if at is not None else _anchor(geoms)
        for k, i in enumerate(picks):
            t = thresholds(i) if callable(thresholds) else thresholds
            rows.append({"sensor_type": sensor_type, "unit": unit, "layer": layer,
                         "feature_id": frame["id"].iloc[i], "period_s": float(period),
                         "thresholds": json.dumps(t), "prefix": prefix, "geometry": pts[k]})

    junctions = layers["water_junctions"]
    jxy = shapely.get_coordinates(junctions.geometry.values)
    add("PT", "pressure", "m", "water_junctions", junctions, np.sort(spread_out(jxy, 60, rng)), 60, PRESSURE)

    pipes = layers["water_pipes"]
    trunk = np.flatnonzero(pipes["diameter"].to_numpy() >= 0.25)
    txy = shapely.get_coordinates(shapely.line_interpolate_point(pipes.geometry.values[trunk], 0.5, normalized=True))
    picks = np.sort(trunk[spread_out(txy, 30, rng)])
    area = np.pi * pipes["diameter"].to_numpy() ** 2 / 4

    def flow_levels(i):
        q = lambda v: round(float(area[i] * v * 3600.0), 1)  # noqa: E731  m3/h at velocity v
        return {"direction": "above", "blue": q(1.5), "yellow": q(2.0), "orange": q(2.5), "red": q(3.0)}
    add("FT", "flow", "m3/h", "water_pipes", pipes, picks, 60, flow_levels)

    tanks = layers["water_tanks"]

    def tank_levels(i):
        lo, hi = float(tanks["min_level"].iloc[i]), float(tanks["max_level"].iloc[i])
        span = max(hi - lo, 0.1)
        return {"direction": "below", "blue": round(lo + 0.4 * span, 2), "yellow": round(lo + 0.25 * span, 2),
                "orange": round(lo + 0.12 * span, 2), "red": round(lo + 0.04 * span, 2)}
    add("LT", "level", "m", "water_tanks", tanks, np.arange(len(tanks)), 300, tank_levels)

    manholes = layers["manholes"]
    wells = manholes["well_type"].to_numpy()
    mxy = shapely.get_coordinates(manholes.geometry.values)
    gas = layers["gas_mains"]
    near_gas = np.zeros(len(manholes), dtype=bool)
    hit, _ = shapely.STRtree(gas.geometry.values).query(manholes.geometry.values, predicate="dwithin", distance=12.0)
    near_gas[hit] = True
    sewer_gas = np.flatnonzero((wells == "sewer") & near_gas)
    add("CH", "methane", "%LEL", "manholes", manholes, np.sort(sewer_gas[spread_out(mxy[sewer_gas], 70, rng)]),
        30, METHANE)
    gas_wells = np.flatnonzero(wells == "gas")
    add("CH", "methane", "%LEL", "manholes", manholes, np.sort(gas_wells[spread_out(mxy[gas_wells], 40, rng)]),
        30, METHANE)
    septic = layers["septic_tanks"]
    sxy = shapely.get_coordinates(septic.geometry.values)
    add("CH", "methane", "%LEL", "septic_tanks", septic, np.sort(spread_out(sxy, 20, rng)), 60, METHANE)
    tunnel = layers["utility_tunnels"]
    if len(tunnel):
        line = tunnel.geometry.values[0]
        at = [line.interpolate(f, normalized=True) for f in (0.1, 0.3, 0.5, 0.7, 0.9)]
        add("CH", "methane", "%LEL", "utility_tunnels", tunnel, np.zeros(5, dtype=int), 30, METHANE, at=at)
        add("SG", "strain", "µε", "utility_tunnels", tunnel, np.zeros(5, dtype=int), 600, STRAIN,
            at=[line.interpolate(f, normalized=True) for f in (0.15, 0.35, 0.55, 0.75, 0.95)])

    storm = np.flatnonzero(wells == "storm")
    depth = manholes["depth"].to_numpy()

    def storm_levels(i):
        d = float(depth[i])
        return {"direction": "above", "blue": round(0.3 * d, 2), "yellow": round(0.5 * d, 2),
                "orange": round(0.7 * d, 2), "red": round(0.9 * d, 2)}
    add("WL", "water_level", "m", "manholes", manholes, np.sort(storm[spread_out(mxy[storm], 30, rng)]), 60,
        storm_levels)

    buildings = layers["buildings"]
    use = buildings["use"].to_numpy()
    watched = np.flatnonzero((use == "public") | ((use != "residential") & (buildings["floors"].to_numpy() >= 3))
                             | (buildings["floors"].to_numpy() >= 5))
    bxy = shapely.get_coordinates(shapely.centroid(buildings.geometry.values[watched]))
    add("SM", "smoke", "%obs/m", "buildings", buildings, np.sort(watched[spread_out(bxy, 50, rng)]), 10, SMOKE)

    if bridge_road is not None:
        roads = layers["roads"]
        row = int(np.flatnonzero(roads["id"].to_numpy() == bridge_road)[0])
        line = roads.geometry.values[row]
        at = [line.interpolate(f, normalized=True) for f in (0.25, 0.5, 0.75)]
        add("SG", "strain", "µε", "roads", roads, np.full(3, row), 600, STRAIN, at=at)

    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    counter: dict[str, int] = {}
    ids = []
    for prefix in frame["prefix"]:
        counter[prefix] = counter.get(prefix, 0) + 1
        ids.append(f"{prefix}{counter[prefix]:03d}")
    frame.insert(0, "id", ids)
    return frame.drop(columns="prefix")


def _anchor(geoms) -> np.ndarray:
    """A point for each feature: itself, a line's midpoint, a polygon's centroid."""
    kind = shapely.get_type_id(geoms)
    out = np.array(geoms, dtype=object)
    lines = np.isin(kind, [1, 5])
    out[lines] = shapely.line_interpolate_point(geoms[lines], 0.5, normalized=True)
    polys = np.isin(kind, [3, 6])
    out[polys] = shapely.point_on_surface(geoms[polys])
    return out


def bridge(plan: TownPlan, streets) -> str | None:
    """The town street that crosses the deepest dip between its ends: the creek bridge."""
    frame = streets.frame
    geoms = frame.geometry.values
    length = shapely.length(geoms)
    ok = np.flatnonzero(frame["in_town"].to_numpy() & np.isin(frame["road_class"], ["primary", "secondary"])
                        & (length > 40) & (length < 400))
    if len(ok) == 0:
        return None
    ends = (plan.ground(shapely.get_coordinates(shapely.get_point(geoms[ok], 0)))
            + plan.ground(shapely.get_coordinates(shapely.get_point(geoms[ok], -1)))) / 2
    mid = plan.ground(shapely.get_coordinates(shapely.line_interpolate_point(geoms[ok], 0.5, normalized=True)))
    return str(frame["id"].iloc[ok[int(np.argmax(ends - mid))]])
