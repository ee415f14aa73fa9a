"""Ground video linkage: which cameras see a spot, their view cones, and where a recorded video is at a clock time.

A camera of the twin's ``cameras`` layer looks along ``heading`` (degrees
clockwise from north) with a horizontal field of view ``fov_deg`` (default
60°, a typical fixed street camera) out to ``range_m`` (default 120 m: the
distance at which such a camera still makes out a person or a vehicle).  It
*sees* a point inside that wedge.  Walls are not modelled: a camera may be
listed for a spot a building hides (said in the panel).  A camera with a
recorded ``video`` whose first frame is at ``video_start`` (UTC) shows clock
time t at ``t - video_start`` seconds into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import shapely

DEFAULT_FOV_DEG = 60.0
DEFAULT_RANGE_M = 120.0


@dataclass(frozen=True)
class Sighting:
    camera: str
    distance_m: float
    bearing_deg: float      # from the camera to the spot, clockwise from north


def _column(frame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), default)
    values = frame[name].astype(float).to_numpy()
    return np.where(np.isfinite(values), values, default)


def cameras_seeing(cameras, x: float, y: float) -> list[Sighting]:
    """The cameras whose view wedge holds the point (x, y) (twin CRS), nearest first."""
    if cameras is None or not len(cameras):
        return []
    cx, cy = shapely.get_x(cameras.geometry.values), shapely.get_y(cameras.geometry.values)
    dx, dy = x - cx, y - cy
    distance = np.hypot(dx, dy)
    bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
    heading = _column(cameras, "heading", 0.0)
    off = np.abs((bearing - heading + 180.0) % 360.0 - 180.0)
    fov = _column(cameras, "fov_deg", DEFAULT_FOV_DEG)
    reach = _column(cameras, "range_m", DEFAULT_RANGE_M)
    seen = (distance <= reach) & ((off <= fov / 2) | (distance < 1e-6))
    ids = cameras["id"].astype(str).to_numpy()
    order = np.argsort(distance[seen], kind="stable")
    return [Sighting(str(ids[seen][k]), float(distance[seen][k]), float(bearing[seen][k])) for k in order]


def view_cones(cameras, arc_points: int = 12) -> list:
    """Each camera's view wedge as a polygon (twin CRS), in the layer's row order."""
    cx, cy = shapely.get_x(cameras.geometry.values), shapely.get_y(cameras.geometry.values)
    heading = _column(cameras, "heading", 0.0)
    fov = _column(cameras, "fov_deg", DEFAULT_FOV_DEG)
    reach = _column(cameras, "range_m", DEFAULT_RANGE_M)
    cones = []
    for k in range(len(cameras)):
        angles = np.radians(np.linspace(heading[k] - fov[k] / 2, heading[k] + fov[k] / 2, arc_points))
        arc = np.column_stack([cx[k] + reach[k] * np.sin(angles), cy[k] + reach[k] * np.cos(angles)])
        cones.append(shapely.Polygon(np.vstack([[cx[k], cy[k]], arc, [[cx[k], cy[k]]]])))
    return cones


def video_start_s(value) -> float | None:
    """The UTC POSIX time of a camera's ``video_start`` (None when absent or empty)."""
    if value is None or (isinstance(value, float) and value != value) or not str(value).strip():
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"video_start {value!r}: not an ISO 8601 time (e.g. 2026-06-01T07:30:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def video_offset_s(video_start, clock_t: float, duration_s: float | None = None) -> float | None:
    """Seconds into the video that show clock time ``clock_t``; None outside the recording."""
    start = video_start_s(video_start)
    if start is None:
        return None
    offset = float(clock_t) - start
    if offset < 0 or (duration_s is not None and offset > duration_s):
        return None
    return offset
