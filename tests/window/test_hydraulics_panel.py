"""The Hydraulics panel as a water engineer uses it: run, rank pipes and cancel, break a pipe, edit and compare a plan.

Every figure the panel shows is checked against the engine's own answer for
the same network (the panel must only present it).  The window is the shared
one on the demo city: tests put back what they change (layers, highlights,
values on the 3D view, the twin's network, the panel's settings).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.qt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def panel(window, qtbot):
    p = window.panels["hydraulics"]
    duration, sample, pdd = p.duration.value(), p.crit_sample.value(), p.pdd.isChecked()
    window.docks["hydraulics"].raise_()
    yield p
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    p.duration.setValue(duration)
    p.crit_sample.setValue(sample)
    p.pdd.setChecked(pdd)
    p.clear_break()
    for layer in ("water_junctions", "water_pipes", "hydrants"):
        window.view_model.clear_values(layer)
    window.view_model.select(None)


@pytest.fixture
def system(demo_twin):
    from simulation.hydraulics.system import from_twin

    return from_twin(demo_twin)


def _click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _finished(window):
    """True once the window's job has ended and its answer has been shown (the work bar hides first)."""
    return lambda: not window.work.busy and not window.work.isVisible()


def test_run_shows_the_engines_lowest_pressure_and_colours_junctions(window, panel, qtbot, system):
    from simulation.hydraulics.results import simulate

    engine = simulate(system).summary()
    _click(qtbot, panel.run_button)
    qtbot.waitUntil(_finished(window), timeout=30_000)
    shown = float(re.search(r"Lowest pressure (-?[\d.]+) m", panel.run_summary.text()).group(1))
    assert shown == engine["min_pressure_m"]
    assert f"{engine['junctions_below_service_pressure']} junction(s) below 14 m" in panel.run_summary.text()
    # the 3D view shows each junction's lowest pressure over the run, as the engine computed it
    result, values = window.view_model.values["water_junctions"]
    assert result == "pressure"
    assert values.min() == pytest.approx(engine["min_pressure_m"], abs=5e-4)
    assert window.scene.layers["water_junctions"].colour_by == "pressure"
    assert window.view_model.values["water_pipes"][0] == "velocity"
    assert panel.stale() == []


def test_a_criticality_sweep_ranks_pipes_as_the_engine_and_colours_them(window, panel, qtbot, system):
    from simulation.hydraulics.criticality import criticality

    panel.crit_sample.setValue(12)
    _click(qtbot, panel.crit_button)
    qtbot.waitUntil(lambda: "ranked" in panel.crit_label.text(), timeout=60_000)
    engine = criticality(system, sample=12)
    shown = panel.crit_model.frame
    assert list(shown["id"]) == list(engine.table["id"])
    assert list(shown["population_without_service"]) == list(engine.table["population_without_service"])
    result, values = window.view_model.values["water_pipes"]
    assert result == "people_without_service"
    assert values.sort_index().equals(engine.table.set_index("id")["population_without_service"].sort_index())
    assert window.scene.layers["water_pipes"].colour_by == "people_without_service"


def test_cancel_stops_a_criticality_sweep_before_every_pipe_and_the_panel_says_so(window, panel, qtbot):
    before = panel.criticality
    panel.duration.setValue(24)        # a day per closure: the whole sweep would take a minute or more
    panel.crit_sample.setValue(0)      # every pipe
    _click(qtbot, panel.crit_button)
    assert window.work.busy
    qtbot.waitUntil(lambda: panel.sweep_count["done"] >= 2, timeout=60_000)
    _click(qtbot, window.work.cancel_button)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=30_000)
    qtbot.waitUntil(lambda: "cancelled" in panel.crit_label.text(), timeout=5_000)
    m = re.search(r"cancelled after (\d+) of (\d+) pipe closures", panel.crit_label.text())
    done, total = int(m.group(1)), int(m.group(2))
    assert total == len(window.twin["water_pipes"])
    assert 2 <= done < total
    assert panel.criticality is before           # no partial ranking passed off as complete
    assert not window.work.isVisible()


def test_fire_flow_at_a_picked_hydrant_is_the_engines_answer(window, panel, qtbot, system):
    from app.scene.scene import Pick
    from simulation.hydraulics.fire_flow import fire_flow

    hydrants = window.twin["hydrants"]
    hydrant, node = str(hydrants["id"].iloc[3]), str(hydrants["node_id"].iloc[3])
    panel.tabs.setCurrentIndex(2)
    # a hydrant clicked in the 3D view becomes the one tested
    window.picked.emit(Pick("hydrants", hydrant, window.twin.feature("hydrants", hydrant), (0.0, 0.0, 0.0), 0))
    assert panel.hydrant.currentData() == (hydrant, node)
    _click(qtbot, panel.fire_button)
    qtbot.waitUntil(lambda: panel.fire is not None, timeout=60_000)
    engine = fire_flow(system, nodes=[node]).table.iloc[0]
    shown = panel.fire_model.frame.iloc[0]
    assert (shown["id"], shown["node"]) == (hydrant, node)
    assert bool(shown["passes"]) == bool(engine["passes"])
    assert shown["available_flow_lps"] == pytest.approx(engine["available_flow_lps"])
    assert panel.fire_label.text().startswith(f"{int(engine['passes'])} of 1 hydrant(s) pass at 95 L/s")
    assert window.view_model.values["hydrants"][1][hydrant] == pytest.approx(engine["available_flow_lps"])
    panel.hydrant.setCurrentIndex(0)


