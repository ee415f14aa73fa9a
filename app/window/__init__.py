"""The desktop window of Lifeline Twin (PyQt6): see :mod:`app.window.main`.

:func:`build_window` makes the main window with every panel;
:func:`main` is ``lifeline-twin gui`` (and ``start`` where a display exists).
"""

from __future__ import annotations

import os


def _qt_environment() -> None:
    os.environ.setdefault("QT_API", "pyqt6")


def build_window(settings=None):
    """The main window with its panels, not yet showing a twin."""
    _qt_environment()
    from PyQt6.QtCore import Qt

    from app.window.layers import LayerTree
    from app.window.main import MainWindow
    from app.window.timeline import Timeline

    window = MainWindow(settings=settings)
    window.add_panel("layers", "Layers", LayerTree, Qt.DockWidgetArea.LeftDockWidgetArea)
    window.add_panel("timeline", "Clock", Timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.restore_layout()
    return window


def main(argv: list[str] | None = None) -> int:
    """Open the window (``argv`` as for ``lifeline-twin gui``); returns the exit code."""
    from app.cli import main as cli_main

    return cli_main(["gui", *(argv or [])])
