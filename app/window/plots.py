"""Time-series plots of the selected features: measured readings drawn over modelled values, a cursor at clock time.

The panel follows the view model's selection: a junction, tank or reservoir
shows its modelled pressure (a tank's is its water level), a pipe its
modelled flow (m³/h, unsigned as flow meters read it), each with the readings
of the sensors on it drawn over the model as dots; a sensor shows its
readings over the modelled value at the feature it sits on.  The values are
those the open scenario's session produced so far (:meth:`Playback.traces
<app.playback.Playback.traces>`), never computed here.  The x axis is clock
time (UTC); the vertical line is the clock, and clicking the plot moves the
clock there.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget  # noqa: E402

MAX_FEATURES = 6
MODEL_COLOURS = ("#2c7bb6", "#1a9641", "#7b3294", "#636363", "#a6611a", "#0571b0")
MEASURED_COLOURS = ("#d7191c", "#fd8d3c", "#e7298a", "#b2182b", "#ff7f00", "#ca0020")
CURSOR = "#d7191c"
PLOTTED_LAYERS = ("water_junctions", "water_tanks", "water_reservoirs", "water_pipes", "sensors")


class PlotPanel(QWidget):
    """Selected features over clock time: model lines, sensor dots, the clock's cursor."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.playback = None
        self.model = None
        self.plot = pg.PlotWidget(background="w", axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.plot.setObjectName("time-plot")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setMinimumHeight(160)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "clock time (UTC)")
        self.legend = item.addLegend(offset=(-10, 10), labelTextColor="#222222", brush=(255, 255, 255, 200))
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURSOR, width=1.5))
        self.cursor.setZValue(100)
        item.addItem(self.cursor, ignoreBounds=True)
        self.note = QLabel("Open a scenario and select a junction, tank, pipe or sensor to plot it.")
        self.note.setObjectName("plot-note")
        self.curves: dict[str, pg.PlotDataItem] = {}
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 2, 4, 2)
        col.addWidget(self.note)
        col.addWidget(self.plot, 1)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    # ------------------------------------------------------------------ following
    def twin_changed(self, twin) -> None:
        model = self.window.view_model
        if self.model is not None and self.model is not model:
            self.model.selection.events.disconnect(self.refresh)
            self.model.clock.events.time.disconnect(self._move_cursor)
        self.model = model
        model.selection.events.connect(self.refresh)
        model.clock.events.time.connect(self._move_cursor)
        self._move_cursor(model.clock.time)
        self.refresh()

    def set_playback(self, playback) -> None:
        old, self.playback = self.playback, playback
        if old is not None:
            old.shown.disconnect(self.refresh)
            old.rewound.disconnect(self.refresh)
        if playback is not None:
            playback.shown.connect(self.refresh)
            playback.rewound.connect(self.refresh)
        self.refresh()
        self._whole_run()

    def _move_cursor(self, t: float) -> None:
        self.cursor.setValue(float(t))

    def features(self) -> list[tuple[str, str]]:
        """(layer, id) of the selected features the panel plots."""
        sel = self.model.selection if self.model is not None else None
        if sel is None or sel.layer not in PLOTTED_LAYERS:
            return []
        return [(sel.layer, f) for f in sel.feature_ids[:MAX_FEATURES]]

    def refresh(self, *_args) -> None:
        pb = self.playback
        features = self.features()
        traces = []
        if pb is not None:
            for layer, feature in features:
                pb.watch(layer, feature)
                traces.extend(pb.traces(layer, feature))
        if pb is None:
            self._say("Open a scenario and select a junction, tank, pipe or sensor to plot it.")
        elif not features:
            self._say("Select a junction, tank, pipe or sensor to plot its values over the run.")
        elif not traces:
            self._say(f"Nothing modelled or measured for {', '.join(f for _, f in features)}.")
        else:
            self._say(f"{', '.join(f for _, f in features)}: model as lines, readings as dots "
                      "(click to move the clock)")
        self._draw(traces)
        if self.model is not None:
            self._move_cursor(self.model.clock.time)

    def _whole_run(self) -> None:
        clock = self.model.clock if self.model is not None else None
        if clock is not None and clock.end > clock.start:
            self.plot.setXRange(clock.start, clock.end, padding=0.01)

    def _say(self, text: str) -> None:
        self.note.setText(text)

    def _draw(self, traces) -> None:
        item = self.plot.getPlotItem()
        wanted = {t.name for t in traces}
        for name in [n for n in self.curves if n not in wanted]:
            curve = self.curves.pop(name)
            item.removeItem(curve)
            self.legend.removeItem(curve)
        model_k = measured_k = 0
        for t in traces:
            curve = self.curves.get(t.name)
            if curve is None:
                if t.measured:
                    colour = MEASURED_COLOURS[measured_k % len(MEASURED_COLOURS)]
                    curve = pg.PlotDataItem(pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                            symbolBrush=pg.mkBrush(colour + "c0"), name=t.name)
                    curve.setZValue(10)
                else:
                    colour = MODEL_COLOURS[model_k % len(MODEL_COLOURS)]
                    curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), name=t.name)
                    curve.setZValue(5)
                self.curves[t.name] = curve
                item.addItem(curve)
            model_k += not t.measured
            measured_k += t.measured
            keep = np.isfinite(t.values)
            curve.setData(t.times[keep], t.values[keep])
        if traces:
            first = traces[0]
            item.setLabel("left", f"{first.quantity} ({first.unit})")

    # ------------------------------------------------------------------ seeking
    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.model is None:
            return
        vb = self.plot.getPlotItem().getViewBox()
        pos = event.scenePos()
        if not vb.sceneBoundingRect().contains(pos):
            return
        self.seek(vb.mapSceneToView(pos).x())
        event.accept()

    def seek(self, t: float) -> None:
        """Set the clock to ``t`` (within its window)."""
        clock = self.model.clock
        if clock.live or not clock.end > clock.start:
            return
        clock.time = float(min(max(t, clock.start), clock.end))
