"""Where things stand in the scene: the ground, the vertical scale, the underground scale.

The scene is drawn in the twin's metric CRS shifted so the city's centre is the
origin: GPU coordinates are float32, which at a 5,000 km easting only resolve
half a metre and make pipes jitter.  Heights are metres above the terrain's
lowest point, times ``vertical`` (exaggeration of relief and of everything above
ground).  Underground, ``underground`` inflates burial depths and pipe sizes by
the same factor: a 300 mm main 1.2 m deep is invisible at city scale, and
scaling depth and diameter together keeps the layering (gas above water above
sewer) and keeps every pipe fully below the surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.terrain import Terrain

#: Pipe sizes are drawn at (diagonal of the town / this) times their size...
UNDERGROUND_SCALE_DIVISOR = 200.0
#: ...and burial depths at this share of that factor: deep enough to keep every pipe
#: under the surface and the layers apart, shallow enough that the town's underground
#: does not look deeper than its buildings are tall.
DEPTH_SHARE = 0.35
#: The town focus is found on cells at least this big (m) and is at least this wide (m):
#: a hamlet of 60 houses is still framed as a place, not as one house.
MIN_FOCUS_CELL = 150.0
MIN_FOCUS_SIZE = 1000.0


def _filled(heights: np.ndarray) -> np.ndarray:
    """Heights with NaN cells replaced by the nearest known height (so nothing floats or sinks)."""
    mask = ~np.isfinite(heights)
    if not mask.any():
        return heights
    from scipy.ndimage import distance_transform_edt

    _, (ri, ci) = distance_transform_edt(mask, return_indices=True)
    return heights[ri, ci]


def focus_extent(twin, grid: int = 64, hot: float = 0.4) -> tuple[float, float, float, float] | None:
    """Where the town is: the box of the densest cluster of buildings, or None without buildings.

    A county network can be 30 km wide with farm houses along every road while
    the town a planner looks at is 3 km: buildings are counted on a coarse grid,
    cells holding at least ``hot`` of the densest cell's count are joined into
    clusters, and the cluster with the most built volume is the focus, centred
    on its densest cells.
    """
    buildings = twin["buildings"]
    if len(buildings) < 20:
        return None
    c = buildings.geometry.representative_point()
    x, y = c.x.to_numpy(), c.y.to_numpy()
    # Built volume, not the number of houses: a suburb has more houses per hectare
    # than a town centre of blocks and halls, but far less building.
    volume = (buildings.geometry.area.to_numpy()
              * pd.to_numeric(buildings["height"], errors="coerce").fillna(6.0).clip(lower=1.0).to_numpy())
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(volume)
    if ok.sum() < 20:
        return None
    x, y, volume = x[ok], y[ok], volume[ok]
    span = max(x.max() - x.min(), y.max() - y.min(), 1.0)
    cell = max(span / grid, MIN_FOCUS_CELL)
    nx = max(1, int(np.ceil((x.max() - x.min()) / cell)) + 1)
    ny = max(1, int(np.ceil((y.max() - y.min()) / cell)) + 1)
    counts, xe, ye = np.histogram2d(x, y, bins=[nx, ny], weights=volume,
                                    range=[[x.min(), x.min() + nx * cell], [y.min(), y.min() + ny * cell]])
    from scipy.ndimage import binary_dilation, label

    # Dilate once so a town split by a river or a park stays one cluster.
    labels, n = label(binary_dilation(counts >= hot * counts.max()))
    if n == 0:
        return None
    best = max(range(1, n + 1), key=lambda k: counts[labels == k].sum())
    ix, iy = np.nonzero(labels == best)
    x0, x1 = xe[ix.min()], xe[ix.max() + 1]
    y0, y1 = ye[iy.min()], ye[iy.max() + 1]
    # Centre on the heart of the town (the buildings of its densest cells), not on the
    # middle of a box that a long ribbon of roadside houses can drag aside.
    core = (labels == best) & (counts >= 0.5 * counts[labels == best].max())
    bi = np.clip(((x - xe[0]) / cell).astype(int), 0, nx - 1)
    bj = np.clip(((y - ye[0]) / cell).astype(int), 0, ny - 1)
    inside = core[bi, bj]
    cx = float(np.average(x[inside], weights=volume[inside]))
    cy = float(np.average(y[inside], weights=volume[inside]))
    hw, hh = max(x1 - x0, MIN_FOCUS_SIZE) / 2, max(y1 - y0, MIN_FOCUS_SIZE) / 2
    hw = hh = min(max(hw, hh), 1.5 * min(hw, hh))  # frame a place, not a corridor
    return (float(cx - hw), float(cy - hh), float(cx + hw), float(cy + hh))


@dataclass
class SceneFrame:
    """Ground sampling and the mapping from twin coordinates to scene coordinates."""

    origin: tuple[float, float]
    z_ref: float
    vertical: float = 1.0
    underground: float = 1.0
    terrain: Terrain | None = None
    _filled_terrain: Terrain | None = field(default=None, repr=False)
    #: The town's box (twin minx, miny, maxx, maxy), or None: the ground is finest there.
    focus: tuple[float, float, float, float] | None = None

    @classmethod
    def for_twin(cls, twin, vertical: float = 1.0, underground: float | None = None) -> "SceneFrame":
        ext = twin.extent or (0.0, 0.0, 1.0, 1.0)
        origin = ((ext[0] + ext[2]) / 2.0, (ext[1] + ext[3]) / 2.0)
        terrain = twin.terrain
        z_ref = 0.0
        filled = None
        if terrain is not None and np.isfinite(terrain.heights).any():
            z_ref = float(np.nanmin(terrain.heights))
            filled = Terrain(_filled(terrain.heights), terrain.transform, terrain.crs)
        else:
            terrain = None
        focus = focus_extent(twin)
        if underground is None:
            fx = focus or ext
            diag = float(np.hypot(fx[2] - fx[0], fx[3] - fx[1]))
            underground = float(np.clip(diag / UNDERGROUND_SCALE_DIVISOR, 1.0, 200.0))
        if vertical <= 0:
            raise ValueError(f"vertical exaggeration must be positive, got {vertical}")
        if underground <= 0:
            raise ValueError(f"underground scale must be positive, got {underground}")
        return cls(origin, z_ref, float(vertical), float(underground), terrain, filled, focus)

    # ------------------------------------------------------------------ heights
    def ground(self, x, y) -> np.ndarray:
        """True ground elevation (m) at twin coordinates; the nearest edge height outside the DEM."""
        x = np.asarray(x, dtype=float)
        if self._filled_terrain is None:
            return np.full(x.shape, self.z_ref)
        y = np.asarray(y, dtype=float)
        left, bottom, right, top = self._filled_terrain.bounds
        cx, cy = self._filled_terrain.cell_size
        # Clamp inside the outer half cell: outside the DEM the edge height is the best guess.
        xs = np.clip(x, left + cx * 0.5, right - cx * 0.5)
        ys = np.clip(y, bottom + cy * 0.5, top - cy * 0.5)
        z = self._filled_terrain.sample(xs, ys)
        return np.where(np.isfinite(z), z, self.z_ref)

    @property
    def depth_scale(self) -> float:
        """Factor on burial depths (the pipe's drawn radius is added on top, so it stays buried)."""
        return self.underground * DEPTH_SHARE

    def z(self, elevation) -> np.ndarray:
        """Scene height of a true elevation (m)."""
        return (np.asarray(elevation, dtype=float) - self.z_ref) * self.vertical

    def ground_z(self, x, y) -> np.ndarray:
        """Scene height of the ground surface at twin coordinates."""
        return self.z(self.ground(x, y))

    def xy(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Scene x, y of twin coordinates."""
        return np.asarray(x, dtype=float) - self.origin[0], np.asarray(y, dtype=float) - self.origin[1]

    def to_twin(self, point) -> tuple[float, float, float]:
        """Twin coordinates (x, y, true elevation) of a scene point."""
        return (float(point[0]) + self.origin[0], float(point[1]) + self.origin[1],
                float(point[2]) / self.vertical + self.z_ref)

    @property
    def densify_length(self) -> float | None:
        """Longest straight run a draped or buried line may have: two DEM cells.

        (The drawn surface is itself a grid of straight quads; one cell would double
        the vertices of a typical network for no visible gain.)
        """
        if self.terrain is None:
            return None
        return 2.0 * float(min(self.terrain.cell_size))
