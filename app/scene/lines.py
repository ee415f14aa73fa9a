"""Linear features as merged meshes: pipes, mains, sewers, tunnels, roads, corridors, tracks.

Everything here is vectorised over a whole layer: one call explodes every
(Multi)LineString into parts, one builds the VTK connectivity for all of them.
Each cell carries ``feature_index`` (the row of the feature in its layer), which
is how picking and result arrays find their feature again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv
import shapely


@dataclass
class LineParts:
    """The vertices of every part of every line of a layer, in twin coordinates."""

    xy: np.ndarray            #: (n_vertices, 2)
    z: np.ndarray             #: (n_vertices,) the geometry's own Z (NaN when 2D)
    vertex_part: np.ndarray   #: (n_vertices,) part of each vertex
    part_feature: np.ndarray  #: (n_parts,) feature row of each part
    invalid: np.ndarray       #: feature rows skipped: empty, degenerate or non-finite

    @property
    def n_parts(self) -> int:
        return len(self.part_feature)

    def fraction_along(self) -> np.ndarray:
        """Each vertex's distance along its part as a fraction of the part's length (0..1)."""
        if len(self.xy) == 0:
            return np.zeros(0)
        step = np.zeros(len(self.xy))
        same = self.vertex_part[1:] == self.vertex_part[:-1]
        step[1:] = np.where(same, np.hypot(*(self.xy[1:] - self.xy[:-1]).T), 0.0)
        cum = np.cumsum(step)
        starts = np.searchsorted(self.vertex_part, np.arange(self.n_parts))
        cum -= cum[starts][self.vertex_part]
        total = np.maximum.reduceat(cum, starts) if len(starts) else np.zeros(0)
        total = np.where(total > 0, total, 1.0)
        return cum / total[self.vertex_part]


def line_parts(geoms, densify: float | None = None) -> LineParts:
    """Explode a layer's (Multi)LineStrings; ``densify`` splits runs longer than it (m)."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    bad = np.zeros(n, dtype=bool)
    present = np.array([g is not None for g in geoms], dtype=bool)
    bad[~present] = True
    ok_geoms = np.where(present, geoms, shapely.Point())
    bad |= shapely.is_empty(ok_geoms)
    parts, part_feature = shapely.get_parts(np.where(bad, shapely.LineString(), ok_geoms), return_index=True)
    # Degenerate parts (fewer than two points, non-finite or zero length) break GEOS'
    # densification and draw nothing: set their features aside before anything else.
    length = shapely.length(parts)
    bad_part = (shapely.get_num_coordinates(parts) < 2) | ~np.isfinite(length) | (length <= 0)
    if bad_part.any():
        bad[part_feature[bad_part]] = True
        parts = np.where(bad_part, shapely.LineString(), parts)
    if densify:
        parts = shapely.segmentize(parts, densify)
    coords, vertex_part = shapely.get_coordinates(parts, include_z=True, return_index=True)
    counts = np.bincount(vertex_part, minlength=len(parts))
    finite = np.isfinite(coords[:, :2]).all(axis=1)
    bad_part = (counts < 2) | (np.bincount(vertex_part, weights=~finite, minlength=len(parts)) > 0)
    if bad_part.any():
        bad[part_feature[bad_part]] = True
    # A feature with any broken part is skipped whole: half a pipe would mislead.
    keep_part = ~bad[part_feature]
    keep_vertex = keep_part[vertex_part]
    new_index = np.cumsum(keep_part) - 1
    return LineParts(coords[keep_vertex, :2], coords[keep_vertex, 2],
                     new_index[vertex_part[keep_vertex]], part_feature[keep_part],
                     np.flatnonzero(bad))


def _line_cells(vertex_part: np.ndarray, n_parts: int) -> np.ndarray:
    """VTK connectivity ``[n, i0, i1, ...]`` with one polyline per part."""
    counts = np.bincount(vertex_part, minlength=n_parts)
    out = np.empty(len(vertex_part) + n_parts, dtype=np.int64)
    heads = np.cumsum(np.concatenate([[0], counts[:-1] + 1]))
    out[heads] = counts
    mask = np.ones(len(out), dtype=bool)
    mask[heads] = False
    out[mask] = np.arange(len(vertex_part))
    return out


def polylines(points: np.ndarray, parts: LineParts) -> pv.PolyData:
    """One polyline cell per part; ``feature_index`` per cell."""
    mesh = pv.PolyData(np.asarray(points, dtype=float), lines=_line_cells(parts.vertex_part, parts.n_parts))
    mesh.cell_data["feature_index"] = parts.part_feature.astype(np.int64)
    return mesh


def segments(points: np.ndarray, parts: LineParts, vertex_feature: np.ndarray | None = None) -> pv.PolyData:
    """One 2-point line cell per consecutive pair of vertices of a part.

    ``vertex_feature`` gives each segment the feature of its first vertex (drone
    tracks, where every vertex is a timestamped feature); by default the part's.
    """
    first = np.flatnonzero(parts.vertex_part[1:] == parts.vertex_part[:-1])
    cells = np.column_stack([np.full(len(first), 2), first, first + 1]).ravel()
    mesh = pv.PolyData(np.asarray(points, dtype=float), lines=cells)
    feature = (vertex_feature[first] if vertex_feature is not None
               else parts.part_feature[parts.vertex_part[first]])
    mesh.cell_data["feature_index"] = feature.astype(np.int64)
    return mesh


def ribbons(points: np.ndarray, parts: LineParts, half_width: np.ndarray) -> pv.PolyData:
    """Flat quads of ``half_width`` (per part) either side of each segment: draped roads."""
    first = np.flatnonzero(parts.vertex_part[1:] == parts.vertex_part[:-1])
    a = points[first]
    b = points[first + 1]
    d = b[:, :2] - a[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    length[length == 0] = 1.0
    w = half_width[parts.vertex_part[first]]
    side = np.column_stack([-d[:, 1] / length * w, d[:, 0] / length * w, np.zeros(len(first))])
    quad = np.stack([a - side, b - side, b + side, a + side], axis=1).reshape(-1, 3)
    n = len(first)
    faces = np.column_stack([np.full(n, 4), np.arange(n) * 4, np.arange(n) * 4 + 1,
                             np.arange(n) * 4 + 2, np.arange(n) * 4 + 3]).ravel()
    mesh = pv.PolyData(quad, faces=faces)
    mesh.cell_data["feature_index"] = parts.part_feature[parts.vertex_part[first]].astype(np.int64)
    return mesh
