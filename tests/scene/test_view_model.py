"""The evented view model: the scene draws what the model says; the model refuses what cannot be shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.view_model import ViewModel


def test_changes_are_events_and_bad_values_are_refused():
    model = ViewModel(["roads", "buildings"])
    seen = []
    model.layer("roads").events.opacity.connect(seen.append)
    model.layer("roads").opacity = 0.25
    assert seen == [0.25]
    with pytest.raises(ValidationError):
        model.layer("roads").opacity = 1.5
    with pytest.raises(ValidationError):
        model.clock.time = float("nan")
    with pytest.raises(ValidationError):
        model.layer("roads").clim = (5.0, 1.0)
    with pytest.raises(KeyError, match="no layer 'nope' in the view"):
        model.layer("nope")
    picked = []
    model.selection.events.feature_ids.connect(picked.append)
    model.select("buildings", "B1", "B2")
    assert picked == [("B1", "B2")] and model.selection.layer == "buildings"


@pytest.mark.qt
def test_the_scene_follows_the_model(town):
    from app.scene.scene import Scene

    scene = Scene(town, window_size=(320, 240))
    model = ViewModel.for_twin(town)
    scene.bind(model)
    assert set(model.layers) >= set(scene.layers)
    model.layer("water_pipes").visible = False
    assert scene.layers["water_pipes"].visible is False and not scene.layers["water_pipes"].actor.GetVisibility()
    model.layer("water_pipes").opacity = 0.4
    assert scene.layers["water_pipes"].actor.GetProperty().GetOpacity() == pytest.approx(0.4)
    model.layer("water_pipes").colour_by = "diameter"
    assert scene.layers["water_pipes"].colour_by == "diameter"
    before = scene.plotter.camera_position
    model.camera.preset = "top"
    assert scene.plotter.camera_position != before
    scene.plotter.close()
