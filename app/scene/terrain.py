"""The ground surface from the DEM, with an optional "underground window" cut out of it.

The surface is a quad mesh through the DEM's cell centres.  Software GL pays
for every quad of it in every frame, so it is built at two resolutions: the town and a margin around
it at up to the DEM's own resolution (``TOWN_TERRAIN_CELLS``), the rest of a
county-sized DEM strided down to ``MAX_TERRAIN_CELLS``.  Where the two meet,
the fine edge follows the coarse one exactly, so there is no crack.  The window
removes the quads over a rectangle so the pipes below are seen without the
surface in between, plus four translucent soil walls showing the cut.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from app.scene.frame import SceneFrame

#: Cells of the whole DEM away from the town.
MAX_TERRAIN_CELLS = 60_000
#: Cells of the town and its margin (at most the DEM's own resolution).
TOWN_TERRAIN_CELLS = 60_000
#: Margin round the town drawn fine, as a share of the town's width on each side.
TOWN_MARGIN = 0.5


def _grid(heights: np.ndarray, r_idx: np.ndarray, c_idx: np.ndarray, base: int):
    """Points (row, col, height) and quads of the grid through rows ``r_idx`` x cols ``c_idx``."""
    h = heights[np.ix_(r_idx, c_idx)]
    rr, cc = np.meshgrid(r_idx, c_idx, indexing="ij")
    nr, nc = h.shape
    qr, qc = np.meshgrid(np.arange(nr - 1), np.arange(nc - 1), indexing="ij")
    p0 = (qr * nc + qc).ravel()
    quads = np.column_stack([p0, p0 + 1, p0 + nc + 1, p0 + nc])
    elevation = (h[:-1, :-1] + h[1:, 1:] + h[:-1, 1:] + h[1:, :-1]).ravel() * 0.25
    return rr.ravel(), cc.ravel(), h, quads + base, elevation


def _town_rows_cols(frame: SceneFrame, step: int, rows: int, cols: int):
    """Row and column span (multiples of ``step``) of the town and its margin, or None."""
    if frame.focus is None:
        return None
    x0, y0, x1, y1 = frame.focus
    mx, my = (x1 - x0) * TOWN_MARGIN, (y1 - y0) * TOWN_MARGIN
    inv = ~frame.terrain.transform
    ca, ra = inv @ (x0 - mx, y1 + my)
    cb, rb = inv @ (x1 + mx, y0 - my)
    last_r, last_c = (rows - 1) // step * step, (cols - 1) // step * step
    r0 = int(np.clip(np.floor(min(ra, rb) / step) * step, 0, last_r))
    r1 = int(np.clip(np.ceil(max(ra, rb) / step) * step, 0, last_r))
    c0 = int(np.clip(np.floor(min(ca, cb) / step) * step, 0, last_c))
    c1 = int(np.clip(np.ceil(max(ca, cb) / step) * step, 0, last_c))
    if r1 - r0 < step or c1 - c0 < step:
        return None
    return r0, r1, c0, c1


def terrain_mesh(frame: SceneFrame, window: tuple[float, float, float, float] | None = None,
                 window_depth: float | None = None, *, max_cells: int = MAX_TERRAIN_CELLS,
                 town_cells: int = TOWN_TERRAIN_CELLS) -> pv.PolyData:
    """The terrain surface in scene coordinates, with cell array ``elevation`` (true m).

    ``window`` is (minx, miny, maxx, maxy) in twin coordinates; the soil walls
    around it go down ``window_depth`` scene metres (default: deep enough for
    the pipes).  ``max_cells`` and ``town_cells`` bound the grid (the window's
    far look asks for fewer).
    """
    terrain = frame.terrain
    heights = frame._filled_terrain.heights
    rows, cols = heights.shape
    far = max(1, int(np.ceil(np.sqrt(rows * cols / max_cells))))
    town = _town_rows_cols(frame, far, rows, cols)
    near = far
    if town is not None:
        r0, r1, c0, c1 = town
        near = max(1, int(np.ceil(np.sqrt((r1 - r0) * (c1 - c0) / town_cells))))
        # the coarse step a multiple of the fine one, so the coarse vertices on the seam are fine ones too
        far = max(far, near)
        far = int(np.ceil(far / near) * near)
        town = _town_rows_cols(frame, far, rows, cols)
    r_idx = np.arange(0, rows, far)
    c_idx = np.arange(0, cols, far)
    rr, cc, h, quads, elevation = _grid(heights, r_idx, c_idx, 0)
    pr, pc, pz = [rr], [cc], [h.ravel()]
    if town is not None and near < far:
        r0, r1, c0, c1 = town
        # coarse quads inside the town box give way to the fine grid
        qr = np.repeat(r_idx[:-1], len(c_idx) - 1)
        qc = np.tile(c_idx[:-1], len(r_idx) - 1)
        inside = (qr >= r0) & (qr + far <= r1) & (qc >= c0) & (qc + far <= c1)
        quads, elevation = quads[~inside], elevation[~inside]
        fr, fc, fh, fquads, felev = _grid(heights, np.arange(r0, r1 + 1, near), np.arange(c0, c1 + 1, near),
                                          len(rr))
        fh = fh.copy()
        # seam: the fine edge vertices lie on the coarse edges' straight lines (no T-junction crack)
        for axis_rows, index in ((True, 0), (True, -1), (False, 0), (False, -1)):
            if axis_rows:
                line = fh[index, :]
                along = np.arange(c0, c1 + 1, near)
                fixed_at = r0 if index == 0 else r1
                coarse = heights[fixed_at, np.arange(c0, c1 + 1, far)]
                line[:] = np.interp(along, np.arange(c0, c1 + 1, far), coarse)
            else:
                line = fh[:, index]
                along = np.arange(r0, r1 + 1, near)
                fixed_at = c0 if index == 0 else c1
                coarse = heights[np.arange(r0, r1 + 1, far), fixed_at]
                line[:] = np.interp(along, np.arange(r0, r1 + 1, far), coarse)
        pr.append(fr)
        pc.append(fc)
        pz.append(fh.ravel())
        quads = np.vstack([quads, fquads])
        elevation = np.concatenate([elevation, felev])
    t = terrain.transform
    rows_all, cols_all = np.concatenate(pr), np.concatenate(pc)
    gx = t.c + (cols_all + 0.5) * t.a
    gy = t.f + (rows_all + 0.5) * t.e
    sx, sy = frame.xy(gx, gy)
    points = np.column_stack([sx, sy, frame.z(np.concatenate(pz))])
    if window is not None:
        wx0, wy0 = frame.xy(window[0], window[1])
        wx1, wy1 = frame.xy(window[2], window[3])
        qx = points[quads, 0].mean(axis=1)
        qy = points[quads, 1].mean(axis=1)
        outside = ~((qx >= wx0) & (qx <= wx1) & (qy >= wy0) & (qy <= wy1))
        quads = quads[outside]
        elevation = elevation[outside]
    faces = np.column_stack([np.full(len(quads), 4), quads]).ravel()
    mesh = pv.PolyData(points, faces=faces)
    mesh.cell_data["elevation"] = elevation
    mesh.cell_data["feature_index"] = np.zeros(len(quads), dtype=np.int64)
    return mesh.clean(point_merging=False) if window is not None else mesh


def window_walls(frame: SceneFrame, window: tuple[float, float, float, float], depth: float,
                 samples: int = 64) -> pv.PolyData:
    """Four vertical soil faces from the ground down ``depth`` scene metres around ``window``, and a floor.

    The floor gives the pipes a dark background: seen through the window
    against the sky they would read as floating, not buried.
    """
    x0, y0, x1, y1 = window
    t = np.linspace(0.0, 1.0, samples)
    edges = [(x0 + (x1 - x0) * t, np.full(samples, y0)), (np.full(samples, x1), y0 + (y1 - y0) * t),
             (x1 - (x1 - x0) * t, np.full(samples, y1)), (np.full(samples, x0), y1 - (y1 - y0) * t)]
    pts, faces = [], []
    base = 0
    for ex, ey in edges:
        gz = frame.ground_z(ex, ey)
        sx, sy = frame.xy(ex, ey)
        top = np.column_stack([sx, sy, gz])
        bottom = np.column_stack([sx, sy, gz - depth])
        pts.extend([top, bottom])
        i = np.arange(samples - 1)
        faces.append(np.column_stack([np.full(samples - 1, 4), base + i, base + i + 1,
                                      base + samples + i + 1, base + samples + i]).ravel())
        base += 2 * samples
    floor_z = min(float(p[:, 2].min()) for p in pts)
    sx0, sy0 = frame.xy(x0, y0)
    sx1, sy1 = frame.xy(x1, y1)
    pts.append(np.array([[sx0, sy0, floor_z], [sx1, sy0, floor_z], [sx1, sy1, floor_z], [sx0, sy1, floor_z]]))
    faces.append(np.array([4, base, base + 1, base + 2, base + 3]))
    mesh = pv.PolyData(np.vstack(pts), faces=np.concatenate(faces))
    mesh.cell_data["feature_index"] = np.zeros(mesh.n_cells, dtype=np.int64)
    return mesh
