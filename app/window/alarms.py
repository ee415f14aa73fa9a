"""The Sensors-and-alarms panel: the sensor streams, the active alarms in four colours, the incidents' life cycles.

Everything shown comes from the open scenario's :class:`~app.playback.Playback`
(the session's event log, read by its :class:`~app.playback.AlarmBoard` and
:class:`~app.playback.IncidentBoard`); the panel formats and forwards:

* **Sources**: the sensor streams feeding the session (virtual sensors on the
  water network, scripted source models, drone flights; a recorded file or a
  live MQTT feed only when the session has one);
* **Active alarms**, most severe first, each in its level's colour
  (``twin.schema.RISK_COLOURS``: red, orange, yellow, blue), bold until
  acknowledged.  *Acknowledge* publishes ``alarm_acknowledged`` on the
  session for the selected alarms (an escalation asks for a new one);
  double-click an alarm to select its sensor;
* **Incidents**: report → verify → assign → handle → feedback → close, each
  with its clock time (blank: not reached, or a step its engine does not
  log); selecting an alarm selects the incident it opened.
"""

from __future__ import annotations

from datetime import datetime, timezone

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor, QFont
from PyQt6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSplitter,
                             QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.playback import STAGES, sources

ALARM_COLUMNS = ("level", "sensor", "on", "rule", "raised", "value", "acknowledged", "incident", "what")
INCIDENT_COLUMNS = ("incident", "type", *STAGES, "where")
TEXT_ON = {"red": "#ffffff", "orange": "#000000", "yellow": "#000000", "blue": "#ffffff"}
KEY = Qt.ItemDataRole.UserRole


