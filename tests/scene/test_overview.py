"""The default view reads as three domains, and stays cheap: overview camera and airspace cut,
pipe centre lines, grouped legend, two-resolution terrain, outward faces, peeling only when needed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import pyvista as pv
from affine import Affine
from shapely.geometry import Point, box

from app.scene import Scene
from app.scene.frame import SceneFrame
from app.scene.terrain import MAX_TERRAIN_CELLS, TOWN_TERRAIN_CELLS, terrain_mesh
from twin.terrain import Terrain

SIZE = (640, 400)


@pytest.fixture(scope="module")
def airport_town():
    """The ky10 town plus an airport surface reaching far beyond the box round the town."""
    from tests.scene.conftest import ky10_twin

    twin = ky10_twin()
    zones = twin["airspace_zones"]
    fx = SceneFrame.for_twin(twin).focus
    cx, cy = (fx[0] + fx[2]) / 2, (fx[1] + fx[3]) / 2
    g0 = float(twin.terrain.sample(cx, cy))
    surface = gpd.GeoDataFrame(
        {"id": ["AS-1"], "name": ["inner horizontal surface"], "kind": ["airport_surface"],
         "floor_m": [g0 + 45.0], "ceiling_m": [g0 + 150.0]},
        geometry=[Point(cx - 6000, cy - 6000).buffer(6000)], crs=zones.crs)
    twin.set_layer("airspace_zones", gpd.GeoDataFrame(
        list(zones.drop(columns="geometry").to_dict("records")) + list(
            surface.drop(columns="geometry").to_dict("records")),
        geometry=[*zones.geometry, *surface.geometry], crs=zones.crs))
    return twin


@pytest.fixture(scope="module")
def overview(airport_town):
    s = Scene(airport_town, window_size=SIZE)
    s.view("overview")
    yield s
    s.close()


def test_overview_cuts_airspace_to_the_box_round_the_town_and_keeps_ids(overview, airport_town):
    sl = overview.layers["airspace_zones"]
    x0, y0, x1, y1 = overview.airspace_box()
    sx0, sy0 = overview.frame.xy(x0, y0)
    sx1, sy1 = overview.frame.xy(x1, y1)
    b = sl.mesh.bounds
    assert b[0] >= sx0 - 1e-6 and b[1] <= sx1 + 1e-6 and b[2] >= sy0 - 1e-6 and b[3] <= sy1 + 1e-6
    # the 16 km surface is cut, not dropped: its cells still name it and keep its colour
    zones = airport_town["airspace_zones"]
    surface_row = int(np.flatnonzero(zones["id"].to_numpy() == "AS-1")[0])
    cells = np.flatnonzero(sl.feature_index == surface_row)
    assert len(cells) > 0
    assert overview.feature_at("airspace_zones", int(cells[0])) == "AS-1"
    colour = pv.Color(sl.categories["airport_surface"]).int_rgb
    assert (sl.mesh.cell_data["__rgb__"][cells] == colour).all()
    # the no-fly zone inside the box is whole: its drawn footprint is its own
    nfz = zones.geometry.iloc[0]
    nb = sl.mesh.extract_cells(np.flatnonzero(sl.feature_index == 0)).bounds
    assert nb[1] - nb[0] == pytest.approx(nfz.bounds[2] - nfz.bounds[0], rel=1e-3)
    overview.clip_airspace(None)
    assert overview.layers["airspace_zones"].mesh.bounds[0] < sx0 - 1000
    overview.clip_airspace(overview.airspace_box())


def test_overview_camera_frames_the_town_and_both_kinds_of_airspace(overview):
    w, h = SIZE
    b = overview.focus_bounds()
    ox, oy = overview.frame.origin
    for x in (b[0], b[1]):
        for y in (b[2], b[3]):
            px, py = overview.display_position((x + ox, y + oy, float(overview.frame.ground(x + ox, y + oy))))
            assert 0 <= px <= 0.83 * w and 0 <= py <= h  # the whole town, left of the legend
    seen = set()
    for kind, xyz in overview._airspace_marks():
        px, py = overview.display_position(overview.frame.to_twin(xyz))
        if 0 <= px <= 0.83 * w and 0 <= py <= h:
            seen.add(kind)
    assert seen == {"no_fly", "airport_surface"}
    cam = overview.plotter.camera
    look = np.array(cam.focal_point) - np.array(cam.position)
    ax, ay = overview._airspace_focus()
    to_air = np.array([ax - (b[0] + b[1]) / 2, ay - (b[2] + b[3]) / 2])
    # looking across the town towards the airport (turned at most 30 degrees), down on it
    assert look[:2] @ to_air / np.linalg.norm(look[:2]) / np.linalg.norm(to_air) > np.cos(np.radians(31))
    assert look[2] < 0


def test_overview_caption_says_where_it_looks_and_what_is_enlarged(overview, town):
    text = overview.plotter.actors["__caption__"].GetInput()
    cam = overview.plotter.camera
    dx, dy = np.array(cam.focal_point[:2]) - np.array(cam.position[:2])
    bearing = np.degrees(np.arctan2(dx, dy)) % 360  # clockwise from north
    assert 180 < bearing < 300  # towards the airport, south-west of the town (turned at most 30 degrees)
    names = {225: "south-west", 270: "west", 180: "south", 315: "north-west"}
    nearest = min(names, key=lambda b: abs(b - bearing))
    assert text.startswith(f"Looking {names[nearest]}\n")
    assert f"{overview.frame.depth_scale:.0f}x their depth" in text
    box = overview.airspace_box()
    assert f"airspace cut {(box[2] - box[0]) / 2000:.1f} km around the town" in text
    other = Scene(town, layers=["terrain", "buildings"], window_size=SIZE)
    try:
        other.view("overview")
        assert "buried" not in other.plotter.actors["__caption__"].GetInput()
        other.view("risk")
        assert "__caption__" not in other.plotter.actors
    finally:
        other.close()


def test_overview_fades_ground_and_roads_and_groups_the_legend_by_domain(overview):
    assert overview.layers["terrain"].opacity <= 0.3
    assert overview.layers["roads"].opacity <= 0.2
    legend = overview.plotter.legend
    texts = [legend.GetEntryString(i) for i in range(legend.GetNumberOfEntries())]
    assert texts[0] == "UNDER THE GROUND"
    heads = [t for t in texts if t.isupper()]
    # the three domains, then the key of the warning colours the sites are drawn in
    assert heads == ["UNDER THE GROUND", "ON THE GROUND", "LOW-ALTITUDE AIRSPACE", "RISK LEVEL (LEC)"]
    assert texts.index("water pipes") < texts.index("ON THE GROUND") < texts.index("LOW-ALTITUDE AIRSPACE")
    assert "airport surface" in texts and "no fly" in texts
    # every entry's text is light enough to read on the dark panel
    for i in range(legend.GetNumberOfEntries()):
        rgb = np.array(legend.GetEntryColor(i))
        assert rgb @ [0.2126, 0.7152, 0.0722] >= 0.59, texts[i]


def test_a_terrain_opacity_the_user_gave_is_kept_by_every_view(town):
    s = Scene(town, window_size=SIZE, terrain_opacity=0.8)
    try:
        for view in ("overview", "underground"):
            s.view(view)
            assert s.layers["terrain"].opacity == pytest.approx(0.8), view
        s.reveal("water_pipes")
        assert s.layers["terrain"].opacity == pytest.approx(0.8)
        assert s.layers["roads"].opacity <= 0.3  # what lies over the pipes still fades
    finally:
        s.close()


def test_pipes_and_corridors_carry_a_centre_line_per_part(overview, airport_town):
    pipes = overview.layers["water_pipes"].mesh
    assert pipes.n_lines == len(airport_town["water_pipes"])  # ky10 pipes are single-part
    assert pipes.n_cells > pipes.n_lines  # and the tubes
    line_cells = np.arange(pipes.n_lines)  # VTK orders lines before strips
    assert set(pipes.cell_data["feature_index"][line_cells]) == set(range(len(airport_town["water_pipes"])))
    corridor = overview.layers["drone_corridors"].mesh
    ribbon = corridor.extract_cells(np.arange(corridor.n_lines, corridor.n_cells))
    # a flat band of the corridor's true width (40 m) at its altitude, not a 40 m tube
    pts = np.asarray(ribbon.points).reshape(-1, 4, 3)
    across = np.linalg.norm(pts[:, 3, :2] - pts[:, 0, :2], axis=1)
    assert across == pytest.approx(np.full(len(across), 40.0))
    assert pts[:, 3, 2] == pytest.approx(pts[:, 0, 2])  # level across the band


def test_see_through_layers_are_sorted_only_when_two_overlap(town):
    s = Scene(town, layers=["terrain", "water_pipes", "buildings"], window_size=SIZE)
    try:
        renderer = s.plotter.renderer
        # only the ground is see-through: plain blending
        assert not renderer.GetUseDepthPeeling() and not renderer.GetUseOIT()
        s.set_opacity("buildings", 0.5)
        assert renderer.GetUseOIT() and not renderer.GetUseDepthPeeling()
        s.hide("buildings")
        assert not renderer.GetUseOIT()
    finally:
        s.close()
    exact = Scene(town, layers=["terrain", "buildings"], window_size=SIZE, depth_peeling=True)
    try:
        exact.set_opacity("buildings", 0.5)
        assert exact.plotter.renderer.GetUseDepthPeeling() and not exact.plotter.renderer.GetUseOIT()
    finally:
        exact.close()


def test_building_faces_point_out_so_back_faces_can_be_culled(scene_town):
    sl = scene_town.layers["buildings"]
    assert sl.actor.GetProperty().GetBackfaceCulling()
    mesh = sl.mesh.compute_normals(cell_normals=True, point_normals=False, auto_orient_normals=False,
                                   consistent_normals=False, split_vertices=False)
    n = mesh.cell_data["Normals"]
    centres = mesh.cell_centers().points
    fi = mesh.cell_data["feature_index"]
    roofs = np.abs(n[:, 2]) > 0.9
    assert roofs.any() and (n[roofs, 2] > 0).all()
    walls = np.abs(n[:, 2]) < 0.1
    # each wall faces away from its building's middle (the test town's houses are boxes)
    middle = np.array([centres[fi == f].mean(axis=0) for f in range(fi.max() + 1)])
    out = np.einsum("ij,ij->i", n[walls, :2], centres[walls, :2] - middle[fi[walls], :2])
    assert (out > 0).all()


@pytest.fixture(scope="module")
def scene_town(town):
    s = Scene(town, window_size=SIZE)
    yield s
    s.close()


def test_terrain_is_fine_in_town_coarse_elsewhere_and_seamless():
    cell = 10.0
    n = 900  # 810,000 DEM cells: far over the budgets
    g = np.arange(n) * cell
    gx, gy = np.meshgrid(g, g)
    heights = 100 + 20 * np.sin(gx / 700) * np.cos(gy / 500) + 3 * np.sin(gx / 37 + gy / 53)
    terrain = Terrain(heights[::-1].copy(), Affine(cell, 0, 0, 0, -cell, n * cell), "EPSG:3088")
    focus = (4000.0, 4000.0, 5000.0, 5000.0)
    frame = SceneFrame((4500.0, 4500.0), float(heights.min()), terrain=terrain, _filled_terrain=terrain,
                       focus=focus)
    mesh = terrain_mesh(frame)
    assert mesh.n_cells <= MAX_TERRAIN_CELLS + TOWN_TERRAIN_CELLS
    quads = mesh.faces.reshape(-1, 5)[:, 1:]
    pts = np.asarray(mesh.points)
    edge = np.linalg.norm(pts[quads[:, 1], :2] - pts[quads[:, 0], :2], axis=1)
    centre = pts[quads].mean(axis=1)
    in_town = (np.abs(centre[:, 0]) < 480) & (np.abs(centre[:, 1]) < 480)
    assert edge[in_town] == pytest.approx(np.full(in_town.sum(), cell))  # the DEM's own resolution
    far = np.hypot(centre[:, 0], centre[:, 1]) > 2500
    assert edge[far].min() > 2 * cell
    # drawn heights are the DEM's at the vertices (x, y are cell centres)
    col = np.round((pts[:, 0] + 4500.0) / cell - 0.5).astype(int)
    row = np.round((n * cell - (pts[:, 1] + 4500.0)) / cell - 0.5).astype(int)
    truth = frame.z(heights[::-1][row, col])
    interior = (np.abs(pts[:, 0]) < 400) & (np.abs(pts[:, 1]) < 400)
    assert pts[interior, 2] == pytest.approx(truth[interior])
    # seamless: along the seam every fine vertex lies on the straight coarse edge
    fine = np.isclose(edge, cell)
    seam_y = pts[quads[fine].ravel(), 1].max()
    on_seam = np.isclose(pts[:, 1], seam_y)
    xs, zs = pts[on_seam, 0], pts[on_seam, 2]
    order = np.argsort(xs)
    xs, zs = xs[order], zs[order]
    coarse_x = np.unique(np.round(pts[quads[far].ravel(), 0], 6))
    corners = np.isin(np.round(xs, 6), coarse_x)
    assert corners.sum() >= 2
    inside = (xs > xs[corners].min()) & (xs < xs[corners].max())
    assert zs[inside] == pytest.approx(np.interp(xs[inside], xs[corners], zs[corners]), abs=1e-6)