def _pipe_pixel(window, pipe_id):
    """Display pixel of the middle of a water pipe, seen from the top camera."""
    scene = window.scene
    pipe = window.twin["water_pipes"].set_index("id").loc[pipe_id]
    mid = pipe.geometry.interpolate(0.5, normalized=True)
    pts = np.asarray(scene.layers["water_pipes"].mesh.points)
    sx, sy = scene.frame.xy(mid.x, mid.y)
    z_scene = pts[np.argmin(np.hypot(pts[:, 0] - sx, pts[:, 1] - sy)), 2]
    return scene.display_position((mid.x, mid.y, z_scene / scene.frame.vertical + scene.frame.z_ref))


def _a_pipe_with_everything(system):
    """A long pipe whose break closes valves, dries buildings and cuts others off unintentionally."""
    from simulation.hydraulics.isolation import isolation
    from simulation.hydraulics.segments import segment

    seg = segment(system)
    pipes = system.twin["water_pipes"]
    for pid in pipes.loc[pipes.geometry.length.sort_values(ascending=False).index, "id"]:
        iso = isolation(system, pid, segmentation=seg)
        if iso.valves_to_close and iso.buildings and iso.unintended_buildings:
            return pid, iso
    raise AssertionError("no pipe of the demo city has an unintended isolation")


def test_isolation_names_the_features_of_the_segments_shutdown(system):
    """The Qt-free answer the panel draws: the shutdown's valves, and the buildings on its junctions."""
    from simulation.hydraulics.segments import segment

    pipe, iso = _a_pipe_with_everything(system)
    shut = segment(system).shutdown(pipe)
    assert iso.valves_to_close == tuple(shut["valves_to_close"])
    assert iso.pipes == tuple(shut["pipes_in_segment"]) and pipe in iso.pipes
    b = system.twin["buildings"]
    assert set(iso.buildings) == set(b.loc[b["junction_id"].isin(shut["nodes_in_segment"]), "id"])
    assert set(iso.unintended_buildings) == set(b.loc[b["junction_id"].isin(shut["unintended_nodes"]), "id"])
    assert not set(iso.buildings) & set(iso.unintended_buildings)
    assert iso.population_without_water == shut["population_without_water"]


def test_clicking_a_pipe_after_arming_break_highlights_its_isolation(window, panel, qtbot, system):
    from simulation.hydraulics.isolation import isolation

    pipe, _ = _a_pipe_with_everything(system)
    model = window.view_model
    shown = {n: v.visible for n, v in model.layers.items()}
    window.set_camera("top")
    try:
        for name in model.layers:          # only the pipes, so nothing above them takes the click
            model.layer(name).visible = name == "water_pipes"
        window.interactor.render()
        panel.tabs.setCurrentIndex(3)
        _click(qtbot, panel.break_button)
        assert panel.break_button.isChecked()
        hit = window.pick_at(*_pipe_pixel(window, pipe))
        assert hit is not None and (hit.layer, hit.feature_id) == ("water_pipes", pipe)
        assert not panel.break_button.isChecked()      # one break per arming
        qtbot.waitUntil(lambda: panel.isolation is not None, timeout=30_000)
    finally:
        for name, visible in shown.items():
            model.layer(name).visible = visible
        window.set_camera("oblique")
    engine = isolation(system, pipe)
    h = model.highlights
    assert set(h["break-valves"].ids) == set(engine.valves_to_close) and h["break-valves"].layer == "water_valves"
    assert set(h["break-buildings"].ids) == set(engine.buildings)
    assert set(h["break-unintended-buildings"].ids) == set(engine.unintended_buildings)
    assert set(h["break-unintended-pipes"].ids) == set(engine.unintended_pipes)
    assert len({h[n].colour for n in ("break-valves", "break-pipes", "break-buildings",
                                      "break-unintended-pipes")}) == 4
    drawn = window.scene.highlighted
    assert drawn["break-valves"] == ("water_valves", len(engine.valves_to_close))
    assert drawn["break-buildings"] == ("buildings", len(engine.buildings))
    text = panel.break_label.text()
    assert f"close {len(engine.valves_to_close)} valve(s)" in text
    assert f"{len(engine.buildings)} building(s)" in text
    assert f"{len(engine.unintended_buildings)} building(s), {engine.unintended_population:,.0f} people cut off" \
        in text
    panel.clear_break()
    assert not any(name.startswith("break-") for name in window.scene.highlighted)