def _hms(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")


def _tint(colour: str, amount: float) -> QColor:
    c = QColor(colour)
    return QColor(*(round(v + (255 - v) * amount) for v in (c.red(), c.green(), c.blue())))


class AlarmPanel(QWidget):
    """Sources, active alarms with Acknowledge, and the incidents' life cycles."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.playback = None
        self.sources = QLabel("No scenario open: no sensor stream.")
        self.sources.setObjectName("alarm-sources")
        self.sources.setWordWrap(True)
        self.alarm_table = QTableWidget(0, len(ALARM_COLUMNS))
        self.alarm_table.setObjectName("alarm-list")
        self.alarm_table.setHorizontalHeaderLabels(list(ALARM_COLUMNS))
        self.incident_table = QTableWidget(0, len(INCIDENT_COLUMNS))
        self.incident_table.setObjectName("incident-list")
        self.incident_table.setHorizontalHeaderLabels(list(INCIDENT_COLUMNS))
        for table in (self.alarm_table, self.incident_table):
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.verticalHeader().setVisible(False)
            table.verticalHeader().setDefaultSectionSize(20)
            table.horizontalHeader().setStretchLastSection(True)
        self.alarm_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        for table, widths in ((self.alarm_table, (60, 60, 64, 44, 74, 56, 150, 64)),
                              (self.incident_table, (64, 130, *[70] * len(STAGES)))):
            for c, width in enumerate(widths):
                table.horizontalHeader().resizeSection(c, width)
        self.incident_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setObjectName("acknowledge")
        self.alarm_count = QLabel("")
        self.alarm_count.setObjectName("alarm-count")

        source_box = QGroupBox("Sources")
        QVBoxLayout(source_box).addWidget(self.sources)
        alarm_box = QGroupBox("Active alarms")
        alarm_col = QVBoxLayout(alarm_box)
        row = QHBoxLayout()
        row.addWidget(self.ack_button)
        row.addStretch(1)
        row.addWidget(self.alarm_count)
        alarm_col.addLayout(row)
        alarm_col.addWidget(self.alarm_table)
        incident_box = QGroupBox("Incidents: report → verify → assign → handle → feedback → close")
        QVBoxLayout(incident_box).addWidget(self.incident_table)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(alarm_box)
        split.addWidget(incident_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(source_box)
        col.addWidget(split, 1)

        self.ack_button.clicked.connect(self.acknowledge_selected)
        self.alarm_table.itemSelectionChanged.connect(self._on_alarm_selected)
        self.alarm_table.cellDoubleClicked.connect(self._on_alarm_double_click)
        self._enable()

    # ------------------------------------------------------------------ the playback
    def set_playback(self, playback) -> None:
        """Follow ``playback`` (None: no scenario open)."""
        old, self.playback = self.playback, playback
        if old is not None:
            old.events_arrived.disconnect(self._on_events)
            old.rewound.disconnect(self.refresh)
        if playback is not None:
            playback.events_arrived.connect(self._on_events)
            playback.rewound.connect(self.refresh)
        self._show_sources(playback)
        self.refresh()

    def _on_events(self, events) -> None:
        if any(e.kind.startswith(("alarm_", "incident_", "unit_")) for e in events):
            self.refresh()

    def refresh(self) -> None:
        pb = self.playback
        self._fill_alarms([] if pb is None else pb.alarms.active())
        self._fill_incidents([] if pb is None else pb.incidents.all())
        self._enable()

    def _show_sources(self, pb) -> None:
        if pb is None:
            self.sources.setText("No scenario open: no sensor stream.")
            return
        found = sources(pb.session)
        lines = [f"<b>{s['kind']}</b> ({s['name']}): {s['what']}" for s in found] or ["no sensor stream"]
        kinds = {s["kind"] for s in found}
        missing = [what for k, what in (("recorded", "recorded file"), ("live", "live MQTT feed")) if k not in kinds]
        if missing:
            lines.append(f"<i>No {' or '.join(missing)} in this session.</i>")
        self.sources.setText("<br>".join(lines))

    def _fill_alarms(self, alarms) -> None:
        table = self.alarm_table
        keep = self.selected_keys()
        table.blockSignals(True)
        table.setRowCount(len(alarms))
        for r, a in enumerate(alarms):
            acked = a.acknowledged is not None
            ack = f"{_hms(a.acknowledged)} ({a.acknowledged_by})" if acked else "no"
            value = "" if a.value is None else f"{a.value:.4g}"
            cells = (a.level, a.who, a.feature or "", a.kind, _hms(a.raised), value, ack,
                     a.incident or "", a.message)
            tint = _tint(a.colour, 0.85 if acked else 0.6)
            font = QFont()
            font.setBold(not acked)
            font.setItalic(acked)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setData(KEY, a.key)
                item.setFont(font)
                item.setToolTip(a.message)
                if c == 0:
                    item.setBackground(QBrush(QColor(a.colour)))
                    item.setForeground(QBrush(QColor(TEXT_ON.get(a.level, "#000000"))))
                else:
                    item.setBackground(QBrush(tint))
                    item.setForeground(QBrush(QColor("#555555" if acked else "#000000")))
                table.setItem(r, c, item)
            if a.key in keep:
                table.selectRow(r)
        table.blockSignals(False)
        counts = {}
        for a in alarms:
            counts[a.level] = counts.get(a.level, 0) + 1
        waiting = sum(1 for a in alarms if a.acknowledged is None)
        self.alarm_count.setText(", ".join(f"{n} {lvl}" for lvl, n in counts.items())
                                 + (f"; {waiting} to acknowledge" if waiting else "") if alarms else "no active alarm")

    def _fill_incidents(self, incidents) -> None:
        table = self.incident_table
        table.setRowCount(len(incidents))
        for r, inc in enumerate(incidents):
            cells = [inc.id, inc.type.replace("_", " ") + (" (false alarm)" if inc.false_alarm else ""),
                     *[_hms(inc.times[s]) for s in STAGES], inc.where]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(KEY, inc.id)
                if 2 <= c < 2 + len(STAGES):
                    stage = STAGES[c - 2]
                    by = inc.by.get(stage)
                    item.setToolTip(f"{stage}: {_hms(inc.times[stage])} by {by}" if inc.times[stage] is not None
                                    else f"{stage}: not reached yet" if not inc.closed
                                    else f"{stage}: not in the event log")
                else:
                    item.setToolTip(inc.cause)
                if inc.closed:
                    item.setForeground(QBrush(QColor("#666666")))
                table.setItem(r, c, item)

    # ------------------------------------------------------------------ acting
    def selected_keys(self) -> list[tuple[str, str]]:
        rows = sorted({i.row() for i in self.alarm_table.selectedIndexes()})
        return [self.alarm_table.item(r, 0).data(KEY) for r in rows if self.alarm_table.item(r, 0) is not None]

    def acknowledge_selected(self) -> int:
        """Acknowledge the selected alarms that wait for it; returns how many were acknowledged."""
        pb = self.playback
        if pb is None or pb.busy:
            return 0
        done = 0
        for who, kind in self.selected_keys():
            alarm = pb.alarms.alarms.get((who, kind))
            if alarm is None or alarm.acknowledged is not None:
                continue
            pb.acknowledge(who, alarm.kind if alarm.source != "airspace" else None)
            done += 1
        if done:
            self.window.say(f"{done} alarm(s) acknowledged at {_hms(pb.session.now)}")
        return done

    def _on_alarm_selected(self) -> None:
        self._enable()
        pb = self.playback
        keys = self.selected_keys()
        if pb is None or not keys:
            return
        alarm = pb.alarms.alarms.get(keys[0])
        if alarm is None or alarm.incident is None:
            return
        for r in range(self.incident_table.rowCount()):
            if self.incident_table.item(r, 0).data(KEY) == alarm.incident:
                self.incident_table.selectRow(r)
                self.incident_table.scrollToItem(self.incident_table.item(r, 0))

    def _on_alarm_double_click(self, row: int, _col: int) -> None:
        pb, model = self.playback, self.window.view_model
        item = self.alarm_table.item(row, 0)
        if pb is None or item is None or model is None:
            return
        alarm = pb.alarms.alarms.get(item.data(KEY))
        if alarm is None:
            return
        if alarm.source != "airspace" and "sensors" in model.layers:
            model.select("sensors", alarm.who)
        elif alarm.layer in model.layers and alarm.feature:
            model.select(alarm.layer, alarm.feature)

    def _enable(self) -> None:
        pb = self.playback
        waiting = pb is not None and not pb.busy and any(
            (a := pb.alarms.alarms.get(k)) is not None and a.acknowledged is None for k in self.selected_keys())
        self.ack_button.setEnabled(bool(waiting))
