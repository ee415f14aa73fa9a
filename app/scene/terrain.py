"""The ground surface from the DEM, with an optional "underground window" cut out of it.

The surface is a quad mesh through the DEM's cell centres (large DEMs are
strided down to about 200,000 cells: more is invisible at town scale and
slows every frame of software GL).  The window removes the quads over a rectangle so the pipes
below are seen without the surface in between, plus four translucent soil walls
showing the cut.
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from app.scene.frame import SceneFrame

MAX_TERRAIN_CELLS = 200_000


def terrain_mesh(frame: SceneFrame, window: tuple[float, float, float, float] | None = None,
                 window_depth: float | None = None) -> pv.PolyData:
    """The terrain surface in scene coordinates, with cell array ``elevation`` (true m).

    ``window`` is (minx, miny, maxx, maxy) in twin coordinates; the soil walls
    around it go down ``window_depth`` scene metres (default: deep enough for
    the pipes).
    """
    terrain = frame.terrain
    heights = frame._filled_terrain.heights
    rows, cols = heights.shape
    step = max(1, int(np.ceil(np.sqrt(rows * cols / MAX_TERRAIN_CELLS))))
    r_idx = np.arange(0, rows, step)
    c_idx = np.arange(0, cols, step)
    h = heights[np.ix_(r_idx, c_idx)]
    t = terrain.transform
    cx = t.c + (c_idx + 0.5) * t.a
    cy = t.f + (r_idx + 0.5) * t.e
    gx, gy = np.meshgrid(cx, cy)
    sx, sy = frame.xy(gx.ravel(), gy.ravel())
    points = np.column_stack([sx, sy, frame.z(h.ravel())])
    nr, nc = h.shape
    rr, cc = np.meshgrid(np.arange(nr - 1), np.arange(nc - 1), indexing="ij")
    p0 = (rr * nc + cc).ravel()
    quads = np.column_stack([p0, p0 + 1, p0 + nc + 1, p0 + nc])
    elevation = h[:-1, :-1].ravel() * 0.25 + h[1:, 1:].ravel() * 0.25 + h[:-1, 1:].ravel() * 0.25 \
        + h[1:, :-1].ravel() * 0.25
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
