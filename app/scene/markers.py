"""Point features as instanced glyphs in one mesh: valves, hydrants, sensors, manholes, tanks.

A small template (sphere, cylinder, cone, cube) is copied to every point with
numpy (points scaled and shifted, faces offset), so a layer of 50,000 valves is
one mesh built in one pass, each cell tagged with its ``feature_index``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyvista as pv

SHAPES = ("sphere", "cylinder", "cone", "cube", "diamond")


@lru_cache(maxsize=None)
def template(shape: str) -> tuple[np.ndarray, np.ndarray]:
    """(points, triangles) of a unit glyph.

    Spheres, cones and diamonds are centred on the point; cylinders and cubes stand on it
    (z from 0 to 1) so a hydrant or a water tower rises from the ground and a
    manhole shaft hangs from it when its height is negative.
    """
    if shape == "sphere":
        mesh = pv.Icosphere(radius=1.0, nsub=0)  # 20 faces: markers are a few pixels wide
    elif shape == "cylinder":
        mesh = pv.Cylinder(center=(0, 0, 0.5), direction=(0, 0, 1), radius=1.0, height=1.0,
                           resolution=8, capping=True)
    elif shape == "cone":
        mesh = pv.Cone(center=(0, 0, 0), direction=(0, 0, -1), height=2.0, radius=1.0, resolution=6)
    elif shape == "cube":
        mesh = pv.Cube(center=(0, 0, 0.5), x_length=2.0, y_length=2.0, z_length=1.0)
    elif shape == "diamond":
        mesh = pv.Octahedron(radius=1.0)
    else:
        raise ValueError(f"unknown marker shape {shape!r} (known: {', '.join(SHAPES)})")
    mesh = mesh.triangulate()
    faces = mesh.faces.reshape(-1, 4)[:, 1:]
    return np.asarray(mesh.points, dtype=float), faces.astype(np.int64)


def instances(shape: str, centres: np.ndarray, scale: np.ndarray, feature_index: np.ndarray) -> pv.PolyData:
    """One copy of the ``shape`` template per centre; ``scale`` is (n, 3) or (n,) or scalar."""
    pts, tris = template(shape)
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    n = len(centres)
    if n == 0:
        return pv.PolyData()
    scale = np.broadcast_to(np.asarray(scale, dtype=float).reshape(-1, 1) if np.ndim(scale) <= 1
                            else np.asarray(scale, dtype=float), (n, 3))
    points = (pts[None, :, :] * scale[:, None, :] + centres[:, None, :]).reshape(-1, 3)
    faces = tris[None, :, :] + (np.arange(n) * len(pts))[:, None, None]
    cells = np.concatenate([np.full((n, len(tris), 1), 3), faces], axis=2).ravel()
    mesh = pv.PolyData(points, faces=cells)
    mesh.cell_data["feature_index"] = np.repeat(np.asarray(feature_index, dtype=np.int64), len(tris))
    return mesh
