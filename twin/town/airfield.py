"""The demo town's airfield and its obstacle limitation surfaces (ICAO Annex 14, Chapter 4).

A 1,600 m code-3 runway is sited automatically in the countryside: the flattest
spot (least rise along the runway on the DEM) 7-11 km from the centre that no
street crosses and a street passes near (for the access road).  Around it the
obstacle limitation surfaces of a non-instrument code-3 runway become
``airspace_zones``: each surface is a polygon whose floor is the surface's
height (altitude above the vertical datum of the DEM, m) and whose ceiling is
the top of the aerodrome's protected airspace (``PROTECTED_HEIGHT`` above the
aerodrome).  Sloping surfaces (approach, take-off climb, transitional, conical)
are cut into steps; each step's floor is the surface's height at the step's
inner edge, its lowest point, so a step never permits more than the surface.

Surfaces (Annex 14 Table 4-1/4-2, code 3 non-instrument): inner horizontal
45 m over a 4,000 m radius around the runway; conical 5 % for 75 m; approach
from 60 m before each threshold, inner edge 150 m, diverging 10 % each side,
3.33 % over 3,000 m; take-off climb from 60 m beyond each end, inner edge
180 m, diverging 12.5 % to 1,200 m, 2 % (kept to 6 km, where it passes
``PROTECTED_HEIGHT``); transitional 14.3 % from the strip edges up to the
inner horizontal surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from twin.town.plan import TownPlan
from twin.town.streets import Streets

#: The inner horizontal surface (4 km around the runway) should clear the town centre.
MIN_FROM_CENTRE, MAX_FROM_CENTRE = 7000.0, 11000.0
RUNWAY_LENGTH = 1600.0
RUNWAY_WIDTH = 30.0
STRIP_HALF_WIDTH = 75.0
STRIP_END = 60.0
PROTECTED_HEIGHT = 150.0
INNER_HORIZONTAL = (45.0, 4000.0)   # height, radius
CONICAL = (0.05, 75.0)              # slope, height
APPROACH = (150.0, 60.0, 0.10, 3000.0, 0.0333)      # inner edge, offset, divergence, length, slope
TAKE_OFF = (180.0, 60.0, 0.125, 1200.0, 6000.0, 0.02)  # inner edge, offset, divergence, max width, length, slope
TRANSITIONAL_SLOPE = 0.143


@dataclass
class Airfield:
    centre: np.ndarray       # runway centre, xy
    direction: np.ndarray    # unit vector along the runway
    elevation: float         # aerodrome elevation (highest point of the runway), m
    runway: shapely.Polygon
    strip: shapely.Polygon
    zones: gpd.GeoDataFrame

    @property
    def exclusion(self):
        """Where nothing may be built: the strip and its clearways."""
        return shapely.buffer(self.strip, 60.0, join_style="mitre")


def _rectangle(centre, direction, half_length, half_width):
    normal = np.array([-direction[1], direction[0]])
    c = [centre + direction * sx * half_length + normal * sy * half_width
         for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return shapely.Polygon(c)


def site_airfield(plan: TownPlan, streets: Streets) -> Airfield:
    rng = plan.rng("airfield")
    x0, y0, x1, y1 = plan.terrain.bounds
    gx, gy = np.meshgrid(np.arange(x0 + 2000, x1 - 2000, 250.0), np.arange(y0 + 2000, y1 - 2000, 250.0))
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    dist = plan.centre_distance(pts)
    pts = pts[(dist > MIN_FROM_CENTRE) & (dist < MAX_FROM_CENTRE) & (plan.density(pts) <= 2)]
    bearings = np.radians(np.arange(0.0, 180.0, 15.0))
    cand_xy = np.repeat(pts, len(bearings), axis=0)
    cand_b = np.tile(bearings, len(pts))
    direction = np.column_stack([np.sin(cand_b), np.cos(cand_b)])
    t = np.linspace(-0.5, 0.5, 17) * (RUNWAY_LENGTH + 2 * STRIP_END)
    along = cand_xy[:, None, :] + direction[:, None, :] * t[None, :, None]
    z = plan.ground(along.reshape(-1, 2)).reshape(len(cand_xy), -1)
    rise = np.nanmax(z, axis=1) - np.nanmin(z, axis=1)
    strips = shapely.polygons(np.stack([
        cand_xy + direction * sx * (RUNWAY_LENGTH / 2 + STRIP_END + 60) +
        np.column_stack([-direction[:, 1], direction[:, 0]]) * sy * (STRIP_HALF_WIDTH + 30)
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))], axis=1))
    roads = streets.frame.geometry.values
    crossing = np.zeros(len(strips), dtype=int)
    hit, _ = shapely.STRtree(roads).query(strips, predicate="intersects")
    np.add.at(crossing, hit, 1)
    _, road_dist = shapely.STRtree(roads).query_nearest(shapely.points(cand_xy), return_distance=True,
                                                        all_matches=False)
    score = rise + 100.0 * crossing + 50.0 * (road_dist > 700) + rng.uniform(0, 0.5, len(rise))
    best = int(np.nanargmin(score))
    centre, d = cand_xy[best], direction[best]
    elevation = float(np.nanmax(z[best]))
    runway = _rectangle(centre, d, RUNWAY_LENGTH / 2, RUNWAY_WIDTH / 2)
    strip = _rectangle(centre, d, RUNWAY_LENGTH / 2 + STRIP_END, STRIP_HALF_WIDTH)
    zones = _surfaces(plan, centre, d, elevation)
    return Airfield(centre, d, elevation, runway, strip, zones)


def _trapezoid(start, direction, inner_half, divergence, t0, t1, max_half=np.inf):
    normal = np.array([-direction[1], direction[0]])
    h0 = min(inner_half + divergence * t0, max_half)
    h1 = min(inner_half + divergence * t1, max_half)
    p0, p1 = start + direction * t0, start + direction * t1
    return shapely.Polygon([p0 - normal * h0, p1 - normal * h1, p1 + normal * h1, p0 + normal * h0])


def _surfaces(plan: TownPlan, centre, d, elevation) -> gpd.GeoDataFrame:
    ceiling = elevation + PROTECTED_HEIGHT
    rows = []

    def add(name, geom, floor):
        rows.append({"name": name, "kind": "airport_surface", "floor_m": round(elevation + floor, 2),
                     "ceiling_m": round(ceiling, 2), "geometry": geom})

    half = RUNWAY_LENGTH / 2 + STRIP_END
    axis = shapely.LineString([centre - d * half, centre + d * half])
    ihs_h, ihs_r = INNER_HORIZONTAL
    ihs = axis.buffer(ihs_r)
    add("inner horizontal surface", ihs, ihs_h)
    slope, height = CONICAL
    width = height / slope
    steps = 3
    for k in range(steps):
        a, b = ihs_r + width * k / steps, ihs_r + width * (k + 1) / steps
        add(f"conical surface, step {k + 1}/{steps}", axis.buffer(b).difference(axis.buffer(a)),
            ihs_h + slope * width * k / steps)
    for end, sign in (("north-east" if d[0] + d[1] >= 0 else "south-west", 1.0),
                      ("south-west" if d[0] + d[1] >= 0 else "north-east", -1.0)):
        threshold = centre + sign * d * RUNWAY_LENGTH / 2
        # Approach towards this threshold lies beyond it, take-off climb from this end too.
        inner, offset, div, length, sl = APPROACH
        start = threshold + sign * d * offset
        for k in range(5):
            t0, t1 = length * k / 5, length * (k + 1) / 5
            add(f"approach surface ({end} end), step {k + 1}/5",
                _trapezoid(start, sign * d, inner / 2, div, t0, t1), sl * t0)
        inner, offset, div, max_w, length, sl = TAKE_OFF
        start = threshold + sign * d * offset
        for k in range(6):
            t0, t1 = length * k / 6, length * (k + 1) / 6
            add(f"take-off climb surface ({end} end), step {k + 1}/6",
                _trapezoid(start, sign * d, inner / 2, div, t0, t1, max_w / 2), sl * t0)
    normal = np.array([-d[1], d[0]])
    reach = ihs_h / TRANSITIONAL_SLOPE
    for side, s in (("left", 1.0), ("right", -1.0)):
        for k in range(3):
            a, b = STRIP_HALF_WIDTH + reach * k / 3, STRIP_HALF_WIDTH + reach * (k + 1) / 3
            mid = centre + s * normal * (a + b) / 2
            add(f"transitional surface ({side}), step {k + 1}/3",
                _rectangle(mid, d, half, (b - a) / 2), TRANSITIONAL_SLOPE * reach * k / 3)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    frame.insert(0, "id", [f"AZ{i + 1:03d}" for i in range(len(frame))])
    return frame
