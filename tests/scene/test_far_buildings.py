"""Buildings seen from far are drawn as merged blocks (the window's look), the buildings themselves near."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from app.scene import Scene
from app.scene.lod import BLOCK_SPACINGS, FAR_PIXELS, NEAR_PIXELS, far_buildings, looks_far, typical_width
from twin.crs import local_metric_crs
from twin.model import Twin

SPACING = 40.0


@pytest.fixture(scope="module")
def grid_town():
    """A 20 x 20 grid of 24 m square buildings, 40 m apart, 4 to 40 m tall, four uses."""
    crs = local_metric_crs("grid town")
    ii, jj = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    x, y = ii.ravel() * SPACING, jj.ravel() * SPACING
    rng = np.random.default_rng(3)
    buildings = gpd.GeoDataFrame({
        "id": [f"B{k:03d}" for k in range(len(x))], "height": rng.uniform(4, 40, len(x)),
        "use": rng.choice(["residential", "commercial", "industrial", "public"], len(x))},
        geometry=shapely.box(x - 12, y - 12, x + 12, y + 12), crs=crs)
    twin = Twin("grid town", crs)
    twin.set_layer("buildings", buildings)
    return twin


def test_blocks_of_thirty_six_from_the_drawn_buildings(grid_town):
    scene = Scene(grid_town, window_size=(400, 300))
    sl = scene.layers["buildings"]
    far = far_buildings(grid_town["buildings"], sl.mesh, scene.frame.xy)
    # six spacings a block: 400 buildings (20 x 20) in 4 x 4 blocks of up to 6 x 6
    assert far.block_m == pytest.approx(BLOCK_SPACINGS * SPACING) == 240.0 and far.blocks == 16
    assert far.typical_m == pytest.approx(24.0) == typical_width(grid_town["buildings"])
    # one prism a block: 4 walls and a roof of 2 triangles
    assert far.mesh.n_cells == 16 * 6
    b = grid_town["buildings"]
    area_height = (b.geometry.area * b["height"]).to_numpy()
    # the first block (x, y < 240 m): the hull of its 36 buildings, roof at their area-weighted mean height
    first = (b.geometry.centroid.x < 240) & (b.geometry.centroid.y < 240)
    assert int(first.sum()) == 36
    roof = area_height[first].sum() / b.geometry.area[first].sum()
    block = far.mesh.extract_cells(np.flatnonzero(far.mesh.cell_data["block_index"] == 0))
    corner = scene.frame.xy(np.array([-12.0, 212.0]), np.array([-12.0, 212.0]))
    assert block.bounds[0:4] == pytest.approx([*corner[0], *corner[1]], abs=1e-6)
    assert block.bounds[5] - block.bounds[4] == pytest.approx(roof, rel=1e-6)
    # the block shows its largest building (all equal here: the first of them)
    assert far.representative[0] == int(np.flatnonzero(first)[0])
    scene.close()


def test_the_far_look_follows_the_camera_and_picks_the_real_building(grid_town):
    scene = Scene(grid_town, window_size=(400, 300), far_buildings=True)
    sl = scene.layers["buildings"]
    scene.plotter.view_xy()
    scene.plotter.camera.zoom(0.2)        # the whole town a speck: far
    scene.screenshot()
    assert scene.buildings_far
    far_actor = scene.plotter.actors[Scene.FAR_ACTOR]
    assert far_actor.GetVisibility() and not sl.actor.GetVisibility() and not far_actor.GetPickable()
    # a pick on the far look still names the building under the cursor
    b = grid_town["buildings"]
    target = b.iloc[210]
    x, y = scene.display_position((target.geometry.centroid.x, target.geometry.centroid.y, target["height"]))
    picked = scene.pick(x, y)
    assert picked is not None and picked.layer == "buildings" and picked.feature_id == "B210"
    assert far_actor.GetVisibility() and not sl.actor.GetVisibility()      # and the far look is back
    # closer than the band: the buildings themselves
    scene.plotter.camera.zoom(40)
    scene.screenshot()
    assert not scene.buildings_far and sl.actor.GetVisibility() and not far_actor.GetVisibility()
    # hiding the layer hides both looks
    scene.plotter.camera.zoom(1 / 40)
    scene.hide("buildings")
    scene.screenshot()
    assert not far_actor.GetVisibility() and not sl.actor.GetVisibility()
    scene.close()


def test_results_and_colours_reach_the_far_blocks(grid_town):
    scene = Scene(grid_town, window_size=(400, 300), far_buildings=True)
    scene.plotter.view_xy()
    scene.plotter.camera.zoom(0.2)
    scene.screenshot()
    far = scene._far
    values = np.arange(400, dtype=float)
    scene.set_result("buildings", "age_h", values)
    # each block carries its largest building's value
    assert np.array_equal(far.mesh.cell_data["age_h"], values[far.representative][far.mesh.cell_data["block_index"]])
    # coloured by use: each block in its representative's colour
    sl = scene.layers["buildings"]
    rgb = np.asarray(sl.mesh.cell_data["__rgb__"])
    got = np.asarray(far.mesh.cell_data["__rgb__"])
    want = rgb[far.cell_of_feature[far.representative]][far.mesh.cell_data["block_index"]]
    assert np.array_equal(got, want)
    scene.close()


def test_the_band_between_far_and_near(grid_town):
    class Camera:
        def __init__(self, distance):
            self.d = distance

        def GetParallelProjection(self):
            return False

        def GetDistance(self):
            return self.d

        def GetViewAngle(self):
            return 30.0

    # 24 m at the focal point on a 300-pixel-high view: FAR_PIXELS wide at this distance
    d = 24.0 * 300 / FAR_PIXELS / (2 * np.tan(np.radians(15.0)))
    assert looks_far(24.0, False, Camera(d * 1.01), 300) and not looks_far(24.0, False, Camera(d * 0.99), 300)
    # once far, it stays far until the building is NEAR_PIXELS wide
    between = d * (FAR_PIXELS / NEAR_PIXELS + 1.0) / 2.0
    assert looks_far(24.0, True, Camera(between), 300) and not looks_far(24.0, False, Camera(between), 300)
    assert not looks_far(24.0, True, Camera(d * FAR_PIXELS / NEAR_PIXELS * 0.99), 300)


def test_a_scene_without_the_far_look_has_no_far_actor(grid_town):
    scene = Scene(grid_town, window_size=(400, 300))
    scene.plotter.view_xy()
    scene.plotter.camera.zoom(0.2)
    scene.screenshot()
    assert Scene.FAR_ACTOR not in scene.plotter.actors and not scene.buildings_far
    scene.close()


def test_the_far_look_draws_a_coarser_ground_and_thin_pipes():
    """With the blocks: the ground's grid at most FAR_TERRAIN_CELLS, pipes one pixel wide; near again: as built."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_scene", Path(__file__).resolve().parents[2] / "bench" / "bench_scene.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    city = bench.city100k_twin(n_segments=20_000, n_buildings=3_000)  # the bench's city, smaller
    scene = Scene(city, window_size=(400, 300), far_buildings=True)
    terrain, pipes = scene.layers["terrain"], scene.layers["water_pipes"]
    scene.plotter.camera.zoom(0.3)                   # the whole city small: buildings about a pixel wide
    scene.screenshot()
    assert scene.buildings_far
    drawn = terrain.actor.GetMapper().GetInput()
    assert drawn is not terrain.mesh and drawn.n_cells <= Scene.FAR_TERRAIN_CELLS < terrain.mesh.n_cells
    assert "__rgb__" in drawn.cell_data and pipes.actor.GetProperty().GetLineWidth() == 1.0
    scene.plotter.camera.zoom(30)
    scene.screenshot()
    assert not scene.buildings_far
    assert terrain.actor.GetMapper().GetInput() is terrain.mesh
    assert pipes.actor.GetProperty().GetLineWidth() == float(pipes.render["line_width"])
    scene.close()
