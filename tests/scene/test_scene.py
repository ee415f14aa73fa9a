"""The 3D scene on a real twin (ky10 town): layers, placement, picking, results, warnings."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import numpy as np
import pytest
import pyvista as pv
from shapely.geometry import Polygon, box

from app.scene import Scene, SceneWarning
from app.scene.palette import RISK_COLOURS

SIZE = (640, 400)


@pytest.fixture(scope="module")
def scene(town):
    s = Scene(town, window_size=SIZE)
    yield s
    s.close()


def mesh_actors(scene):
    return [a for a in scene.plotter.renderer.actors.values() if isinstance(a, pv.Actor)]


def test_every_non_empty_layer_is_one_actor(scene, town):
    drawn = set(scene.layers)
    expected = {n for n in town.layers if len(town[n])} | {"terrain"}
    assert drawn == expected
    assert len(mesh_actors(scene)) == len(scene.layers)
    for sl in scene.layers.values():
        assert sl.actor is scene.plotter.renderer.actors[sl.name]
        # the rendered mesh is the scene's own (results written into it reach the screen)
        assert sl.actor.mapper.dataset is sl.mesh, sl.name


def test_feature_index_covers_every_pipe(scene, town):
    sl = scene.layers["water_pipes"]
    drawn = set(sl.ids[np.unique(sl.feature_index)])
    assert drawn == set(town["water_pipes"]["id"])
    assert len(sl.ids) == len(town["water_pipes"])


def test_pipes_lie_below_the_ground_and_buildings_stand_on_it(scene, town):
    f = scene.frame
    for name in ("water_pipes", "gas_mains", "sewers"):
        pts = np.asarray(scene.layers[name].mesh.points)
        ground = f.ground_z(pts[:, 0] + f.origin[0], pts[:, 1] + f.origin[1])
        assert (pts[:, 2] < ground).all(), name
    # gas (0.9 m cover) is drawn above water (1.2 m) above sewers (about 3 m)
    mean_depth = {}
    for name in ("water_pipes", "gas_mains", "sewers"):
        pts = np.asarray(scene.layers[name].mesh.points)
        mean_depth[name] = float(np.mean(f.ground_z(pts[:, 0] + f.origin[0], pts[:, 1] + f.origin[1]) - pts[:, 2]))
    assert mean_depth["gas_mains"] < mean_depth["water_pipes"] < mean_depth["sewers"]
    b = town["buildings"].iloc[7]
    sl = scene.layers["buildings"]
    cells = np.flatnonzero(sl.feature_index == 7)
    top = sl.mesh.extract_cells(cells).bounds[5]
    c = b.geometry.centroid
    assert top == pytest.approx(float(f.ground_z(c.x, c.y)) + b["height"], abs=0.05)


def test_airspace_zone_spans_floor_to_ceiling(scene, town):
    zone = town["airspace_zones"].iloc[0]
    b = scene.layers["airspace_zones"].mesh.bounds
    assert b[5] - b[4] == pytest.approx(zone["ceiling_m"] - zone["floor_m"], rel=1e-6)


def test_pick_maps_a_pixel_back_to_the_building_and_its_attributes(town):
    s = Scene(town, window_size=SIZE)
    try:
        s.camera("oblique")
        s.render()
        b = town["buildings"]
        # a building with no neighbour within 60 m, so no other roof can be in front of it
        gaps = [b.geometry.drop(index=i).distance(g).min() for i, g in enumerate(b.geometry)]
        target = b.iloc[int(np.argmax(gaps))]
        assert max(gaps) > 60
        c = target.geometry.centroid
        roof = float(s.frame.ground(c.x, c.y)) + target["height"]
        x, y = s.display_position((c.x, c.y, roof))
        hit = s.pick(x, y)
        assert hit is not None
        assert (hit.layer, hit.feature_id) == ("buildings", target["id"])
        assert hit.attributes["height"] == pytest.approx(target["height"])
        assert hit.attributes["use"] == target["use"]
        assert hit.position[0] == pytest.approx(c.x, abs=40) and hit.position[1] == pytest.approx(c.y, abs=40)
    finally:
        s.close()


def test_pick_finds_a_buried_pipe_through_the_terrain(town):
    s = Scene(town, layers=["terrain", "water_pipes"], window_size=SIZE)
    try:
        s.camera("top")
        s.render()
        pipes = town["water_pipes"]
        longest = pipes.iloc[int(pipes.geometry.length.argmax())]
        mid = longest.geometry.interpolate(0.5, normalized=True)
        pts = np.asarray(s.layers["water_pipes"].mesh.points)
        sx, sy = s.frame.xy(mid.x, mid.y)
        z_scene = pts[np.argmin(np.hypot(pts[:, 0] - sx, pts[:, 1] - sy)), 2]
        hit = s.pick(*s.display_position((mid.x, mid.y, z_scene / s.frame.vertical + s.frame.z_ref)))
        assert hit is not None and hit.layer == "water_pipes"
        assert hit.feature_id == longest["id"]
        assert hit.attributes["diameter"] == pytest.approx(longest["diameter"])
        assert s.feature_at("water_pipes", 0) in set(pipes["id"])
        with pytest.raises(KeyError, match="has no cell"):
            s.feature_at("water_pipes", 10**9)
    finally:
        s.close()


def test_result_update_recolours_in_place_without_new_actors(town):
    s = Scene(town, layers=["water_pipes"], window_size=SIZE, underground_scale=150.0)
    try:
        s.legend(False)
        s.camera("top")
        ids = town["water_pipes"]["id"]
        s.set_result("water_pipes", "pressure", np.full(len(ids), 10.0))
        s.color_by("water_pipes", "pressure", clim=(0.0, 100.0))
        mesh_before = s.layers["water_pipes"].mesh
        actors_before = s.actor_count
        low = s.screenshot().astype(int)
        import pandas as pd
        s.set_result("water_pipes", "pressure", pd.Series(90.0, index=ids))
        high = s.screenshot().astype(int)
        assert s.actor_count == actors_before
        assert s.layers["water_pipes"].mesh is mesh_before
        assert np.all(np.asarray(mesh_before.cell_data["pressure"]) == 90.0)
        changed = np.abs(high - low).sum(axis=2) > 30
        assert changed.sum() > 200  # the pipes' pixels changed colour
        with pytest.raises(ValueError, match="has 3 values; the layer has"):
            s.set_result("water_pipes", "pressure", [1.0, 2.0, 3.0])
    finally:
        s.close()


def test_risk_levels_are_always_the_four_warning_colours(town):
    s = Scene(town, layers=["buildings"], window_size=SIZE)
    try:
        s.color_by("buildings", "risk_level")
        sl = s.layers["buildings"]
        rgb = np.asarray(sl.mesh.cell_data["__rgb__"])
        risk = town["buildings"]["risk_level"].fillna("").to_numpy()[sl.feature_index]
        for level, colour in RISK_COLOURS.items():
            assert (rgb[risk == level] == pv.Color(colour).int_rgb).all(), level
        assert list(sl.categories)[:4] == ["red", "orange", "yellow", "blue"]
        s.color_by("buildings", "height", cmap="magma")
        assert sl.clim == (pytest.approx(town["buildings"]["height"].min()),
                           pytest.approx(town["buildings"]["height"].max()))
        with pytest.raises(KeyError, match="no column or result 'colour'.*height"):
            s.color_by("buildings", "colour")
    finally:
        s.close()


def test_visibility_opacity_and_unknown_layer(scene):
    scene.hide("roads")
    assert not scene.layers["roads"].actor.GetVisibility()
    scene.show("roads")
    assert scene.layers["roads"].actor.GetVisibility()
    scene.set_opacity("terrain", 0.3)
    assert scene.layers["terrain"].actor.GetProperty().GetOpacity() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        scene.set_opacity("terrain", 1.5)
    with pytest.raises(KeyError, match="not in the scene"):
        scene.show("cameras")


def test_camera_presets_and_bookmarks(scene):
    scene.camera("top")
    top = np.array(scene.plotter.camera.position)
    assert top[2] > np.array(scene.plotter.camera.focal_point)[2]
    mark = scene.bookmark("town hall")
    scene.camera("street")
    assert not np.allclose(scene.plotter.camera.position, top)
    scene.camera("town hall")
    assert np.allclose(scene.plotter.camera.position, top, atol=1e-3)
    assert set(mark) == {"position", "focal_point", "view_up", "view_angle"}
    with pytest.raises(ValueError, match="unknown camera 'side'.*bookmarks: town hall"):
        scene.camera("side")


def test_underground_window_cuts_the_terrain(town):
    s = Scene(town, layers=["terrain", "water_pipes"], window_size=SIZE)
    try:
        before = s.layers["terrain"].mesh.n_cells
        s.underground_window("auto")
        sl = s.layers["terrain"]
        elevation = np.asarray(sl.mesh.cell_data["elevation"])
        soil = np.isnan(elevation).sum()
        assert soil == 4 * 63 + 1  # four walls of 63 quads and the floor
        assert (~np.isnan(elevation)).sum() < before
        s.underground_window(None)
        assert s.layers["terrain"].mesh.n_cells == before
    finally:
        s.close()


def test_empty_layer_is_skipped_with_a_warning(town):
    from twin.model import Twin

    bare = Twin("bare", town.crs, terrain=town.terrain)
    bare.set_layer("water_pipes", town["water_pipes"].iloc[:5])
    with pytest.warns(SceneWarning, match="layer 'gas_mains' is empty"):
        s = Scene(bare, layers=["water_pipes", "gas_mains"], window_size=SIZE)
    assert list(s.layers) == ["water_pipes"]
    s.close()
    with pytest.raises(KeyError, match="unknown layer 'pipes'"):
        Scene(bare, layers=["pipes"], window_size=SIZE)


def test_invalid_geometry_is_skipped_with_a_warning(town):
    from twin.model import Twin

    t = Twin("broken", town.crs, terrain=town.terrain)
    x, y = town["water_junctions"].geometry.iloc[0].coords[0]
    bowtie = Polygon([(x, y), (x + 20, y + 20), (x + 20, y), (x, y + 20)])
    t.set_layer("buildings", gpd.GeoDataFrame(
        {"id": ["ok-1", "bowtie", "empty", "ok-2"], "height": [10.0, 8.0, 5.0, 12.0]},
        geometry=[box(x, y, x + 10, y + 10), bowtie, Polygon(), box(x + 30, y, x + 40, y + 12)],
        crs=town.crs))
    from shapely.geometry import LineString

    t.set_layer("water_pipes", gpd.GeoDataFrame(
        {"id": ["good", "zero-length"], "start_node": "a", "end_node": "b", "diameter": 0.2},
        geometry=[LineString([(x, y), (x + 50, y)]), LineString([(x, y), (x, y)])], crs=town.crs))
    with pytest.warns(SceneWarning) as record:
        s = Scene(t, window_size=SIZE)
    messages = [str(w.message) for w in record]
    assert any(re.search(r"'buildings': 2 feature\(s\) with empty or invalid geometry.*bowtie, empty", m)
               for m in messages), messages
    assert any("'water_pipes': 1 feature(s) with empty or invalid geometry not drawn (zero-length)" in m
               for m in messages), messages
    assert set(s.layers["water_pipes"].ids[np.unique(s.layers["water_pipes"].feature_index)]) == {"good"}
    sl = s.layers["buildings"]
    assert set(sl.ids[np.unique(sl.feature_index)]) == {"ok-1", "ok-2"}
    assert s.actor_count == len(mesh_actors(s)) + 1  # + the legend
    s.close()


def test_scene_never_imports_qt():
    import subprocess
    import sys

    code = ("import sys, app.scene, app.commands.render; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'PyQt5', 'PySide6', 'pyvistaqt', 'qtpy')]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_scene_draws_on_the_plotter_it_is_given(town):
    plotter = pv.Plotter(off_screen=True, window_size=list(SIZE))
    s = Scene(town, plotter=plotter, layers=["water_pipes", "buildings"])
    try:
        assert s.plotter is plotter
        assert set(plotter.renderer.actors) >= {"water_pipes", "buildings"}
    finally:
        s.close()


def test_hydraulic_series_on_pipes_is_the_mean_of_end_pressures(town):
    from app.scene.timeline import hydraulic_series

    junctions = hydraulic_series(town, "water_junctions", "pressure")
    pipes = hydraulic_series(town, "water_pipes", "pressure")
    cols = set(junctions.values.columns)
    frame = town["water_pipes"]
    p = frame[frame["start_node"].isin(cols) & frame["end_node"].isin(cols)].iloc[0]
    expected = (junctions.values[p["start_node"]].iloc[0] + junctions.values[p["end_node"]].iloc[0]) / 2
    assert pipes.values[p["id"]].iloc[0] == pytest.approx(expected)
    assert pipes.unit == "m" and junctions.steps == pipes.steps
    with pytest.raises(KeyError, match="no time series water_pipes:colour"):
        hydraulic_series(town, "water_pipes", "colour")


def test_drone_tracks_are_polylines_carrying_their_timestamps(scene, town):
    sl = scene.layers["drone_tracks"]
    tracks = town["drone_tracks"]
    assert sl.mesh.n_cells == len(tracks) - tracks["track_id"].nunique()  # one segment per consecutive pair
    times = np.asarray(sl.mesh.cell_data["time"])
    expected = (tracks["time"].iloc[sl.feature_index] - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    assert np.allclose(times, expected.to_numpy())
    assert (np.diff(times) > 0).all()  # in flight order


def test_an_empty_twin_gives_an_empty_scene_not_a_crash(town):
    from twin.model import Twin

    s = Scene(Twin("empty", town.crs), window_size=SIZE)
    try:
        assert s.layers == {}
        for preset in ("top", "oblique", "street", "underground"):
            s.camera(preset)
        assert s.screenshot().shape == (SIZE[1], SIZE[0], 3)
        assert s.pick(10, 10) is None
    finally:
        s.close()


# ---------------------------------------------------------------------- readable outputs (issue 10, item 9)
def _legend_labels(s) -> list[str]:
    legend = s.plotter.legend
    return [legend.GetEntryString(i) for i in range(legend.GetNumberOfEntries())] if legend else []


def test_risk_colouring_has_its_colour_key_in_the_legend(town):
    from app.scene import Scene

    s = Scene(town, window_size=(320, 240))
    try:
        s.color_by("buildings", "risk_level")
        labels = _legend_labels(s)
        assert "RISK LEVEL (LEC)" in labels
        bands = town.lec_bands
        key = [lab for lab in labels if lab.split(":")[0] in ("red", "orange", "yellow", "blue")]
        assert [k.split(":")[0] for k in key] == ["red", "orange", "yellow", "blue"]
        assert f"red: D > {bands['red']:g}" in labels
        s.color_by("buildings", None)
        if "sites" in s.layers:
            s.color_by("sites", None)
        assert "RISK LEVEL (LEC)" not in _legend_labels(s)  # no risk colours shown, no key
    finally:
        s.close()


def test_numeric_colouring_has_a_colour_bar_with_the_unit(town):
    from app.scene import Scene

    s = Scene(town, window_size=(320, 240))
    try:
        s.color_by("buildings", "height")
        assert "buildings: height (m)" in s.plotter.scalar_bars
        s.set_result("water_junctions", "pressure", np.linspace(0, 50, len(s.layers["water_junctions"].ids)))
        s.color_by("water_junctions", "pressure", unit="m")
        assert "junctions: pressure (m)" in s.plotter.scalar_bars
    finally:
        s.close()


def test_series_frames_change_colour_and_say_the_clock_time_and_unit(town):
    from app.scene import Scene
    from app.scene.timeline import hydraulic_series

    series = hydraulic_series(town, "water_junctions", "pressure")
    assert series.label(0) == "pressure (m) at 00:00"
    lo, hi = series.clim
    assert lo >= 0.0 < hi  # negative pressure is "dry": the range is the pressures a planner reads
    s = Scene(town, window_size=(320, 240))
    try:
        s.view("overview")
        s.hide("water_junctions")
        series.attach(s)
        assert s.layers["water_junctions"].visible  # the series' layer is shown even where a view hid it
        assert "junctions: pressure (m)" in s.plotter.scalar_bars
        # the colours follow the values: the frames with the most different values differ in colour
        data = series.values.to_numpy(float)
        a, b = int(np.nanargmin(data.mean(axis=1))), int(np.nanargmax(data.mean(axis=1)))
        mesh = s.layers["water_junctions"].mesh
        series.show(s, a)
        first = np.array(mesh.cell_data["pressure"])
        series.show(s, b)
        assert not np.allclose(first, np.array(mesh.cell_data["pressure"]))
    finally:
        s.close()


def test_a_screenshot_to_a_path_is_a_marked_png_and_never_over_someone_elses(scene, tmp_path):
    from PIL import Image

    from twin import atomic

    path = tmp_path / "frame.png"
    image = scene.screenshot(path)
    with Image.open(path) as im:
        assert im.size == (image.shape[1], image.shape[0])
        assert np.array_equal(np.asarray(im.convert("RGB")), image[..., :3])
    assert atomic.png_is_ours(path)
    theirs = tmp_path / "theirs.png"
    Image.new("RGB", (4, 4), "green").save(theirs)
    with pytest.raises(atomic.OutputRefused, match="a PNG picture this program did not write"):
        scene.screenshot(theirs)
