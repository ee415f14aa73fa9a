"""The demo town's ground: a DEM that passes through the network's junctions.

EPANET junction elevations are the pipe's elevation; the ground is the burial
cover higher (1.2-1.5 m).  The DEM interpolates those ground heights linearly,
is smoothed so the triangles of the interpolation do not show, gains gentle
hills away from the mains (where the network says nothing about the ground),
and is then corrected back through every junction so a pipe's cover read from
the DEM is the cover it was given.
"""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
from scipy.ndimage import distance_transform_edt, gaussian_filter, zoom
from scipy.spatial import cKDTree

from twin.terrain import Terrain
from twin.town.plan import TownPlan

CELL = 25.0          # m: fine enough for streets, small enough to build in a second
MARGIN = 1000.0      # m of ground around the outermost junction
COVER = (1.2, 1.5)   # m of ground over a junction's pipe
HILL_RELIEF = 14.0   # m: standard deviation of the hills between the mains
HILL_SCALE = 400.0   # m: wavelength scale of those hills
HILL_FADE = 450.0    # m from a main over which the hills rise to full relief
OUTLIER_M = 40.0     # a junction this far from its neighbours' median elevation is a data error


def plausible_junctions(xy: np.ndarray, z: np.ndarray, k: int = 8) -> np.ndarray:
    """Mask of junctions whose elevation agrees with their neighbours' (ky10 has one at 0 m)."""
    _, idx = cKDTree(xy).query(xy, k=min(k + 1, len(xy)))
    med = np.median(z[idx[:, 1:]], axis=1)
    return np.abs(z - med) <= OUTLIER_M


def build_terrain(plan: TownPlan, main_lines) -> Terrain:
    """The DEM of the town; ``main_lines`` are the water mains' geometries (for the hill fade)."""
    rng = plan.rng("terrain")
    xy, z = plan.junction_xy, plan.junction_elevation
    keep = plausible_junctions(xy, z)
    cover = rng.uniform(*COVER, len(z))
    ground = z + cover
    px, py, pg = xy[keep, 0], xy[keep, 1], ground[keep]

    left, right = px.min() - MARGIN, px.max() + MARGIN
    bottom, top = py.min() - MARGIN, py.max() + MARGIN
    cols = int(np.ceil((right - left) / CELL))
    rows = int(np.ceil((top - bottom) / CELL))
    transform = Affine(CELL, 0, left, 0, -CELL, top)
    cx = left + (np.arange(cols) + 0.5) * CELL
    cy = top - (np.arange(rows) + 0.5) * CELL
    gx, gy = np.meshgrid(cx, cy)
    pts = np.column_stack([px, py])
    tri = LinearNDInterpolator(pts, pg)
    heights = _fill(tri(gx, gy), NearestNDInterpolator(pts, pg), gx, gy)
    heights = gaussian_filter(heights, sigma=2.0, mode="nearest")

    # Hills where the network is silent: a smooth random field, faded in with distance from the mains.
    coarse = rng.standard_normal((int(rows * CELL / HILL_SCALE) + 3, int(cols * CELL / HILL_SCALE) + 3))
    field = zoom(coarse, (rows / (coarse.shape[0] - 2), cols / (coarse.shape[1] - 2)), order=3)[:rows, :cols]
    field = gaussian_filter(field, sigma=3.0)
    field *= HILL_RELIEF / max(float(field.std()), 1e-9)
    near_main = np.zeros((rows, cols), dtype=bool)
    vertices = shapely.get_coordinates(shapely.segmentize(np.asarray(main_lines), CELL / 2))
    c = ((vertices[:, 0] - left) / CELL).astype(int).clip(0, cols - 1)
    r = ((top - vertices[:, 1]) / CELL).astype(int).clip(0, rows - 1)
    near_main[r, c] = True
    fade = np.clip(distance_transform_edt(~near_main) * CELL / HILL_FADE, 0.0, 1.0) ** 1.5
    heights = heights + field * fade

    # Put the ground back through every junction (bilinear sampling is what consumers use).
    terrain = Terrain(heights, transform, plan.crs)
    residual = pg - terrain.sample(px, py)
    corr = LinearNDInterpolator(pts, residual)(gx, gy)
    corr = _fill(corr, NearestNDInterpolator(pts, residual), gx, gy)
    terrain.heights = heights + corr
    return terrain


def _fill(values: np.ndarray, nearest, gx, gy) -> np.ndarray:
    """Fill NaN cells (outside the junctions' hull) with the nearest junction's value."""
    hole = np.isnan(values)
    if hole.any():
        values = values.copy()
        values[hole] = nearest(gx[hole], gy[hole])
    return values
