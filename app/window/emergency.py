"""The Emergency panel: run a period or replications, KPIs against the standards, response-time
curves, drive-time coverage on the 3D view, and a station-siting what-if by clicking sites.

Every answer comes from the emergency engine through :mod:`simulation.emergency.study`
(replications, their report and response times; building coverage; a city with
candidate stations), run on the window's worker
(:attr:`MainWindow.work <app.window.main.MainWindow.work>`) with progress per
simulated day and Cancel.  The panel collects the planner's choices on the
window's thread, hands the worker plain values and the twin, and shows what
comes back: the standards and the response by incident type in tables
(coloured pass / fail), the response-time ECDF with the limits drawn, and each
building's drive time from the nearest station on the 3D view through the view
model.

Siting: with *Add candidate station* pressed, the next click in the 3D view
proposes a station there (snapped to the road network as the stations are);
coverage — and, after a run, the same seeded replications — are computed again
with every candidate, and shown beside the city as it is.  Candidates can be
removed; nothing is written to the twin.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QBrush, QColor  # noqa: E402
from PyQt6.QtWidgets import (QAbstractItemView, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,  # noqa: E402
                             QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton,
                             QScrollArea, QSpinBox, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

KEY = Qt.ItemDataRole.UserRole
PASS, FAIL = QColor("#b7e1b0"), QColor("#f4b6b0")
CURVE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")
COVERAGE_CMAP = "RdYlGn_r"    # green near a station, yellow at the limit, red beyond twice the limit
CANDIDATE_COLOUR = "#00e5ff"
RESULT = "response time"      # the result the 3D view colours buildings by
STANDARD_COLUMNS = ("Standard", "Limit", "n", "Met", "95 % CI", "Target", "Result")
STANDARD_TIPS = ("the scenario's standard (hover for its whole name)", "the time limit",
                 "responses it judges, per replication (mean)", "share meeting the limit, mean over replications",
                 "95 % interval of that share over replications", "share the standard asks for",
                 "met when the mean share reaches the target")
TYPE_COLUMNS = ("Incident type", "Incidents", "Served", "Mean", "Median", "p90")
TYPE_TIPS = ("incident type (hover for its name in the scenario)", "incidents per replication (mean)",
             "incidents a unit reached, per replication (mean)", "mean response (min)", "median response (min)",
             "90th percentile response (min)")
WHATIF_COLUMNS = ("Measure", "Now", "With candidates", "Change")


def _share(v) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def _minutes(v) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.1f}"


def _count(v) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.1f}"


def _limit(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def _item(text: str, value=None, colour: QColor | None = None, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setData(KEY, value)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if colour is not None:
        item.setBackground(QBrush(colour))
    if tip:
        item.setToolTip(tip)
    return item


def _table(columns, name: str, tips=()) -> QTableWidget:
    """A read-only table whose first column (names) takes the room left and elides what does not fit."""
    t = QTableWidget(0, len(columns))
    t.setObjectName(name)
    _headers(t, columns, tips)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(22)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setWordWrap(False)
    t.setTextElideMode(Qt.TextElideMode.ElideRight)
    return t


def _headers(t: QTableWidget, columns, tips=()) -> None:
    t.setColumnCount(len(columns))
    for c, text in enumerate(columns):
        item = QTableWidgetItem(text)
        if c < len(tips):
            item.setToolTip(tips[c])
        t.setHorizontalHeaderItem(c, item)
    header = t.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    header.setMinimumSectionSize(40)


def _fit_rows(t: QTableWidget) -> None:
    """Tall enough for every row: the panel scrolls, not the table."""
    height = t.horizontalHeader().height() + sum(t.rowHeight(r) for r in range(t.rowCount())) + 2 * t.frameWidth()
    t.setMinimumHeight(height)
    t.setMaximumHeight(height)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area


class EmergencyPanel(QWidget):
    """Replications and their KPIs, response-time ECDF, coverage on the 3D view, siting what-if."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.twin = None
        self.scenario = None
        self.model = None              # the city's EmergencyModel, built on the worker once per twin
        self.result = None             # the last complete run (study.Replications)
        self.coverage = None           # study.CoverageMap of the city as it is
        self.whatif = None             # the last siting what-if (study.WhatIf)
        self.candidates: list = []     # study.Candidate, in the order they were clicked
        self.candidate_features: dict[str, tuple[str, str]] = {}   # candidate id -> (layer, feature) clicked
        self.progress_seen = {"done": 0, "total": 0, "text": ""}  # written by the worker, read once stopped
        self._number = 0
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.limit_lines: list[pg.InfiniteLine] = []

        self.days = QDoubleSpinBox()
        self.days.setObjectName("emergency-days")
        self.days.setRange(0.1, 3650.0)
        self.days.setDecimals(1)
        self.days.setValue(365.0)
        self.days.setSuffix(" days")
        self.days.setToolTip("simulated period of each replication")
        self.replications = QSpinBox()
        self.replications.setObjectName("emergency-replications")
        self.replications.setRange(1, 100)
        self.replications.setValue(5)
        self.replications.setToolTip("seeded replications: the KPIs are their means with 95 % intervals")
        self.seed = QSpinBox()
        self.seed.setObjectName("emergency-seed")
        self.seed.setRange(0, 2_000_000_000)
        self.seed.setToolTip("base seed: replication r uses seed + 1000·r")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("emergency-run")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel("Simulate incidents and the units that answer them over a period.")
        self.status.setObjectName("emergency-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Period", self.days)
        form.addRow("Replications", self.replications)
        form.addRow("Seed", self.seed)
        form.addRow(self.run_button)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("emergency-tabs")
        self.tabs.addTab(self._kpi_tab(), "Standards")
        self.tabs.addTab(self._ecdf_tab(), "Response times")
        self.tabs.addTab(self._coverage_tab(), "Coverage and siting")
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addLayout(form)
        box.addWidget(self.status)
        box.addWidget(self.tabs, 1)
        window.picked.connect(self._on_picked)
        self.setEnabled(False)

    # ------------------------------------------------------------------ tabs
    def _kpi_tab(self) -> QWidget:
        self.standards_table = _table(STANDARD_COLUMNS, "emergency-standards", STANDARD_TIPS)
        self.types_table = _table(TYPE_COLUMNS, "emergency-types", TYPE_TIPS)
        tab = QWidget()
        box = QVBoxLayout(tab)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(QLabel("Standards of the scenario: share of responses within the limit "
                             "(mean of the replications); green when it meets the target"))
        box.addWidget(self.standards_table)
        box.addWidget(QLabel("Response by incident type, call received -> first unit on scene (minutes, means "
                             "of the replications); a 'within' share is green when it reaches 90 % "
                             "(the NFPA 1710 fractile)"))
        box.addWidget(self.types_table)
        box.addStretch(1)
        for label in tab.findChildren(QLabel):
            label.setWordWrap(True)
        return _scrolling(tab)

    def _ecdf_tab(self) -> QWidget:
        from simulation.emergency.study import GROUPINGS

        self.grouping = QComboBox()
        self.grouping.setObjectName("emergency-grouping")
        for by, what in GROUPINGS.items():
            self.grouping.addItem(f"by {by}: {what}", by)
        self.grouping.activated.connect(lambda _i: self._show_ecdf())
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("emergency-ecdf")
        self.plot.setLabel("left", "share reached (%)")
        self.plot.setLabel("bottom", "minutes")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setYRange(0, 100, padding=0.02)
        self.legend = self.plot.addLegend(offset=(-8, -8), labelTextSize="8pt",
                                          brush=pg.mkBrush(255, 255, 255, 210), pen=pg.mkPen("#bbbbbb"))
        tab = QWidget()
        box = QVBoxLayout(tab)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.grouping)
        box.addWidget(self.plot, 1)
        return tab

    def _coverage_tab(self) -> QWidget:
        from simulation.emergency.study import CANDIDATE_KINDS

        self.minutes = QDoubleSpinBox()
        self.minutes.setObjectName("emergency-minutes")
        self.minutes.setRange(0.5, 60.0)
        self.minutes.setDecimals(1)
        self.minutes.setValue(5.0)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("a building is covered when a station or micro station reaches it within this")
        self.coverage_button = QPushButton("Show coverage")
        self.coverage_button.setObjectName("emergency-coverage")
        self.coverage_button.clicked.connect(self.show_coverage)
        self.clear_button = QPushButton("Clear from the view")
        self.clear_button.setObjectName("emergency-clear")
        self.clear_button.clicked.connect(self.clear_view)
        self.coverage_label = QLabel("Colour the buildings by drive time from the nearest station.")
        self.coverage_label.setObjectName("emergency-coverage-summary")
        self.coverage_label.setWordWrap(True)
        self.shown = QComboBox()
        self.shown.setObjectName("emergency-shown")
        self.shown.addItem("the city as it is", "now")
        self.shown.addItem("with the candidates", "after")
        self.shown.setEnabled(False)
        self.shown.activated.connect(lambda _i: self._show_coverage())

        self.kind = QComboBox()
        self.kind.setObjectName("emergency-candidate-kind")
        for kind in CANDIDATE_KINDS:
            self.kind.addItem(kind.replace("_", " "), kind)
        self.candidate_button = QPushButton("Add candidate station")
        self.candidate_button.setObjectName("emergency-candidate")
        self.candidate_button.setCheckable(True)
        self.candidate_button.toggled.connect(self._on_armed)
        self.candidate_list = QListWidget()
        self.candidate_list.setObjectName("emergency-candidates")
        self.candidate_list.setMaximumHeight(90)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("emergency-remove-candidate")
        self.remove_button.clicked.connect(self._remove_selected)
        self.remove_all_button = QPushButton("Remove all")
        self.remove_all_button.setObjectName("emergency-remove-all")
        self.remove_all_button.clicked.connect(self.clear_candidates)
        self.whatif_table = _table(WHATIF_COLUMNS, "emergency-whatif")
        _fit_rows(self.whatif_table)
        self.whatif_label = QLabel("Press Add candidate station, then click where a station could stand.")
        self.whatif_label.setObjectName("emergency-whatif-summary")
        self.whatif_label.setWordWrap(True)

        top = QFormLayout()
        top.addRow("Covered within", self.minutes)
        row = QHBoxLayout()
        row.addWidget(self.coverage_button)
        row.addWidget(self.clear_button)
        top.addRow(row)
        top.addRow("3D view shows", self.shown)
        siting = QGroupBox("Station siting what-if")
        s = QVBoxLayout(siting)
        s.setContentsMargins(4, 4, 4, 4)
        arm = QHBoxLayout()
        arm.addWidget(self.kind)
        arm.addWidget(self.candidate_button, 1)
        s.addLayout(arm)
        listed = QHBoxLayout()
        listed.addWidget(self.candidate_list, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.remove_all_button)
        buttons.addStretch(1)
        listed.addLayout(buttons)
        s.addLayout(listed)
        s.addWidget(self.whatif_label)
        s.addWidget(self.whatif_table, 1)
        tab = QWidget()
        box = QVBoxLayout(tab)
        box.setContentsMargins(2, 2, 2, 2)
        box.addLayout(top)
        box.addWidget(self.coverage_label)
        box.addWidget(siting)
        box.addStretch(1)
        return _scrolling(tab)

    # ------------------------------------------------------------------ the twin
    def twin_changed(self, twin) -> None:
        from simulation.emergency.config import load_scenario

        self.twin = twin
        self.model = self.result = self.coverage = self.whatif = None
        self.candidates, self.candidate_features, self._number = [], {}, 0
        self.candidate_button.setChecked(False)
        self.candidate_list.clear()
        for t in (self.standards_table, self.types_table, self.whatif_table):
            t.setRowCount(0)
            _fit_rows(t)
        self._clear_plot()
        self.shown.setCurrentIndex(0)
        self.shown.setEnabled(False)
        self.coverage_label.setText("Colour the buildings by drive time from the nearest station.")
        self.whatif_label.setText("Press Add candidate station, then click where a station could stand.")
        usable = twin is not None and len(twin["fire_stations"]) > 0
        self.setEnabled(usable)
        if not usable:
            self.status.setText("This city has no fire stations: nothing to dispatch.")
            return
        try:
            self.scenario = load_scenario()
        except Exception as exc:  # a broken default scenario: one message, the panel stays off
            self.setEnabled(False)
            self.window.fail(f"emergency scenario: {exc}")
            return
        self.seed.setValue(self.scenario.seed)
        self.status.setText("Simulate incidents and the units that answer them over a period.")

    def _job(self, title: str, fn, on_done, on_cancelled=None) -> bool:
        """Start ``fn(progress, model)`` on the window's worker with the city's model (built there the
        first time); ``on_done(result)`` on the window's thread.  False when a job is running."""
        from simulation.emergency.config import load_scenario
        from simulation.emergency.model import EmergencyModel

        work = self.window.work
        if work.busy:
            self.window.say(f"{work.job.title} is still running: wait for it or cancel it")
            return False
        twin, model, scenario = self.twin, self.model, self.scenario
        count = self.progress_seen = {"done": 0, "total": 0, "text": ""}

        def tell(progress):
            def told(done: int, total: int, text: str = "") -> None:   # on the worker: plain values only
                if total:
                    count["done"], count["total"], count["text"] = done, total, text
                progress(done, total, text)

            return told

        def job(progress):
            progress(0, 0, "preparing the fleet and the road graph")
            m = model or EmergencyModel.from_twin(twin, scenario or load_scenario())
            return m, fn(tell(progress), m)

        def done(answer):
            m, result = answer
            if twin is not self.twin:   # another city was opened meanwhile
                return
            self.model = m
            on_done(result)

        work.start(title, job, on_done=done, on_failed=self._failed,
                   on_cancelled=on_cancelled or (lambda: self.window.say(f"{title}: cancelled")))
        return True

    def _failed(self, text: str) -> None:
        self.status.setText(f"Failed: {text}")
        self.window.fail(text)

    # ------------------------------------------------------------------ run
    def run(self) -> bool:
        """Seeded replications of the period on the worker, with progress per simulated day and Cancel."""
        from simulation.emergency.study import replicate

        days, reps, seed = self.days.value(), self.replications.value(), self.seed.value()

        def work(progress, model):
            return replicate(model, days, reps, seed, progress)

        def done(result):
            self.result = result
            self._fill_kpis()
            self._show_ecdf()
            o = result.kpis["overall"]
            std = result.standards()
            met = sum(1 for m in std["met"] if m is True)
            self.status.setText(
                f"{days:g} day(s) × {reps} replication(s), seed {seed}: {_count(o['incidents']['mean'])} incidents "
                f"per replication, {_count(o['served']['mean'])} served, {_count(o['unserved']['mean'])} unserved; "
                f"{met} of {len(std)} standards met.")
            for note in result.report["notes"]:
                self.window.log_panel.say(f"emergency note: {note}")
            self.window.say(f"emergency run done: {days:g} day(s) × {reps} replication(s)")
            if self.candidates:   # the what-if compares the same replications
                self._what_if()

        def cancelled():
            n = self.progress_seen
            self.status.setText(f"Run cancelled at {n['text'] or 'the start'} ({n['done']} of {n['total']} "
                                "simulated days): no KPIs from this run"
                                + (" (the tables show the earlier one)." if self.result is not None else "."))
            self.window.say("emergency run cancelled")

        if self._job("emergency run", work, done, cancelled):
            self.status.setText(f"Simulating {days:g} day(s) × {reps} replication(s)…")
            return True
        return False

    def _fill_kpis(self) -> None:
        from simulation.emergency.study import FRACTILE

        res = self.result
        std = res.standards()
        t = self.standards_table
        t.setRowCount(len(std))
        for r, row in enumerate(std.itertuples(index=False)):
            verdict = None if row.met is None else (PASS if row.met else FAIL)
            ci = "—" if row.ci_low is None else f"{100 * row.ci_low:.1f}–{100 * row.ci_high:.1f} %"
            cells = [_item(row.standard, row.standard, tip=row.standard),
                     _item(_limit(row.limit_s), row.limit_s),
                     _item(_count(row.responses), row.responses),
                     _item(_share(row.share), row.share, verdict),
                     _item(ci, None if row.ci_low is None else (row.ci_low, row.ci_high)),
                     _item(_share(row.target), row.target),
                     _item("no responses" if row.met is None else ("met" if row.met else "NOT met"), row.met,
                           verdict)]
            for c, item in enumerate(cells):
                t.setItem(r, c, item)
        _fit_rows(t)
        types = res.by_type()
        within = [c for c in types.columns if c.startswith("within_")]
        limits = [_limit(float(c[len("within_"):-len("_s")])) for c in within]
        t = self.types_table
        _headers(t, TYPE_COLUMNS + tuple(f"≤ {lim}" for lim in limits),
                 TYPE_TIPS + tuple(f"share reached within {lim} (mean of the replications)" for lim in limits))
        t.setRowCount(len(types))
        for r, row in enumerate(types.to_dict("records")):
            cells = [_item(row["type"].replace("_", " "), row["type"], tip=row["label"]),
                     _item(_count(row["incidents"]), row["incidents"]),
                     _item(_count(row["served"]), row["served"])]
            for key in ("mean_s", "median_s", "p90_s"):
                v = row[key]
                cells.append(_item(_minutes(None if v is None else v / 60.0), v))
            for key in within:
                v = row[key]
                colour = None if v is None or np.isnan(v) else (PASS if v >= FRACTILE else FAIL)
                cells.append(_item(_share(None if v is None or np.isnan(v) else v), v, colour))
            for c, item in enumerate(cells):
                t.setItem(r, c, item)
        _fit_rows(t)

    # ------------------------------------------------------------------ response-time ECDF
    def _clear_plot(self) -> None:
        for item in list(self.curves.values()) + self.limit_lines:
            self.plot.removeItem(item)
        self.legend.clear()
        self.curves, self.limit_lines = {}, []

    def _show_ecdf(self) -> None:
        """One step curve per group: the share of responses within t minutes, every replication pooled."""
        from simulation.emergency.study import ALL

        self._clear_plot()
        if self.result is None:
            return
        by = self.grouping.currentData()
        times = self.result.response_times(by)
        top = 0.0
        for k, (name, seconds) in enumerate(times.items()):
            if len(seconds) == 0:
                continue
            minutes = seconds / 60.0
            share = 100.0 * np.arange(1, len(minutes) + 1) / len(minutes)
            width, colour = (3, "#000000") if name == ALL else (1.5, CURVE_COLOURS[k % len(CURVE_COLOURS)])
            curve = pg.PlotDataItem(minutes, share, stepMode="left", pen=pg.mkPen(colour, width=width),
                                    name=f"{name.replace('_', ' ')} (n={len(minutes)})")
            self.plot.addItem(curve)
            self.curves[name] = curve
            top = max(top, float(np.percentile(minutes, 99)))
        for k, (seconds, label) in enumerate(self.result.limits(by)):
            # labels at the top, stepped down one by one so that near limits do not overprint
            line = pg.InfiniteLine(pos=seconds / 60.0, angle=90, movable=False,
                                   pen=pg.mkPen("#555555", width=1, style=Qt.PenStyle.DashLine),
                                   label=f" {_limit(seconds)}",
                                   labelOpts={"position": 0.97 - 0.07 * k, "color": "#333333",
                                              "anchors": [(0, 0.5), (0, 0.5)], "fill": (255, 255, 255, 200)})
            line.setToolTip(label)
            self.plot.addItem(line)
            self.limit_lines.append(line)
            top = max(top, seconds / 60.0)
        self.plot.setXRange(0, max(top, 1.0) * 1.1, padding=0)
        self.plot.setYRange(0, 100, padding=0.02)
        self.plot.setLabel("bottom", "minutes: " + ("call received -> first unit on scene" if by == "incident type"
                                                    else "unit dispatched -> on scene"))

    # ------------------------------------------------------------------ coverage
    def show_coverage(self) -> bool:
        """Each building's drive time from the nearest station (or micro station) on the 3D view."""
        from simulation.emergency.study import coverage_map

        minutes = self.minutes.value()

        def work(progress, model):
            progress(0, 0, "drive times to every building")
            return coverage_map(model, minutes)

        def done(answer):
            self.coverage = answer
            self.shown.setCurrentIndex(0)
            self._describe_coverage()
            self._show_coverage()
            if self.candidates and (self.whatif is None or self.whatif.minutes != minutes):
                self._what_if()

        return self._job("coverage", work, done)

    def _describe_coverage(self) -> None:
        from simulation.emergency.study import drive_time_stats

        cov = self.coverage.coverage
        stats = drive_time_stats(cov)
        who = " or ".join(k.replace("_", " ") for k in cov.kinds)
        self.coverage_label.setText(
            f"Within {cov.minutes:g} min of a {who}: {cov.buildings_covered:,} of {cov.buildings:,} buildings "
            f"({_share(cov.building_share)}), {cov.population_covered:,.0f} of {cov.population:,.0f} people "
            f"({_share(cov.population_share)}); mean drive time {_minutes(_div(stats['mean_s']))} min. "
            f"Buildings go green to red up to {2 * cov.minutes:g} min (yellow at {cov.minutes:g}).")

    def _show_coverage(self) -> None:
        """Colour the buildings by the coverage chosen in *3D view shows*."""
        shown = self.coverage
        if shown is None:
            return
        if self.shown.currentData() == "after" and self.whatif is not None:
            shown = self.whatif.after
        model = self.window.view_model
        if "buildings" in model.layers:
            model.show_values("buildings", RESULT, shown.buildings, unit="min", cmap=COVERAGE_CMAP,
                              clim=(0.0, 2.0 * shown.minutes))
        self.window.request_render()

    def clear_view(self) -> None:
        """Take the coverage colours and the candidates' marks off the 3D view."""
        model = self.window.view_model
        if model is None:
            return
        if "buildings" in model.layers and model.results.get("buildings") == RESULT:
            model.clear_values("buildings")
        for name in [n for n in model.highlights if n.startswith("emergency-candidates:")]:
            model.highlight(name, None)
        self.window.request_render()

    # ------------------------------------------------------------------ siting what-if
    def _on_armed(self, on: bool) -> None:
        if on:
            self.whatif_label.setText("Click in the 3D view where the candidate station would stand "
                                      "(a road is best: it drives from the nearest road node).")

    def _on_picked(self, hit) -> None:
        if not self.candidate_button.isChecked():
            return
        if hit is None:
            self.window.say("nothing under the cursor: click a road or a building for the candidate station")
            return
        self.add_candidate(hit.position[0], hit.position[1], f"{hit.layer} {hit.feature_id}",
                           (hit.layer, hit.feature_id))

    def add_candidate(self, x: float, y: float, where: str = "", feature: tuple[str, str] | None = None) -> bool:
        """Propose a station at (x, y) and compare the city with and without the candidates."""
        from simulation.emergency.study import Candidate

        if self.window.work.busy:
            self.window.say(f"{self.window.work.job.title} is still running: place the candidate when it is done")
            return False
        self.candidate_button.setChecked(False)
        self._number += 1
        c = Candidate(self._number, float(x), float(y), self.kind.currentData(), where)
        self.candidates.append(c)
        if feature is not None:
            self.candidate_features[c.id] = feature
        item = QListWidgetItem(c.describe())
        item.setData(KEY, c.id)
        self.candidate_list.addItem(item)
        self._mark_candidates()
        return self._what_if()

    def remove_candidate(self, candidate_id: str) -> bool:
        if self.window.work.busy:
            self.window.say(f"{self.window.work.job.title} is still running: remove the candidate when it is done")
            return False
        self.candidates = [c for c in self.candidates if c.id != candidate_id]
        self.candidate_features.pop(candidate_id, None)
        for row in range(self.candidate_list.count()):
            if self.candidate_list.item(row).data(KEY) == candidate_id:
                self.candidate_list.takeItem(row)
                break
        self._mark_candidates()
        if self.candidates:
            return self._what_if()
        return self.clear_candidates()

    def clear_candidates(self) -> bool:
        """Remove every candidate: the city as it is again."""
        if self.window.work.busy and self.candidates:
            self.window.say(f"{self.window.work.job.title} is still running: remove the candidates when it is done")
            return False
        self.candidates, self.candidate_features = [], {}
        self.candidate_list.clear()
        self._mark_candidates()
        self.whatif = None
        self.whatif_table.setRowCount(0)
        _fit_rows(self.whatif_table)
        self.whatif_label.setText("No candidate station: the city as it is.")
        self.shown.setCurrentIndex(0)
        self.shown.setEnabled(False)
        self._show_coverage()
        return True

    def _remove_selected(self) -> None:
        item = self.candidate_list.currentItem()
        if item is not None:
            self.remove_candidate(item.data(KEY))

    def _mark_candidates(self) -> None:
        """Highlight what was clicked for each candidate (one highlight per layer)."""
        model = self.window.view_model
        by_layer: dict[str, list[str]] = {}
        for layer, fid in self.candidate_features.values():
            by_layer.setdefault(layer, []).append(fid)
        for name in [n for n in model.highlights if n.startswith("emergency-candidates:")]:
            if name.split(":", 1)[1] not in by_layer:
                model.highlight(name, None)
        for layer, ids in by_layer.items():
            if layer in model.layers:
                model.highlight(f"emergency-candidates:{layer}", layer, ids, CANDIDATE_COLOUR, "candidate stations")
        self.window.request_render()

    def _what_if(self) -> bool:
        """Coverage (and, after a run, the same replications) with every candidate, on the worker."""
        from simulation.emergency.study import what_if

        candidates, minutes, run = tuple(self.candidates), self.minutes.value(), self.result

        def work(progress, model):
            return what_if(model, candidates, minutes, run, progress)

        def done(result):
            if tuple(self.candidates) != result.candidates:   # changed meanwhile: that answer is stale
                return
            self.whatif = result
            if self.coverage is None or self.coverage.minutes != minutes:
                self.coverage = result.before
                self._describe_coverage()
            self._fill_whatif()
            self.shown.setEnabled(True)
            self.shown.setCurrentIndex(1)
            self._show_coverage()

        def cancelled():
            self.whatif_label.setText("What-if cancelled: the table is not for these candidates.")
            self.window.say("siting what-if cancelled")

        if self._job("siting what-if", work, done, cancelled):
            self.whatif_label.setText(f"Comparing the city with {len(candidates)} candidate station(s)…")
            return True
        return False

    def _fill_whatif(self) -> None:
        w = self.whatif
        table = w.table()
        t = self.whatif_table
        t.setRowCount(len(table))
        for r, row in enumerate(table.to_dict("records")):
            share = row["unit"] == "share"
            fmt = _share if share else _minutes
            change = row["change"]
            if change is None:
                change_text = "—"
            elif share:
                change_text = f"{100 * change:+.1f} points"
            else:
                change_text = f"{change:+.1f} min"
            colour = None if row["better"] is None else (PASS if row["better"] else FAIL)
            label = row["measure"] + ("" if share else " (min)")
            for c, item in enumerate([_item(label, row["measure"], tip=row["measure"]),
                                      _item(fmt(row["now"]), row["now"]),
                                      _item(fmt(row["with_candidates"]), row["with_candidates"]),
                                      _item(change_text, change, colour)]):
                t.setItem(r, c, item)
        _fit_rows(t)
        snapped = []
        if w.model.graph is not None:   # road travel: each candidate drives from its nearest road node
            ids = [s.id for s in w.model.fleet.stations]
            snapped = [f"{c.name} {w.model.travel.station_snap_m[ids.index(c.id)]:.0f} m from its road node"
                       for c in w.candidates]
        runs = ("; KPIs from the same seeded replications" if w.after_run is not None
                else "; run the period to compare the KPIs too")
        self.whatif_label.setText(f"{len(w.candidates)} candidate station(s) ({', '.join(snapped) or 'placed'})"
                                  f"{runs}.")

    def shutdown(self) -> None:
        self.candidate_button.setChecked(False)


def _div(seconds):
    return None if seconds is None else seconds / 60.0
