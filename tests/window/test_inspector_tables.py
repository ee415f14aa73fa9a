"""Inspector, attribute table and threshold query as a user meets them, on the shared demo-city window.

A click on a building in the 3D view shows its attributes in the inspector and
its row in the table; a site shows its file; the table filters, sorts, selects
and zooms; a threshold query counts and highlights its matches and follows the
values the clock sends.  Every figure is checked against the twin's own data
(pandas on the same table).  Each test puts back what it changed: selection,
filter, highlights, values shown, camera.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import QPoint, Qt

pytestmark = pytest.mark.qt


@pytest.fixture
def inspector(window):
    window.docks["inspector"].raise_()
    yield window.panels["inspector"]
    window.view_model.select(None)
    window.set_camera("oblique")


@pytest.fixture
def table(window, qtbot):
    t = window.panels["table"]
    window.docks["table"].raise_()
    qtbot.wait(10)
    yield t
    window.view_model.select(None)
    t.filter_box.clear()
    t.apply_filter()
    window.set_camera("oblique")


@pytest.fixture
def query(window, qtbot):
    q = window.panels["query"]
    window.docks["query"].raise_()
    before = dict(window.view_model.values)
    yield q
    q.clear()
    q.value_box.clear()
    for layer in set(window.view_model.values) - set(before):
        window.view_model.clear_values(layer)
    assert "query" not in window.scene.highlighted


def _isolated_building(demo_twin):
    b = demo_twin["buildings"]
    (_, _), gaps = b.sindex.nearest(b.geometry, return_distance=True, exclusive=True)
    assert gaps.max() > 60
    return b.iloc[int(np.argmax(gaps))]


def _click_3d(window, qtbot, x: float, y: float) -> None:
    """A left click on the 3D view at VTK display pixel (x, y) (origin bottom left)."""
    widget = window.interactor
    ratio = widget.devicePixelRatioF()
    pos = QPoint(round(x / ratio), round((widget.height() * ratio - 1 - y) / ratio))
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def _row_visible(table, row: int) -> bool:
    rect = table.view.visualRect(table.model.index(row, 0))
    return rect.isValid() and table.view.viewport().rect().intersects(rect)


def _click_row(qtbot, table, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    table.view.scrollTo(table.model.index(row, 0))
    rect = table.view.visualRect(table.model.index(row, 0))
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def _choose(box, data) -> None:
    """Pick the item carrying ``data`` in a combo box, as a user choosing it from the list does."""
    k = box.findData(data)
    assert k >= 0, data
    box.setCurrentIndex(k)
    box.activated.emit(k)


def _display(window, scene_xyz) -> tuple[float, float]:
    """Display pixel of a scene point."""
    from vtkmodules.vtkRenderingCore import vtkCoordinate

    coord = vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    coord.SetValue(*map(float, scene_xyz))
    return coord.GetComputedDoubleDisplayValue(window.scene.plotter.renderer)


def _camera_distance(window, point) -> float:
    return float(np.linalg.norm(np.subtract(window.scene.plotter.camera.position, point)))


# ---------------------------------------------------------------------- inspector
def test_clicking_a_building_shows_its_attributes_and_its_row(window, inspector, qtbot, demo_twin):
    window.set_camera("oblique")
    target = _isolated_building(demo_twin)
    # the building in the middle of the view, its neighbours around it, as a user would close in
    window.scene.zoom_to("buildings", [target["id"]], min_size=250)
    window.interactor.render()
    c = target.geometry.centroid
    x, y = window.scene.display_position((c.x, c.y, float(window.scene.frame.ground(c.x, c.y)) + target["height"]))
    w, h = window.scene.plotter.window_size
    assert 0 < x < w and 0 < y < h
    _click_3d(window, qtbot, x, y)
    assert window.view_model.selection.feature_ids == (target["id"],), \
        "a left click on the 3D view did not pick (see MainWindow._on_press/_on_release)"
    assert f"{target['id']}" in inspector.title.text() and "buildings" in inspector.title.text()
    # every attribute, with the schema's unit where there is one
    assert inspector.value("height") == f"{target['height']:.6g} m"
    assert inspector.value("use") == target["use"]
    assert inspector.value("base_elevation") == f"{target['base_elevation']:.6g} m"
    assert inspector.value("layer") == "buildings"
    shown = {f for g, f, _ in inspector.rows() if g == "Attributes"}
    assert shown == {"layer", *(col for col in demo_twin["buildings"].columns if col != "geometry")}
    # the attribute table follows: on the buildings, that row selected and in sight
    table = window.panels["table"]
    assert table.layer == "buildings" and table.selected_ids() == [target["id"]]
    row = int(table.rows.positions(table.rows.rows_of([target["id"]]))[0])
    assert _row_visible(table, row)
    # a click on nothing (sky or bare ground) clears it all
    corners = [(5, h - 5), (w - 5, h - 5), (5, 5), (w - 5, 5)]
    x, y = next(p for p in corners if window.scene.pick(*p) is None)
    _click_3d(window, qtbot, x, y)
    assert window.view_model.selection.layer is None
    assert inspector.layer is None and table.selected_ids() == []


def test_a_site_shows_its_file_newest_inspection_first(window, inspector, table, qtbot, demo_twin):
    sites = demo_twin["sites"]
    counts = sites["inspections"].map(lambda s: len(json.loads(s)) if s else 0)
    site = sites.iloc[int(counts.argmax())]
    _choose(table.layer_box, "sites")
    qtbot.keyClicks(table.filter_box, site["name"])
    qtbot.keyClick(table.filter_box, Qt.Key.Key_Return)
    assert table.model.rowCount() == int(sites["name"].str.contains(site["name"], regex=False).sum()) >= 1
    _click_row(qtbot, table, 0)
    assert window.view_model.selection.layer == "sites"
    fid = window.view_model.selection.feature_ids[0]
    site = sites.set_index("id").loc[fid]
    assert inspector.value("name", "Site file") == site["name"]
    assert inspector.value("contact", "Site file") == site["contact"]
    assert inspector.value("D = L × E × C") == f"{site['lec_d']:g}"
    assert site["lec_d"] == site["lec_l"] * site["lec_e"] * site["lec_c"]
    assert inspector.value("risk level") == site["risk_level"]
    hazards = [h.strip() for h in site["hazards"].split(",")]
    assert [v for g, f, v in inspector.rows() if g.startswith("Hazards")] == hazards
    records = sorted(json.loads(site["inspections"]), key=lambda r: r["date"], reverse=True)
    dated = [(f, v) for g, f, v in inspector.rows() if g.startswith("Inspections") and f != "notes"]
    assert dated == [(r["date"], f"{r['result']} — {r['inspector']}") for r in records]
    assert len(records) >= 2
    # the raw register columns are in the file, not repeated among the plain attributes
    assert inspector.value("inspections") is None


def test_the_inspector_shows_the_result_on_the_layer_as_it_changes(window, inspector, query, demo_twin):
    j = demo_twin["water_junctions"]
    fid = j["id"].iloc[7]
    window.view_model.select("water_junctions", fid)
    assert inspector.value("elevation") == f"{j['elevation'].iloc[7]:.6g} m"
    for value in (31.25, 12.5):
        window.view_model.show_values("water_junctions", "pressure", pd.Series({fid: value}), unit="m")
        assert inspector.value("pressure", "Result") == f"{value:g} m"


# ---------------------------------------------------------------------- attribute table
def test_the_table_filters_sorts_selects_and_zooms_to_a_row(window, table, qtbot, demo_twin):
    b = demo_twin["buildings"]
    _choose(table.layer_box, "buildings")
    assert table.model.rowCount() == len(b)
    assert table.model.columnCount() == len(b.columns) - 1   # no geometry
    # "res" over every column: residential buildings, and any id or junction containing it
    qtbot.keyClicks(table.filter_box, "Res")
    qtbot.keyClick(table.filter_box, Qt.Key.Key_Return)
    texts = b.drop(columns="geometry").select_dtypes(exclude="number").fillna("").astype(str)
    expected = texts.apply(lambda col: col.str.lower().str.contains("res", regex=False)).any(axis=1)
    assert table.model.rowCount() == int(expected.sum()) > 0
    assert table.count.text() == f"{int(expected.sum()):,} of {len(b):,}"
    # the same text in one column: "use"
    _choose(table.column_box, "use")
    in_use = b["use"].fillna("").str.lower().str.contains("res", regex=False)
    assert table.model.rowCount() == int(in_use.sum())
    # click the height header: sorted by height; again: the other way
    k = table.rows.columns.index("height")
    header = table.view.horizontalHeader()
    for _ in range(2):
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(k) + header.sectionSize(k) // 2,
                                    header.height() // 2))
        heights = [float(table.model.data(table.model.index(r, k))) for r in range(5)]
        kept = b.loc[in_use, "height"]
        top = kept.max() if header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder else kept.min()
        assert heights[0] == pytest.approx(top, rel=1e-5)
        assert heights == sorted(heights, reverse=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder)
    # click a row: that building is selected in the model and highlighted in 3D
    _click_row(qtbot, table, 3)
    fid = str(table.model.data(table.model.index(3, table.rows.columns.index("id"))))
    assert window.view_model.selection.layer == "buildings"
    assert window.view_model.selection.feature_ids == (fid,)
    assert window.scene.highlighted["selection"] == ("buildings", 1)
    # shift-click two rows down: three buildings
    _click_row(qtbot, table, 5, Qt.KeyboardModifier.ShiftModifier)
    chosen = window.view_model.selection.feature_ids
    assert len(chosen) == 3 and sorted(table.selected_ids()) == sorted(chosen)
    assert window.scene.highlighted["selection"] == ("buildings", 3)
    # sorted the other way, the same three stay selected, wherever their rows went
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(k) + header.sectionSize(k) // 2, header.height() // 2))
    assert window.view_model.selection.feature_ids == chosen
    assert sorted(table.selected_ids()) == sorted(chosen)
    # Zoom to: the camera comes to them, keeping its direction, and frames them
    window.set_camera("oblique")
    cam = window.scene.plotter.camera
    direction = np.subtract(cam.focal_point, cam.position)
    bounds = window.scene.feature_bounds("buildings", window.view_model.selection.feature_ids)
    centre = np.array([(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2])
    before = _camera_distance(window, centre)
    qtbot.mouseClick(table.zoom_button, Qt.MouseButton.LeftButton)
    assert _camera_distance(window, centre) < before
    new_direction = np.subtract(cam.focal_point, cam.position)
    cosine = np.dot(direction, new_direction) / np.linalg.norm(direction) / np.linalg.norm(new_direction)
    assert cosine == pytest.approx(1.0, abs=1e-9)
    w, h = window.scene.plotter.window_size
    x, y = _display(window, centre)
    assert abs(x - w / 2) < 0.02 * w and abs(y - h / 2) < 0.02 * h
    corners = [_display(window, c) for c in itertools.product(bounds[0:2], bounds[2:4], bounds[4:6])]
    assert all(0 <= x <= w and 0 <= y <= h for x, y in corners)
    # one building alone: the camera comes closer still
    _click_row(qtbot, table, 3)
    far = _camera_distance(window, centre)
    qtbot.mouseClick(table.zoom_button, Qt.MouseButton.LeftButton)
    b = window.scene.feature_bounds("buildings", window.view_model.selection.feature_ids)
    one = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
    assert _camera_distance(window, one) < far


def test_a_double_click_zooms_to_that_row(window, table, qtbot, demo_twin):
    _choose(table.layer_box, "fire_stations")
    window.set_camera("oblique")
    fid = str(table.model.data(table.model.index(2, 0)))
    b = window.scene.feature_bounds("fire_stations", [fid])
    centre = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
    before = _camera_distance(window, centre)
    rect = table.view.visualRect(table.model.index(2, 0))
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert _camera_distance(window, centre) < before / 3
    assert window.view_model.selection.feature_ids == (fid,)


def test_a_feature_selected_elsewhere_is_selected_and_scrolled_to(window, table, demo_twin):
    pipes = demo_twin["water_pipes"]
    _choose(table.layer_box, "buildings")
    last = str(pipes["id"].iloc[-1])
    window.view_model.select("water_pipes", last)    # as a pick in the 3D view or another panel does
    assert table.layer == "water_pipes" and table.layer_box.currentData() == "water_pipes"
    assert table.selected_ids() == [last]
    assert _row_visible(table, table.model.rowCount() - 1)
    assert not _row_visible(table, 0)
    # several at once (the valves a break needs closed): all selected
    some = [str(i) for i in pipes["id"].iloc[[3, 4, 5, 400]]]
    window.view_model.select("water_pipes", *some)
    assert sorted(table.selected_ids()) == sorted(some)
    window.view_model.select(None)
    assert table.selected_ids() == []


def test_a_table_of_100k_rows_filters_and_sorts_like_pandas():
    from app.window.tables import LayerRows

    rng = np.random.default_rng(3)
    n = 100_000
    frame = pd.DataFrame({"id": [f"P{i}" for i in range(n)],
                          "diameter": rng.choice([0.1, 0.15, np.nan], n),
                          "install_year": pd.array(rng.choice([1950, 1980, None], n), dtype="Int64"),
                          "material": rng.choice(["CI", "PVC", None], n)})
    rows = LayerRows(frame)
    assert len(rows.order) == n and rows.text(0, "id") == "P0"
    rows.filter("pvc", "material")
    assert len(rows.order) == int((frame["material"] == "PVC").sum())
    rows.filter("0.15")
    assert len(rows.order) == int((frame["diameter"] == 0.15).sum())
    rows.filter("")
    rows.sort("install_year", descending=True)
    years = frame["install_year"].to_numpy(dtype=float, na_value=np.nan)[rows.order]
    known = int(frame["install_year"].notna().sum())
    assert (np.diff(years[:known]) <= 0).all() and np.isnan(years[known:]).all()   # missing last
    rows.sort("material")
    materials = frame["material"].to_numpy()[rows.order]
    assert list(dict.fromkeys(pd.Series(materials).fillna("(missing)"))) == ["CI", "PVC", "(missing)"]


# ---------------------------------------------------------------------- threshold query
def _pressures(demo_twin, seed):
    ids = demo_twin["water_junctions"]["id"].to_numpy()
    values = np.random.default_rng(seed).uniform(0, 60, len(ids))
    values[::25] = np.nan
    return pd.Series(values, index=ids)


def test_a_threshold_query_counts_and_highlights_and_follows_the_clock(window, query, qtbot, demo_twin):
    model = window.view_model
    n = len(demo_twin["water_junctions"])
    model.show_values("water_junctions", "pressure", _pressures(demo_twin, 1), unit="m")   # a clock tick
    _choose(query.layer_box, "water_junctions")
    _choose(query.field_box, "pressure")
    assert query.field_box.currentText() == "pressure (result, m)" and query.unit.text() == "m"
    query.op_box.setCurrentText("<")
    qtbot.keyClicks(query.value_box, "20")
    qtbot.keyClick(query.value_box, Qt.Key.Key_Return)
    expected = int((_pressures(demo_twin, 1) < 20).sum())
    assert query.result.text() == f"{expected:,} of {n:,} water junctions match pressure < 20 m"
    assert window.scene.highlighted["query"] == ("water_junctions", expected)
    # the clock moves on: new pressures arrive, the count and the 3D highlight follow by themselves
    later = _pressures(demo_twin, 2)
    model.show_values("water_junctions", "pressure", later, unit="m")
    now = int((later < 20).sum())
    assert now != expected
    assert query.result.text() == f"{now:,} of {n:,} water junctions match pressure < 20 m"
    assert window.scene.highlighted["query"] == ("water_junctions", now)
    # the value in another unit of the same kind
    query.value_box.clear()
    qtbot.keyClicks(query.value_box, "2000 cm")
    qtbot.mouseClick(query.run_button, Qt.MouseButton.LeftButton)
    assert window.scene.highlighted["query"] == ("water_junctions", now)
    # Clear: the highlight goes
    qtbot.mouseClick(query.clear_button, Qt.MouseButton.LeftButton)
    assert "query" not in window.scene.highlighted and query.result.text() == ""


def test_a_column_query_matches_what_pandas_finds(window, query, qtbot, demo_twin):
    pipes = demo_twin["water_pipes"]
    _choose(query.layer_box, "water_pipes")
    _choose(query.field_box, "diameter")
    assert query.unit.text() == "m"
    query.op_box.setCurrentText(">=")
    qtbot.keyClicks(query.value_box, "300 mm")
    qtbot.keyClick(query.value_box, Qt.Key.Key_Return)
    expected = int((pipes["diameter"] >= 0.3).sum())
    assert expected > 0
    assert query.result.text() == f"{expected:,} of {len(pipes):,} water pipes match diameter >= 0.3 m"
    assert window.scene.highlighted["query"] == ("water_pipes", expected)


def test_bad_query_input_gets_one_clear_message_and_no_highlight(window, query, qtbot, demo_twin):
    window.view_model.show_values("water_junctions", "pressure", _pressures(demo_twin, 3), unit="m")
    _choose(query.layer_box, "water_junctions")
    _choose(query.field_box, "pressure")
    query.op_box.setCurrentText("<")
    qtbot.keyClicks(query.value_box, "20")
    qtbot.keyClick(query.value_box, Qt.Key.Key_Return)
    assert "query" in window.scene.highlighted
    query.value_box.clear()
    qtbot.keyClicks(query.value_box, "abc")
    qtbot.keyClick(query.value_box, Qt.Key.Key_Return)
    assert query.result.text() == 'pressure needs a number (in m), not "abc"'
    assert "query" not in window.scene.highlighted
    # a field typed that the layer lacks
    query.field_box.setEditText("presure")
    query.value_box.clear()
    qtbot.keyClicks(query.value_box, "20")
    qtbot.keyClick(query.value_box, Qt.Key.Key_Return)
    assert query.result.text() == ('water_junctions has no field "presure" (fields: pressure, id, elevation, '
                                   'base_demand, terrain_elevation, burial_depth, zone)')
    assert "query" not in window.scene.highlighted


# ---------------------------------------------------------------------- picking
def test_picking_uses_one_cell_locator_per_layer_kept_while_results_change(window, demo_twin):
    scene = window.scene
    window.set_camera("oblique")
    target = _isolated_building(demo_twin)
    c = target.geometry.centroid
    x, y = scene.display_position((c.x, c.y, float(scene.frame.ground(c.x, c.y)) + target["height"]))
    hit = scene.pick(x, y)
    brute = scene.pick(x, y, locate=False)
    assert (hit.layer, hit.feature_id) == (brute.layer, brute.feature_id) == ("buildings", target["id"])
    assert hit.attributes == demo_twin.feature("buildings", target["id"])
    locator = scene.cell_locator("buildings")
    assert locator.GetDataSet() is scene.layers["buildings"].actor.GetMapper().GetInput()
    # a clock writing results into the mesh keeps the locator; a rebuilt mesh gets a new one
    scene.set_result("buildings", "__probe__", np.arange(len(scene.layers["buildings"].ids), dtype=float))
    assert scene.cell_locator("buildings") is locator
    assert scene.pick(x, y).feature_id == target["id"]
    zones = scene.cell_locator("airspace_zones")
    box = scene.airspace_box()
    scene.clip_airspace(None)
    try:
        assert scene.cell_locator("airspace_zones") is not zones
    finally:
        scene.clip_airspace(box)
        scene.layers["buildings"].mesh.cell_data.pop("__probe__")
