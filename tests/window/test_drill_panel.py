"""The main-burst drill played in the window as controller, trainee and evaluator do it, then replayed headless.

One drill session is shared by the tests of this module, in order: open it, let inject 1 arrive, acknowledge
the alarm from its right-click menu, verify, dispatch the water crew from its fire station, hold inject 4
past its time, choose the valves from the 3D view's selection, deliver inject 4 by hand, notify, close the
incident after the repair; then the evaluator overrides a rating, saves the actions file and writes the
after-action report; replaying the saved file headless gives the same injects, actions and scores.  The module
leaves the window as it found it (no drill, nothing selected, the clock stopped).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt

from .waiting import drill_clock, wait

pytestmark = pytest.mark.qt

DRILL = Path(__file__).resolve().parents[2] / "scenarios" / "drills" / "main-burst-drill.yaml"
DAY = "2026-06-01T"


def _wait_for(qapp, condition, timeout_s: float = 120.0) -> None:
    wait(qapp, condition, timeout_s)


def _idle(window, qapp) -> None:
    p = window.panels["drill"]
    _wait_for(qapp, lambda: not window.work.busy and not (p.playback and p.playback.busy))
    qapp.processEvents()


def _clock(window, qapp, hhmm: str) -> None:
    """Move the window's clock to HH:MM[:SS] of the drill's day and wait for the session to be there."""
    drill_clock(window, qapp, hhmm, DAY)


def _iso(t: float) -> str:
    from simulation.clock import iso

    return iso(t)


def _trigger(menu, starts: str):
    acts = [a for a in menu.actions() if a.text().startswith(starts)]
    assert acts, [a.text() for a in menu.actions()]
    acts[0].trigger()


@pytest.fixture(scope="module")
def panel(window, qapp):
    p = window.panels["drill"]
    camera = window.scene.plotter.camera_position if window.scene is not None else None
    job = p.open_drill(DRILL)
    assert job is not None, window.log_panel.toPlainText()
    _wait_for(qapp, lambda: p.playback is not None)
    yield p
    window.view_model.clock.playing = False
    _idle(window, qapp)
    p.close_drill()
    window.view_model.select(None)
    if camera is not None:   # double-clicking an inject framed its location
        window.scene.plotter.camera_position = camera
    assert window.panels["alarms"].playback is None and "drill inject" not in window.view_model.highlights
    qapp.processEvents()


def _log(p, kind):
    return p.playback.session.log.of(kind)


def _states(p) -> dict:
    return {int(p.injects.item(r, 0).text()): p.injects.item(r, 4).text() for r in range(p.injects.rowCount())}


def test_opening_a_drill_lists_its_injects_and_roles_on_the_clock(window, panel):
    s = panel.playback.session
    assert panel.title.text() == "Main burst at peak hour (control room drill)"
    assert _iso(s.start) == DAY + "07:00:00Z" and window.view_model.clock.time == s.start
    assert [panel.role.itemText(k) for k in range(panel.role.count())] == ["control_room", "supervisor",
                                                                             "water_crew"]
    assert _states(panel) == {1: "on hold", 2: "on hold", 3: "on hold", 4: "scheduled", 5: "on hold",
                              6: "on hold", 7: "on hold", 8: "on hold"}
    assert panel.injects.item(3, 1).text() == "at 08:00"
    assert panel.injects.item(0, 1).text() == "on alarm raised (alarm_kind=rate)"
    # the alarms panel follows the drill's session
    assert window.panels["alarms"].playback is panel.playback
    assert panel.inbox.rowCount() == 0


def test_inject_arrives_in_the_inbox_at_its_time_and_alarm_right_click_acknowledges(window, panel, qapp):
    beeps = panel.beeps
    _clock(window, qapp, "07:32:00")
    assert panel.inbox_rows() == [("07:31:00", 1)]
    assert panel.beeps == beeps + 1
    assert panel.inbox.item(0, 3).text() == "SCADA → control_room"
    assert panel.inbox.item(0, 4).text() == "water_junctions/J-141"
    assert panel.inbox.item(0, 2).background().color().name() != "#000000"
    assert _states(panel)[1] == "delivered"
    # double-click the inject: its location is selected
    panel.inbox.cellDoubleClicked.emit(0, 0)
    sel = window.view_model.selection
    assert (sel.layer, sel.feature_ids) == ("water_junctions", ("J-141",))
    window.view_model.select(None)
    # right-click the rate alarm in the Sensors and alarms panel
    alarms = window.panels["alarms"]
    rows = [r for r in range(alarms.alarm_table.rowCount())
            if alarms.alarm_table.item(r, 0).data(Qt.ItemDataRole.UserRole)[1] == "rate"]
    assert rows, "no rate alarm in the list"
    alarms.alarm_table.selectRow(rows[0])
    menu = panel.alarm_menu(alarms.selected_keys())
    _trigger(menu, "Acknowledge")
    taken = _log(panel, "action_taken")
    assert [(_iso(e.time), e.get("role"), e.get("action")) for e in taken] == [
        (DAY + "07:32:00Z", "control_room", "acknowledge")]
    assert panel.taken.rowCount() == 1


def test_verify_dispatch_from_the_fire_station_and_hold(window, panel, qapp):
    _clock(window, qapp, "07:35:00")
    panel.verify_button.click()
    assert _log(panel, "action_taken")[-1].get("action") == "verify"
    _clock(window, qapp, "07:36:00")
    # the response verifies at the action's time (in the next frame)
    ack = [e for e in _log(panel, "alarm_acknowledged") if e.get("verified")]
    assert [_iso(e.time) for e in ack] == [DAY + "07:35:00Z"] and ack[0].get("role") == "control_room"
    assert panel.inbox_rows()[0] == ("07:34:00", 2)
    window.view_model.select("fire_stations", "FS15")
    _trigger(panel.menu_for_selection(), "Dispatch FS15/water_crew-1")
    window.view_model.select(None)
    # the controller holds inject 4 (due at 08:00)
    _clock(window, qapp, "07:40:00")
    sent = _log(panel, "unit_dispatched")
    assert [(e.get("unit"), _iso(e.time)) for e in sent] == [("FS15/water_crew-1", DAY + "07:36:00Z")]
    panel.select_inject(4)
    assert panel.hold_button.isEnabled()
    panel.hold_button.click()
    assert _states(panel)[4] == "on hold"


def test_valves_chosen_from_the_selection_stop_the_leak(window, panel, qapp, tmp_path_factory):
    _clock(window, qapp, "07:58:00")
    arrived = _log(panel, "unit_arrived")
    assert [_iso(e.time) for e in arrived] == [DAY + "07:57:31Z"]   # the crew travelled the roads
    assert panel.inbox_rows()[0] == ("07:57:31", 3)
    window.view_model.select("water_valves", "IV00128")
    _trigger(panel.menu_for_selection(), "Add valve IV00128")
    assert panel.valves.text() == "IV00128"
    window.view_model.select("water_valves", "IV00884")
    _trigger(panel.menu_for_selection(), "Close valves IV00128, IV00884")
    last = _log(panel, "action_taken")[-1]
    assert (last.get("action"), last.get("parameters"), _iso(last.time)) == (
        "close_valves", {"valves": ["IV00128", "IV00884"]}, DAY + "07:58:00Z")
    window.view_model.select(None)
    _clock(window, qapp, "08:05:00")
    # held: inject 4 was not delivered at 08:00
    assert 4 not in panel.controller.delivered and _states(panel)[4] == "on hold"
    panel.select_inject(4)
    panel.deliver_button.click()
    assert panel.controller.delivered[4] == window.view_model.clock.time
    assert panel.inbox_rows()[0] == ("08:05:00", 4)
    assert _log(panel, "valve_closed") == []   # the crew closes them isolate_s (30 min) after the choice
    shot = tmp_path_factory.mktemp("drill") / "drill-window.png"
    panel.tabs.setCurrentIndex(1)
    window.docks["drill"].raise_()
    qapp.processEvents()
    window.save_screenshot(shot)
    window.save_screenshot(tmp_path_factory.getbasetemp() / "drill-window.png")  # to look at
    assert shot.stat().st_size > 10_000


def test_notify_from_a_building_and_close_after_the_repair(window, panel, qapp):
    import numpy as np

    # right-click a building in the 3D view (one with no neighbour within 60 m: nothing stands in front of it)
    scene = window.scene
    camera = scene.plotter.camera_position
    window.set_camera("oblique")
    b = window.twin["buildings"]
    (_, _), gaps = b.sindex.nearest(b.geometry, return_distance=True, exclusive=True)
    target = b.iloc[int(np.argmax(gaps))]
    c = target.geometry.centroid
    x, y = scene.display_position((c.x, c.y, float(scene.frame.ground(c.x, c.y)) + target["height"]))
    menu = panel.context_menu_at(x, y)
    assert window.view_model.selection.feature_ids == (target["id"],)
    assert [a.text() for a in menu.actions() if a.text()][:4] == ["Notify residents", "Notify school",
                                                                  "Notify hospital", "Notify gas company"]
    _trigger(menu, "Notify school")
    scene.plotter.camera_position = camera
    building = str(target["id"])
    panel.role.setCurrentText("supervisor")
    _clock(window, qapp, "08:20:00")
    window.view_model.select("buildings", building)
    _trigger(panel.menu_for_selection(), "Notify residents")
    panel.role.setCurrentText("control_room")
    window.view_model.select(None)
    assert [(e.get("whom"), e.get("role")) for e in _log(panel, "notified")] == [("school", "control_room"),
                                                                                 ("residents", "supervisor")]
    _clock(window, qapp, "08:40:00")
    stopped = _log(panel, "leak_stopped")
    assert stopped and stopped[0].time <= window.view_model.clock.time
    closed = _log(panel, "valve_closed")
    assert sorted(e.feature for e in closed) == ["IV00128", "IV00884"]
    assert _iso(closed[0].time) == DAY + "08:28:00Z" and stopped[0].time >= closed[0].time
    # far ahead: through the worker
    _clock(window, qapp, "12:35:00")
    assert [int(e.value) for e in _log(panel, "inject_delivered")][-1] == 5
    panel.close_incident_button.click()
    _clock(window, qapp, "12:36:00")
    assert [_iso(e.time) for e in _log(panel, "incident_closed")] == [DAY + "12:35:00Z"]


def test_cancel_and_an_ad_hoc_inject(window, panel, qapp, tmp_path):
    panel.select_inject(8)
    assert panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    assert _states(panel)[8] == "cancelled" and not panel.deliver_button.isEnabled()
    beeps = panel.beeps
    n = panel.add_inject("supervisor", "message", "The mayor's office asks for a status update.")
    assert n == 9 and panel.controller.delivered[9] == window.view_model.clock.time
    assert panel.inbox_rows()[0] == ("12:36:00", 9) and panel.beeps == beeps + 1
    assert panel.inbox.item(0, 3).text() == "controller → supervisor"
    assert _states(panel)[9] == "done"   # it expects nothing
    panel.tabs.setCurrentIndex(0)
    qapp.processEvents()
    window.save_screenshot(tmp_path / "drill-controller.png")  # to look at


def test_evaluator_scores_save_and_replay_headless(window, panel, qapp, tmp_path, demo_twin):
    import json

    from simulation.drill.controller import play
    from simulation.drill.model import load_actions, load_drill
    from simulation.drill.scoring import score

    scores = panel.scores()
    status = {(r["inject"], r["action"], r["index"]): r["status"] for r in scores["expected"]}
    assert status == {(1, "acknowledge", 0): "met", (1, "verify", 1): "met", (2, "dispatch", 0): "met",
                      (3, "close_valves", 0): "met", (4, "notify", 0): "met", (4, "notify", 1): "met",
                      (5, "close_incident", 0): "met"}
    assert panel.expected.rowCount() == 7 and panel.expected.item(0, 4).text() == "met"
    # the evaluator overrides O4 with a note
    panel.rating_boxes["O4"].setCurrentText("S")
    panel.note_boxes["O4"].setText("Inject 4 held by the controller; school told at once.")
    # a strength and an area for improvement with its plan
    panel.obs_kind.setCurrentText("strength")
    panel.obs_objective.setCurrentText("O3")
    panel.obs_text.setText("Valves chosen from the 3D view at once.")
    panel.obs_button.click()
    panel.obs_kind.setCurrentText("improvement")
    panel.obs_objective.setCurrentText("O4")
    panel.obs_text.setText("The school's call waited on hold.")
    panel.obs_button.click()   # refused: an improvement needs its action, owner and due date
    assert panel.obs_list.rowCount() == 1 and "improvement needs action, owner and due" in \
        window.statusBar().currentMessage()
    panel.obs_action.setText("Release the parents calls at once")
    panel.obs_owner.setText("Exercise director")
    panel.obs_due.setText("2026-07-01")
    panel.obs_button.click()
    assert panel.obs_list.rowCount() == 2
    panel.tabs.setCurrentIndex(3)
    qapp.processEvents()
    window.save_screenshot(tmp_path / "drill-evaluator.png")  # to look at
    ratings = {o["id"]: (o["rating"], o["overridden"]) for o in panel.scores()["objectives"]}
    assert ratings["O4"] == ("S", True) and ratings["O1"] == ("P", False)
    path = panel.save_actions(tmp_path / "actions.yaml")
    drill, scenario, folder = load_drill(DRILL)
    actions = load_actions(path, drill)
    # each action is timed after the last inject delivered by then (replayed to the second)
    assert [(a.action, a.role, a.inject, a.after_s) for a in actions.actions][:3] == [
        ("acknowledge", "control_room", 1, 60.0), ("verify", "control_room", 2, 60.0),
        ("dispatch", "control_room", 2, 120.0)]
    # the ad-hoc inject goes into the file with its delivery: the replay delivers it at the same time
    assert [(c.op, c.inject) for c in actions.controller] == [("hold", 4), ("deliver", 4), ("cancel", 8),
                                                              ("deliver", 9)]
    assert [(i.number, i.to, i.trigger.controller) for i in actions.injects] == [(9, panel.adhoc[0].to, True)]
    assert "with the ad-hoc injects 9 the controller added" in path.read_text()
    session, controller = play(drill, scenario, folder, actions, twin=demo_twin)
    headless = score(controller, actions)
    mine = panel.scores()
    assert headless["expected"] == mine["expected"]
    assert headless["objectives"] == mine["objectives"]
    delivered = {n: _iso(t) for n, t in panel.controller.delivered.items()}
    assert 9 in delivered
    assert {n: _iso(t) for n, t in controller.delivered.items()} == delivered
    assert delivered[4] == DAY + "08:05:00Z" and controller.state[8] == "cancelled"
    assert [(e.get("action"), e.get("role"), _iso(e.time)) for e in session.log.of("action_taken")] == \
        [(e.get("action"), e.get("role"), _iso(e.time)) for e in _log(panel, "action_taken")]
    assert [_iso(e.time) for e in session.log.of("leak_stopped")] == [_iso(e.time) for e in _log(panel,
                                                                                                  "leak_stopped")]
    # the after-action report
    job = panel.write_report(tmp_path / "aar")
    assert job is not None
    _idle(window, qapp)
    html = (tmp_path / "aar" / "aar.html").read_text()
    assert drill.name in html and (tmp_path / "aar" / "actions.yaml").is_file()
    assert "Valves chosen from the 3D view at once." in html and "Release the parents calls at once" in html
    assert (tmp_path / "aar" / "scores.json").is_file()
    # and the command line replays the saved file to the same scores
    from app.cli import main as cli

    assert cli(["drill", "run", str(DRILL), "--actions", str(path), "--out", str(tmp_path / "cli")]) == 0
    replayed = json.loads((tmp_path / "cli" / "scores.json").read_text())
    assert replayed["expected"] == json.loads(json.dumps(mine["expected"]))
    assert replayed["objectives"] == json.loads(json.dumps(mine["objectives"]))


def test_a_seek_back_replays_what_the_window_did(window, panel, qapp):
    before = [(e.get("action"), e.time) for e in _log(panel, "action_taken") if e.time <= panel.playback.session.start
              + 3600]
    _clock(window, qapp, "07:50:00")
    again = [(e.get("action"), e.time) for e in _log(panel, "action_taken")]
    assert again == [a for a in before if a[1] <= window.view_model.clock.time]
    assert panel.inbox_rows() == [("07:34:00", 2), ("07:31:00", 1)]
    assert _states(panel)[4] == "on hold"   # held at 07:40, replayed


def test_a_trainee_workstation_joins_through_the_broker(window, panel, qapp, mosquitto, tmp_path):
    """Two processes on loopback: this window is the controller's, a headless trainee follows it over MQTT."""
    import subprocess
    import sys

    host, port = mosquitto[0], mosquitto[1]
    job = panel.open_drill(DRILL)   # afresh: the clock at the start, nothing done
    assert job is not None
    _wait_for(qapp, lambda: panel.playback is not None and panel.playback.session.now == panel.playback.session.start)
    assert panel.join(host, port, "window-test", lead=True) is not None
    out = tmp_path / "trainee.json"
    trainee = subprocess.Popen([sys.executable, "-m", "app.drill_link", str(DRILL), "--host", host, "--port", str(port),
                                "--exercise", "window-test", "--role", "control_room", "--answer", "1:acknowledge",
                                "--out", str(out), "--timeout", "180"],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert trainee.stdout.readline().strip() == "ready", trainee.stderr.read()
        _clock(window, qapp, "07:32:00")
        # the trainee saw inject 1 arrive at 07:31 and acknowledged it; the controller took it at its time
        _wait_for(qapp, lambda: _log(panel, "action_taken"), timeout_s=120)
        taken = _log(panel, "action_taken")
        assert [(_iso(e.time), e.get("role"), e.get("action")) for e in taken] == [
            (DAY + "07:32:00Z", "control_room", "acknowledge")]
        _clock(window, qapp, "07:33:00")
        # an ad-hoc inject the controller adds reaches the trainee's workstation too, with its delivery
        assert panel.add_inject("control_room", "message", "The press is at the gate.") == 9
        _clock(window, qapp, "07:36:00")
        panel.leave(end=True)
        assert trainee.wait(120) == 0, trainee.stderr.read()
    finally:
        if trainee.poll() is None:
            trainee.kill()
    import json

    seen = json.loads(out.read_text())
    assert seen["ended"] and seen["now"] == panel.playback.session.now
    # the trainee's session is the controller's: same injects at the same times, the same action
    assert {int(n): t for n, t in seen["delivered"].items()} == panel.controller.delivered == {
        1: pytest.approx(panel.controller.delivered[1]), 2: pytest.approx(panel.controller.delivered[2]),
        9: pytest.approx(panel.playback.session.start + 33 * 60)}
    assert [(a["time"], a["role"], a["action"]) for a in seen["actions"]] == [
        (e.time, e.get("role"), e.get("action")) for e in taken]


TRAINEE_WINDOW = r'''
import json, os, sys, time
os.environ["LIFELINE_TWIN_NO_DIALOGS"] = "1"
os.environ["QT_API"] = "pyqt6"
os.environ.pop("PYVISTA_OFF_SCREEN", None)
drill, host, port, exercise, out, settings = sys.argv[1:7]
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
app = QApplication([])
from app.window import build_window
from twin.demo import build_demo
w = build_window(settings=QSettings(settings, QSettings.Format.IniFormat))
w.resize(1200, 800)
w.show()
w.open_twin(build_demo(seed=7))
p = w.panels["drill"]
p.open_drill(drill)
end = time.monotonic() + 240
while p.playback is None and time.monotonic() < end:
    app.processEvents()
    time.sleep(0.01)
p.role.setCurrentText("control_room")
assert p.join(host, int(port), exercise, lead=False) is not None
print("ready", flush=True)
assert not w.panels["timeline"].isEnabled()   # the controller's clock leads
answered = False
while p.link is not None and time.monotonic() < end:
    app.processEvents()
    if not answered and 1 in p.controller.delivered:
        answered = True
        p.act("acknowledge")   # the trainee acts in the window: it goes to the controller
    time.sleep(0.01)
log = p.playback.session.log
json.dump({"delivered": {str(n): t for n, t in p.controller.delivered.items()},
           "actions": [[e.time, e.get("role"), e.get("action")] for e in log.of("action_taken")],
           "now": p.playback.session.now, "clock": w.view_model.clock.time, "inbox": p.inbox_rows(),
           "taken_rows": p.taken.rowCount(), "timeline": w.panels["timeline"].isEnabled(),
           "states": {str(n): st for n, st in p.controller.state.items()}}, open(out, "w"))
w.modified = False
w.close()
'''


def test_a_trainee_window_joins_the_controller_window(window, panel, qapp, mosquitto, tmp_path):
    """Two windows in two processes on loopback: the trainee's acts in its window, the controller's takes it."""
    import json
    import subprocess
    import sys

    host, port = mosquitto[0], mosquitto[1]
    assert panel.open_drill(DRILL) is not None
    _wait_for(qapp, lambda: panel.playback is not None and panel.playback.session.now == panel.playback.session.start)
    assert panel.join(host, port, "two-windows", lead=True) is not None
    out = tmp_path / "trainee-window.json"
    trainee = subprocess.Popen([sys.executable, "-c", TRAINEE_WINDOW, str(DRILL), host, str(port), "two-windows",
                                str(out), str(tmp_path / "trainee.ini")],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = trainee.stdout.readline().strip()
        assert line == "ready", trainee.stderr.read()[-3000:]
        _clock(window, qapp, "07:33:00")
        _wait_for(qapp, lambda: _log(panel, "action_taken"), timeout_s=120)
        _clock(window, qapp, "07:35:00")
        panel.select_inject(4)
        panel.hold_button.click()   # the controller's hold reaches the trainee's window too
        _clock(window, qapp, "07:36:00")
        panel.leave(end=True)
        assert trainee.wait(120) == 0, trainee.stderr.read()[-3000:]
    finally:
        if trainee.poll() is None:
            trainee.kill()
    taken = _log(panel, "action_taken")
    assert [(_iso(e.time), e.get("role"), e.get("action")) for e in taken] == [
        (DAY + "07:33:00Z", "control_room", "acknowledge")]
    assert window.panels["timeline"].isEnabled()
    seen = json.loads(out.read_text())
    # the trainee's window followed the controller's clock and shows the same session
    assert seen["now"] == seen["clock"] == panel.playback.session.now
    assert seen["timeline"]   # its own clock is back once the controller ended the exercise
    assert {int(n): t for n, t in seen["delivered"].items()} == panel.controller.delivered
    assert seen["inbox"] == [["07:34:00", 2], ["07:31:00", 1]]
    assert {int(n): st for n, st in seen["states"].items()} == panel.controller.state
    assert seen["states"]["4"] == "on_hold"
    assert seen["actions"] == [[e.time, e.get("role"), e.get("action")] for e in taken] and seen["taken_rows"] == 1
