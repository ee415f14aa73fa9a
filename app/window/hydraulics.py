"""The Hydraulics panel: run the water network, rank its pipes, test fire flow, break a pipe, weigh a retrofit.

Every answer comes from an engine of :mod:`simulation.hydraulics` —
:func:`~simulation.hydraulics.results.simulate`,
:func:`~simulation.hydraulics.criticality.criticality`,
:func:`~simulation.hydraulics.fire_flow.fire_flow`,
:func:`~simulation.hydraulics.isolation.isolation`,
:func:`~simulation.hydraulics.retrofit.evaluate_plan` — run on the window's
worker (:attr:`MainWindow.work <app.window.main.MainWindow.work>`) with
progress and Cancel; the sweeps (criticality, fire flow, the retrofit's
evaluation) in a process of their own (:mod:`simulation.hydraulics.apart`),
because EPANET keeps Python's interpreter lock while it solves and a sweep on
a thread would make the window wait for it.  The panel collects the user's choices on the window's
thread, hands the worker plain values and the twin, and shows what comes back:
colours and highlights through the view model, numbers in its tables.

Results belong to the network they were computed on.  Diameters edited here
(in the plan table, by picking pipes, or by loading a plan file) become the
project's network edits (:class:`twin.network.Edit`) through a ``QUndoStack``,
so Save keeps them; results computed on another network are then marked stale
until run again (undoing back to their network makes them current again).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt6.QtGui import QKeySequence, QPixmap, QUndoCommand, QUndoStack
from PyQt6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QHeaderView, QLabel, QPushButton, QScrollArea, QSpinBox, QSplitter,
                             QTableView, QTableWidget, QTableWidgetItem, QTabWidget, QToolButton, QVBoxLayout,
                             QWidget)

# Nothing from simulation.hydraulics is imported here: that package imports WNTR, a second of the
# window's launch; each engine is imported where it is first used.

#: Highlights of a break: name -> (layer, colour, what it shows).  Distinct colours, one per meaning.
BREAK_HIGHLIGHTS = {
    "break-valves": ("water_valves", "#e31a1c", "valves to close"),
    "break-pipes": ("water_pipes", "#ff7f00", "pipes shut"),
    "break-buildings": ("buildings", "#0047ff", "buildings without water"),
    "break-unintended-pipes": ("water_pipes", "#7b2cbf", "unintended isolation"),
    "break-unintended-buildings": ("buildings", "#7b2cbf", "cut off unintentionally"),
}
#: Criticality scores the 3D view can colour pipes by: result name -> (column, unit, words).
CRITICALITY_SCORES = {
    "people_without_service": ("population_without_service", "people", "people without service"),
    "junctions_below_service": ("junctions_below_min_pressure", "junctions",
                                "junctions below service pressure"),
    "undelivered_m3": ("demand_not_delivered_m3", "m³", "water not delivered"),
}
#: How often a sweep's progress reaches the status bar's bar, and its words, s.
REPORT_EVERY_S = 0.2
TEXT_EVERY_S = 1.0
#: Sweeps run in a process of their own (False: on the worker thread, for the latency bench's comparison).
SWEEPS_APART = True
LOWEST = "over the run"   # the time choice that shows each junction's lowest (each pipe's highest) value
PLAN_COLUMNS = ("pipe", "length (m)", "diameter now (mm)", "planned (mm)", "material")
PLANNED = PLAN_COLUMNS.index("planned (mm)")


def _text(value) -> str:
    """A table cell as a planner reads it: thousands separated, a few decimals, never 1e+03."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value) + 0.0
        if not math.isfinite(v):
            return "—"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 1:
            return f"{v:,.2f}"
        return f"{round(v, 4) + 0.0:.4f}"   # -1.8e-06 m is 0.0000 m to a planner
    return str(value)


