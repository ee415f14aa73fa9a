"""A scenario in the window as a user runs it: open it, play the clock, watch events arrive, acknowledge a red
alarm, follow the incidents, plot a sensor over the model, run to the end and cancel, write the report.

One session of the shipped main-burst scenario (demo city, seed 7) is shared by the tests of this module, in
order; the module leaves the window as it found it (no scenario, nothing selected, the clock stopped).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from .waiting import wait

pytestmark = pytest.mark.qt

MAIN_BURST = Path(__file__).resolve().parents[2] / "scenarios" / "main-burst.yaml"
H = 3600.0


def _idle(window, qapp) -> None:
    """Wait for the work bar's job (and the playback's) to be over."""
    wait(qapp, lambda: not window.work.busy and not (window.panels["scenario"].playback
                                                       and window.panels["scenario"].playback.busy))
    qapp.processEvents()


@pytest.fixture(scope="module")
def panel(window, qapp):
    """The Scenarios panel with main-burst.yaml open on the window's demo city."""
    p = window.panels["scenario"]
    job = p.open_scenario(MAIN_BURST)
    assert job is not None, window.log_panel.toPlainText()
    wait(qapp, lambda: p.playback is not None)
    yield p
    window.view_model.clock.playing = False
    _idle(window, qapp)
    p.close_scenario()
    window.view_model.select(None)


def _table_events(p) -> list:
    return [p.table.event_at(r) for r in range(p.table.rowCount())]


def _logged(p) -> list:
    return [e for e in p.playback.session.log.events if e.kind != "readings_arrived"]


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


# ---------------------------------------------------------------------- opening
def test_opening_a_scenario_puts_its_day_on_the_clock_and_says_what_it_scripts(window, panel):
    s = panel.playback.session
    clock = window.view_model.clock
    assert panel.title.text() == "Main burst at peak hour"
    assert "breaks pipe P-83 at 07:30" in panel.about.text()
    assert "2026-06-01 00:00:00 to 2026-06-02 00:00:00 UTC (24 h" in panel.about.text()
    assert (clock.start, clock.end, clock.time) == (s.start, s.end, s.now) == (s.start, s.end, s.start)
    assert window.panels["timeline"].isEnabled()
    assert panel.run_button.isEnabled() and panel.report_button.isEnabled()
    assert not panel.open_report_button.isEnabled()
    # the other panels hear of it
    assert window.panels["alarms"].playback is panel.playback is window.panels["plots"].playback
    assert "103 sensors on the water network" in window.panels["alarms"].sources.text()
    assert "No recorded file or live MQTT feed" in window.panels["alarms"].sources.text()


def test_a_scenario_for_another_city_is_refused_with_one_clear_message(window, panel, tmp_path):
    other = tmp_path / "other-city.yaml"
    other.write_text(MAIN_BURST.read_text().replace("demo_seed: 7", "demo_seed: 3"))
    before = panel.playback
    assert panel.open_scenario(other) is None
    text = panel.warning.text()
    assert panel.warning.isVisibleTo(panel)
    assert "seed 3" in text and "the demo city with seed 7" in text and "open that city first" in text
    assert text in window.log_panel.toPlainText()
    assert panel.playback is before and panel.title.text() == "Main burst at peak hour"   # still open


# ---------------------------------------------------------------------- the clock and the events
def test_playing_the_clock_brings_the_events_into_the_list_as_they_happen(window, panel, qtbot, qapp):
    clock, timeline = window.view_model.clock, window.panels["timeline"]
    s = panel.playback.session
    clock.time = s.start + 7 * H + 25 * 60          # far ahead: the session runs in the worker
    _idle(window, qapp)
    s = panel.playback.session
    assert s.now == clock.time
    assert not s.log.of("pipe_broken")
    shown_before = len(_table_events(panel))
    assert shown_before == len(_logged(panel)) > 0
    timeline.speed.setCurrentIndex(timeline.speed.findData(600.0))
    clock.speed = 600.0
    qtbot.mouseClick(timeline.play_button, Qt.MouseButton.LeftButton)
    assert clock.playing
    target = s.start + 7 * H + 34 * 60
    qtbot.waitUntil(lambda: clock.time >= target, timeout=60_000)
    qtbot.mouseClick(timeline.play_button, Qt.MouseButton.LeftButton)
    assert not clock.playing
    _idle(window, qapp)
    shown = _table_events(panel)
    assert shown == _logged(panel)                   # every event but the reading counts, in log order
    assert [e.time for e in shown] == sorted(e.time for e in shown)
    assert len(shown) > shown_before
    kinds = [e.kind for e in shown[shown_before:]]
    assert {"pipe_broken", "leak_started", "alarm_raised", "incident_opened"} <= set(kinds)
    broke = next(e for e in shown if e.kind == "pipe_broken")
    assert (_hms(broke.time), broke.feature) == ("07:30:00", "P-83")
    assert panel.count.text().startswith(f"{len(shown)} events to ")
    # the reading counts are there too when asked for
    panel.show_readings.setChecked(True)
    assert panel.table.rowCount() == len(panel.playback.session.log.events)
    panel.show_readings.setChecked(False)
    assert panel.table.rowCount() == len(shown)


