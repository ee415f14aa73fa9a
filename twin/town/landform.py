"""The demo town's ground: a DEM that passes through the network's junctions.

EPANET junction elevations are the pipe's elevation; the ground is the burial
cover higher (1.2-1.5 m).  The DEM is fitted to those ground heights coarse to
fine (multilevel normalised convolution: smooth everywhere, close at the
junctions, no triangulation facets), gains rolling hills away from the mains
(where the network says nothing about the ground: a few octaves of smooth
seeded noise, faded in with distance from the mains), and is fitted again at
the finest levels so a junction's cover read from the DEM stays close to the
cover it was given.  Junctions whose elevation disagrees wildly with their neighbours' (ky10
has one at 0 m among hills at 190-280 m) are left out of the ground.
"""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from scipy.ndimage import distance_transform_edt, gaussian_filter, zoom
from scipy.spatial import cKDTree

from twin.terrain import Terrain
from twin.town.plan import TownPlan

CELL = 25.0          # m: fine enough for streets, small enough to build in a few seconds
MARGIN = 1000.0      # m of ground around the outermost junction
COVER = (1.2, 1.5)   # m of ground over a junction's pipe
#: Hills where the network is silent: (wavelength m, relief m) octaves of a smooth random field.
HILLS = ((3200.0, 16.0), (1400.0, 9.0), (600.0, 3.5))
HILL_FADE = 700.0    # m from a main over which the hills rise to full relief
#: Widths (m) of the coarse-to-fine levels that fit the ground to the junctions.
FIT_LEVELS = (3200.0, 1600.0, 800.0, 400.0, 200.0, 100.0, 60.0, 40.0, 30.0)
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
    # The landform is shaped on a grid twice as coarse (cheap), brought to CELL once with
    # cubic splines, then fitted to the junctions at the finest levels on the full grid.
    coarse_cell = 2 * CELL
    shape = (rows // 2 + 2, cols // 2 + 2)
    draft = Terrain(np.full(shape, float(np.mean(pg))), Affine(coarse_cell, 0, left, 0, -coarse_cell, top), plan.crs)
    _fit(draft, px, py, pg, [s for s in FIT_LEVELS if s >= 2 * coarse_cell])
    fade = _fade_from_mains(main_lines, left, top, shape, coarse_cell)
    draft.heights = draft.heights + _hills(rng, shape, coarse_cell) * fade
    heights = zoom(draft.heights, 2, order=3, mode="nearest", grid_mode=True)[:rows, :cols]
    terrain = Terrain(heights, Affine(CELL, 0, left, 0, -CELL, top), plan.crs)
    _fit(terrain, px, py, pg, [s for s in FIT_LEVELS if s < 2 * coarse_cell])
    return terrain


def _fit(terrain: Terrain, px, py, values, levels) -> None:
    """Fit ``terrain`` to the points, coarse to fine (multilevel normalised convolution), in place.

    Each level spreads the points' remaining residuals with a Gaussian of that level's
    width (on a grid coarse enough for the width, brought back with cubic splines so no
    creases show) and adds the weighted mean.  Where the points are too sparse for the
    level (weight below half an isolated point's) the correction fades out rather than
    extrapolating; the coarsest level starts from the mean ground height.
    """
    rows, cols = terrain.shape
    left, top = terrain.transform.c, terrain.transform.f
    cell = terrain.cell_size[0]
    for sigma_m in levels:
        residual = values - terrain.sample(px, py)
        f = max(1, int(sigma_m / (3.0 * cell)))
        shape = (rows // f + 2, cols // f + 2)
        jr = ((top - py) / (cell * f)).astype(int).clip(0, shape[0] - 1)
        jc = ((px - left) / (cell * f)).astype(int).clip(0, shape[1] - 1)
        mass = np.zeros(shape)
        push = np.zeros(shape)
        np.add.at(mass, (jr, jc), 1.0)
        np.add.at(push, (jr, jc), residual)
        s = sigma_m / (cell * f)
        weight = gaussian_filter(mass, s, mode="constant")
        floor = 0.5 / (2.0 * np.pi * s * s)
        corr = gaussian_filter(push, s, mode="constant") / np.maximum(weight, floor)
        if f > 1:
            corr = zoom(corr, f, order=3, mode="nearest", grid_mode=True)
        terrain.heights = terrain.heights + corr[:rows, :cols]


def _fade_from_mains(main_lines, left: float, top: float, out_shape, cell: float) -> np.ndarray:
    """0 on the mains rising smoothly to 1 at HILL_FADE from them (smoothed: no medial-axis creases)."""
    rows, cols = out_shape
    f = 2
    shape = (rows // f + 2, cols // f + 2)
    near = np.zeros(shape, dtype=bool)
    vertices = shapely.get_coordinates(shapely.segmentize(np.asarray(main_lines), cell * f / 2))
    c = ((vertices[:, 0] - left) / (cell * f)).astype(int).clip(0, shape[1] - 1)
    r = ((top - vertices[:, 1]) / (cell * f)).astype(int).clip(0, shape[0] - 1)
    near[r, c] = True
    fade = np.clip(distance_transform_edt(~near) * cell * f / HILL_FADE, 0.0, 1.0)
    fade = gaussian_filter(fade * fade * (3.0 - 2.0 * fade), 2.0, mode="nearest")
    return np.clip(zoom(fade, f, order=3, mode="nearest", grid_mode=True)[:rows, :cols], 0.0, 1.0)


def _hills(rng: np.random.Generator, shape, cell: float) -> np.ndarray:
    """A smooth random relief field (sum of octaves), zero mean."""
    rows, cols = shape
    total = np.zeros((rows, cols))
    for wavelength, relief in HILLS:
        step = wavelength / 2.0 / cell                  # grid cells per control point
        coarse = rng.standard_normal((int(rows / step) + 4, int(cols / step) + 4))
        fine = zoom(coarse, step, order=3, mode="reflect", grid_mode=False)[:rows, :cols]
        fine = gaussian_filter(fine, sigma=step / 3.0, mode="nearest")
        total += fine * relief / max(float(fine.std()), 1e-9)
    return total - total.mean()
