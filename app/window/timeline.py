"""The timeline: play, pause, seek, speed and loop of the one clock, with the clock time and a live mark.

The widget writes the view model's :class:`~app.view_model.ClockView`; the
session (through :class:`app.playback.Playback`), the scene and the plots
follow its ``time``.  While playing, a Qt timer advances the clock by
``speed`` × the wall time since the last tick; at the end it stops on the
last instant or, with Loop, goes back to the start.  In live mode the clock is
the wall clock (UTC) and seek, speed and loop are off.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

SPEEDS = (1, 10, 60, 300, 600, 1800, 3600)
TICK_MS = 100
SLIDER_STEPS = 1000


def clock_text(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class Timeline(QWidget):
    """Controls of the one clock."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("play")
        self.play_button.setCheckable(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("clock-slider")
        self.slider.setRange(0, SLIDER_STEPS)
        self.speed = QComboBox()
        self.speed.setObjectName("speed")
        for s in SPEEDS:
            self.speed.addItem(f"x{s}", float(s))
        self.loop = QCheckBox("Loop")
        self.time_label = QLabel("—")
        self.time_label.setObjectName("clock-time")
        self.live_label = QLabel("")
        self.live_label.setObjectName("live")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        for w in (self.play_button, self.slider, self.speed, self.loop, self.time_label, self.live_label):
            row.addWidget(w, 1 if w is self.slider else 0)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self._last = None
        self._moving = False
        self.clock = None
        self.play_button.toggled.connect(self._on_play)
        self.slider.valueChanged.connect(self._on_slider)
        self.speed.activated.connect(lambda i: self.clock and setattr(self.clock, "speed", self.speed.itemData(i)))
        self.loop.toggled.connect(lambda on: self.clock and setattr(self.clock, "loop", on))
        self.setEnabled(False)

    def twin_changed(self, twin) -> None:
        self.bind(self.window.view_model.clock)

    def bind(self, clock) -> None:
        """Follow (and drive) ``clock``, a :class:`~app.view_model.ClockView`."""
        self.timer.stop()
        self.clock = clock
        clock.events.time.connect(self._show_time)
        clock.events.playing.connect(self._show_playing)
        clock.events.end.connect(lambda _v: self._show_time(clock.time))
        clock.events.live.connect(self._show_live)
        self.speed.setCurrentIndex(max(0, self.speed.findData(float(clock.speed))))
        self._show_time(clock.time)
        self._show_live(clock.live)

    # ------------------------------------------------------------------ driving
    def _on_play(self, on: bool) -> None:
        if self.clock is not None and self.clock.playing != on:
            self.clock.playing = on

    def _show_playing(self, on: bool) -> None:
        self.play_button.blockSignals(True)
        self.play_button.setChecked(on)
        self.play_button.setText("Pause" if on else "Play")
        self.play_button.blockSignals(False)
        self._last = time.monotonic()
        (self.timer.start if on else self.timer.stop)()

    def tick(self) -> None:
        """One frame while playing: advance the clock by speed × the wall time since the last frame."""
        c = self.clock
        if c is None or not c.playing:
            return
        now = time.monotonic()
        elapsed, self._last = now - (self._last or now), now
        if c.live:
            c.time = time.time()
            return
        t = c.time + c.speed * elapsed
        if t >= c.end:
            if c.loop:
                c.time = c.start
                return
            c.time = c.end
            c.playing = False
            return
        c.time = t

    def _on_slider(self, value: int) -> None:
        c = self.clock
        if self._moving or c is None or c.end <= c.start or c.live:
            return
        c.time = c.start + (c.end - c.start) * value / SLIDER_STEPS

    def _show_time(self, t: float) -> None:
        c = self.clock
        self.setEnabled(c is not None and c.end > c.start)
        self.time_label.setText(clock_text(t) if c is not None and c.end > c.start else "—")
        if c is not None and c.end > c.start:
            self._moving = True
            self.slider.setValue(round((t - c.start) / (c.end - c.start) * SLIDER_STEPS))
            self._moving = False

    def _show_live(self, live: bool) -> None:
        self.live_label.setText("● LIVE" if live else "")
        self.live_label.setStyleSheet("color: #d7191c; font-weight: bold" if live else "")
        for w in (self.slider, self.speed, self.loop):
            w.setEnabled(not live)