# ---------------------------------------------------------------------- alarms and incidents
def test_acknowledging_a_red_alarm_logs_it_and_changes_its_row(window, panel, qtbot, qapp, tmp_path):
    clock = window.view_model.clock
    s = panel.playback.session
    clock.time = s.start + 7 * H + 52 * 60          # PT001 went red at 07:51
    _idle(window, qapp)
    alarms = window.panels["alarms"]
    window.docks["alarms"].raise_()
    table = alarms.alarm_table
    rows = {table.item(r, 1).text(): r for r in range(table.rowCount())}
    red = [table.item(r, 1).text() for r in range(table.rowCount()) if table.item(r, 0).text() == "red"]
    assert "PT001" in red
    r = rows["PT001"]
    assert table.item(r, 0).background().color().name() == "#d7191c"   # the red of twin.schema.RISK_COLOURS
    assert table.item(r, 6).text() == "no" and table.item(r, 1).font().bold()
    assert not alarms.ack_button.isEnabled()
    table.selectRow(r)
    assert alarms.ack_button.isEnabled()
    qtbot.mouseClick(alarms.ack_button, Qt.MouseButton.LeftButton)
    pb = panel.playback
    acks = [e for e in pb.session.log.of("alarm_acknowledged") if e.source == "operator"]
    assert [(e.get("sensor"), e.time) for e in acks] == [("PT001", clock.time)]
    r = {table.item(k, 1).text(): k for k in range(table.rowCount())}["PT001"]
    assert table.item(r, 6).text() == f"{_hms(clock.time)} (operator)"
    assert not table.item(r, 1).font().bold() and table.item(r, 1).font().italic()
    assert not alarms.ack_button.isEnabled()   # nothing selected waits for it any more
    assert _table_events(panel)[-1] is acks[0]  # and the event list shows it
    # look at it: the window during the burst with red alarms and PT001 plotted (kept for a person to check)
    window.view_model.select("sensors", "PT001")
    qtbot.wait(300)
    window.save_screenshot(tmp_path / "lifeline-twin-scenario-red-alarm.png")  # to look at
    window.view_model.select(None)


def test_each_incident_shows_its_life_cycle_with_the_times_of_the_log(window, panel):
    table = window.panels["alarms"].incident_table
    log = panel.playback.session.log
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert header[2:8] == ["report", "verify", "assign", "handle", "feedback", "close"]
    shown = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    opened = log.of("incident_opened")
    assert set(shown) == {e.feature for e in opened}
    dispatched = log.of("unit_dispatched")[0]                   # the burst's crew
    incident = dispatched.get("incident")
    r = shown[incident]
    opened_at = next(e.time for e in opened if e.feature == incident)
    arrived = next((e for e in log.of("unit_arrived") if e.feature == incident), None)
    assert [table.item(r, c).text() for c in (2, 4, 5)] == [_hms(opened_at), _hms(dispatched.time),
                                                            _hms(arrived.time) if arrived else ""]
    false = next(e for e in log.of("incident_closed") if e.get("false_alarm"))
    r = shown[false.feature]
    assert table.item(r, 3).text() == table.item(r, 7).text() == _hms(false.time)   # closed at verification
    assert "false alarm" in table.item(r, 1).text()


# ---------------------------------------------------------------------- plots
def test_a_sensor_is_plotted_over_the_model_with_the_clock_as_a_cursor(window, panel, qtbot, qapp):
    plots = window.panels["plots"]
    pb = panel.playback
    window.view_model.select("sensors", "PT001")
    assert set(plots.curves) == {"J-141 pressure (model)", "PT001 readings"}
    x, y = plots.curves["PT001 readings"].getData()
    readings = pb.readings("PT001")
    assert len(x) == len(readings) > 400 and y[-1] == pytest.approx(readings.iloc[-1])
    mx, my = plots.curves["J-141 pressure (model)"].getData()
    assert mx[-1] <= pb.session.now and my[0] > 50 and my[-1] < 15   # the burst seen by the model
    assert plots.cursor.value() == window.view_model.clock.time
    # the cursor follows the clock as it plays on
    window.view_model.clock.time = pb.session.now + 300
    assert plots.cursor.value() == window.view_model.clock.time
    x2, _ = plots.curves["PT001 readings"].getData()
    assert len(x2) > len(x)


