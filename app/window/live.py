"""The live feed panel: connect to an MQTT broker, watch the twin's sensors, see their alarms as they come.

The panel forwards the broker, port and topic to a
:class:`~simulation.sensors.live_watch.LiveWatch` and, twice a second,
drains it on the window's thread: the alarms in force are listed in their
four colours and the sensors in alarm are highlighted in the 3D view.  With
no scenario on the clock, the clock goes live (wall-clock UTC, the timeline's
live mark) while connected.  Connection errors (a bad port or topic) are one
message in the panel.
"""

from __future__ import annotations

import time

from PyQt6.QtCore import QTimer
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget,
                             QTableWidgetItem, QVBoxLayout, QWidget)

from twin.schema import RISK_COLOURS, RISK_LEVELS

DRAIN_MS = 500
HIGHLIGHT = "live alarm {}"


class LivePanel(QWidget):
    """Broker, topic, Connect; the live alarms."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.host = QLineEdit("127.0.0.1")
        self.host.setObjectName("live-host")
        self.port = QSpinBox()
        self.port.setObjectName("live-port")
        self.port.setRange(1, 65535)
        self.port.setValue(1883)
        self.topic = QLineEdit("lifeline/sensors/#")
        self.topic.setObjectName("live-topic")
        self.connect_button = QPushButton("Connect")
        self.connect_button.setObjectName("live-connect")
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.setEnabled(False)
        self.status = QLabel("Not connected.")
        self.status.setObjectName("live-status")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("live-alarms")
        self.table.setHorizontalHeaderLabels(["level", "sensor", "rule", "since (UTC)", "value"])
        self.table.verticalHeader().setVisible(False)
        form = QFormLayout()
        form.addRow("Broker", self.host)
        form.addRow("Port", self.port)
        form.addRow("Topic", self.topic)
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.disconnect_button)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addLayout(buttons)
        box.addWidget(self.status)
        box.addWidget(self.table, 1)
        self.watch = None
        self.timer = QTimer(self)
        self.timer.setInterval(DRAIN_MS)
        self.timer.timeout.connect(self.drain)
        self.connect_button.clicked.connect(self.connect_feed)
        self.disconnect_button.clicked.connect(self.disconnect_feed)

    def twin_changed(self, twin) -> None:
        self.disconnect_feed()

    # ------------------------------------------------------------------ forwarding
    def connect_feed(self) -> bool:
        from simulation.sensors.live_watch import LiveWatch

        self.disconnect_feed()
        if self.window.twin is None:
            self.status.setText("Open a city first: the feed's sensors are the twin's.")
            return False
        try:
            self.watch = LiveWatch(self.window.twin, self.host.text().strip(), self.port.value(),
                                   self.topic.text().strip()).start()
        except ValueError as exc:
            self.watch = None
            self.status.setText(f"cannot connect: {exc}")
            return False
        self.connect_button.setEnabled(False)
        self.disconnect_button.setEnabled(True)
        self.timer.start()
        clock = self.window.view_model.clock
        scenario = self.window.panels.get("scenario")
        if getattr(scenario, "playback", None) is None:
            now = time.time()
            with clock.events.blocked():
                clock.start, clock.end = now - 3600.0, now + 86_400.0
            clock.live = True
            clock.time = now
            clock.playing = True
        self.drain()
        return True

    def disconnect_feed(self) -> None:
        self.timer.stop()
        if self.watch is not None:
            self.watch.stop()
            self.watch = None
        self.connect_button.setEnabled(True)
        self.disconnect_button.setEnabled(False)
        if self.window.view_model is not None:
            clock = self.window.view_model.clock
            if clock.live:
                clock.playing = False
                clock.live = False
            for level in RISK_LEVELS:
                self.window.view_model.highlight(HIGHLIGHT.format(level), None)
        self.status.setText("Not connected.")

    def shutdown(self) -> None:
        self.disconnect_feed()

    # ------------------------------------------------------------------ showing
    def drain(self) -> None:
        w = self.watch
        if w is None:
            return
        w.drain()
        state = "connected" if w.connected else "connecting…"
        self.status.setText(f"{state} to {w.feed.host}:{w.feed.port} {w.feed.topic}: {w.readings} reading(s)"
                            f"{f', {w.unknown} of sensors not in the twin' if w.unknown else ''}"
                            f"{f', {w.malformed} malformed' if w.malformed else ''}")
        active = w.active()
        self.table.setRowCount(len(active))
        for r, a in enumerate(active):
            cells = [a.level, a.sensor_id, a.kind, time.strftime("%H:%M:%S", time.gmtime(a.time)),
                     "" if a.value is None else f"{a.value:.4g} {a.unit}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setBackground(QBrush(QColor(RISK_COLOURS[a.level]).lighter(150 if c else 100)))
                self.table.setItem(r, c, item)
        model = self.window.view_model
        if model is not None and "sensors" in model.layers:
            for level in RISK_LEVELS:
                ids = sorted({a.sensor_id for a in active if a.level == level})
                current = model.highlights.get(HIGHLIGHT.format(level))
                if (current.ids if current else ()) != tuple(ids):
                    model.highlight(HIGHLIGHT.format(level), "sensors", ids, RISK_COLOURS[level])
