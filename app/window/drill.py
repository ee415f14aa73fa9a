"""The Drill panel: a drill played on the window's clock, with the controller's, trainees' and evaluator's views.

Opening a drill (``scenarios/drills/*.yaml``) builds its session the way
``lifeline-twin drill run`` does (:func:`simulation.drill.controller.prepare`:
the response in drill mode, the :class:`~simulation.drill.controller.ExerciseController`
attached just before it), off the window's thread, and plays it on the view
model's clock through a :class:`~app.playback.Playback`; the Sensors and alarms
panel and the plots follow it as they follow a scenario.

* **Controller**: the master scenario events list, each inject's trigger and
  state (on hold / scheduled / delivered / done / cancelled) as the clock
  plays; Deliver now, Hold and Cancel act on the selected inject, Add inject…
  delivers an ad-hoc one now.
* **Inbox** (the trainee's): delivered injects at their clock time, newest on
  top, coloured by method, with a beep; double-click one to select and frame
  its location.
* **Actions**: the trainee's role; right-click an alarm of the Sensors and
  alarms panel (acknowledge, verify), or *Act on selection* for the feature
  picked in the 3D view (a valve or pipe: the valves to close; a fire station:
  dispatch its units; a building: notify); request mutual aid, close the
  incident.  Each goes to the controller as the headless actions file's do
  (:meth:`ExerciseController.act`: an ``action_taken`` event with its time and role).
* **Evaluator**: the expected actions met / late / missed
  (:func:`simulation.drill.scoring.score`), each objective's P / S / M / U
  rating with an override and a note; *Save actions…* writes what was done in
  the window as an actions file ``lifeline-twin drill run --actions`` reads
  (each action timed in seconds after the last inject delivered by then, the
  controller's operations at ISO 8601 times), *Write after-action report…*
  the AAR (:func:`simulation.drill.report.write`) with that file beside it.

What the window did is kept as that actions file's content: a seek back
rebuilds the session with it, so the re-run is the headless replay.  Ad-hoc
injects are replayed in the window but left out of the saved file (a drill
file does not hold them; the file says so).

*Join…* shares the drill with other workstations through an MQTT broker
(:mod:`app.drill_link`): the controller's window leads the clock and the
inputs, a trainee's window follows it and sends its actions to it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                             QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMenu, QPushButton, QTableWidget,
                             QTableWidgetItem, QTabWidget, QToolButton, QVBoxLayout, QWidget)

from app.drill_link import flush as _flush
from app.playback import Playback, twin_mismatch
from app.window.scenario import PlaybackRuns, _tint, clock_text

DRILLS = Path(__file__).resolve().parents[2] / "scenarios" / "drills"
METHOD_COLOURS = {"phone": "#1f78b4", "radio": "#33a02c", "sensor": "#e31a1c", "message": "#ff7f00"}
STATE_COLOURS = {"on_hold": "#bbbbbb", "scheduled": "#a6cee3", "delivered": "#fdbf6f", "done": "#b2df8a",
                 "cancelled": "#eeeeee"}
STATUS_COLOURS = {"met": "#b2df8a", "late": "#fdbf6f", "missed": "#fb9a99", "not_played": "#eeeeee"}
INJECT_COLUMNS = ("#", "trigger", "to", "method", "state", "delivered", "message")
INBOX_COLUMNS = ("time", "#", "method", "from → to", "location", "message")
EXPECTED_COLUMNS = ("inject", "action", "objective", "due", "status", "taken", "by")
OBJECTIVE_COLUMNS = ("objective", "rule", "rating", "note")
KEY = Qt.ItemDataRole.UserRole


def trigger_text(inj) -> str:
    tr = inj.trigger
    if tr is None:
        return "contingency"
    if tr.at is not None:
        return f"at {tr.at}"
    if tr.after is not None:
        return f"{tr.delay_min:g} min after {tr.after}"
    if tr.on is not None:
        where = ", ".join(f"{k}={v}" for k, v in tr.where.items())
        return f"on {tr.on.replace('_', ' ')}" + (f" ({where})" if where else "") + \
            (f" + {tr.delay_min:g} min" if tr.delay_min else "")
    return "controller"


def _item(text, colour: str | None = None, key=None) -> QTableWidgetItem:
    item = QTableWidgetItem(str(text))
    if colour:
        item.setBackground(QBrush(_tint(colour, 0.55) if colour.startswith("#") and len(colour) == 7 else
                                  QColor(colour)))
    if key is not None:
        item.setData(KEY, key)
    return item


def _table(columns, widths=()) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(20)
    t.horizontalHeader().setStretchLastSection(True)
    for c, w in enumerate(widths):
        t.horizontalHeader().resizeSection(c, w)
    return t


class AddInjectDialog(QDialog):
    """An ad-hoc inject: to a role, by a method, a message."""

    def __init__(self, parent, roles):
        super().__init__(parent)
        self.setWindowTitle("Add inject")
        self.to = QComboBox()
        self.to.addItems(roles)
        self.from_ = QLineEdit("controller")
        self.method = QComboBox()
        self.method.addItems(list(METHOD_COLOURS))
        self.message = QLineEdit()
        form = QFormLayout(self)
        form.addRow("To", self.to)
        form.addRow("From", self.from_)
        form.addRow("Method", self.method)
        form.addRow("Message", self.message)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)


class JoinDialog(QDialog):
    """Join other workstations: the broker, the exercise's name, this window's part."""

    def __init__(self, parent):
        super().__init__(parent)
        self.setWindowTitle("Join workstations")
        self.host = QLineEdit("127.0.0.1")
        self.port = QLineEdit("1883")
        self.exercise = QLineEdit("drill")
        self.part = QComboBox()
        self.part.addItems(["controller (leads the clock)", "trainee (follows the controller)"])
        form = QFormLayout(self)
        form.addRow("MQTT broker", self.host)
        form.addRow("Port", self.port)
        form.addRow("Exercise", self.exercise)
        form.addRow("This window", self.part)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)


class DrillPanel(PlaybackRuns, QWidget):
    """Open a drill, play it on the clock; controller, inbox, actions and evaluator tabs."""

    playback_changed = pyqtSignal(object)
    inject_arrived = pyqtSignal(object)   # the inject_delivered event, as the inbox shows it

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.playback: Playback | None = None
        self.drill = self.scenario = self.folder = self.path = None
        self.controller = None
        self.job = None
        self.recorded: dict = {"actions": [], "controller": []}
        self.adhoc: list = []          # ad-hoc injects added during play (kept for a re-run)
        self.report_folder: Path | None = None
        self.beeps = 0
        self.link = None          # app.drill_link.DrillLink once joined to other workstations
        self._link_timer = None

        self.open_button = QPushButton("Open drill…")
        self.open_button.setObjectName("open-drill")
        self.run_button = QPushButton("Run to end")
        self.run_button.setObjectName("drill-run-to-end")
        self.close_button = QPushButton("Close drill")
        self.close_button.setObjectName("close-drill")
        self.join_button = QPushButton("Join…")
        self.join_button.setObjectName("join-drill")
        self.join_button.setToolTip("Share this drill with other workstations through an MQTT broker")
        self.title = QLabel("No drill open")
        self.title.setObjectName("drill-name")
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)
        self.status = QLabel("")
        self.status.setObjectName("drill-status")
        self.status.setWordWrap(True)
        self.role = QComboBox()
        self.role.setObjectName("drill-role")

        # controller
        self.injects = _table(INJECT_COLUMNS, (28, 120, 90, 56, 70, 64))
        self.injects.setObjectName("drill-injects")
        self.deliver_button = QPushButton("Deliver now")
        self.hold_button = QPushButton("Hold")
        self.cancel_button = QPushButton("Cancel")
        self.add_button = QPushButton("Add inject…")
        controller = QWidget()
        ccol = QVBoxLayout(controller)
        row = QHBoxLayout()
        for b in (self.deliver_button, self.hold_button, self.cancel_button, self.add_button):
            row.addWidget(b)
        row.addStretch(1)
        ccol.addLayout(row)
        ccol.addWidget(self.injects, 1)

        # inbox
        self.inbox = _table(INBOX_COLUMNS, (64, 28, 56, 150, 110))
        self.inbox.setObjectName("drill-inbox")
        inbox = QWidget()
        QVBoxLayout(inbox).addWidget(self.inbox)

        # actions
        self.act_button = QToolButton()
        self.act_button.setText("Act on selection")
        self.act_button.setObjectName("act-on-selection")
        self.act_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.act_menu = QMenu(self.act_button)
        self.act_menu.aboutToShow.connect(self._fill_act_menu)
        self.act_button.setMenu(self.act_menu)
        self.selection_label = QLabel("Nothing selected: pick a valve, pipe, fire station or building in the 3D view.")
        self.selection_label.setWordWrap(True)
        self.valves = QLineEdit()
        self.valves.setObjectName("valves-to-close")
        self.valves.setPlaceholderText("valves to close, comma-separated (add them from the selection)")
        self.close_valves_button = QPushButton("Close these valves")
        self.verify_button = QPushButton("Verify")
        self.aid_button = QPushButton("Request mutual aid")
        self.close_incident_button = QPushButton("Close incident")
        self.taken = _table(("time", "role", "action", "parameters"), (64, 90, 100))
        self.taken.setObjectName("drill-actions")
        actions = QWidget()
        acol = QVBoxLayout(actions)
        row = QHBoxLayout()
        row.addWidget(self.act_button)
        row.addWidget(self.verify_button)
        row.addWidget(self.aid_button)
        row.addWidget(self.close_incident_button)
        row.addStretch(1)
        acol.addLayout(row)
        acol.addWidget(self.selection_label)
        row = QHBoxLayout()
        row.addWidget(self.valves, 1)
        row.addWidget(self.close_valves_button)
        acol.addLayout(row)
        acol.addWidget(self.taken, 1)

        # evaluator
        self.expected = _table(EXPECTED_COLUMNS, (44, 90, 60, 64, 64, 64))
        self.expected.setObjectName("drill-expected")
        self.objectives = _table(OBJECTIVE_COLUMNS, (60, 40, 70))
        self.objectives.setObjectName("drill-objectives")
        self.objectives.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts = QLabel("")
        self.counts.setObjectName("drill-counts")
        self.save_button = QPushButton("Save actions…")
        self.report_button = QPushButton("Write after-action report…")
        # observations: notes, strengths, areas for improvement with the plan's action, owner and due date
        self.obs_kind = QComboBox()
        self.obs_kind.setObjectName("observation-kind")
        self.obs_kind.addItems(["note", "strength", "improvement"])
        self.obs_objective = QComboBox()
        self.obs_text = QLineEdit()
        self.obs_text.setObjectName("observation-text")
        self.obs_text.setPlaceholderText("what the evaluator saw")
        self.obs_action = QLineEdit()
        self.obs_action.setPlaceholderText("improvement: what will be done")
        self.obs_owner = QLineEdit()
        self.obs_owner.setPlaceholderText("owner")
        self.obs_due = QLineEdit()
        self.obs_due.setPlaceholderText("due date")
        self.obs_button = QPushButton("Add observation")
        self.observations: list[dict] = []
        self.obs_list = _table(("at", "kind", "objective", "text"), (44, 80, 60))
        self.obs_list.setObjectName("drill-observations")
        evaluator = QWidget()
        ecol = QVBoxLayout(evaluator)
        ecol.addWidget(self.counts)
        ecol.addWidget(self.expected, 3)
        ecol.addWidget(self.objectives, 2)
        row = QHBoxLayout()
        for wdg in (self.obs_kind, self.obs_objective):
            row.addWidget(wdg)
        row.addWidget(self.obs_text, 1)
        ecol.addLayout(row)
        row = QHBoxLayout()
        for wdg in (self.obs_action, self.obs_owner, self.obs_due, self.obs_button):
            row.addWidget(wdg)
        ecol.addLayout(row)
        ecol.addWidget(self.obs_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.report_button)
        row.addStretch(1)
        ecol.addLayout(row)
        self.rating_boxes: dict[str, QComboBox] = {}
        self.note_boxes: dict[str, QLineEdit] = {}

        self.tabs = QTabWidget()
        self.tabs.addTab(controller, "Controller")
        self.tabs.addTab(inbox, "Inbox")
        self.tabs.addTab(actions, "Actions")
        self.tabs.addTab(evaluator, "Evaluator")

        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        for b in (self.open_button, self.run_button, self.close_button, self.join_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(QLabel("Role"))
        row.addWidget(self.role)
        col.addLayout(row)
        col.addWidget(self.title)
        col.addWidget(self.status)
        col.addWidget(self.tabs, 1)

        self.open_button.clicked.connect(self.open_dialog)
        self.run_button.clicked.connect(self.run_to_end)
        self.close_button.clicked.connect(self.close_drill)
        self.join_button.clicked.connect(self.join_dialog)
        self.deliver_button.clicked.connect(lambda: self.control("deliver"))
        self.hold_button.clicked.connect(lambda: self.control("hold"))
        self.cancel_button.clicked.connect(lambda: self.control("cancel"))
        self.add_button.clicked.connect(self.add_inject_dialog)
        self.injects.itemSelectionChanged.connect(self._enable)
        self.inbox.cellDoubleClicked.connect(self._on_inbox_double_click)
        self.verify_button.clicked.connect(lambda: self.act("verify"))
        self.aid_button.clicked.connect(lambda: self.act("request_mutual_aid"))
        self.close_incident_button.clicked.connect(lambda: self.act("close_incident"))
        self.close_valves_button.clicked.connect(self.close_chosen_valves)
        self.save_button.clicked.connect(self.save_dialog)
        self.obs_button.clicked.connect(self.add_observation)
        self.report_button.clicked.connect(self.report_dialog)
        window.picked.connect(self._on_picked)
        self._right_press = None
        iren = getattr(window.interactor, "iren", None)
        if iren is not None:   # right-click in the 3D view (without dragging: a drag zooms)
            iren.add_observer("RightButtonPressEvent", self._on_right_press)
            iren.add_observer("RightButtonReleaseEvent", self._on_right_release)
        alarms = window.panels.get("alarms")
        if alarms is not None:   # right-click an alarm: the trainee's actions on it
            alarms.alarm_table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            alarms.alarm_table.customContextMenuRequested.connect(self._alarm_context_menu)
        scenario = window.panels.get("scenario")
        if scenario is not None:
            scenario.playback_changed.connect(self._on_scenario_playback)
        self._enable()

    # ------------------------------------------------------------------ the twin
    def twin_changed(self, twin) -> None:
        self.close_drill()

    def shutdown(self) -> None:
        if self.job is not None and not self.job.done.is_set():
            self.job.cancel()

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        start = self.path.parent if self.path else DRILLS
        path, _ = QFileDialog.getOpenFileName(self, "Open drill", str(start), "Drills (*.yaml *.yml)")
        if path:
            self.open_drill(path)

    def open_drill(self, path):
        """Read the drill at ``path`` and build its session on the window's twin (off the window's thread).

        Returns the job (its ``done`` is set once built), or None when it cannot run here (said why).
        """
        from simulation.drill.model import load_drill
        from twin.errors import TwinError

        w = self.window
        path = Path(path)
        try:
            drill, scenario, folder = load_drill(path)
        except (TwinError, OSError) as exc:
            return self._refuse(str(exc))
        if w.twin is None:
            return self._refuse(f"{path.name}: open a city first; the drill runs on the city the window shows")
        problem = twin_mismatch(scenario, folder, w.twin, w.path)
        if problem:
            return self._refuse(f"{path.name}: {problem}")
        if w.work.busy:
            return self._refuse(f"{path.name}: {w.work.job.title} is still running; open the drill once it is done")
        self.close_drill()
        sc = w.panels.get("scenario")
        if sc is not None and sc.playback is not None:
            sc.close_scenario()   # one session on the clock at a time
        self.drill, self.scenario, self.folder, self.path = drill, scenario, Path(folder), path
        self.recorded, self.adhoc = {"actions": [], "controller": []}, []
        twin = w.twin
        self.title.setText(f"Opening {drill.name}…")
        self.job = w.work.start(f"building the session of {path.name}", lambda p: self._build(twin),
                                on_done=lambda session: self._opened(session, twin),
                                on_failed=self._refuse, on_cancelled=lambda: self._refuse(f"{path.name}: not opened"))
        return self.job

    def _build(self, twin):
        """The drill's session with what the window did so far (a re-run replays it): sets :attr:`controller`."""
        from simulation.drill.controller import prepare
        from simulation.drill.model import check_features

        session, controller = prepare(self.drill, self.scenario, self.folder, self.actions_record(evaluator=False),
                                      twin=twin)
        if not self.adhoc:
            from simulation.drill.controller import units_of

            check_features(self.path, self.drill, session.twin, units_of(session))
        # the ad-hoc injects come back with the record (Actions.injects)
        self.controller = controller
        return session

    def _refuse(self, text: str):
        self.status.setText(text)
        if self.playback is None:
            self.title.setText("No drill open")
            self.drill = None
        self.window.fail(text)
        return None

    def _opened(self, session, twin) -> None:
        w = self.window
        if twin is not w.twin:
            self._refuse(f"{self.path.name}: the city changed while the drill was opening; open it again")
            return
        pb = self.playback = Playback(w.view_model, session, title=self.drill.name, far=self._far,
                                      rebuild=lambda: self._build(twin))
        pb.events_arrived.connect(self._on_events)
        pb.rewound.connect(self._on_rewound)
        pb.shown.connect(self._on_shown)
        roles = [p.role for p in self.drill.participants] or sorted({i.to for i in self.drill.injects})
        self.role.clear()
        self.role.addItems(roles)
        self.title.setText(self.drill.name)
        self.status.setText(f"{self.drill.scope}".strip())
        self._fill_objectives()
        self._fill_injects()
        self.inbox.setRowCount(0)
        self._on_events(pb.events)
        for key in ("alarms", "plots"):
            panel = w.panels.get(key)
            if panel is not None:
                panel.set_playback(pb)
        self._on_shown(session.now)
        w.say(f"drill {self.drill.name!r} opened from {self.path}: {len(self.drill.injects)} inject(s)")
        self.playback_changed.emit(pb)

    def close_drill(self) -> None:
        """Stop playing the drill (its colours and highlights go too; a joined link is left)."""
        self.leave()
        if self.job is not None and not self.job.done.is_set():
            self.job.cancel()
        pb, self.playback = self.playback, None
        if pb is not None:
            for signal, slot in ((pb.events_arrived, self._on_events), (pb.rewound, self._on_rewound),
                                 (pb.shown, self._on_shown)):
                signal.disconnect(slot)
            pb.close()
            for key in ("alarms", "plots"):
                panel = self.window.panels.get(key)
                if panel is not None and panel.playback is pb:
                    panel.set_playback(None)
            self.window.view_model.highlight("drill inject", None)
            self.playback_changed.emit(None)
        self.controller = None
        self.drill = None
        self.title.setText("No drill open")
        self.status.setText("")
        for t in (self.injects, self.inbox, self.taken, self.expected, self.objectives, self.obs_list):
            t.setRowCount(0)
        self.observations = []
        self.rating_boxes, self.note_boxes = {}, {}
        self._enable()

    def run_name(self) -> str:
        return self.drill.name if self.drill is not None else "the drill"

    def _on_scenario_playback(self, pb) -> None:
        if pb is not None and self.playback is not None:
            self.close_drill()

    # ------------------------------------------------------------------ the run

    def _on_events(self, events) -> None:
        arrived = [e for e in events if e.kind == "inject_delivered"]
        for e in arrived:
            self._add_to_inbox(e)
        if arrived and self.playback is not None and not self._replaying:
            self.beeps += 1
            QApplication.beep()   # no sound device: Qt says nothing and goes on
        for e in events:
            if e.kind == "action_taken":
                self._add_taken(e)

    _replaying = False

    def _on_rewound(self) -> None:
        self.inbox.setRowCount(0)
        self.taken.setRowCount(0)
        self._replaying = True   # the re-run's log comes back in one go: no beeps for old injects

    def _on_shown(self, now: float) -> None:
        self._replaying = False
        if self.playback is None:
            return
        if self.link is not None and self.link.lead and now != self._told:
            self._told = now
            self.link.send({"type": "clock", "time": now})
        s = self.playback.session
        self.status.setText(f"{clock_text(now)}" + (" (end)" if now >= s.end else "") + f" — role: "
                            f"{self.role.currentText()}")
        self._fill_injects()
        self.refresh_scores()
        self._enable()

    # ------------------------------------------------------------------ controller
    def _fill_injects(self) -> None:
        c = self.controller
        if c is None:
            return
        keep = self.selected_inject()
        t = self.injects
        t.setRowCount(len(c.injects))
        for r, n in enumerate(sorted(c.injects)):
            inj, state = c.injects[n], c.state[n]
            delivered = clock_text(c.delivered[n]) if n in c.delivered else ""
            cells = (n, trigger_text(inj), inj.to, inj.method, state.replace("_", " "), delivered, inj.message)
            for col, text in enumerate(cells):
                t.setItem(r, col, _item(text, STATE_COLOURS[state] if col == 4 else
                                        (METHOD_COLOURS[inj.method] if col == 3 else None), key=n))
            if n == keep:
                t.selectRow(r)

    def selected_inject(self) -> int | None:
        rows = {i.row() for i in self.injects.selectedIndexes()}
        if not rows:
            return None
        item = self.injects.item(min(rows), 0)
        return None if item is None else item.data(KEY)

    def select_inject(self, number: int) -> None:
        for r in range(self.injects.rowCount()):
            if self.injects.item(r, 0).data(KEY) == number:
                self.injects.selectRow(r)
                return

    def control(self, op: str) -> bool:
        """Deliver now, hold or cancel the selected inject at the clock's time (recorded for the actions file)."""
        from simulation.clock import iso

        pb, c, n = self.playback, self.controller, self.selected_inject()
        if pb is None or pb.busy or c is None or n is None:
            return False
        try:
            {"deliver": c.deliver_now, "hold": c.hold, "cancel": c.cancel}[op](n)
        except ValueError as exc:
            self.window.fail(str(exc))
            return False
        self.recorded["controller"].append({"at": iso(pb.session.now), "op": op, "inject": n})
        if self.link is not None and self.link.lead:
            self.link.send({"type": "control", "time": pb.session.now, "op": op, "inject": n})
        self.window.say(f"inject {n}: {op} at {clock_text(pb.session.now)}")
        _flush(pb.session)
        pb.catch_up()
        return True

    def add_inject_dialog(self) -> None:
        if self.controller is None:
            return
        dialog = AddInjectDialog(self, [self.role.itemText(k) for k in range(self.role.count())])
        if dialog.exec() and dialog.message.text().strip():
            self.add_inject(dialog.to.currentText(), dialog.method.currentText(), dialog.message.text().strip(),
                            from_=dialog.from_.text().strip() or "controller")

    def add_inject(self, to: str, method: str, message: str, *, from_: str = "controller") -> int | None:
        """An ad-hoc inject, delivered now; returns its number."""
        from simulation.clock import iso
        from simulation.drill.model import Inject, Trigger

        pb, c = self.playback, self.controller
        if pb is None or pb.busy or c is None:
            return None
        number = max(c.injects) + 1
        inj = Inject(number=number, trigger=Trigger(controller=True), from_=from_, to=to, method=method,
                     message=message)
        c.add_inject(inj.model_copy(deep=True))
        self.adhoc.append(inj)
        c.deliver_now(number)
        self.recorded["controller"].append({"at": iso(pb.session.now), "op": "deliver", "inject": number})
        if self.link is not None and self.link.lead:   # the trainees' windows learn of it, then its delivery
            self.link.send({"type": "inject", "time": pb.session.now,
                            "inject": inj.model_dump(mode="json", by_alias=True, exclude_none=True)})
            self.link.send({"type": "control", "time": pb.session.now, "op": "deliver", "inject": number})
        _flush(pb.session)
        pb.catch_up()
        return number

    # ------------------------------------------------------------------ inbox
    def _add_to_inbox(self, e) -> None:
        c = self.controller
        n = int(e.value)
        inj = c.injects.get(n) if c is not None else None
        colour = METHOD_COLOURS.get(e.get("method"), "#999999")
        where = f"{e.layer}/{e.feature}" if e.layer not in (None, "injects") else ""
        cells = (clock_text(e.time), n, e.get("method"), f"{e.get('from_role')} → {e.get('to_role')}", where,
                 inj.message if inj is not None else e.message)
        self.inbox.insertRow(0)   # newest on top
        for col, text in enumerate(cells):
            item = _item(text, colour if col in (1, 2) else None, key=(e.layer, e.feature))
            if col == 5:
                item.setToolTip(str(text))
            self.inbox.setItem(0, col, item)
        self.inject_arrived.emit(e)

    def inbox_rows(self) -> list[tuple[str, int]]:
        return [(self.inbox.item(r, 0).text(), int(self.inbox.item(r, 1).text())) for r in range(self.inbox.rowCount())]

    def _on_inbox_double_click(self, row: int, _col: int) -> None:
        item = self.inbox.item(row, 0)
        if item is None:
            return
        layer, feature = item.data(KEY)
        model = self.window.view_model
        if layer in model.layers and feature is not None:
            model.select(layer, feature)
            scene = self.window.scene
            if scene is not None:
                try:
                    scene.zoom_to(layer, [feature])
                except (KeyError, ValueError, IndexError):
                    pass
                self.window.request_render()

    # ------------------------------------------------------------------ actions
    def act(self, action: str, parameters: dict | None = None, *, role: str | None = None):
        """The trainee (the role chosen) takes ``action`` now: an ``action_taken`` event on the session.

        In a trainee's window joined to a controller's (:meth:`join`), the action goes to the controller,
        which takes it at its clock time and sends it back; None is returned then.
        """
        pb, c = self.playback, self.controller
        if pb is None or pb.busy or c is None:
            return None
        role = role or self.role.currentText()
        params = {k: v for k, v in (parameters or {}).items() if v is not None}
        if self.link is not None and not self.link.lead:
            self.link.send({"type": "action", "role": role, "action": action, "parameters": params})
            self.window.say(f"{role}: {action.replace('_', ' ')} sent to the controller")
            return None
        return self._take(role, action, params)

    def _take(self, role: str, action: str, params: dict):
        pb, c = self.playback, self.controller
        event = c.act(role, action, params)
        if self.link is not None and self.link.lead:
            self.link.send({"type": "action", "time": pb.session.now, "role": role, "action": action,
                            "parameters": params})
        self.recorded["actions"].append({**self._when(pb.session.now), "role": role, "action": action,
                                         "parameters": params})
        self.window.say(f"{role}: {action.replace('_', ' ')} at {clock_text(pb.session.now)}"
                        + (f" ({params})" if params else ""))
        _flush(pb.session)
        pb.catch_up()
        return event

    def _when(self, t: float) -> dict:
        """When an action was taken, as the actions file says it: seconds after the last inject of the drill
        delivered by then (the replay then takes it at the same time even when that inject came from an event of
        the same frame, such as the crew's arrival), else the ISO time."""
        from simulation.clock import iso

        numbers = {i.number for i in self.drill.injects}
        delivered = [(when, n) for n, when in self.controller.delivered.items() if n in numbers and when <= t]
        if not delivered:
            return {"at": iso(t)}
        when, n = max(delivered)
        return {"inject": n, "after_s": round(t - when, 3)}

    def _add_taken(self, e) -> None:
        r = self.taken.rowCount()
        self.taken.insertRow(r)
        params = e.get("parameters") or {}
        for col, text in enumerate((clock_text(e.time), e.get("role"), e.get("action"),
                                    ", ".join(f"{k}={v}" for k, v in params.items()))):
            self.taken.setItem(r, col, _item(text))

    def _on_picked(self, hit) -> None:
        sel = self.window.view_model.selection
        if sel.layer is None or not sel.feature_ids:
            self.selection_label.setText("Nothing selected: pick a valve, pipe, fire station or building.")
        else:
            self.selection_label.setText(f"Selected: {sel.layer} {', '.join(sel.feature_ids)}")

    def chosen_valves(self) -> list[str]:
        return [v.strip() for v in self.valves.text().split(",") if v.strip()]

    def add_valve(self, valve: str) -> None:
        valves = self.chosen_valves()
        if valve not in valves:
            self.valves.setText(", ".join([*valves, valve]))

    def close_chosen_valves(self):
        valves = self.chosen_valves()
        if not valves:
            return None
        event = self.act("close_valves", {"valves": valves})
        if event is not None:
            self.valves.clear()
        return event

    def _units_at(self, station: str) -> list[str]:
        s = self.playback.session if self.playback else None
        for e in (s.engines if s else ()):
            if e.name == "emergency":
                fleet = e.fleet
                return [u.name for u in fleet.units if str(fleet.stations[u.station].id) == str(station)]
        return []

    def menu_for_selection(self, menu: QMenu | None = None) -> QMenu:
        """The actions that apply to the feature selected in the 3D view (and those that always do)."""
        menu = menu if menu is not None else QMenu(self)
        menu.clear()
        if self.controller is None:
            menu.addAction("No drill open").setEnabled(False)
            return menu
        sel = self.window.view_model.selection
        layer, ids = sel.layer, list(sel.feature_ids)
        twin = self.window.twin
        if layer == "water_valves":
            for v in ids:
                menu.addAction(f"Add valve {v} to the valves to close", lambda _checked=False, v=v: self.add_valve(v))
            menu.addAction(f"Close valves {', '.join(dict.fromkeys([*self.chosen_valves(), *ids]))}",
                           lambda _checked=False: (self._add_all(ids), self.close_chosen_valves()))
        elif layer == "water_pipes" and twin is not None and "water_valves" in twin.layers:
            valves = twin["water_valves"]
            near = valves[valves["pipe_id"].astype(str).isin(ids)]["id"].astype(str).tolist()
            for v in near:
                menu.addAction(f"Add valve {v} (on {', '.join(ids)}) to the valves to close",
                               lambda _checked=False, v=v: self.add_valve(v))
            if not near:
                menu.addAction(f"No valve on {', '.join(ids)}: pick the valves around it").setEnabled(False)
        elif layer == "fire_stations":
            for station in ids:
                for unit in self._units_at(station):
                    menu.addAction(f"Dispatch {unit}",
                                   lambda _checked=False, u=unit: self.act("dispatch", {"units": [u]}))
        elif layer == "buildings":
            for whom in ("residents", "school", "hospital", "gas_company"):
                menu.addAction(f"Notify {whom.replace('_', ' ')}",
                               lambda _checked=False, w=whom: self.act("notify", {"whom": w}))
            for b in ids:
                menu.addAction(f"Evacuate {b}", lambda _checked=False, b=b: self.act("evacuate", {"building": b}))
        if not menu.isEmpty():
            menu.addSeparator()
        menu.addAction("Verify", lambda _checked=False: self.act("verify"))
        menu.addAction("Request mutual aid", lambda _checked=False: self.act("request_mutual_aid"))
        menu.addAction("Close incident", lambda _checked=False: self.act("close_incident"))
        return menu

    def context_menu_at(self, x: float, y: float) -> QMenu | None:
        """The actions for what is at display pixel (x, y) of the 3D view (VTK coordinates): a response unit
        drawn there, else the feature picked there (selected); None when no drill is open."""
        if self.controller is None or self.window.scene is None:
            return None
        unit = self.window.scene.vehicle_at(x, y)
        if unit is not None:
            return self.menu_for_unit(unit)
        self.window.pick_at(x, y)
        return self.menu_for_selection()

    def menu_for_unit(self, unit: str, menu: QMenu | None = None) -> QMenu:
        """Right-click on a response unit: its state, and sending it to the incident in hand."""
        menu = menu if menu is not None else QMenu(self)
        menu.clear()
        v = self.window.view_model.vehicles.get(unit)
        status = (v.status.replace("_", " ") + (f" ({v.incident})" if v.incident else "")) if v else "unknown"
        menu.addAction(f"{unit}: {status}").setEnabled(False)
        menu.addSeparator()
        free = v is not None and v.status in ("at_station", "returning")
        act = menu.addAction(f"Dispatch {unit}", lambda _checked=False, u=unit: self.act("dispatch", {"units": [u]}))
        act.setEnabled(free)
        return menu

    def _on_right_press(self, _obj, _event) -> None:
        self._right_press = tuple(self.window.interactor.iren.get_event_position())

    def _on_right_release(self, _obj, _event) -> None:
        from PyQt6.QtCore import QTimer
        from PyQt6.QtGui import QCursor

        press, self._right_press = self._right_press, None
        if press is None or self.controller is None:
            return
        x, y = self.window.interactor.iren.get_event_position()
        if abs(x - press[0]) + abs(y - press[1]) > 4:
            return
        menu = self.context_menu_at(x, y)
        if menu is not None:   # after VTK is done with the click
            QTimer.singleShot(0, lambda: menu.exec(QCursor.pos()))

    def _add_all(self, ids) -> None:
        for v in ids:
            self.add_valve(v)

    def _fill_act_menu(self) -> None:
        self.menu_for_selection(self.act_menu)

    def alarm_menu(self, alarm_keys) -> QMenu:
        """Right-click on alarms: acknowledge, verify (as the trainee's role)."""
        menu = QMenu(self)
        if self.controller is None:
            menu.addAction("Open a drill to act on alarms").setEnabled(False)
            return menu
        pb = self.playback
        role = self.role.currentText()
        for who, kind in alarm_keys:
            a = pb.alarms.alarms.get((who, kind))
            params = {"sensor": who, "alarm_kind": kind}
            if a is not None and a.incident:
                params["incident"] = a.incident
            menu.addAction(f"Acknowledge {who} ({kind}) as {role}",
                           lambda _checked=False, p=params: self.act("acknowledge", p))
            menu.addAction(f"Verify {who} ({kind}) as {role}", lambda _checked=False, p=params: self.act("verify", p))
        return menu

    def _alarm_context_menu(self, pos) -> None:
        alarms = self.window.panels["alarms"]
        keys = alarms.selected_keys()
        if not keys:
            item = alarms.alarm_table.itemAt(pos)
            if item is None:
                return
            alarms.alarm_table.selectRow(item.row())
            keys = alarms.selected_keys()
        self.alarm_menu(keys).exec(alarms.alarm_table.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ workstations over MQTT
    _told = None

    def join_dialog(self) -> None:
        if self.playback is None:
            return
        dialog = JoinDialog(self)
        if dialog.exec():
            try:
                port = int(dialog.port.text())
            except ValueError:
                self._refuse(f"MQTT port {dialog.port.text()!r} is not a number")
                return
            self.join(dialog.host.text().strip(), port, dialog.exercise.text().strip(),
                      lead=dialog.part.currentIndex() == 0)

    def join(self, host: str, port: int, exercise: str, *, lead: bool):
        """Join the drill open here to other workstations' through the MQTT broker at ``host:port``.

        ``lead``: this is the controller's window (its clock and its inputs lead); else a trainee's,
        whose clock and session follow the controller's and whose actions go to it
        (:mod:`app.drill_link`).  Returns the link, or None when it could not connect (said why).
        """
        from PyQt6.QtCore import QTimer

        from app.drill_link import DrillLink, Follower

        if self.playback is None:
            return self._refuse("open a drill before joining other workstations")
        self.leave()
        try:
            link = DrillLink(host, port, exercise, lead=lead).start()
        except (OSError, ValueError) as exc:
            return self._refuse(f"MQTT broker {host}:{port}: {exc}")
        if not link.wait_connected(10):
            link.stop()
            return self._refuse(f"MQTT broker {host}:{port}: no answer")
        self.link = link
        self._told = None
        self._follower = None if lead else Follower(self.playback.session, self.controller, go_to=self._follow_to)
        self._link_timer = QTimer(self)
        self._link_timer.setInterval(50)
        self._link_timer.timeout.connect(self._poll)
        self._link_timer.start()
        if lead:
            self._on_shown(self.playback.session.now)
        else:   # the controller's clock moves this window's: its own timeline waits
            self._set_timeline(False)
        self.window.say(f"drill joined as {'controller' if lead else 'trainee'} through {host}:{port} "
                        f"(exercise {exercise})")
        return link

    def leave(self, *, end: bool = False) -> None:
        """Leave the other workstations (``end``: the controller tells them the exercise is over)."""
        link, self.link = self.link, None
        if self._link_timer is not None:
            self._link_timer.stop()
            self._link_timer = None
        if link is not None:
            if end and link.lead:
                link.send({"type": "end"})
            link.stop()
            if not link.lead:
                self._set_timeline(True)

    def _set_timeline(self, on: bool) -> None:
        timeline = self.window.panels.get("timeline")
        if timeline is not None:
            timeline.setEnabled(on)

    def _follow_to(self, t: float) -> None:
        pb = self.playback
        if pb is not None and t != pb.session.now:
            pb.run_to(t)
            pb.catch_up()
            self.window.view_model.clock.time = pb.session.now

    def _poll(self) -> None:
        """The messages of the other workstations, on the window's thread."""
        from simulation.clock import iso

        link, pb = self.link, self.playback
        if link is None or pb is None or pb.busy:
            return
        for m in link.received():
            if link.lead:
                if m.get("type") == "action":
                    self._take(str(m.get("role")), str(m.get("action")), dict(m.get("parameters") or {}))
                continue
            self._follower.session, self._follower.controller = pb.session, self.controller
            self._follower.apply(m)
            if m.get("type") == "action":
                self.recorded["actions"].append({**self._when(pb.session.now), "role": m["role"],
                                                 "action": m["action"], "parameters": m.get("parameters") or {}})
            elif m.get("type") == "control":
                self.recorded["controller"].append({"at": iso(pb.session.now), "op": m["op"],
                                                    "inject": m["inject"]})
            elif m.get("type") == "inject" and self.controller is not None:
                number = int(m["inject"]["number"])
                if number in self.controller.injects and all(i.number != number for i in self.adhoc):
                    self.adhoc.append(self.controller.injects[number])   # kept for a re-run and the actions file
            pb.catch_up()
            if self._follower.ended:
                self.window.say("the controller ended the exercise")
                self.leave()
                return

    # ------------------------------------------------------------------ evaluator
    def _fill_objectives(self) -> None:
        t = self.objectives
        t.setRowCount(len(self.drill.objectives))
        self.rating_boxes, self.note_boxes = {}, {}
        for r, o in enumerate(self.drill.objectives):
            t.setItem(r, 0, _item(o.id, key=o.id))
            t.item(r, 0).setToolTip(o.text)
            t.setItem(r, 1, _item(""))
            combo = QComboBox()
            combo.addItems(["(rule)", "P", "S", "M", "U"])
            combo.setObjectName(f"rating-{o.id}")
            combo.currentIndexChanged.connect(lambda _i: self.refresh_scores())
            note = QLineEdit()
            note.setObjectName(f"note-{o.id}")
            note.setPlaceholderText("the evaluator's note")
            t.setCellWidget(r, 2, combo)
            t.setCellWidget(r, 3, note)
            self.rating_boxes[o.id], self.note_boxes[o.id] = combo, note
        self.obs_objective.clear()
        self.obs_objective.addItems(["", *[o.id for o in self.drill.objectives]])
        self.observations = []
        self.obs_list.setRowCount(0)

    def add_observation(self) -> dict | None:
        """The evaluator's note, strength or area for improvement (with the plan's action, owner, due date)."""
        from simulation.clock import iso
        from pydantic import ValidationError

        from simulation.drill.model import EvaluatorEntry

        if self.playback is None or not self.obs_text.text().strip():
            return None
        kind = self.obs_kind.currentText()
        entry = {"kind": kind, "objective": self.obs_objective.currentText() or None,
                 "text": self.obs_text.text().strip(), "at": iso(self.playback.session.now)[11:16]}
        if kind == "improvement":
            entry.update(action=self.obs_action.text().strip(), owner=self.obs_owner.text().strip(),
                         due=self.obs_due.text().strip())
        try:
            EvaluatorEntry.model_validate(entry)
        except ValidationError as exc:
            self.window.fail(f"observation not added: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
            return None
        self.observations.append(entry)
        r = self.obs_list.rowCount()
        self.obs_list.insertRow(r)
        for col, text in enumerate((entry["at"], kind, entry["objective"] or "", entry["text"])):
            self.obs_list.setItem(r, col, _item(text))
        for box in (self.obs_text, self.obs_action, self.obs_owner, self.obs_due):
            box.clear()
        return entry

    def evaluator_entries(self) -> list[dict]:
        from simulation.clock import iso

        now = iso(self.playback.session.now)[11:16] if self.playback else None
        out = [dict(e) for e in self.observations]
        for oid, combo in self.rating_boxes.items():
            note = self.note_boxes[oid].text().strip()
            if combo.currentIndex() > 0:
                out.append({"kind": "rating", "objective": oid, "rating": combo.currentText(), "text": note,
                            "at": now})
            elif note:
                out.append({"kind": "note", "objective": oid, "text": note, "at": now})
        return out

    def actions_record(self, *, evaluator: bool = True):
        """What the window did, as an :class:`~simulation.drill.model.Actions` (the actions file's content)."""
        from simulation.drill.model import Actions

        return Actions.model_validate({
            "actions": list(self.recorded["actions"]),
            "controller": list(self.recorded["controller"]),
            "injects": [i.model_dump(by_alias=True, exclude_none=True) for i in self.adhoc],
            "evaluator": self.evaluator_entries() if evaluator else []})

    def scores(self) -> dict | None:
        from simulation.drill.scoring import score

        if self.controller is None or self.playback is None:
            return None
        return score(self.controller, self.actions_record())

    def refresh_scores(self) -> None:
        scores = self.scores()
        if scores is None:
            return
        rows = scores["expected"]
        t = self.expected
        t.setRowCount(len(rows))
        now = self.playback.session.now
        from simulation.clock import iso

        for r, row in enumerate(rows):
            status = row["status"]
            if status == "missed" and row["due"] is not None and row["due"] > iso(now):
                status = "waiting"   # not yet due: missed only once its deadline passed
            cells = (row["inject"], row["action"], row["objective"], (row["due"] or "")[11:19], status,
                     (row["taken"] or "")[11:19], row["by"] or "")
            for col, text in enumerate(cells):
                t.setItem(r, col, _item(text, STATUS_COLOURS.get(status) if col == 4 else None,
                                        key=(row["inject"], row["index"])))
        for r, o in enumerate(scores["objectives"]):
            t2 = self.objectives.item(r, 1)
            if t2 is not None:
                t2.setText(o["rule"] or "-")
        c = scores["counts"]
        self.counts.setText(f"{c['met']} met, {c['late']} late, {c['missed']} missed or waiting, "
                            f"{c['not_played']} not played")

    def save_dialog(self) -> None:
        if self.drill is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save actions", str(self.path.parent), "Actions (*.yaml)")
        if path:
            self.save_actions(path)

    def save_actions(self, path) -> Path:
        """The actions file of what was done in the window (``lifeline-twin drill run --actions`` reads it)."""
        from twin import atomic

        path = Path(path)
        data = self.actions_record().model_dump(by_alias=True, exclude_none=True, exclude_defaults=False)
        if not data.get("injects"):
            data.pop("injects", None)
        head = (f"# Actions taken in the window on {self.drill.name} ({self.path.name}); replay with\n"
                f"# lifeline-twin drill run {self.path} --actions {path.name} --out DIR\n")
        if self.adhoc:
            head += f"# with the ad-hoc injects {', '.join(str(i.number) for i in self.adhoc)} the controller added\n"
        atomic.write(path, head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        self.window.say(f"actions of {self.drill.name} saved to {path}")
        return path

    def report_dialog(self) -> None:
        if self.drill is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the after-action report", str(self.path.parent))
        if folder:
            self.write_report(folder)

    def write_report(self, folder):
        """events, scores.json and aar.html of the drill so far, with actions.yaml, into ``folder`` (in the worker)."""
        from simulation.drill import report

        pb, w = self.playback, self.window
        if pb is None or pb.busy or w.work.busy:
            return None
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.save_actions(folder / "actions.yaml")
        session, controller, drill, scenario = pb.session, self.controller, self.drill, self.scenario
        actions = self.actions_record()
        pb.busy = True
        self._enable()

        def over(kind: str, text: str = "") -> None:
            pb.busy = False
            if kind == "done":
                self.report_folder = folder
                w.say(f"after-action report of {drill.name} written to {folder / 'aar.html'}")
            elif kind == "failed":
                w.fail(text)
            self._enable()

        self.job = w.work.start(f"writing the after-action report of {drill.name}",
                                lambda p: report.write(session, controller, drill, scenario, actions,
                                                       folder),
                                on_done=lambda _paths: over("done"), on_failed=lambda text: over("failed", text),
                                on_cancelled=lambda: over("cancelled"))
        return self.job

    # ------------------------------------------------------------------ buttons
    def _enable(self) -> None:
        pb, c = self.playback, self.controller
        idle = pb is not None and not pb.busy
        n = self.selected_inject()
        state = c.state.get(n) if (c is not None and n is not None) else None
        self.run_button.setEnabled(idle and pb.session.now < pb.session.end)
        self.close_button.setEnabled(pb is not None)
        self.join_button.setEnabled(idle)
        self.join_button.setText("Joined" if self.link is not None else "Join…")
        self.deliver_button.setEnabled(idle and state in ("on_hold", "scheduled"))
        self.hold_button.setEnabled(idle and state == "scheduled")
        self.cancel_button.setEnabled(idle and state in ("on_hold", "scheduled"))
        for b in (self.add_button, self.act_button, self.verify_button, self.aid_button, self.close_incident_button,
                  self.close_valves_button, self.save_button, self.report_button, self.obs_button):
            b.setEnabled(idle)
