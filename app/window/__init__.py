"""The desktop window of Lifeline Twin (PyQt6): see :mod:`app.window.main`.

:func:`build_window` makes the main window with every panel;
:func:`main` is ``lifeline-twin gui`` (and ``start`` where a display exists).
"""

from __future__ import annotations

import os


def _qt_environment() -> None:
    os.environ.setdefault("QT_API", "pyqt6")


def build_window(settings=None):
    """The main window with its panels, not yet showing a twin.

    Layout: the layer tree and the cameras on the left; on the right one tab
    group of the panels that inspect and run things (inspector, query,
    scenario, sensors and alarms, hydraulics, emergency); below the 3D view
    the clock with the plots under it, and the log with the attribute table.
    """
    _qt_environment()
    from PyQt6.QtCore import Qt

    from app.window.alarms import AlarmPanel
    from app.window.drill import DrillPanel
    from app.window.emergency import EmergencyPanel
    from app.window.hydraulics import HydraulicsPanel
    from app.window.inspector import Inspector
    from app.window.layers import LayerTree
    from app.window.live import LivePanel
    from app.window.main import MainWindow
    from app.window.plots import PlotPanel
    from app.window.query import QueryPanel
    from app.window.scenario import ScenarioPanel
    from app.window.tables import AttributeTable
    from app.window.timeline import Timeline
    from app.window.video import VideoPanel

    left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                           Qt.DockWidgetArea.BottomDockWidgetArea)
    window = MainWindow(settings=settings)
    window.add_panel("layers", "Layers", LayerTree, left)
    window.add_panel("video", "Cameras", VideoPanel, left, tab_with="layers")
    window.add_panel("inspector", "Inspector", Inspector, right)
    window.add_panel("query", "Query", QueryPanel, right, tab_with="inspector")
    scenario = window.add_panel("scenario", "Scenario", ScenarioPanel, right, tab_with="query")
    alarms = window.add_panel("alarms", "Sensors and alarms", AlarmPanel, right, tab_with="scenario")
    window.add_panel("hydraulics", "Hydraulics", HydraulicsPanel, right, tab_with="alarms")
    window.add_panel("emergency", "Emergency", EmergencyPanel, right, tab_with="hydraulics")
    window.add_panel("drill", "Drill", DrillPanel, right, tab_with="emergency")
    window.add_panel("live", "Live feed", LivePanel, right, tab_with="alarms")
    window.add_panel("timeline", "Clock", Timeline, bottom)
    plots = window.add_panel("plots", "Plots", PlotPanel, bottom)
    window.splitDockWidget(window.docks["timeline"], window.docks["plots"], Qt.Orientation.Vertical)
    window.add_panel("table", "Attributes", AttributeTable, bottom, tab_with="log")
    window.splitDockWidget(window.docks["plots"], window.docks["log"], Qt.Orientation.Horizontal)
    for panel in (alarms, plots):
        scenario.playback_changed.connect(panel.set_playback)
    window.docks["layers"].raise_()
    window.docks["inspector"].raise_()
    window.dock_sizes = [(("layers", "inspector"), (300, 430), Qt.Orientation.Horizontal),
                         (("timeline", "plots", "table"), (40, 180, 220), Qt.Orientation.Vertical),
                         (("table", "plots", "log"), (700, 560, 300), Qt.Orientation.Horizontal)]
    window.restore_layout()
    return window


def main(argv: list[str] | None = None) -> int:
    """Open the window (``argv`` as for ``lifeline-twin gui``); returns the exit code."""
    from app.cli import main as cli_main

    return cli_main(["gui", *(argv or [])])