def test_clicking_the_plot_moves_the_clock_there(window, panel, qtbot, qapp):
    plots = window.panels["plots"]
    clock = window.view_model.clock
    s = panel.playback.session
    want = s.start + 7 * H + 45 * 60
    vb = plots.plot.getPlotItem().getViewBox()
    (_, _), (y0, y1) = vb.viewRange()
    at = plots.plot.mapFromScene(vb.mapViewToScene(QPointF(want, (y0 + y1) / 2)))
    qtbot.mouseClick(plots.plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    per_pixel = (clock.end - clock.start) / vb.width()
    assert clock.time == pytest.approx(want, abs=2 * per_pixel)
    assert plots.cursor.value() == clock.time
    _idle(window, qapp)      # back in time: the session re-ran from the start
    assert panel.playback.session.now == clock.time
    assert _table_events(panel) == _logged(panel)
    window.view_model.select(None)
    assert not plots.curves


def test_double_clicking_an_event_goes_to_its_time_and_selects_its_feature(window, panel, qtbot, qapp):
    rows = _table_events(panel)
    k = next(i for i, e in enumerate(rows) if e.kind == "pipe_broken")
    index = panel.table.index(k, 0)
    panel.view.scrollTo(index)
    centre = panel.view.visualRect(index).center()
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    clock, sel = window.view_model.clock, window.view_model.selection
    assert clock.time == rows[k].time
    assert (sel.layer, sel.feature_ids) == ("water_pipes", ("P-83",))
    _idle(window, qapp)
    assert panel.playback.session.now == rows[k].time
    window.view_model.select(None)


# ---------------------------------------------------------------------- long work
def test_run_to_end_runs_in_the_worker_and_a_second_run_can_be_cancelled(window, panel, qtbot, qapp):
    clock = window.view_model.clock
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert window.work.busy and panel.playback.busy and not panel.run_button.isEnabled()
    _idle(window, qapp)
    s = panel.playback.session
    assert s.now == s.end == clock.time
    assert not panel.run_button.isEnabled()          # nothing left to run
    kinds = {e.kind for e in _table_events(panel)}
    assert {"valve_closed", "repair_done", "valve_opened", "incident_closed"} <= kinds
    assert _table_events(panel) == _logged(panel)
    # back to the start (nothing to re-run: done here) and again, cancelled on the way
    clock.time = s.start
    assert panel.playback.session.now == clock.time == s.start and not window.work.busy
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.playback.session.now > s.start + 2 * H, timeout=60_000)
    qtbot.mouseClick(window.work.cancel_button, Qt.MouseButton.LeftButton)
    _idle(window, qapp)
    s = panel.playback.session
    assert s.start + 2 * H < s.now < s.end
    assert clock.time == s.now
    assert "stopped at" in window.log_panel.toPlainText().splitlines()[-1]
    assert panel.run_button.isEnabled()
    assert _table_events(panel) == _logged(panel)


def test_the_report_of_the_run_so_far_is_written_and_opened(window, panel, qapp, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("app.window.scenario.QDesktopServices.openUrl", lambda url: opened.append(url) or True)
    s = panel.playback.session
    job = panel.write_report(tmp_path)
    assert job is not None
    _idle(window, qapp)
    html = (tmp_path / "report.html").read_text()
    assert "Main burst at peak hour" in html and "the 3D view in the window" in html
    assert (tmp_path / "events.csv").read_text().count("\n") == len(s.log.events) + 1
    assert panel.open_report_button.isEnabled()
    assert panel.open_report() and opened[0].toLocalFile() == str(tmp_path / "report.html")


def test_a_bad_scenario_on_the_command_line_is_one_clear_error_before_any_window(tmp_path, capsys):
    from app.cli import main

    assert main(["gui", "--scenario", str(tmp_path / "none.yaml")]) != 0
    assert "none.yaml: no such scenario file" in capsys.readouterr().err


def test_a_movie_of_the_clock_records_the_3d_view_and_puts_the_clock_back(window, panel, qapp, tmp_path):
    import imageio.v2 as imageio

    pb = panel.playback
    clock = window.view_model.clock
    before = clock.time
    start = pb.session.start + 7 * 3600 + 20 * 60
    window.set_camera("top")   # the whole town in view, whatever earlier tests zoomed to
    path = window.export_movie(tmp_path / "burst.mp4", frames=4, fps=2, start=start, end=start + 30 * 60)
    assert path == tmp_path / "burst.mp4" and not list(tmp_path.glob(".*recording*"))
    assert not list(tmp_path.glob(".*"))   # no hidden temporary left beside it
    frames = [f for f in imageio.get_reader(path)]
    assert len(frames) == 4
    w, h = window.scene.plotter.window_size
    assert frames[0].shape[:2] == (h // 2 * 2, w // 2 * 2)
    # the burst at 07:30 changes the junctions' colours between the first and the last frame
    changed = (np.abs(frames[0].astype(int) - frames[-1].astype(int)).sum(axis=2) > 60).sum()
    assert changed > 30, changed   # pixels, well beyond the codec's noise
    assert clock.time == before
    notes = tmp_path / "notes.mp4"
    notes.write_text("mine")
    with pytest.raises(Exception, match="notes.mp4: exists and is a text"):
        window.export_movie(notes, frames=2)
    assert notes.read_text() == "mine"
