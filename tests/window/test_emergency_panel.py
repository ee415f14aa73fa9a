"""The Emergency panel as a planner uses it: run replications, read the standards and the
response-time curves, colour the buildings by coverage, propose a station by clicking, cancel.

Every figure the panel shows is checked against the engine's own answer for the
same seed and options (the panel must only present it).  The window is the
shared one on the demo city: tests put back what they change (the panel's
settings, values and highlights on the 3D view, the camera, the candidates).
Periods are a day or two: the engine is the same for a year.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.qt

KEY = Qt.ItemDataRole.UserRole


@pytest.fixture
def panel(window, qtbot):
    p = window.panels["emergency"]
    saved = (p.days.value(), p.replications.value(), p.seed.value(), p.minutes.value())
    preset = window.view_model.camera.preset
    window.docks["emergency"].raise_()
    yield p
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    p.candidate_button.setChecked(False)
    p.clear_candidates()
    p.clear_view()
    p.days.setValue(saved[0])
    p.replications.setValue(saved[1])
    p.seed.setValue(saved[2])
    p.minutes.setValue(saved[3])
    window.view_model.select(None)
    window.set_camera(preset)
    assert "buildings" not in window.view_model.values
    assert not [n for n in window.view_model.highlights if n.startswith("emergency")]


@pytest.fixture(scope="module")
def engine(demo_twin):
    from simulation.emergency.config import load_scenario
    from simulation.emergency.model import EmergencyModel

    return EmergencyModel.from_twin(demo_twin, load_scenario())


def _type(qtbot, spin, text: str) -> None:
    """Replace what a spin box holds by typing, as a user does (select all, type, Enter)."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def _click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _run(qtbot, window, panel, days: str, reps: str, seed: str) -> None:
    _type(qtbot, panel.days, days)
    _type(qtbot, panel.replications, reps)
    _type(qtbot, panel.seed, seed)
    assert (panel.days.value(), panel.replications.value(), panel.seed.value()) == (float(days), int(reps), int(seed))
    before = panel.result
    _click(qtbot, panel.run_button)
    assert window.work.busy or panel.result is not before
    qtbot.waitUntil(lambda: panel.result is not before and not window.work.busy, timeout=60_000)


def _column(table, header: str) -> int:
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    return headers.index(header)


def test_a_run_shows_the_engines_kpis_against_the_standards(window, panel, qtbot, engine):
    from simulation.emergency import results
    from simulation.emergency.report import simulate_to

    _run(qtbot, window, panel, "2", "2", "11")
    kpis = simulate_to(engine, 2.0, 2, None, seed=11)["kpis"]

    t = panel.standards_table
    assert t.rowCount() == len(kpis["standards"]) == len(engine.scenario.standards)
    share_col, met_col, n_col = _column(t, "Met"), _column(t, "Result"), _column(t, "n")
    for r, st in enumerate(kpis["standards"]):
        assert t.item(r, 0).text() == st["name"]
        assert t.item(r, n_col).data(KEY) == st["n"]["mean"]
        share = st["share"]
        if share is None:
            assert t.item(r, share_col).text() == "—"
            continue
        assert t.item(r, share_col).data(KEY) == share["mean"]
        assert t.item(r, share_col).text() == f"{100 * share['mean']:.1f} %"
        met = share["mean"] >= st["target"]["mean"]
        assert t.item(r, met_col).text() == ("met" if met else "NOT met")
        colour = t.item(r, met_col).background().color().name()
        assert colour == ("#b7e1b0" if met else "#f4b6b0")
    assert any(t.item(r, met_col).text() == "NOT met" for r in range(t.rowCount()))   # both colours exercised

    types = panel.types_table
    rows = {types.item(r, 0).data(KEY): r for r in range(types.rowCount())}
    assert set(rows) == {"all incidents", *kpis["by_type"]}
    mean_col, p90_col = _column(types, "Mean"), _column(types, "p90")
    for name, group in [("all incidents", kpis["overall"]), *kpis["by_type"].items()]:
        r = rows[name]
        resp = group["response_s"]
        assert types.item(r, mean_col).data(KEY) == (resp["mean"] or {}).get("mean")
        assert types.item(r, p90_col).data(KEY) == (resp["p90"] or {}).get("mean")
        if resp["mean"] is not None:
            assert types.item(r, mean_col).text() == f"{resp['mean']['mean'] / 60:.1f}"
    # within the 5 and 8 minute marks: the mean over replications of each one's share
    within = _column(types, "≤ 5 min")
    runs = engine.simulate(2.0, 2, seed=11)
    shares = []
    for run in runs:
        inc = results.incident_times(run)
        served = inc[~inc["false_alarm"] & inc["on_scene"].notna()]
        shares.append((served["response_s"] <= 300.0).mean())
    assert types.item(rows["all incidents"], within).data(KEY) == pytest.approx(np.mean(shares))
    assert "2 day(s) × 2 replication(s), seed 11" in panel.status.text()
    n = kpis["overall"]["incidents"]["mean"]
    shown = f"{n:,.0f}" if n == round(n) else f"{n:,.1f}"
    assert f": {shown} incidents per replication" in panel.status.text()


