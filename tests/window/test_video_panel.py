"""Ground video linkage as a user meets it: select a spot, see the cameras on it, play a recording on the clock."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.qt


@pytest.fixture
def panel(window):
    p = window.panels["video"]
    yield p
    p.list.setCurrentItem(None)
    window.view_model.select(None)
    window.view_model.highlight("cameras seeing", None)
    window.view_model.video.cones = False


def _spot_ahead_of(cams, k: int, metres: float = 40.0):
    cam = cams.iloc[k]
    h = np.radians(float(cam["heading"]))
    return cam.geometry.x + metres * np.sin(h), cam.geometry.y + metres * np.cos(h)


def test_selecting_a_building_lists_and_highlights_the_cameras_that_see_it(window, panel, demo_twin):
    from simulation.sensors.video import cameras_seeing

    cams, buildings = demo_twin["cameras"], demo_twin["buildings"]
    # the building nearest to the spot 40 m ahead of the first camera
    x, y = _spot_ahead_of(cams, 0)
    d = buildings.geometry.distance(__import__("shapely").Point(x, y))
    b = buildings.iloc[int(d.argmin())]
    window.view_model.select("buildings", b["id"])
    p = b.geometry.representative_point()
    expected = [s.camera for s in cameras_seeing(cams, p.x, p.y)]
    shown = [panel.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.list.count())]
    assert shown == expected and len(expected) >= 1
    assert panel.spot.text() == f"{len(expected)} camera(s) see buildings {b['id']}"
    assert window.scene.highlighted["cameras seeing"] == ("cameras", len(expected))


def test_view_cones_are_drawn_and_removed_from_the_check_box(window, panel, qtbot):
    from PyQt6.QtCore import QPoint

    box = panel.cones
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert window.view_model.video.cones is True
    actor = window.scene.plotter.actors.get("__camera_cones__")
    assert actor is not None and actor.GetMapper().GetInput().GetNumberOfCells() == len(window.twin["cameras"])
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert "__camera_cones__" not in window.scene.plotter.actors


def test_a_recording_follows_the_clock(window, panel, qtbot, tmp_path, demo_twin):
    import imageio.v2 as imageio

    movie = tmp_path / "crossing.mp4"
    with imageio.get_writer(movie, fps=10, codec="libx264", macro_block_size=1) as out:
        for k in range(100):   # 10 s
            frame = np.zeros((64, 96, 3), np.uint8)
            frame[:, : k % 96] = 200
            out.append_data(frame)
    cams = window.twin.layers["cameras"]
    saved = cams.copy()
    try:
        cams = cams.copy()
        cams["video"] = None
        cams["video_start"] = None
        cams.loc[cams.index[0], "video"] = str(movie)
        cams.loc[cams.index[0], "video_start"] = "2026-06-01T07:30:00Z"
        window.twin.layers["cameras"] = cams
        clock = window.view_model.clock
        t0 = 1780299000.0
        with clock.events.blocked():
            clock.start, clock.end = t0 - 60, t0 + 600
        clock.time = t0 + 4.0
        panel.look_at(*_spot_ahead_of(cams, 0), "the crossing")
        item = next(panel.list.item(i) for i in range(panel.list.count())
                    if panel.list.item(i).data(Qt.ItemDataRole.UserRole) == str(cams.iloc[0]["id"]))
        assert item.text().endswith("▶ recording")
        panel.list.setCurrentItem(item)
        qtbot.waitUntil(lambda: panel.player.duration() > 0, timeout=10_000)
        clock.time = t0 + 6.5
        qtbot.waitUntil(lambda: abs(panel.player.position() - 6500) < 200, timeout=10_000)
        assert panel.status.text() == f"camera {cams.iloc[0]['id']}: 6.5 s into the recording"
        clock.time = t0 + 30.0     # after the 10 s recording
        assert panel.status.text() == f"camera {cams.iloc[0]['id']}: no recording at this clock time"
    finally:
        window.twin.layers["cameras"] = saved
        with window.view_model.clock.events.blocked():
            window.view_model.clock.start = window.view_model.clock.end = window.view_model.clock.time = 0.0
