"""Camera presets (top, oblique, street, underground) and named bookmarks.

Presets are computed from the scene's bounds so they frame any city, from a
village to a 30 km county network.  A bookmark is a plain dict (position, focal
point, view up, view angle in twin coordinates) so it can live in the project's
metadata and come back in another session, window or CLI run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

PRESETS = ("top", "oblique", "street", "underground")

#: The oblique views look north-north-east, from the south-south-west, like a planner's wall map.
AZIMUTH_DEG = 200.0


@dataclass
class CameraPose:
    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    view_angle: float = 30.0

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict, where: str = "bookmark") -> "CameraPose":
        try:
            return cls(tuple(map(float, data["position"])), tuple(map(float, data["focal_point"])),
                       tuple(map(float, data.get("view_up", (0, 0, 1)))), float(data.get("view_angle", 30.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: not a camera pose ({exc})") from None


def _towards(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector from the focal point to the camera."""
    az = np.radians(azimuth_deg)
    el = np.radians(elevation_deg)
    return np.array([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)])


def preset(name: str, bounds, ground_z: float, underground_z: float | None = None,
           aspect: float = 1.6, view_angle: float = 30.0) -> CameraPose:
    """The pose of preset ``name`` for scene ``bounds`` (xmin, xmax, ymin, ymax, zmin, zmax)."""
    if name not in PRESETS:
        raise ValueError(f"unknown camera preset {name!r} (presets: {', '.join(PRESETS)})")
    x0, x1, y0, y1, z0, z1 = bounds
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    wx, wy = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    half = np.tan(np.radians(view_angle) / 2.0)
    if name == "top":
        fit = max(wy / 2.0, wx / 2.0 / aspect) * 1.08
        focal = np.array([cx, cy, ground_z])
        return CameraPose(tuple(focal + [0, 0, fit / half]), tuple(focal), (0.0, 1.0, 0.0), view_angle)
    diag = float(np.hypot(wx, wy))
    if name == "oblique":
        focal = np.array([cx, cy, ground_z])
        dist = diag / 2.0 / half * 0.68
        return CameraPose(tuple(focal + _towards(AZIMUTH_DEG, 40.0) * dist), tuple(focal), (0, 0, 1), view_angle)
    if name == "underground":
        fz = underground_z if underground_z is not None else ground_z
        focal = np.array([cx, cy, (fz + ground_z) / 2.0])
        dist = diag / 2.0 / half * 0.38
        return CameraPose(tuple(focal + _towards(AZIMUTH_DEG, 30.0) * dist), tuple(focal), (0, 0, 1), view_angle)
    # street: a person's view along the town from its southern edge, eye above the roofs' feet.
    eye = max(12.0, diag * 0.004)
    focal = np.array([cx, cy, ground_z + eye * 0.6])
    back = np.array([np.sin(np.radians(AZIMUTH_DEG)), np.cos(np.radians(AZIMUTH_DEG)), 0.0]) * diag * 0.22
    pos = focal + back
    pos[2] = ground_z + eye
    return CameraPose(tuple(pos), tuple(focal), (0, 0, 1), 50.0)
