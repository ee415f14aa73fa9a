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

from twin.terrain import Terrain

#: Pipe sizes and depths are drawn at (diagonal of the city / this) times their size.
UNDERGROUND_SCALE_DIVISOR = 250.0


def _filled(heights: np.ndarray) -> np.ndarray:
    """Heights with NaN cells replaced by the nearest known height (so nothing floats or sinks)."""
    mask = ~np.isfinite(heights)
    if not mask.any():
        return heights
    from scipy.ndimage import distance_transform_edt

    _, (ri, ci) = distance_transform_edt(mask, return_indices=True)
    return heights[ri, ci]


def focus_extent(twin, low: float = 2.0, high: float = 98.0) -> tuple[float, float, float, float] | None:
    """Where the town is: the box of the middle buildings (a county network can be 30 km wide

    while the town that a planner looks at is 3 km), or None without buildings.
    """
    buildings = twin["buildings"]
    if len(buildings) < 20:
        return None
    c = buildings.geometry.representative_point()
    x, y = c.x.to_numpy(), c.y.to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 20:
        return None
    x0, x1 = np.percentile(x[ok], [low, high])
    y0, y1 = np.percentile(y[ok], [low, high])
    pad = 0.08 * max(x1 - x0, y1 - y0, 1.0)
    return (float(x0 - pad), float(y0 - pad), float(x1 + pad), float(y1 + pad))


@dataclass
class SceneFrame:
    """Ground sampling and the mapping from twin coordinates to scene coordinates."""

    origin: tuple[float, float]
    z_ref: float
    vertical: float = 1.0
    underground: float = 1.0
    terrain: Terrain | None = None
    _filled_terrain: Terrain | None = field(default=None, repr=False)

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
        if underground is None:
            fx = focus_extent(twin) or ext
            diag = float(np.hypot(fx[2] - fx[0], fx[3] - fx[1]))
            underground = float(np.clip(diag / UNDERGROUND_SCALE_DIVISOR, 1.0, 200.0))
        if vertical <= 0:
            raise ValueError(f"vertical exaggeration must be positive, got {vertical}")
        if underground <= 0:
            raise ValueError(f"underground scale must be positive, got {underground}")
        return cls(origin, z_ref, float(vertical), float(underground), terrain, filled)

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
        """Longest straight run a draped or buried line may have: one DEM cell."""
        if self.terrain is None:
            return None
        return float(min(self.terrain.cell_size))
