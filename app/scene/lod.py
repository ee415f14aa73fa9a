"""Buildings seen from far away: neighbouring buildings merged into one prism per block.

On software OpenGL the cost of a frame of a large city is the number of
triangles, not the pixels they cover: 50,000 buildings (300,000 faces) cost
four times the rest of a 100k-pipe city.  Seen from where a building is a few
pixels wide, the eye cannot tell a block of them from one prism, so the
window draws :class:`FarBuildings` instead while the camera is that far
(:func:`looks_far`), and the buildings themselves once it comes closer.
With the blocks the scene also draws a coarser ground (at most 15,000 cells)
and its pipes and sewers one pixel wide (``Scene._far_ground_and_lines``).

Blocks are the cells of a square grid ``block_m`` wide (by default four
times the median distance between neighbouring buildings, so a block holds
about sixteen); a block's prism is the convex hull of its buildings'
footprints, from the lowest foot of its buildings to the area-weighted mean of
their roofs, taken from the drawn buildings (so the vertical exaggeration of
the scene is in it).  Each block shows the look of its largest building: its
colour when the layer is coloured by a category or a value, and the value
itself in the result arrays.  The far prisms are never picked: a pick finds the
building under the cursor on the full mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv
import shapely
from scipy.spatial import cKDTree

from app.scene.prisms import Footprints, extrude

#: a typical building drawn narrower than this many pixels at the camera's focal point: the far look
#: (the demo town in the window's first view has its buildings 4 pixels wide and keeps them; the
#: 100k-pipe city's are 2)
FAR_PIXELS = 3.0
#: back to the buildings themselves once it is drawn wider than this (no flicker at the threshold)
NEAR_PIXELS = 3.75
#: blocks are this many typical spacings wide
BLOCK_SPACINGS = 6.0


@dataclass
class FarBuildings:
    """One prism per block of buildings, and the largest building of each block."""

    mesh: pv.PolyData          #: cells carry ``block_index``
    representative: np.ndarray  #: for each block, the feature row of its largest building
    cell_of_feature: np.ndarray  #: for each feature row, one cell of the full mesh (-1: not drawn)
    typical_m: float           #: median width of a building (square root of its footprint area), m
    block_m: float
    far: bool = False

    @property
    def blocks(self) -> int:
        return len(self.representative)

    def cells_of(self, per_feature_cells: np.ndarray) -> np.ndarray:
        """Values (or colours) of the full mesh's cells, as the far blocks show them: each block's
        largest building's (one row per block, in the far mesh's cell order)."""
        cell = self.cell_of_feature[self.representative]
        block = self.mesh.cell_data["block_index"]
        values = per_feature_cells[np.maximum(cell, 0)]
        return values[block]


def typical_width(layer) -> float | None:
    """The median width of the layer's buildings (square root of the footprint area), m; None for
    fewer than 100 buildings (merging them would not matter)."""
    area = shapely.area(layer.geometry.values)
    area = area[np.isfinite(area) & (area > 0)]
    return float(np.median(np.sqrt(area))) if len(area) >= 100 else None


def looks_far(typical_m: float, was_far: bool, camera, viewport_height: int) -> bool:
    """Whether a building ``typical_m`` wide at the camera's focal point is drawn narrower than
    :data:`FAR_PIXELS` (wider than :data:`NEAR_PIXELS` to come back when ``was_far``: a band, so the look
    does not flicker).  Orthographic cameras use their parallel scale."""
    if camera.GetParallelProjection():
        span = 2.0 * camera.GetParallelScale()
    else:
        span = 2.0 * camera.GetDistance() * np.tan(np.radians(camera.GetViewAngle()) / 2.0)
    pixels = typical_m / max(span, 1e-9) * max(int(viewport_height), 1)
    return bool(pixels < (NEAR_PIXELS if was_far else FAR_PIXELS))


def far_buildings(layer, mesh: pv.PolyData, to_scene, block_m: float | None = None) -> FarBuildings | None:
    """The far look of the buildings ``layer`` drawn as ``mesh`` (their full prisms, with
    ``feature_index``); ``to_scene(x, y)`` maps twin coordinates to the scene's.  None when there are too
    few buildings for merging to matter (fewer than 100)."""
    geoms = layer.geometry.values
    n = len(geoms)
    if n < 100 or mesh.n_cells == 0:
        return None
    feature = np.asarray(mesh.cell_data["feature_index"], dtype=np.int64)
    # each building's roof and foot, as drawn: the highest cell centre is on the roof, the lowest on a
    # wall, halfway down
    centre_z = mesh.cell_centers().points[:, 2]
    top = np.full(n, -np.inf)
    mid = np.full(n, np.inf)
    np.maximum.at(top, feature, centre_z)
    np.minimum.at(mid, feature, centre_z)
    drawn = np.isfinite(top)
    bottom = 2.0 * mid - top
    cell_of_feature = np.full(n, -1, dtype=np.int64)
    first_feature, first_cell = np.unique(feature, return_index=True)
    cell_of_feature[first_feature] = first_cell
    area = np.where(drawn, shapely.area(geoms), 0.0)
    centroid = shapely.get_coordinates(shapely.centroid(np.where(drawn, geoms, shapely.Point(0, 0))))
    rows = np.flatnonzero(drawn & (area > 0))
    if len(rows) < 100:
        return None
    typical = float(np.median(np.sqrt(area[rows])))
    if block_m is None:
        d, _ = cKDTree(centroid[rows]).query(centroid[rows], k=2)
        block_m = BLOCK_SPACINGS * float(np.median(d[:, 1]))
    key = np.floor(centroid[rows] / block_m).astype(np.int64)
    _, block_of_row = np.unique(key, axis=0, return_inverse=True)
    block_of_row = block_of_row.ravel()
    nb = int(block_of_row.max()) + 1
    # the block's outline: the convex hull of its buildings' vertices
    xy, owner = shapely.get_coordinates(geoms[rows], return_index=True)
    by_block = np.argsort(block_of_row[owner], kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(xy[by_block], indices=block_of_row[owner][by_block]))
    weight = area[rows]
    roof = np.bincount(block_of_row, weight * top[rows], nb) / np.bincount(block_of_row, weight, nb)
    foot = np.full(nb, np.inf)
    np.minimum.at(foot, block_of_row, bottom[rows])
    # the largest building of each block gives the block its look
    order = np.lexsort((-weight, block_of_row))
    first = np.r_[True, block_of_row[order][1:] != block_of_row[order][:-1]]
    representative = rows[order[first]]
    polygon = shapely.get_type_id(hulls) == 3
    if not polygon.all():  # a block of one sliver: a small square round its centre instead
        c = shapely.centroid(hulls[~polygon])
        hulls[~polygon] = shapely.buffer(c, max(typical / 2.0, 0.5), cap_style="square")
    far = extrude(Footprints(hulls, np.arange(nb), np.array([], dtype=np.int64)), foot, roof, to_scene)
    far.cell_data["block_index"] = far.cell_data["feature_index"]
    return FarBuildings(far, representative, cell_of_feature, typical, float(block_m))