def test_the_ecdf_draws_every_response_time_with_the_limits(window, panel, qtbot, engine):
    from simulation.emergency import results

    _run(qtbot, window, panel, "2", "2", "11")
    panel.tabs.setCurrentIndex(1)
    runs = engine.simulate(2.0, 2, seed=11)
    inc = pd.concat([results.incident_times(r) for r in runs], ignore_index=True)
    served = inc[~inc["false_alarm"] & inc["on_scene"].notna()]
    assert set(panel.curves) == {"all incidents", *served["type"].unique()}
    x, y = panel.curves["all incidents"].getOriginalDataset()
    assert np.allclose(x * 60.0, np.sort(served["response_s"].to_numpy()))
    assert y[-1] == pytest.approx(100.0) and np.all(np.diff(y) > 0)
    for name, grp in served.groupby("type"):
        x, _ = panel.curves[name].getOriginalDataset()
        assert np.allclose(x * 60.0, np.sort(grp["response_s"].to_numpy()))
    assert sorted(line.value() for line in panel.limit_lines) == [5.0, 8.0]

    # by unit type: each arriving crew, dispatch -> on scene, with the dispatch-to-scene standards' limits
    panel.grouping.setFocus()
    qtbot.keyClick(panel.grouping, Qt.Key.Key_Down)
    assert panel.grouping.currentData() == "unit type"
    crews = pd.concat([results.crew_times(r) for r in runs], ignore_index=True)
    arrived = crews[crews["arrived"]]
    assert set(panel.curves) == set(arrived["unit_type"])
    x, _ = panel.curves["ambulance"].getOriginalDataset()
    amb = arrived[arrived["unit_type"] == "ambulance"]["dispatch_to_scene"].to_numpy()
    assert np.allclose(x * 60.0, np.sort(amb))
    limits = {st.limit_s / 60.0 for st in engine.scenario.standards if st.measure == "dispatch_to_scene"}
    assert {line.value() for line in panel.limit_lines} == limits
    qtbot.keyClick(panel.grouping, Qt.Key.Key_Up)
    assert panel.grouping.currentData() == "incident type"
    assert "all incidents" in panel.curves


