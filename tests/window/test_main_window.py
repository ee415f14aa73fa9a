"""The main window as a user meets it: the demo city drawn, layers toggled, a feature picked, a screenshot."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt

pytestmark = pytest.mark.qt


def test_the_demo_city_is_drawn_with_its_layers_by_domain(window, demo_twin):
    tree = window.panels["layers"].tree
    domains = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert domains == ["Under the ground", "On the ground", "Low-altitude airspace"]
    items = window.panels["layers"].items
    assert set(items) == set(window.scene.layers)
    assert items["buildings"].text(1) == str(len(demo_twin["buildings"]))
    assert window.windowTitle().startswith("Lifeline demo town (seed 7)")


def _buildings_drawn(scene) -> bool:
    """The buildings are drawn: themselves, or merged into blocks when the camera is far (app/scene/lod.py)."""
    far = scene.plotter.actors.get(scene.FAR_ACTOR)
    return bool(scene.layers["buildings"].actor.GetVisibility() or (far is not None and far.GetVisibility()))


def test_unticking_a_layer_hides_it_in_the_3d_view_and_ticking_shows_it(window, qtbot):
    item = window.panels["layers"].items["buildings"]
    item.setCheckState(0, Qt.CheckState.Unchecked)
    assert window.view_model.layer("buildings").visible is False
    assert not _buildings_drawn(window.scene)
    item.setCheckState(0, Qt.CheckState.Checked)
    assert _buildings_drawn(window.scene)
    # the model changed elsewhere: the tick follows
    window.view_model.layer("roads").visible = False
    assert window.panels["layers"].items["roads"].checkState(0) == Qt.CheckState.Unchecked
    window.view_model.layer("roads").visible = True


def test_clicking_a_building_selects_and_highlights_it(window, qtbot, demo_twin):
    scene = window.scene
    window.set_camera("oblique")
    b = demo_twin["buildings"]
    # a building with no neighbour within 60 m, so no other roof can be in front of it
    (_, _), gaps = b.sindex.nearest(b.geometry, return_distance=True, exclusive=True)
    target = b.iloc[int(np.argmax(gaps))]
    assert gaps.max() > 60
    c = target.geometry.centroid
    roof = float(scene.frame.ground(c.x, c.y)) + target["height"]
    x, y = scene.display_position((c.x, c.y, roof))
    hit = window.pick_at(x, y)
    assert hit is not None and (hit.layer, hit.feature_id) == ("buildings", target["id"])
    assert window.view_model.selection.layer == "buildings"
    assert window.view_model.selection.feature_ids == (target["id"],)
    assert scene.highlighted["selection"] == ("buildings", 1)
    window.view_model.select(None)
    assert "selection" not in scene.highlighted


def test_the_window_screenshot_is_a_png_of_the_whole_window(window, tmp_path):
    from PIL import Image

    path = window.save_screenshot(tmp_path / "window.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[1] >= window.width() - 2 and image.shape[0] >= window.height() - 2
    # the 3D view is drawn, not black: many colours in the middle of the picture
    h, w = image.shape[:2]
    middle = image[h // 4: 3 * h // 4, w // 3: 2 * w // 3].reshape(-1, 3)
    assert len(np.unique(middle, axis=0)) > 200


def test_a_screenshot_is_never_written_over_a_file_that_is_not_a_picture(window, tmp_path):
    from twin.atomic import OutputRefused

    notes = tmp_path / "notes.png"
    notes.write_text("my notes")
    with pytest.raises(OutputRefused, match="notes.png: exists and is a text"):
        window.save_screenshot(notes)
    assert notes.read_text() == "my notes"


def test_underground_mode_fades_the_ground_cuts_a_window_and_gives_the_opacities_back(window, qtbot):
    tree = window.panels["layers"]
    model, scene = window.view_model, window.scene
    before = {n: model.layer(n).opacity for n in ("terrain", "buildings", "roads")}
    box = tree.underground
    on_the_box = QPoint(8, box.height() // 2)   # the tick box itself, at the left of the row
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=on_the_box)
    assert model.ground.underground is True
    assert model.layer("terrain").opacity == pytest.approx(min(before["terrain"], 0.25))
    assert scene.layers["buildings"].opacity == pytest.approx(min(before["buildings"], 0.2))
    assert scene.window is not None          # the ground has a window cut into it
    tree.select_layer("terrain")
    assert tree.opacity.value() == round(model.layer("terrain").opacity * 100)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=on_the_box)
    assert model.ground.underground is False and scene.window is None
    assert {n: model.layer(n).opacity for n in before} == before


def test_camera_buttons_and_a_bookmark_kept_in_the_project(window, qtbot):
    window.panels["layers"].camera_buttons["top"].click()
    top = window.scene.pose()
    assert window.view_model.camera.preset == "top"
    window.panels["layers"].camera_buttons["oblique"].click()
    oblique = window.scene.pose()
    assert oblique.position != top.position
    window.add_bookmark("over the works")
    assert window.twin.metadata["camera_bookmarks"]["over the works"]["position"] == pytest.approx(
        list(oblique.position))
    assert window.modified is True
    assert [a.text() for a in window.bookmark_menu.actions()] == ["over the works"]
    window.panels["layers"].camera_buttons["top"].click()
    window.bookmark_menu.actions()[0].trigger()
    assert window.scene.pose().position == pytest.approx(oblique.position)
    del window.twin.metadata["camera_bookmarks"]["over the works"]
    window.scene.bookmarks.pop("over the works")
    window.mark_modified(False)


def test_vertical_exaggeration_redraws_the_scene_keeping_what_the_model_holds(window, qtbot):
    model = window.view_model
    model.layer("roads").visible = False
    old = window.scene
    window.panels["layers"].exaggeration.setValue(3.0)
    assert window.scene is not old and window.scene.frame.vertical == 3.0
    assert window.scene.layers["roads"].actor.GetVisibility() == 0
    assert window.scene.actor_count == old.actor_count
    window.panels["layers"].exaggeration.setValue(1.0)
    model.layer("roads").visible = True
    assert window.scene.frame.vertical == 1.0 and window.scene.layers["roads"].actor.GetVisibility() == 1


def test_preferences_are_kept_in_the_settings_and_applied(window, qtbot):
    from PyQt6.QtWidgets import QDialogButtonBox

    from app.window.preferences import Preferences, PreferencesDialog

    before = Preferences.read(window.settings)
    dialog = PreferencesDialog(window)
    qtbot.addWidget(dialog)
    dialog.legend.setChecked(True)
    dialog.speed.setCurrentIndex(dialog.speed.findData(600.0))
    dialog.recent.setValue(3)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    try:
        assert Preferences.read(window.settings) == Preferences(legend=True, speed=600.0, recent=3)
        assert window.scene._legend is True and window.scene.plotter.legend is not None
        window.settings.setValue("prefs/speed", "fast")          # a damaged value falls back to the default
        assert Preferences.read(window.settings).speed == 60.0
    finally:
        before.write(window.settings)
        window.apply_preferences()
    assert window.scene.plotter.legend is None


def test_zoomed_out_the_buildings_are_drawn_as_blocks_and_come_back_near(window, qtbot):
    scene = window.scene
    assert scene.far_buildings                           # the window's look (Preferences: on by default)
    pose = scene.pose()
    sl = scene.layers["buildings"]
    try:
        scene.plotter.camera.zoom(0.05)                  # the whole town and more: buildings a pixel wide
        window.interactor.render()
        qtbot.waitUntil(lambda: scene.buildings_far, timeout=5000)
        far_actor = scene.plotter.actors[scene.FAR_ACTOR]
        assert far_actor.GetVisibility() and not sl.actor.GetVisibility()
        assert 0 < scene._far.blocks < len(window.twin["buildings"]) / 4
        scene.plotter.camera.zoom(40)                    # closer than the window's first view
        window.interactor.render()
        qtbot.waitUntil(lambda: not scene.buildings_far, timeout=5000)
        assert sl.actor.GetVisibility() and not far_actor.GetVisibility()
    finally:
        scene.go_to_pose(pose)
        window.interactor.render()
