"""Camera presets (top, oblique, street, underground), the overview's pose, and named bookmarks.

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
           aspect: float = 1.6, view_angle: float = 30.0, azimuth: float = AZIMUTH_DEG) -> CameraPose:
    """The pose of preset ``name`` for scene ``bounds`` (xmin, xmax, ymin, ymax, zmin, zmax).

    ``azimuth`` is where the oblique camera stands, seen from the focal point
    (degrees clockwise from north).
    """
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
        return CameraPose(tuple(focal + _towards(azimuth, 40.0) * dist), tuple(focal), (0, 0, 1), view_angle)
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


#: Variations the overview tries around its first guess (see Scene.overview_pose): turn of
#: the camera round the town (degrees), its elevation (degrees), its distance (times the
#: first guess's) and how far past the town's middle it aims (times the town's diagonal).
OVERVIEW_TURNS = (0.0, -10.0, 10.0, -20.0, 20.0, -30.0, 30.0)
OVERVIEW_ELEVATIONS = (24.0, 30.0)
OVERVIEW_DISTANCES = (0.85, 1.1, 1.35)
OVERVIEW_LEADS = (0.4, 0.15, 0.0)


def overview(town, ground_z: float, towards_airspace: tuple[float, float] | None, aspect: float = 1.6,
             view_angle: float = 30.0, turn: float = 0.0, elevation: float = 24.0, distance: float = 0.85,
             lead: float = 0.4) -> CameraPose:
    """A look at a town over it, towards its airspace.

    ``town`` is the town's box in scene coordinates (xmin, xmax, ymin, ymax);
    ``towards_airspace`` the scene x, y of the airspace worth seeing (the middle
    of the airport surfaces and no-fly zones near the town) or None.  Without
    airspace it is the oblique preset.  With it, the camera stands on the far
    side of the town from the airspace (turned by ``turn`` degrees) and looks
    across the town at it: the town and its networks in front, the volumes
    beyond.  ``distance`` scales the distance that frames the town, ``lead``
    moves the aim past the town's middle towards the airspace (share of the
    town's diagonal).
    """
    x0, x1, y0, y1 = town
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    if towards_airspace is None:
        return preset("oblique", (x0, x1, y0, y1, ground_z, ground_z), ground_z, aspect=aspect,
                      view_angle=view_angle)
    d = np.array([towards_airspace[0] - cx, towards_airspace[1] - cy])
    span = float(np.linalg.norm(d))
    if span < 1.0:
        return preset("oblique", (x0, x1, y0, y1, ground_z, ground_z), ground_z, aspect=aspect,
                      view_angle=view_angle)
    d /= span
    azimuth = float(np.degrees(np.arctan2(-d[0], -d[1]))) + turn
    back = -np.array([np.sin(np.radians(azimuth)), np.cos(np.radians(azimuth))])
    size = float(np.hypot(x1 - x0, y1 - y0))
    focal = np.array([cx, cy, ground_z]) + np.r_[back, 0.0] * size * lead
    half = np.tan(np.radians(view_angle) / 2.0)
    dist = size / 2.0 / half * distance
    return CameraPose(tuple(focal + _towards(azimuth, elevation) * dist), tuple(focal), (0, 0, 1), view_angle)
