"""The desktop window under Xvfb: one window on the demo city, shared by the window tests.

The window is built once per test session (the demo city and its scene take
seconds); each test leaves it as it found it (layers visible, nothing selected,
no highlight left behind) or says what it changed.  Dialogs are off
(``LIFELINE_TWIN_NO_DIALOGS``): errors go to the status bar and the log panel,
where the tests read them.
"""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.qt


def _needs_display():
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI") == "true":
            pytest.fail("the window tests need a display: run them under xvfb-run (./bootstrap test does)")
        pytest.skip("no display: run under xvfb-run (./bootstrap test does)")


@pytest.fixture(scope="session")
def window_settings(tmp_path_factory):
    from PyQt6.QtCore import QSettings

    path = tmp_path_factory.mktemp("settings") / "lifeline-twin.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


@pytest.fixture(scope="session")
def window(qapp, demo_twin, window_settings):
    """The main window with every panel, showing the demo city (read-only twin: copy before changing it)."""
    _needs_display()
    os.environ["LIFELINE_TWIN_NO_DIALOGS"] = "1"
    import pyvista as pv

    # the scene tests ask pyvista for off-screen plotters (PYVISTA_OFF_SCREEN, read at import); the
    # window's interactor is on screen, or it never hears the mouse
    off_screen, pv.OFF_SCREEN = pv.OFF_SCREEN, False
    from app.window import build_window

    w = build_window(settings=window_settings)
    w.resize(1400, 900)
    w.show()
    w.open_twin(demo_twin)
    qapp.processEvents()
    yield w
    w.modified = False
    w.close()
    pv.OFF_SCREEN = off_screen
