"""Which cameras see a spot, and where a recorded video is at a clock time."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from simulation.sensors.video import cameras_seeing, video_offset_s, view_cones


@pytest.fixture
def cams():
    # C1 looks north from the origin, C2 looks east from (200, 0), C3 looks south from (0, 100) with a narrow view
    return gpd.GeoDataFrame({"id": ["C1", "C2", "C3"], "heading": [0.0, 90.0, 180.0], "fov_deg": [60.0, 60.0, 10.0],
                             "range_m": [120.0, 120.0, 300.0]},
                            geometry=[Point(0, 0), Point(200, 0), Point(0, 100)])


def test_a_spot_ahead_within_range_is_seen_and_one_behind_is_not(cams):
    assert [s.camera for s in cameras_seeing(cams, 0, 50)] == ["C1", "C3"]   # both 50 m away: layer order
    seen = cameras_seeing(cams, 10, 100)            # 100.5 m from C1 at 5.7 deg: inside its 30 deg half-view
    assert [s.camera for s in seen] == ["C1"]
    assert seen[0].distance_m == pytest.approx(100.4988, abs=1e-3)
    assert seen[0].bearing_deg == pytest.approx(5.7106, abs=1e-3)
    # behind C1; straight south of C3 (looking south, +/-5 deg) 150 m away, within its 300 m
    assert [s.camera for s in cameras_seeing(cams, 0, -50)] == ["C3"]
    assert cameras_seeing(cams, 5, -400) == []      # beyond every camera's range


def test_the_edges_of_the_wedge_and_the_range(cams):
    # 31 deg off C1's heading: outside; 29 deg: inside
    import math

    r = 100.0
    inside = (r * math.sin(math.radians(29)), r * math.cos(math.radians(29)))
    outside = (r * math.sin(math.radians(31)), r * math.cos(math.radians(31)))
    assert "C1" in [s.camera for s in cameras_seeing(cams, *inside)]
    assert "C1" not in [s.camera for s in cameras_seeing(cams, *outside)]
    assert "C1" not in [s.camera for s in cameras_seeing(cams, 0, 121)]
    assert "C2" in [s.camera for s in cameras_seeing(cams, 310, 0)]


def test_view_cones_are_wedges_of_the_cameras_range(cams):
    cones = view_cones(cams)
    import math

    assert cones[0].area == pytest.approx(math.pi * 120 ** 2 * 60 / 360, rel=0.02)
    assert cones[0].contains(Point(0, 60)) and not cones[0].contains(Point(0, -60))


def test_video_offsets_follow_the_clock_and_stop_outside_the_recording():
    start = "2026-06-01T07:30:00Z"
    t0 = 1780299000.0   # 2026-06-01T07:30:00Z
    assert video_offset_s(start, t0 + 90) == 90.0
    assert video_offset_s(start, t0 - 1) is None
    assert video_offset_s(start, t0 + 700, duration_s=600) is None
    assert video_offset_s(None, t0) is None
    with pytest.raises(ValueError, match="video_start 'yesterday': not an ISO 8601 time"):
        video_offset_s("yesterday", t0)