def test_coverage_colours_every_building_by_the_engines_drive_time(window, panel, qtbot, engine, demo_twin):
    panel.tabs.setCurrentIndex(2)
    _type(qtbot, panel.minutes, "4")
    earlier = panel.coverage
    _click(qtbot, panel.coverage_button)
    qtbot.waitUntil(lambda: panel.coverage is not earlier and not window.work.busy, timeout=30_000)
    assert panel.coverage.minutes == 4.0
    cov = engine.coverage(4.0)
    result, values = window.view_model.values["buildings"]
    assert result == "response time"
    assert len(values) == len(demo_twin["buildings"]) == cov.buildings
    assert list(values.index) == list(demo_twin["buildings"]["id"].astype(str))
    assert np.allclose(values.to_numpy(), cov.best_s / 60.0)
    assert window.scene.layers["buildings"].colour_by == "response time"
    assert window.view_model.layer("buildings").clim == (0.0, 8.0)
    assert f"{cov.buildings_covered:,} of {cov.buildings:,} buildings" in panel.coverage_label.text()
    _click(qtbot, panel.clear_button)
    assert "buildings" not in window.view_model.values
    assert window.scene.layers["buildings"].colour_by != "response time"


@pytest.fixture
def ground_only(window):
    """Only the ground the planner sites stations on (terrain, roads, buildings, stations), as a user
    unclutters the view before clicking; every layer's visibility put back afterwards."""
    views = window.view_model.layers
    visible = {name: v.visible for name, v in views.items()}
    for name, v in views.items():
        v.visible = name in ("terrain", "roads", "buildings", "fire_stations")
    yield
    for name, on in visible.items():
        views[name].visible = on
    window.interactor.render()


def _far_road_point(engine, demo_twin):
    """The middle of the road nearest the building that waits longest for a station (or micro station)."""
    import shapely

    cov = engine.coverage(5.0)
    worst = int(np.argmax(np.where(np.isfinite(cov.best_s), cov.best_s, -1)))
    bx, by = cov.xy[worst]
    roads = demo_twin["roads"]
    distance = roads.geometry.distance(shapely.Point(bx, by))
    road = roads.loc[distance.idxmin()]
    mid = road.geometry.interpolate(0.5, normalized=True)
    return str(road["id"]), (mid.x, mid.y), worst


def _pixel(window, layer: str, x: float, y: float):
    scene = window.scene
    pts = np.asarray(scene.layers[layer].mesh.points)
    sx, sy = scene.frame.xy(x, y)
    z_scene = pts[np.argmin(np.hypot(pts[:, 0] - sx, pts[:, 1] - sy)), 2]
    return scene.display_position((x, y, z_scene / scene.frame.vertical + scene.frame.z_ref))


