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


@pytest.mark.qt
def test_views_and_result_series_on_a_bound_scene_go_through_the_model(town):
    """What the render command and movies do to a scene, the model hears: a window's panels would follow."""
    import pandas as pd

    from app.scene.scene import Scene
    from app.scene.timeline import ResultSeries

    scene = Scene(town, window_size=(320, 240))
    model = ViewModel.for_twin(town)
    scene.bind(model)
    heard = []
    model.layer("buildings").events.opacity.connect(heard.append)
    scene.view("underground")
    assert model.layer("buildings").opacity == pytest.approx(0.25) and heard == [0.25]
    assert model.layer("drone_tracks").visible is False   # the underground view hides the airspace
    ids = town["water_junctions"]["id"].astype(str).tolist()
    series = ResultSeries("water_junctions", "pressure",
                          pd.DataFrame([[10.0] * len(ids), [30.0] * len(ids)], index=[0.0, 3600.0], columns=ids), "m")
    values = []
    model.values_changed.connect(lambda layer, result, v: values.append((layer, result, float(v.iloc[0]))))
    series.attach(scene)
    series.show(scene, 1)
    assert values == [("water_junctions", "pressure", 10.0), ("water_junctions", "pressure", 30.0)]
    assert model.layer("water_junctions").colour_by == "pressure" and model.units[("water_junctions", "pressure")] == "m"
    sl = scene.layers["water_junctions"]
    assert sl.colour_by == "pressure" and sl.unit == "m"
    assert float(sl.mesh.cell_data["pressure"][0]) == 30.0
    with pytest.raises(KeyError, match="no column or result 'colour'"):
        scene.color_by("buildings", "colour")
    assert model.layer("buildings").colour_by != "colour"
    scene.plotter.close()


@pytest.mark.qt
def test_two_coloured_layers_get_their_colour_bars_one_above_the_other(town):
    from app.scene.scene import Scene

    scene = Scene(town, window_size=(320, 240))
    scene.color_by("water_pipes", "diameter")
    scene.color_by("water_junctions", "elevation")
    bars = scene.plotter.scalar_bars
    ys = sorted(round(bar.GetPositionCoordinate().GetValue()[1], 3) for bar in bars.values())
    assert len(bars) == 2 and ys == [0.02, 0.14]
    scene.color_by("water_pipes", None)        # the bottom place is free again for the next one
    assert len(scene.plotter.scalar_bars) == 1
    scene.color_by("water_pipes", "length")
    ys = sorted(round(bar.GetPositionCoordinate().GetValue()[1], 3) for bar in scene.plotter.scalar_bars.values())
    assert ys == [0.02, 0.14]
    scene.plotter.close()
