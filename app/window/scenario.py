"""The Scenarios panel: open a scenario file, run it on the window's clock, watch its events arrive, report it.

Opening a scenario (``scenarios/*.yaml``) reads and checks it, then builds its
session on the twin the window shows, off the window's thread
(:func:`~simulation.session.scenario.build_session`); a scenario written for
another city (another demo seed, another project file) is refused with one
clear message.  A :class:`~app.playback.Playback` ties the session to the
view model's clock: playing or seeking the timeline runs it, and its events
fill the list as they arrive (newest at the bottom; double-click one to go to
its time and select its feature).  The other panels hear of the playback
through :attr:`ScenarioPanel.playback_changed`.

*Run to end* runs the rest of the day off the window's thread, with progress
and Cancel in the status bar; a seek far ahead or back goes the same way.
*Write report…* writes the event log, the summary and the self-contained
HTML report of the run so far (:mod:`simulation.session.report`, as
``lifeline-twin run`` does), with a picture of the 3D view as it is now;
*Open report* shows it in the browser.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer, QUrl, pyqtSignal
from PyQt6.QtGui import QColor, QDesktopServices
from PyQt6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView,
                             QVBoxLayout, QWidget)

from app.playback import Playback, twin_mismatch
from twin.schema import RISK_COLOURS

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
HIDDEN_KINDS = ("readings_arrived",)   # one per frame: shown only on demand
WARNING_MS = 20_000                     # a refusal stays in the panel this long (and in the log panel for good)


def clock_text(t: float, *, date: bool = False) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def _tint(colour: str, amount: float = 0.7) -> QColor:
    """``colour`` mixed with white (``amount`` of white)."""
    c = QColor(colour)
    return QColor(*(round(v + (255 - v) * amount) for v in (c.red(), c.green(), c.blue())))


class EventTable(QAbstractTableModel):
    """The session's events as rows: time, event, feature, what (per-frame reading counts left out unless asked)."""

    COLUMNS = ("time (UTC)", "event", "feature", "what")

    def __init__(self):
        super().__init__()
        self.events: list = []
        self.rows: list = []
        self.show_readings = False
        self.dated = False

    def _shown(self, e) -> bool:
        return self.show_readings or e.kind not in HIDDEN_KINDS

    def add(self, events) -> None:
        self.events.extend(events)
        new = [e for e in events if self._shown(e)]
        if new:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(new) - 1)
            self.rows.extend(new)
            self.endInsertRows()

    def reset(self, events=()) -> None:
        self.beginResetModel()
        self.events = list(events)
        self.rows = [e for e in self.events if self._shown(e)]
        self.endResetModel()

    def set_show_readings(self, on: bool) -> None:
        self.show_readings = bool(on)
        self.reset(self.events)

    def event_at(self, row: int):
        return self.rows[row]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        e = self.rows[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if col == 0:
                return clock_text(e.time, date=self.dated or role == Qt.ItemDataRole.ToolTipRole)
            if col == 1:
                return e.kind.replace("_", " ")
            if col == 2:
                return e.feature if e.feature is not None else ""
            return e.message if role == Qt.ItemDataRole.DisplayRole else f"{e.message}\n(source: {e.source}; " \
                f"{e.layer or 'no layer'}/{e.feature or '-'})"
        if role == Qt.ItemDataRole.BackgroundRole and col == 1 and e.kind.startswith("alarm_"):
            level = e.get("level")
            if level in RISK_COLOURS:
                return _tint(RISK_COLOURS[level], 0.55)
        return None


class PlaybackRuns:
    """Running a panel's :class:`~app.playback.Playback` off the window's thread: to its end, or a far seek.

    The scenario and drill panels share it; they have ``window``, ``playback``,
    ``job``, ``_enable()`` and ``run_name()`` (what the status bar calls the run).
    """

    def run_to_end(self):
        """Run the rest of the session off the window's thread (progress and Cancel in the status bar)."""
        pb = self.playback
        if pb is None or pb.busy or self.window.work.busy:
            return None
        return self._run(pb.session.end, f"running {self.run_name()} to its end", follow_clock=False)

    def _far(self, t: float) -> None:
        """A seek far from the session's time: through the worker when it is free, else here."""
        pb = self.playback
        if self.window.work.busy:
            pb.run_to(t)
            pb.catch_up()
            return
        self._run(t, f"moving {self.run_name()}'s clock to {clock_text(t)}", follow_clock=True)

    def _run(self, t: float, title: str, *, follow_clock: bool):
        pb, clock = self.playback, self.window.view_model.clock
        if not follow_clock:
            clock.playing = False
        pb.busy = True
        self._enable()

        def over(kind: str, text: str = "") -> None:
            pb.busy = False
            self._enable()
            if pb is not self.playback:
                return
            pb.catch_up()
            if kind == "failed":
                self.window.fail(text)
            if kind == "cancelled":
                self.window.say(f"{title}: stopped at {clock_text(pb.session.now)}")
            if follow_clock and kind == "done" and clock.time != pb.session.now:
                pb.go_to(clock.time)   # the clock moved on while the session ran
            else:
                clock.time = pb.session.now

        self.job = self.window.work.start(title, lambda progress: pb.run_to(t, progress),
                                          on_done=lambda _now: over("done"),
                                          on_failed=lambda text: over("failed", text),
                                          on_cancelled=lambda: over("cancelled"))
        return self.job


class ScenarioPanel(PlaybackRuns, QWidget):
    """Open a scenario, run it on the clock, list its events, write and open its report."""

    playback_changed = pyqtSignal(object)   # the new Playback, or None when none is open
    scenario_failed = pyqtSignal(str)        # why a scenario could not be opened

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.playback: Playback | None = None
        self.scenario = None
        self.folder: Path | None = None
        self.path: Path | None = None
        self.report_path: Path | None = None
        self.job = None
        self.open_button = QPushButton("Open scenario…")
        self.open_button.setObjectName("open-scenario")
        self.run_button = QPushButton("Run to end")
        self.run_button.setObjectName("run-to-end")
        self.report_button = QPushButton("Write report…")
        self.report_button.setObjectName("write-report")
        self.open_report_button = QPushButton("Open report")
        self.open_report_button.setObjectName("open-report")
        self.title = QLabel("No scenario open")
        self.title.setObjectName("scenario-name")
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)
        self.about = QLabel("Open a scenario file (scenarios/*.yaml) to run it on the clock.")
        self.about.setObjectName("scenario-about")
        self.about.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setObjectName("scenario-warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {RISK_COLOURS['red']}; font-weight: bold")
        self.warning.setVisible(False)
        self._warning_timer = QTimer(self)
        self._warning_timer.setSingleShot(True)
        self._warning_timer.setInterval(WARNING_MS)
        self._warning_timer.timeout.connect(self.warning.hide)
        self.show_readings = QCheckBox("Show reading counts")
        self.show_readings.setObjectName("show-readings")
        self.count = QLabel("")
        self.count.setObjectName("event-count")
        self.table = EventTable()
        self.view = QTableView()
        self.view.setObjectName("scenario-events")
        self.view.setModel(self.table)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in enumerate((70, 120, 80)):
            header.resizeSection(col, width)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)

        buttons = QHBoxLayout()
        for b in (self.open_button, self.run_button, self.report_button, self.open_report_button):
            buttons.addWidget(b)
        counts = QHBoxLayout()
        counts.addWidget(self.show_readings)
        counts.addStretch(1)
        counts.addWidget(self.count)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(buttons)
        col.addWidget(self.title)
        col.addWidget(self.about)
        col.addWidget(self.warning)
        col.addLayout(counts)
        col.addWidget(self.view, 1)

        self.open_button.clicked.connect(self.open_dialog)
        self.run_button.clicked.connect(self.run_to_end)
        self.report_button.clicked.connect(self.report_dialog)
        self.open_report_button.clicked.connect(self.open_report)
        self.show_readings.toggled.connect(self._on_show_readings)
        self.view.doubleClicked.connect(self._on_double_click)
        self._enable()

    # ------------------------------------------------------------------ the twin
    def run_name(self) -> str:
        return self.scenario.name if self.scenario is not None else "the scenario"

    def twin_changed(self, twin) -> None:
        """A new city: the scenario ran on the old one, so it is closed."""
        self.close_scenario()

    def shutdown(self) -> None:
        if self.job is not None and not self.job.done.is_set():
            self.job.cancel()

    # ------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        start = self.path.parent if self.path else SCENARIOS
        path, _ = QFileDialog.getOpenFileName(self, "Open scenario", str(start), "Scenarios (*.yaml *.yml)")
        if path:
            self.open_scenario(path)

    def open_scenario(self, path):
        """Read the scenario at ``path`` and build its session on the window's twin (off the window's thread).

        Returns the job building the session (its ``done`` is set once built),
        or None when the scenario cannot run here (the reason is said).
        """
        from simulation.session.scenario import build_session, load_scenario
        from twin.errors import TwinError

        w = self.window
        path = Path(path)
        try:
            scenario, folder = load_scenario(path)
        except (TwinError, OSError) as exc:
            self._refuse(str(exc))
            return None
        if w.twin is None:
            self._refuse(f"{path.name}: open a city first; the scenario runs on the city the window shows")
            return None
        problem = twin_mismatch(scenario, folder, w.twin, w.path)
        if problem:
            self._refuse(f"{path.name}: {problem}")
            return None
        if w.work.busy:
            self._refuse(f"{path.name}: {w.work.job.title} is still running; open the scenario once it is done")
            return None
        self.close_scenario()
        twin = w.twin
        self.title.setText(f"Opening {scenario.name}…")
        self.job = w.work.start(f"building the session of {path.name}",
                                lambda progress: build_session(scenario, folder, twin=twin),
                                on_done=lambda session: self._opened(scenario, folder, path, session, twin),
                                on_failed=lambda text: self._refuse(text),
                                on_cancelled=lambda: self._refuse(f"{path.name}: not opened"))
        return self.job

    def _refuse(self, text: str) -> None:
        self.warning.setText(text)
        self.warning.setVisible(True)
        self._warning_timer.start()
        if self.playback is None:
            self.title.setText("No scenario open")
        self.window.fail(text)
        self.scenario_failed.emit(text)

    def _opened(self, scenario, folder, path, session, twin) -> None:
        w = self.window
        if twin is not w.twin:   # the city changed while the session was being built
            self._refuse(f"{path.name}: the city changed while the scenario was opening; open it again")
            return
        self.scenario, self.folder, self.path = scenario, Path(folder), Path(path)
        self.warning.setVisible(False)
        from simulation.session.scenario import build_session

        system = session.water.system
        pb = self.playback = Playback(w.view_model, session, title=scenario.name, far=self._far,
                                      rebuild=lambda: build_session(scenario, folder, twin=twin, system=system))
        self.table.dated = session.end - session.start > 86400
        self.table.reset(pb.events)
        pb.events_arrived.connect(self._on_events)
        pb.rewound.connect(self._on_rewound)
        pb.shown.connect(self._on_shown)
        self.title.setText(scenario.name)
        self.about.setText(self._describe(scenario, session))
        self.report_path = None
        self._enable()
        self._on_shown(session.now)
        w.say(f"scenario {scenario.name!r} opened from {path}: {len(scenario.timed_events())} scripted event(s)")
        self.playback_changed.emit(pb)

    @staticmethod
    def _describe(scenario, session) -> str:
        lines = []
        if scenario.description:
            lines.append(scenario.description)
        lines.append(f"{clock_text(session.start, date=True)} to {clock_text(session.end, date=True)} UTC "
                     f"({scenario.duration_h:g} h, frames of {scenario.step_s:g} s, seed {scenario.seed})")
        timed = sorted(scenario.timed_events(), key=lambda row: row[3])
        if timed:
            lines.append("Scripted: " + "; ".join(f"{section.replace('_', ' ')} {what} at {at}"
                                                  for section, what, at, _ in timed))
        else:
            lines.append("No scripted events.")
        return "\n".join(lines)

    def close_scenario(self) -> None:
        """Stop showing the open scenario (its colours and highlights go too)."""
        if self.job is not None and not self.job.done.is_set():
            self.job.cancel()
        pb, self.playback = self.playback, None
        if pb is not None:
            for signal, slot in ((pb.events_arrived, self._on_events), (pb.rewound, self._on_rewound),
                                 (pb.shown, self._on_shown)):
                signal.disconnect(slot)
            pb.close()
            self.playback_changed.emit(None)
        self.scenario = None
        self.report_path = None
        self.table.reset()
        self.title.setText("No scenario open")
        self.about.setText("Open a scenario file (scenarios/*.yaml) to run it on the clock.")
        self.count.setText("")
        self._enable()

    # ------------------------------------------------------------------ the run
    def _on_events(self, events) -> None:
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 2
        self.table.add(events)
        if at_bottom:
            self.view.scrollToBottom()

    def _on_rewound(self) -> None:
        self.table.reset()

    def _on_shown(self, now: float) -> None:
        s = self.playback.session if self.playback else None
        if s is None:
            return
        self._enable()
        self.count.setText(f"{len(self.table.rows)} events to {clock_text(now, date=self.table.dated)}"
                           + (" (end)" if now >= s.end else ""))
        if self.window.scene is not None:
            self.window.interactor.update()   # one paint of the 3D view, when the event loop gets to it


    # ------------------------------------------------------------------ the report
    def report_dialog(self) -> None:
        if self.playback is None:
            return
        start = str((self.path.parent if self.path else Path.cwd()))
        folder = QFileDialog.getExistingDirectory(self, "Folder for the report", start)
        if folder:
            self.write_report(folder)

    def write_report(self, folder):
        """events.parquet/csv, summary.json and report.html of the run so far into ``folder`` (in the worker)."""
        from simulation.session import report

        pb, w = self.playback, self.window
        if pb is None or pb.busy or w.work.busy:
            return None
        folder = Path(folder)
        pictures = self._picture()
        session, scenario = pb.session, self.scenario
        pb.busy = True
        self._enable()

        def over(kind: str, text: str = "") -> None:
            pb.busy = False
            if kind == "done":
                self.report_path = folder / "report.html"
                w.say(f"report of {scenario.name} to {clock_text(session.now)} written to {self.report_path}")
            elif kind == "failed":
                w.fail(text)
            self._enable()
            if pb is self.playback and w.view_model.clock.time != pb.session.now:
                pb.go_to(w.view_model.clock.time)   # the clock moved while the report was written

        self.job = w.work.start(f"writing the report of {scenario.name}",
                                lambda progress: report.write(session, scenario, folder, pictures),
                                on_done=lambda _paths: over("done"), on_failed=lambda text: over("failed", text),
                                on_cancelled=lambda: over("cancelled"))
        return self.job

    def _picture(self) -> list[tuple[str, bytes]]:
        """The 3D view as the window shows it now (taken here: the scene belongs to the window's thread)."""
        scene = self.window.scene
        if scene is None:
            return []
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(scene.screenshot()).save(buf, format="PNG", optimize=True)
        now = self.playback.session.now
        return [(f"{clock_text(now, date=True)} UTC: the 3D view in the window (junctions coloured by pressure, m)",
                 buf.getvalue())]

    def open_report(self) -> bool:
        if self.report_path is None or not self.report_path.is_file():
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report_path)))

    # ------------------------------------------------------------------ the list
    def _on_show_readings(self, on: bool) -> None:
        self.table.set_show_readings(on)
        if self.playback is not None:
            self._on_shown(self.playback.session.now)

    def _on_double_click(self, index) -> None:
        if not index.isValid() or self.playback is None:
            return
        self.go_to_event(self.table.event_at(index.row()))

    def go_to_event(self, event) -> None:
        """Seek the clock to ``event``'s time and select its feature."""
        model = self.window.view_model
        if event.layer in model.layers and event.feature is not None:
            model.select(event.layer, event.feature)
        model.clock.time = event.time

    def _enable(self) -> None:
        pb = self.playback
        idle = pb is not None and not pb.busy
        self.run_button.setEnabled(idle and pb.session.now < pb.session.end)
        self.report_button.setEnabled(idle)
        self.open_report_button.setEnabled(self.report_path is not None)