def test_a_candidate_station_clicked_far_from_stations_improves_coverage_and_kpis(window, panel, qtbot, engine,
                                                                                 demo_twin, ground_only, tmp_path):
    from simulation.emergency.study import Candidate, replicate, what_if

    _run(qtbot, window, panel, "1", "1", "3")
    panel.tabs.setCurrentIndex(2)
    _type(qtbot, panel.minutes, "5")
    earlier = panel.coverage
    _click(qtbot, panel.coverage_button)
    qtbot.waitUntil(lambda: panel.coverage is not earlier and not window.work.busy, timeout=30_000)
    before = panel.coverage.coverage
    assert before.minutes == 5.0

    road_id, (x, y), worst = _far_road_point(engine, demo_twin)
    window.set_camera("top")
    qtbot.wait(50)
    _click(qtbot, panel.candidate_button)
    assert panel.candidate_button.isChecked()
    px, py = _pixel(window, "roads", x, y)
    hit = window.pick_at(px, py)
    assert hit is not None and (hit.layer, hit.feature_id) == ("roads", road_id)
    assert np.hypot(hit.position[0] - x, hit.position[1] - y) < 30.0
    qtbot.waitUntil(lambda: panel.whatif is not None and not window.work.busy, timeout=60_000)
    assert not panel.candidate_button.isChecked()     # one click, one candidate
    assert panel.candidate_list.count() == 1
    assert panel.candidate_list.item(0).text().startswith("candidate 1: station at")
    assert f"{hit.layer} {hit.feature_id}" in panel.candidate_list.item(0).text()

    # the engine's own what-if for a station at the clicked point, same seeded replication
    candidate = Candidate(1, hit.position[0], hit.position[1], "station")
    engine_whatif = what_if(engine, [candidate], 5.0, replicate(engine, 1.0, 1, 3))
    expected = engine_whatif.table()
    table = panel.whatif_table
    assert table.rowCount() == len(expected)
    for r, row in enumerate(expected.to_dict("records")):
        assert table.item(r, 0).data(KEY) == row["measure"]
        assert table.item(r, 1).data(KEY) == row["now"]
        assert table.item(r, 2).data(KEY) == row["with_candidates"]
    shares = {table.item(r, 0).data(KEY): (table.item(r, 1).data(KEY), table.item(r, 2).data(KEY))
              for r in range(table.rowCount())}
    now, after = shares["buildings within 5 min"]
    assert now == pytest.approx(before.building_share)
    assert after > now                                           # more buildings within the standard
    now_t, after_t = shares["mean drive time to a building"]
    assert after_t < now_t
    assert "mean response, all incidents" in shares                # the KPIs were run again with it
    assert table.item(0, 3).background().color().name() == "#b7e1b0"   # better: green

    # the 3D view now shows the city with the candidate: the far building is reached sooner
    result, values = window.view_model.values["buildings"]
    assert result == "response time" and len(values) == len(demo_twin["buildings"])
    assert np.allclose(values.to_numpy(), engine_whatif.after.buildings.to_numpy())
    assert values.iloc[worst] < before.best_s[worst] / 60.0
    assert panel.shown.currentData() == "after"
    assert window.view_model.highlights[f"emergency-candidates:{hit.layer}"].ids == (hit.feature_id,)
    window.save_screenshot(tmp_path / "emergency-panel.png")  # to look at

    # removing it puts the city back as it is
    panel.candidate_list.setCurrentRow(0)
    _click(qtbot, panel.remove_button)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=30_000)
    assert panel.candidate_list.count() == 0 and panel.whatif is None
    assert panel.whatif_table.rowCount() == 0
    assert not [n for n in window.view_model.highlights if n.startswith("emergency")]
    _, values = window.view_model.values["buildings"]
    assert np.allclose(values.to_numpy(), before.best_s / 60.0)


def test_cancel_stops_a_long_run_and_the_panel_says_so(window, panel, qtbot):
    earlier = panel.result
    _type(qtbot, panel.days, "3650")
    _type(qtbot, panel.replications, "20")
    _click(qtbot, panel.run_button)
    assert window.work.busy
    qtbot.waitUntil(lambda: panel.progress_seen["done"] >= 3, timeout=30_000)
    _click(qtbot, window.work.cancel_button)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=30_000)
    qtbot.waitUntil(lambda: "cancelled" in panel.status.text(), timeout=5_000)
    seen = panel.progress_seen
    assert seen["total"] == 3650 * 20
    assert 3 <= seen["done"] < seen["total"]
    assert f"({seen['done']} of {seen['total']} simulated days)" in panel.status.text()
    assert panel.result is earlier                   # nothing partial passed off as a result
    assert not window.work.isVisible()


def test_progress_by_day_leaves_the_runs_unchanged(engine):
    """The panel's progress hook (one call per simulated day) must not change what is simulated.

    Qt-free, beside the panel that relies on it: the same seeded replications with and without
    the hook give the same incidents, crews and event counts, and the hook hears every day.
    """
    heard = []
    plain = engine.simulate(2.5, 2, seed=4)
    told = engine.simulate(2.5, 2, seed=4, progress=lambda done, total, text: heard.append((done, total)))
    for a, b in zip(plain, told):
        assert a.events == b.events
        pd.testing.assert_frame_equal(a.incidents, b.incidents)
        pd.testing.assert_frame_equal(a.crews, b.crews)
    assert {total for _, total in heard} == {6}
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)
    assert set(range(7)) <= {d for d, _ in heard}