def test_a_pick_that_is_not_a_pipe_leaves_break_armed(window, panel):
    from app.scene.scene import Pick

    panel.break_button.setChecked(True)
    building = window.twin["buildings"]["id"].iloc[0]
    window.picked.emit(Pick("buildings", building, window.twin.feature("buildings", building), (0.0, 0.0, 0.0), 0))
    assert panel.break_button.isChecked() and panel.isolation is None
    assert "not a water pipe" in window.statusBar().currentMessage()
    panel.break_button.setChecked(False)


@pytest.fixture
def own_network(window, demo_twin):
    """The shared twin's network put back exactly (and the window unmodified) whatever the test does."""
    original, modified = demo_twin.network, window.modified
    yield original
    panel = window.panels["hydraulics"]
    panel.undo_stack.clear()
    demo_twin.network = original
    panel._plan_rows.clear()
    panel._plan_template = None
    panel._fill_plan_table()
    panel._refresh_stale()
    window.mark_modified(modified)


def test_a_diameter_typed_in_the_plan_is_an_undoable_network_edit_that_makes_results_stale(
        window, panel, qtbot, own_network):
    from twin.network import Edit

    _click(qtbot, panel.run_button)
    qtbot.waitUntil(_finished(window), timeout=30_000)
    assert panel.computed_on["run"] is own_network
    assert not panel.stale_label.isVisible()
    panel.tabs.setCurrentIndex(4)
    pipe = window.twin["water_pipes"]["id"].iloc[0]
    now_mm = float(window.twin["water_pipes"]["diameter"].iloc[0]) * 1000
    panel.add_pipe(pipe)
    row = panel._row_of(pipe)
    panel.plan_table.item(row, 3).setText(f"{now_mm + 100:g}")     # what the cell editor commits
    edit = Edit(pipe, "diameter", (now_mm + 100) / 1000)
    assert window.twin.network.edits == (edit,)
    assert window.modified and window.windowTitle().startswith(f"{window.twin.name} *")
    assert "run" in panel.stale() and panel.stale_label.isVisible()   # and any earlier result
    assert "run" in panel.stale_label.text()
    _click(qtbot, panel.undo_button)
    assert window.twin.network is own_network and window.twin.network.edits == ()
    assert panel.stale() == [] and not panel.stale_label.isVisible()   # back on the network it ran on
    assert panel.plan_table.item(panel._row_of(pipe), 3).text() == f"{now_mm:g}"
    _click(qtbot, panel.redo_button)
    assert window.twin.network.edits == (edit,)
    assert panel.stale_label.isVisible()
    assert panel.plan_table.item(panel._row_of(pipe), 3).text() == f"{now_mm + 100:g}"
    # a diameter that is not one is refused with a message, and the network is left alone
    panel.plan_table.item(panel._row_of(pipe), 3).setText("-5")
    assert window.twin.network.edits == (edit,)
    assert "diameter must be" in window.statusBar().currentMessage()


def test_a_loaded_plan_is_compared_with_the_baseline_as_the_retrofit_engine_does(
        window, panel, qtbot, own_network, system):
    from simulation.hydraulics.retrofit import evaluate_plan, read_plan

    path = ROOT / "scenarios" / "plans" / "second-feed-250.csv"
    panel.tabs.setCurrentIndex(4)
    panel.retro_sample.setValue(10)
    panel.load_plan(path)
    qtbot.waitUntil(lambda: window.twin.network is not own_network, timeout=30_000)
    assert {(e.id, e.field) for e in window.twin.network.edits} == {("P-244", "diameter"), ("P-244", "roughness")}
    assert [panel.plan_table.item(r, 0).text() for r in range(panel.plan_table.rowCount())] == ["P-244"]
    _click(qtbot, panel.compare_button)
    qtbot.waitUntil(lambda: panel.retrofit is not None, timeout=120_000)
    engine = evaluate_plan(system, read_plan(path, system), sample=10, workers=0)
    shown = panel.compare_model.frame.set_index("metric")
    expected = engine.comparison_table().set_index("metric")
    assert list(shown.index) == list(expected.index)
    pd.testing.assert_series_equal(shown["plan"], expected["plan"], check_exact=False, rtol=1e-9)
    pd.testing.assert_series_equal(shown["baseline"], expected["baseline"], check_exact=False, rtol=1e-9)
    assert panel.figures.layout().count() == len(engine.figures) >= 2
    assert f"cost {engine.cost:,.0f}" in panel.retro_label.text()
    # the whole plan is one step back
    _click(qtbot, panel.undo_button)
    assert window.twin.network is own_network