class FrameModel(QAbstractTableModel):
    """A read-only table view of a DataFrame (its columns, or a chosen few with headers)."""

    def __init__(self, parent=None, headers: dict[str, str] | None = None):
        super().__init__(parent)
        self.frame = pd.DataFrame()
        self.headers = headers or {}

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.beginResetModel()
        columns = [c for c in self.headers if c in frame.columns] if self.headers else list(frame.columns)
        self.frame = frame[columns].reset_index(drop=True)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.frame)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.frame.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        value = self.frame.iat[index.row(), index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, (int, float, np.number)) \
                and not isinstance(value, (bool, np.bool_)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        column = str(self.frame.columns[section])
        return self.headers.get(column, column.replace("_", " "))


class NetworkEdit(QUndoCommand):
    """One change of the twin's network (a diameter, a plan loaded): both networks kept, so undo is exact."""

    def __init__(self, panel: "HydraulicsPanel", before, after, text: str):
        super().__init__(text)
        self.panel, self.before, self.after = panel, before, after

    def redo(self) -> None:
        self.panel._set_network(self.after)

    def undo(self) -> None:
        self.panel._set_network(self.before)


def _table(model: QAbstractTableModel, name: str) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view


def _spin(low: float, high: float, value: float, step: float = 1.0, decimals: int = 1, suffix: str = "",
          name: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    if name:
        box.setObjectName(name)
    return box


def _hours(seconds: float) -> str:
    m = int(round(seconds / 60.0))
    return f"{m // 60}:{m % 60:02d}"


class HydraulicsPanel(QWidget):
    """Run, criticality, fire flow, break and retrofit of the twin's water network."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.twin = None
        self.results = None             # the last run (simulation.hydraulics.results.Results)
        self.summary: dict | None = None
        self.criticality = None         # the last complete criticality (Criticality)
        self.fire = None                # the last fire-flow test (FireFlow)
        self.isolation = None           # the last break's isolation (Isolation)
        self.retrofit = None            # the last comparison (RetrofitResult)
        self.computed_on: dict[str, object] = {}   # result kind -> the network it was computed on
        self.sweep_count = {"done": 0, "total": 0}  # written by the worker, read once it has stopped
        self._segmentation = None       # (network, Segmentation): reused by breaks on one network
        self._plan_template = None      # the plan file last loaded (its name, costs, materials)
        self._plan_rows: list[str] = []  # pipes shown in the plan table beside those with edits
        self._filling = False
        self.undo_stack = QUndoStack(self)

        self.stale_label = QLabel("")
        self.stale_label.setObjectName("hydraulics-stale")
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet("background: #fff3b0; color: #5c4400; padding: 3px; border-radius: 3px")
        self.stale_label.setVisible(False)
        self.duration = _spin(-1, 24 * 28, -1, 1, 1, " h", "hydraulics-duration")
        self.duration.setSpecialValueText("as in the network")
        self.duration.setToolTip("simulation length of run, criticality and retrofit; 0 h: a steady-state snapshot")
        self.pdd = QCheckBox("pressure-driven demand")
        self.pdd.setObjectName("hydraulics-pdd")
        top = QFormLayout()
        top.addRow("Simulation length", self.duration)
        top.addRow("", self.pdd)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("hydraulics-tabs")
        self.tabs.addTab(self._run_tab(), "Run")
        self.tabs.addTab(self._criticality_tab(), "Criticality")
        self.tabs.addTab(self._fire_tab(), "Fire flow")
        self.tabs.addTab(self._break_tab(), "Break")
        self.retrofit_tab = self._retrofit_tab()
        self.tabs.addTab(self.retrofit_tab, "Retrofit")
        self.tabs.currentChanged.connect(lambda _i: self._fill_plan_table())
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.stale_label)
        box.addLayout(top)
        box.addWidget(self.tabs, 1)
        window.picked.connect(self._on_picked)
        self.setEnabled(False)

    # ------------------------------------------------------------------ tabs
    def _run_tab(self) -> QWidget:
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("hydraulics-run")
        self.run_button.clicked.connect(self.run)
        self.time_choice = QComboBox()
        self.time_choice.setObjectName("hydraulics-time")
        self.time_choice.activated.connect(lambda _i: self._show_run())
        self.pipe_quantity = QComboBox()
        self.pipe_quantity.setObjectName("hydraulics-pipe-quantity")
        for text, key in (("velocity (m/s)", "velocity"), ("flow (L/s)", "flow"), ("own colour", None)):
            self.pipe_quantity.addItem(text, key)
        self.pipe_quantity.activated.connect(lambda _i: self._show_run())
        self.run_summary = QLabel("")
        self.run_summary.setObjectName("hydraulics-summary")
        self.run_summary.setWordWrap(True)
        self.run_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tab = QWidget()
        form = QFormLayout(tab)
        form.addRow(self.run_button)
        form.addRow("Junction pressure at", self.time_choice)
        form.addRow("Pipes coloured by", self.pipe_quantity)
        form.addRow(self.run_summary)
        return tab

    def _criticality_tab(self) -> QWidget:
        self.crit_sample = QSpinBox()
        self.crit_sample.setObjectName("criticality-sample")
        self.crit_sample.setRange(0, 10_000_000)
        self.crit_sample.setSpecialValueText("every pipe")
        self.crit_score = QComboBox()
        self.crit_score.setObjectName("criticality-score")
        for key, (_col, _unit, words) in CRITICALITY_SCORES.items():
            self.crit_score.addItem(words, key)
        self.crit_score.activated.connect(lambda _i: self._show_criticality())
        self.crit_button = QPushButton("Rank pipes")
        self.crit_button.setObjectName("criticality-run")
        self.crit_button.clicked.connect(self.rank_pipes)
        self.crit_label = QLabel("Close each pipe in turn and count who loses service.")
        self.crit_label.setObjectName("criticality-status")
        self.crit_label.setWordWrap(True)
        self.crit_model = FrameModel(self, {"rank": "rank", "id": "pipe", "population_without_service": "people",
                                            "junctions_below_min_pressure": "junctions below",
                                            "demand_not_delivered_m3": "undelivered (m³)", "reason": "not solved"})
        self.crit_table = _table(self.crit_model, "criticality-table")
        self.crit_table.clicked.connect(lambda i: self._select_row(self.crit_model, i, "water_pipes", "id"))
        tab = QWidget()
        form = QFormLayout(tab)
        form.addRow("Pipes (sample)", self.crit_sample)
        form.addRow("Colour pipes by", self.crit_score)
        form.addRow(self.crit_button)
        form.addRow(self.crit_label)
        form.addRow(self.crit_table)
        return tab

    def _fire_tab(self) -> QWidget:
        self.hydrant = QComboBox()
        self.hydrant.setObjectName("fire-hydrant")
        self.fire_sample = QSpinBox()
        self.fire_sample.setObjectName("fire-sample")
        self.fire_sample.setRange(0, 10_000_000)
        self.fire_sample.setSpecialValueText("all of them")
        self.fire_flow_lps = _spin(1, 1000, 95, 5, 1, " L/s", "fire-flow")
        self.fire_hours = _spin(0, 24, 2, 0.5, 1, " h", "fire-hours")
        self.fire_residual = _spin(0, 100, 14, 1, 1, " m", "fire-residual")
        self.fire_button = QPushButton("Test fire flow")
        self.fire_button.setObjectName("fire-run")
        self.fire_button.clicked.connect(self.test_fire_flow)
        self.fire_label = QLabel("Pick a hydrant in the 3D view, or test them all.")
        self.fire_label.setObjectName("fire-status")
        self.fire_label.setWordWrap(True)
        self.fire_model = FrameModel(self, {"id": "hydrant", "node": "junction", "assessed": "assessed",
                                            "passes": "passes",
                                            "available_flow_lps": "available (L/s)", "limited_by": "limited by"})
        self.fire_table = _table(self.fire_model, "fire-table")
        self.fire_table.clicked.connect(lambda i: self._select_row(self.fire_model, i, "hydrants", "id"))
        tab = QWidget()
        form = QFormLayout(tab)
        form.addRow("Hydrant", self.hydrant)
        form.addRow("Sample of hydrants", self.fire_sample)
        form.addRow("Required flow", self.fire_flow_lps)
        form.addRow("For", self.fire_hours)
        form.addRow("Residual pressure", self.fire_residual)
        form.addRow(self.fire_button)
        form.addRow(self.fire_label)
        form.addRow(self.fire_table)
        return tab

    def _break_tab(self) -> QWidget:
        self.break_button = QPushButton("Break a pipe")
        self.break_button.setObjectName("break-arm")
        self.break_button.setCheckable(True)
        self.break_button.toggled.connect(self._on_break_armed)
        self.break_clear = QPushButton("Clear")
        self.break_clear.setObjectName("break-clear")
        self.break_clear.clicked.connect(self.clear_break)
        self.break_label = QLabel("Arm “Break a pipe”, then click a water pipe in the 3D view.")
        self.break_label.setObjectName("break-status")
        self.break_label.setWordWrap(True)
        self.break_label.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.addWidget(self.break_button)
        row.addWidget(self.break_clear)
        row.addStretch(1)
        tab = QWidget()
        box = QVBoxLayout(tab)
        box.addLayout(row)
        box.addWidget(self.break_label)
        box.addStretch(1)
        return tab

    def _retrofit_tab(self) -> QWidget:
        self.load_button = QPushButton("Load plan…")
        self.load_button.setObjectName("retrofit-load")
        self.load_button.clicked.connect(self.load_plan_dialog)
        self.pick_button = QPushButton("Add pipes by picking")
        self.pick_button.setObjectName("retrofit-pick")
        self.pick_button.setCheckable(True)
        self.pick_button.toggled.connect(self._on_pick_armed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("retrofit-remove")
        self.remove_button.setToolTip("take the selected pipe out of the plan (its diameter as before)")
        self.remove_button.clicked.connect(self._remove_selected)
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        self.undo_button, self.redo_button = QToolButton(), QToolButton()
        self.undo_button.setObjectName("retrofit-undo")
        self.redo_button.setObjectName("retrofit-redo")
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button.setDefaultAction(self.redo_action)
        self.plan_table = QTableWidget(0, len(PLAN_COLUMNS))
        self.plan_table.setObjectName("retrofit-plan")
        self.plan_table.setHorizontalHeaderLabels(PLAN_COLUMNS)
        self.plan_table.verticalHeader().setVisible(False)
        self.plan_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.plan_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.plan_table.cellChanged.connect(self._on_plan_cell)
        self.retro_sample = QSpinBox()
        self.retro_sample.setObjectName("retrofit-sample")
        self.retro_sample.setRange(0, 10_000_000)
        self.retro_sample.setValue(100)
        self.retro_sample.setSpecialValueText("every pipe")
        self.compare_button = QPushButton("Compare baseline and plan")
        self.compare_button.setObjectName("retrofit-compare")
        self.compare_button.clicked.connect(self.compare)
        self.retro_label = QLabel("Load a plan, or add pipes and type their new diameters.")
        self.retro_label.setObjectName("retrofit-status")
        self.retro_label.setWordWrap(True)
        self.compare_model = FrameModel(self, {"metric": "metric", "unit": "unit", "baseline": "baseline",
                                               "plan": "plan", "change": "change"})
        self.compare_table = _table(self.compare_model, "retrofit-comparison")
        self.figures = QWidget()
        self.figures.setLayout(QVBoxLayout())
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.figures)
        scroll.setMinimumHeight(160)
        buttons = QHBoxLayout()
        for w in (self.load_button, self.pick_button, self.remove_button, self.undo_button, self.redo_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        plan = QWidget()
        box = QVBoxLayout(plan)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(buttons)
        box.addWidget(self.plan_table, 1)
        form = QFormLayout()
        form.addRow("Closures (sample)", self.retro_sample)
        box.addLayout(form)
        box.addWidget(self.compare_button)
        box.addWidget(self.retro_label)
        # the plan, the comparison and its figures share the dock's height as the user drags them
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("retrofit-split")
        split.setChildrenCollapsible(False)
        for w in (plan, self.compare_table, scroll):
            split.addWidget(w)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 3)
        tab = QWidget()
        QVBoxLayout(tab).addWidget(split)
        return tab

    # ------------------------------------------------------------------ the twin
    def twin_changed(self, twin) -> None:
        self.twin = twin
        self.results = self.summary = self.criticality = self.fire = self.isolation = self.retrofit = None
        self.computed_on.clear()
        self._segmentation = self._plan_template = None
        self._plan_rows = []
        self.undo_stack.clear()
        self.break_button.setChecked(False)
        self.pick_button.setChecked(False)
        self.run_summary.setText("")
        self.time_choice.clear()
        for model in (self.crit_model, self.fire_model, self.compare_model):
            model.set_frame(pd.DataFrame(columns=list(model.headers)))
        self._show_figures({})
        has_network = twin is not None and twin.network is not None
        self.setEnabled(has_network)
        self.hydrant.clear()
        self.hydrant.addItem("every hydrant", None)
        if has_network:
            hydrants = twin["hydrants"]
            for hid, node in sorted(zip(hydrants["id"].astype(str), hydrants["node_id"].astype(str))):
                self.hydrant.addItem(f"{hid} (junction {node})", (hid, node))
        self._fill_plan_table()
        self._refresh_stale()

    @property
    def network(self):
        return None if self.twin is None else self.twin.network

    def hours(self) -> float | None:
        """The simulation length chosen, h (None: the network's own)."""
        return None if self.duration.value() < 0 else self.duration.value()

    def _job(self, title: str, fn, on_done, on_cancelled=None) -> bool:
        """Start ``fn(progress)`` on the window's worker; False (and a word to the user) when one is running."""
        work = self.window.work
        if work.busy:
            self.window.say(f"{work.job.title} is still running: wait for it or cancel it")
            return False
        work.start(title, fn, on_done=on_done, on_failed=self.window.fail,
                   on_cancelled=on_cancelled or (lambda: self.window.say(f"{title}: cancelled")))
        return True

    def _sweep_progress(self, what):
        """A fresh count for the sweep about to start (on the window's thread), and what makes, from the
        job's ``progress``, the sweep's ``progress(done, total)``: it tells the bar a few times a second and
        the words once a second (every repaint of the status bar costs the event loop: measured in
        ``bench/bench_window_latency.py``), and raises at once on Cancel.  ``what``: the
        words after the count, or a callable giving the words before it (the stage a retrofit is at)."""
        count = self.sweep_count = {"done": 0, "total": 0}

        def make(progress):
            told = {"at": 0.0, "done": -1, "text_at": 0.0}

            def tell(done: int, total: int) -> None:   # on the worker: plain values only
                count["done"], count["total"] = done, total
                if getattr(progress, "cancelled", False):
                    progress(done, total)                # raises Cancelled
                now = time.monotonic()
                last = done >= total > 0
                if done == told["done"] or not (now - told["at"] >= REPORT_EVERY_S or last):
                    return
                told["at"], told["done"] = now, done
                text = ""                                # the bar alone: a new text re-lays the status bar out
                if not total:
                    text = "starting"
                elif last or now - told["text_at"] >= TEXT_EVERY_S:
                    told["text_at"] = now
                    text = f"{what()}: {done} of {total}" if callable(what) else f"{done} of {total} {what}"
                # a determinate bar from the start: the busy animation alone costs the event loop
                progress(done, total or 1, text)

            return tell

        return make

    # ------------------------------------------------------------------ run
    def run(self) -> bool:
        """One simulation of the network as it is now (length and demand model from the panel)."""
        twin, network = self.twin, self.network
        duration, pdd = self.hours(), self.pdd.isChecked()

        def work(progress):
            from simulation.hydraulics.demand import DemandModel
            from simulation.hydraulics.results import simulate

            progress(0, 0, "solving")
            return simulate(_system(twin, network), demand_model=DemandModel(pdd=True) if pdd else None,
                            duration_h=duration)

        def done(results):
            self.results, self.summary = results, results.summary()
            self.computed_on["run"] = network
            self.time_choice.clear()
            self.time_choice.addItem(f"lowest {LOWEST}", None)
            for t in results.times:
                self.time_choice.addItem(_hours(t), float(t))
            self._show_run()
            self._refresh_stale()

        return self._job("hydraulic run", work, done)

    def _show_run(self) -> None:
        from simulation.hydraulics.results import SERVICE_PRESSURE

        res, s = self.results, self.summary
        if res is None:
            return
        at = self.time_choice.currentData()
        p = res.junction_frame("pressure")
        lo, hi = float(np.nanmin(p.to_numpy())), float(np.nanmax(p.to_numpy()))
        values = p.min() if at is None else p.loc[at]
        model = self.window.view_model
        if "water_junctions" in model.layers:
            model.show_values("water_junctions", "pressure", values, unit="m", cmap="RdYlBu",
                              clim=(lo, hi if hi > lo else lo + 1.0))
        quantity = self.pipe_quantity.currentData()
        if "water_pipes" in model.layers and quantity is None:
            model.clear_values("water_pipes")
        elif "water_pipes" in model.layers:
            # speeds and flows whichever way the water goes; over the run, each pipe's highest
            f = res.pipe_frame(quantity).abs() * (1000.0 if quantity == "flow" else 1.0)
            values = f.max() if at is None else f.loc[at]
            top = float(np.nanmax(f.to_numpy())) if f.size else 1.0
            model.show_values("water_pipes", quantity, values, unit="L/s" if quantity == "flow" else "m/s",
                              cmap="viridis", clim=(0.0, top if top > 0 else 1.0))
        when = f"lowest {LOWEST}" if at is None else f"at {_hours(at)}"
        text = (f"Lowest pressure {s['min_pressure_m']:g} m at junction {s['min_pressure_junction']}; "
                f"{s['junctions_below_service_pressure']} junction(s) below {SERVICE_PRESSURE:g} m at some time "
                f"({s['steps']} report step(s) over {s['duration_h']:g} h, {s['demand_model']}). "
                f"The 3D view shows junction pressure {when}.")
        if not s["negative_pressures"]["valid"]:
            text += (f" Not valid: {s['negative_pressures']['junctions']} junction(s) have negative pressure, "
                     "which a demand-driven run does not model; tick pressure-driven demand.")
        self.run_summary.setText(text)
        self.window.request_render()

    # ------------------------------------------------------------------ criticality
    def rank_pipes(self) -> bool:
        """N-1 closures (every pipe, or a sample) in the worker, with progress per pipe and Cancel."""
        twin, network = self.twin, self.network
        duration, sample = self.hours(), self.crit_sample.value() or None
        told = self._sweep_progress("pipe closures")

        def work(progress):
            from simulation.hydraulics.criticality import criticality

            return _sweep(criticality, _system(twin, network, apart=True), sample=sample, duration_h=duration,
                          progress=told(progress), workers=0)

        def done(result):
            self.criticality = result
            self.computed_on["criticality"] = network
            failed, floor = len(result.failures), result.settings["service_pressure_m"]
            self.crit_model.headers["junctions_below_min_pressure"] = f"junctions < {floor:g} m"
            self.crit_model.set_frame(result.table)
            self.crit_label.setText(f"{result.scenarios} pipe closure(s) ranked in {result.seconds:.1f} s"
                                    + (f"; {failed} could not be solved (ranked first)" if failed else "")
                                    + f"; {result.settings['demand_model']}, service pressure {floor:g} m.")
            self._show_criticality()
            self._refresh_stale()

        def cancelled():
            n = self.sweep_count
            self.crit_label.setText(f"Criticality cancelled after {n['done']} of {n['total']} pipe closures: "
                                    "no ranking from this run" + (" (the table is the earlier one)."
                                                                  if self.criticality is not None else "."))
            self.window.say("criticality cancelled")

        if self._job("criticality", work, done, cancelled):
            self.crit_label.setText("Closing pipes one at a time…")
            return True
        return False

    def _show_criticality(self) -> None:
        if self.criticality is None:
            return
        key = self.crit_score.currentData()
        column, unit, _words = CRITICALITY_SCORES[key]
        t = self.criticality.table
        values = pd.Series(t[column].to_numpy(dtype=float), index=t["id"].astype(str))
        top = float(np.nanmax(values.to_numpy())) if values.notna().any() else 0.0
        if "water_pipes" not in self.window.view_model.layers:
            return
        self.window.view_model.show_values("water_pipes", key, values, unit=unit, cmap="inferno_r",
                                           clim=(0.0, top if top > 0 else 1.0))
        self.window.request_render()

    # ------------------------------------------------------------------ fire flow
    def test_fire_flow(self) -> bool:
        """The chosen hydrant (or every one, or a sample) in the worker: pass/fail and available flow."""
        twin, network = self.twin, self.network
        chosen = self.hydrant.currentData()
        sample = None if chosen else (self.fire_sample.value() or None)
        kw = dict(flow_lps=self.fire_flow_lps.value(), duration_h=self.fire_hours.value(),
                  residual_m=self.fire_residual.value())
        told = self._sweep_progress("hydrants")

        def work(progress):
            from simulation.hydraulics.fire_flow import fire_flow

            result = _sweep(fire_flow, _system(twin, network, apart=True), nodes=[chosen[1]] if chosen else None,
                            sample=sample, progress=told(progress), workers=0, **kw)
            if chosen:  # tested by junction: name the hydrant
                result.table["id"] = chosen[0]
                result.failures["id"] = chosen[0]
            return result

        def done(result):
            self.fire = result
            self.computed_on["fire flow"] = network
            self.fire_model.set_frame(result.table)
            t = result.table
            n_out = int((~t["assessed"].astype(bool)).sum()) if "assessed" in t else 0
            self.fire_label.setText(
                f"{int(t['passes'].sum())} of {len(t)} hydrant(s) pass at {kw['flow_lps']:g} L/s for "
                f"{kw['duration_h']:g} h with {kw['residual_m']:g} m residual"
                + (f" ({100 * result.pass_rate:.0f} %)" if len(t) else "")
                + (f"; {n_out} not assessed (the network without a fire already fails there)" if n_out else "")
                + (f"; {len(result.failures)} could not be solved" if len(result.failures) else "")
                + f"; {result.seconds:.1f} s.")
            values = pd.Series(t["available_flow_lps"].to_numpy(dtype=float), index=t["id"].astype(str))
            if "hydrants" in self.window.view_model.layers and values.notna().any():
                top = float(np.nanmax(values.to_numpy()))
                self.window.view_model.show_values("hydrants", "available_flow", values, unit="L/s",
                                                   cmap="RdYlGn", clim=(0.0, max(top, kw["flow_lps"] * 2)))
                self.window.request_render()
            self._refresh_stale()

        return self._job("fire flow", work, done)

    # ------------------------------------------------------------------ break
    def _on_break_armed(self, on: bool) -> None:
        if on:
            self.pick_button.setChecked(False)
            self.break_label.setText("Click a water pipe in the 3D view: it breaks there.")

    def _on_picked(self, hit) -> None:
        if hit is None:
            return
        if hit.layer == "hydrants":
            k = self.hydrant.findText(f"{hit.feature_id} (", Qt.MatchFlag.MatchStartsWith)
            if k >= 0:
                self.hydrant.setCurrentIndex(k)
        if hit.layer != "water_pipes":
            if self.break_button.isChecked() or self.pick_button.isChecked():
                self.window.say(f"{hit.layer} {hit.feature_id} is not a water pipe: click a pipe")
            return
        if self.break_button.isChecked():
            self.break_button.setChecked(False)
            self.break_pipe(hit.feature_id)
        elif self.pick_button.isChecked():
            self.add_pipe(hit.feature_id)

    def break_pipe(self, pipe: str) -> bool:
        """Isolate a break on ``pipe``: valves to close, who is left without water, unintended isolation."""
        twin, network = self.twin, self.network
        cached = self._segmentation[1] if self._segmentation and self._segmentation[0] is network else None

        def work(progress):
            from simulation.hydraulics.isolation import isolation
            from simulation.hydraulics.segments import segment

            progress(0, 0, f"isolating pipe {pipe}")
            system = _system(twin, network)
            seg = cached if cached is not None else segment(system)
            return seg, isolation(system, pipe, segmentation=seg)

        def done(answer):
            seg, iso = answer
            self._segmentation = (network, seg)
            self.isolation = iso
            self._show_break()

        return self._job(f"break on {pipe}", work, done)

    def _show_break(self) -> None:
        iso, model = self.isolation, self.window.view_model
        ids = {"break-valves": iso.valves_to_close, "break-pipes": iso.pipes, "break-buildings": iso.buildings,
               "break-unintended-pipes": iso.unintended_pipes,
               "break-unintended-buildings": iso.unintended_buildings}
        for name, (layer, colour, words) in BREAK_HIGHLIGHTS.items():
            shown = ids[name] if layer in model.layers else ()
            model.highlight(name, layer, shown, colour, words)

        def key(name: str) -> str:
            return f'<span style="color:{BREAK_HIGHLIGHTS[name][1]}">■</span>'

        people = f"{iso.population:,.0f} people"
        lines = [f"<b>Break on pipe {iso.pipe}</b>",
                 f"{key('break-valves')} close {len(iso.valves_to_close)} valve(s): "
                 f"{', '.join(iso.valves_to_close) or 'none bound this pipe'}",
                 f"{key('break-pipes')} {len(iso.pipes)} pipe(s) and {len(iso.junctions)} junction(s) shut; "
                 f"{key('break-buildings')} {len(iso.buildings)} building(s), {people}, without water",
                 f"{key('break-unintended-pipes')} unintended isolation: {len(iso.unintended_pipes)} pipe(s), "
                 f"{len(iso.unintended_junctions)} junction(s), {len(iso.unintended_buildings)} building(s), "
                 f"{iso.unintended_population:,.0f} people cut off from every source"]
        self.break_label.setText("<br>".join(lines))
        self.window.say(f"break on {iso.pipe}: close {len(iso.valves_to_close)} valve(s); "
                        f"{iso.population_without_water:,.0f} people without water")
        self.window.request_render()

    def clear_break(self) -> None:
        """Take the break's highlights off the 3D view."""
        model = self.window.view_model
        if model is not None:
            for name in BREAK_HIGHLIGHTS:
                model.highlight(name, None)
            self.window.request_render()
        self.isolation = None
        self.break_label.setText("Arm “Break a pipe”, then click a water pipe in the 3D view.")

    # ------------------------------------------------------------------ retrofit: the plan
    def _on_pick_armed(self, on: bool) -> None:
        if on:
            self.break_button.setChecked(False)
            self.retro_label.setText("Click water pipes in the 3D view to add them to the plan.")

    def add_pipe(self, pipe: str) -> None:
        """Put ``pipe`` in the plan table (its diameter unchanged until a new one is typed)."""
        pipe = str(pipe)
        if pipe not in self._plan_rows:
            self._plan_rows.append(pipe)
        self._fill_plan_table()
        row = self._row_of(pipe)
        if row is not None:
            self.plan_table.setCurrentCell(row, PLANNED)

    def set_diameter(self, pipe: str, diameter_mm: float) -> bool:
        """Give ``pipe`` a new diameter (mm) as an undoable edit of the twin's network."""
        from simulation.hydraulics.plan_edits import baseline
        from twin.network import Edit

        pipe, network = str(pipe), self.network
        if not (isinstance(diameter_mm, (int, float)) and math.isfinite(diameter_mm) and diameter_mm > 0):
            self.window.fail(f"pipe {pipe}: a diameter must be a number of millimetres > 0, not {diameter_mm!r}")
            return False
        before_mm = self._planned_mm(pipe)
        if abs(before_mm - diameter_mm) < 1e-9:
            return False
        if abs(self._baseline_mm(pipe) - diameter_mm) < 1e-9:
            after = baseline(network, [pipe])   # back to as it was: no edit left on the pipe
        else:
            after = network.edited(Edit(pipe, "diameter", diameter_mm / 1000.0))
        if pipe not in self._plan_rows:
            self._plan_rows.append(pipe)
        self.undo_stack.push(NetworkEdit(self, network, after,
                                         f"diameter of {pipe}: {before_mm:g} → {diameter_mm:g} mm"))
        return True

    def remove_pipe(self, pipe: str) -> None:
        """Take ``pipe`` out of the plan: its diameter and roughness as in the baseline (undoable)."""
        from simulation.hydraulics.plan_edits import baseline

        network = self.network
        after = baseline(network, [pipe])
        if pipe in self._plan_rows:
            self._plan_rows.remove(pipe)
        if after is network:
            self._fill_plan_table()
        else:
            self.undo_stack.push(NetworkEdit(self, network, after, f"take {pipe} out of the plan"))

    def _remove_selected(self) -> None:
        row = self.plan_table.currentRow()
        if row >= 0 and self.plan_table.item(row, 0) is not None:
            self.remove_pipe(self.plan_table.item(row, 0).text())

    def load_plan_dialog(self) -> None:
        start = Path.cwd() / "scenarios" / "plans"
        folder = start if start.is_dir() else Path.cwd()
        path, _ = QFileDialog.getOpenFileName(self, "Load a retrofit plan", str(folder),
                                              "Retrofit plans (*.csv *.yaml *.yml)")
        if path:
            self.load_plan(path)

    def load_plan(self, path) -> bool:
        """Read a plan file (as ``hydraulics retrofit --plan`` does) in the worker; its diameters become one
        undoable edit of the network."""
        twin, network, path = self.twin, self.network, Path(path)

        def work(progress):
            from simulation.hydraulics.plan_edits import plan_edits
            from simulation.hydraulics.retrofit import read_plan

            progress(0, 0, f"reading {path.name}")
            system = _system(twin, network)
            plan = read_plan(path, system)
            return plan, plan_edits(system, plan)

        def done(answer):
            plan, edits = answer
            self._plan_template = plan
            now = self.network
            for pid in plan.pipes["id"]:
                if pid not in self._plan_rows:
                    self._plan_rows.append(str(pid))
            if not edits:   # every pipe already as the plan has it
                self._fill_plan_table()
                self.retro_label.setText(f"Plan {plan.name!r} changes nothing: the network already has it.")
                return
            self.undo_stack.push(NetworkEdit(self, now, now.edited(*edits),
                                             f"load plan {plan.name!r} ({len(plan.pipes)} pipe(s))"))
            self.retro_label.setText(f"Plan {plan.name!r} loaded from {path.name}: {len(plan.pipes)} pipe(s). "
                                     "Compare it with the baseline, or edit it.")

        return self._job(f"loading {path.name}", work, done)

    def _set_network(self, network) -> None:
        """The one place the panel changes the twin's network (undo commands call it)."""
        self.twin.network = network
        self.window.mark_modified(True)
        self._fill_plan_table()
        self._refresh_stale()

    def _baseline_mm(self, pipe: str) -> float:
        """The pipe's diameter as imported (the water_pipes layer), mm."""
        pipes = self.twin["water_pipes"]
        row = pipes.index[pipes["id"] == pipe]
        if not len(row):
            raise KeyError(f"no water pipe {pipe!r} in the twin")
        return float(pipes.at[row[0], "diameter"]) * 1000.0

    def _planned_mm(self, pipe: str) -> float:
        for e in reversed(self.network.edits):
            if e.id == pipe and e.field == "diameter":
                return float(e.value) * 1000.0
        return self._baseline_mm(pipe)

    def _row_of(self, pipe: str) -> int | None:
        for r in range(self.plan_table.rowCount()):
            item = self.plan_table.item(r, 0)
            if item is not None and item.text() == pipe:
                return r
        return None

    def _fill_plan_table(self) -> None:
        """The plan's rows from the network's edits; only while the Retrofit tab shows (imports no engine before)."""
        table = self.plan_table
        if self.tabs.currentWidget() is not self.retrofit_tab:
            return
        from simulation.hydraulics.plan_edits import planned_pipes

        self._filling = True
        table.setRowCount(0)
        if self.network is not None:
            pipes = self.twin["water_pipes"].set_index("id")
            rows = list(dict.fromkeys([*planned_pipes(self.network), *self._plan_rows]))
            materials = {}
            if self._plan_template is not None:
                materials = dict(zip(self._plan_template.pipes["id"], self._plan_template.pipes["material"]))
            table.setRowCount(len(rows))
            for r, pid in enumerate(rows):
                length = pipes.at[pid, "length"] if "length" in pipes.columns else float("nan")
                material = materials.get(pid)
                cells = [pid, _text(float(length)), _text(self._baseline_mm(pid)), f"{self._planned_mm(pid):g}",
                         material if isinstance(material, str) else _text(pipes.at[pid, "material"])
                         if "material" in pipes.columns else "—"]
                for c, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if c != PLANNED:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    else:
                        item.setToolTip("type the new diameter in mm")
                    table.setItem(r, c, item)
        self._filling = False

    def _on_plan_cell(self, row: int, column: int) -> None:
        if self._filling or column != PLANNED:
            return
        pipe = self.plan_table.item(row, 0).text()
        text = self.plan_table.item(row, column).text().strip().removesuffix("mm").strip()
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not self.set_diameter(pipe, value):
            self._fill_plan_table()   # refused or unchanged: show the diameter the network has

    # ------------------------------------------------------------------ retrofit: the comparison
    def compare(self) -> bool:
        """The plan (the project's diameter edits) against the baseline, in the worker: table and figures."""
        twin, network, like = self.twin, self.network, self._plan_template
        if not any(e.field == "diameter" for e in network.edits):
            self.retro_label.setText("No pipe has a new diameter yet: load a plan, or type a diameter in the table.")
            return False
        name = like.name if like is not None else "edited in the window"
        sample, duration = self.retro_sample.value() or None, self.hours()
        stage = {"text": "starting"}
        told = self._sweep_progress(lambda: stage["text"])

        def work(progress):
            from simulation.hydraulics.plan_edits import baseline, plan_from_edits
            from simulation.hydraulics.retrofit import evaluate_plan

            def staged(text: str) -> None:
                stage["text"] = text
                progress(0, 0, text)

            plan = plan_from_edits(network, like=like)
            system = _system(twin, baseline(network), apart=True)
            return _sweep(evaluate_plan, system, plan, sample=sample, duration_h=duration, progress=told(progress),
                          stages=staged, workers=0)

        def done(result):
            self.retrofit = result
            self.computed_on["retrofit"] = network
            self.compare_model.set_frame(result.comparison_table())
            self.retro_label.setText(f"Plan {result.plan.name!r}: {len(result.plan.pipes)} pipe(s), cost "
                                     f"{result.cost:,.0f} {result.plan.currency}; baseline and plan side by side.")
            self._show_figures(result.figures)
            self._refresh_stale()

        if self._job(f"retrofit {name!r}", work, done):
            self.retro_label.setText(f"Comparing {name!r} with the baseline…")
            return True
        return False

    def _show_figures(self, figures: dict) -> None:
        layout = self.figures.layout()
        while layout.count():
            item = layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for name, png in figures.items():
            picture = QPixmap()
            picture.loadFromData(png, "PNG")
            label = QLabel()
            label.setObjectName(f"figure-{name}")
            label.setPixmap(picture.scaledToWidth(min(picture.width(), 520),
                                                  Qt.TransformationMode.SmoothTransformation))
            layout.addWidget(label)

    # ------------------------------------------------------------------ stale results
    def stale(self) -> list[str]:
        """Kinds of results computed on another network than the twin's now."""
        return [kind for kind, net in self.computed_on.items() if net is not self.network]

    def _refresh_stale(self) -> None:
        kinds = self.stale()
        self.stale_label.setText(f"Stale: {', '.join(kinds)} computed before the network changed — run again."
                                 if kinds else "")
        self.stale_label.setVisible(bool(kinds))

    # ------------------------------------------------------------------ helpers
    def _select_row(self, model: FrameModel, index, layer: str, column: str) -> None:
        if column not in model.frame.columns or layer not in self.window.view_model.layers:
            return
        self.window.view_model.select(layer, str(model.frame.at[index.row(), column]))

    def shutdown(self) -> None:
        self.break_button.setChecked(False)
        self.pick_button.setChecked(False)


def _sweep(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a process of its own (or here, when :data:`SWEEPS_APART` is off)."""
    from simulation.hydraulics.apart import run_apart

    return run_apart(fn, *args, **kwargs) if SWEEPS_APART else fn(*args, **kwargs)


def _system(twin, network, *, apart: bool = False):
    """The twin's water system with ``network`` (the one the user started the work on); ``apart``: without
    the twin, to travel to a process of its own (:func:`~simulation.hydraulics.apart.run_apart`)."""
    from simulation.hydraulics.system import from_twin

    system = from_twin(twin)
    if system.epanet is not network:
        system = dataclasses.replace(system, epanet=network)
    return dataclasses.replace(system, twin=None) if apart else system
