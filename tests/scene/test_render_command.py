"""``lifeline-twin render``: pictures and movies of a project with no display, and its errors."""

from __future__ import annotations

import imageio.v2 as imageio
import pytest

from app.cli import main


@pytest.fixture(scope="module")
def project(town, tmp_path_factory):
    from twin.project import save

    return save(town, tmp_path_factory.mktemp("render") / "town.gpkg")


def test_render_writes_a_png_of_the_requested_size(project, tmp_path, capsys):
    out = tmp_path / "view.png"
    assert main(["render", str(project), "--out", str(out), "--size", "401x300",
                 "--color-by", "buildings:risk_level", "--camera", "top"]) == 0
    image = imageio.imread(out)
    assert image.shape == (300, 400, 3)  # widths are made even for video encoders
    assert image.std() > 10  # not a blank frame
    assert "wrote" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*rendering*"))  # the temporary file was renamed over


def test_render_only_the_layers_asked_for(project, tmp_path, capsys):
    out = tmp_path / "pipes.png"
    assert main(["render", str(project), "--out", str(out), "--size", "320x200",
                 "--layers", "terrain,water_pipes,gas_mains,cameras"]) == 0
    err = capsys.readouterr().err
    assert "layer 'cameras' is empty" in err


@pytest.mark.parametrize("args, message", [
    (["--size", "big"], "--size 'big': expected WIDTHxHEIGHT"),
    (["--layers", "pipes"], "unknown layer 'pipes'"),
    (["--color-by", "buildings"], "expected LAYER:FIELD"),
    (["--color-by", "buildings:colour"], "layer 'buildings' has no column or result 'colour'"),
    (["--camera", "side"], "unknown camera 'side'"),
    (["--time", "25h"], "--time '25h': expected HH:MM"),
    (["--movie", "out.avi"], "--movie must end in .mp4"),
    (["--orbit"], "--orbit and --series describe a movie"),
])
def test_render_errors_are_one_line_and_exit_2(project, tmp_path, capsys, args, message):
    code = main(["render", str(project), "--out", str(tmp_path / "x.png"), "--size", "160x120", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert message in err[-1] and err[-1].startswith("lifeline-twin render: error:")


def test_missing_project_is_named(tmp_path, capsys):
    assert main(["render", str(tmp_path / "nowhere.gpkg"), "--out", str(tmp_path / "x.png")]) == 2
    assert "nowhere.gpkg" in capsys.readouterr().err


def test_orbit_movie_has_the_frames_asked_for(project, tmp_path):
    movie = tmp_path / "orbit.mp4"
    assert main(["render", str(project), "--out", str(tmp_path / "o.png"), "--size", "320x240",
                 "--movie", str(movie), "--orbit", "--frames", "4"]) == 0
    reader = imageio.get_reader(movie)
    frames = [f for f in reader]
    assert len(frames) == 4 and frames[0].shape == (240, 320, 3)
    assert (frames[0] != frames[2]).any()  # the camera moved


def test_series_movie_plays_the_hydraulic_steps(project, town, tmp_path):
    from app.scene.timeline import hydraulic_series

    series = hydraulic_series(town, "water_junctions", "pressure")
    assert list(series.values.columns) == town.network.model.junction_name_list
    movie = tmp_path / "pressure.gif"
    assert main(["render", str(project), "--out", str(tmp_path / "p.png"), "--size", "320x240",
                 "--movie", str(movie), "--series", "water_junctions:pressure"]) == 0
    frames = list(imageio.get_reader(movie))
    assert len(frames) == series.steps
    # the series shows: frames at different times differ (colours and the clock text)
    assert any((frames[0] != f).any() for f in frames[1:])


def test_start_step_writes_overview_and_underground(town, tmp_path):
    from app.commands.render import render_demo_views
    from app.commands.start import STEPS

    assert "app.commands.render:render_demo_views" in [step for _, step in STEPS]
    paths = render_demo_views(town, tmp_path / "town.gpkg", tmp_path)
    assert [p.name for p in paths] == ["scene-overview.png", "scene-underground.png"]
    a, b = (imageio.imread(p) for p in paths)
    assert a.shape == b.shape and (a != b).any()
