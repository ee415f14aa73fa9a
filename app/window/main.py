"""The main window: the 3D scene in the middle, dockable panels around it, one view model behind both.

:class:`MainWindow` holds the open twin (and the project file it came from),
one :class:`~app.view_model.ViewModel` and one
:class:`~app.scene.scene.Scene` drawn on a pyvistaqt ``QtInteractor``.  The
scene and every panel listen to the view model; a panel changes the model,
never the scene.  Panels are dock widgets made by :meth:`MainWindow.add_panel`
from a class taking the window; each is told of a newly opened twin through
:attr:`MainWindow.twin_opened`.

Long work (building the demo city, opening or saving a project, sweeps,
scenario runs) goes through :attr:`MainWindow.work`: off the window's thread,
with progress and Cancel in the status bar.

Window geometry, dock layout, recent files and preferences are kept with
``QSettings``; camera bookmarks are kept in the project
(``twin.metadata["camera_bookmarks"]``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox, QPlainTextEdit,
                             QWidget)

from app.window.work import WorkBar

ORG, APP = "Lifeline Twin", "Lifeline Twin"
#: The dock layout's version: a layout saved by a window with other docks is not restored.
LAYOUT_VERSION = 4
CLICK_SLOP_PX = 4   # a press and release closer than this is a click (pick), not a drag (orbit)
log = logging.getLogger("lifeline_twin.window")


class LogPanel(QPlainTextEdit):
    """Messages and errors of this session of the window, newest last."""

    def __init__(self, window=None):
        super().__init__()
        self.setObjectName("log")
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)

    def say(self, text: str) -> None:
        self.appendPlainText(f"{time.strftime('%H:%M:%S')}  {text}")


class MainWindow(QMainWindow):
    """One twin in 3D with its panels."""

    twin_opened = pyqtSignal(object)      # the Twin
    picked = pyqtSignal(object)           # the scene's Pick (or None: nothing under the cursor)

    def __init__(self, *, settings: QSettings | None = None, interactor=None):
        super().__init__()
        self.settings = settings or QSettings(ORG, APP)
        self.setWindowTitle("Lifeline Twin")
        self.setDockNestingEnabled(True)
        self.twin = None
        self.path: Path | None = None
        self.modified = False
        self.view_model = None
        self.scene = None
        self.last_open_s = 0.0   # seconds the last open_twin took (scene built and drawn)
        self.last_import_report = None
        #: dock sizes for the first show when no saved layout applies: ((dock keys), (sizes), orientation)
        self.dock_sizes: list = []
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._press: tuple[int, int] | None = None
        if interactor is None:
            from pyvistaqt import QtInteractor

            interactor = QtInteractor(self, auto_update=False)
        self.interactor = interactor
        self.setCentralWidget(interactor.interactor if hasattr(interactor, "interactor") else interactor)
        self.work = WorkBar(self)
        self.statusBar().addPermanentWidget(self.work)
        self.log_panel = LogPanel()
        self._dock("log", "Log", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._menus()
        self._watch_clicks()
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 1000)

    # ------------------------------------------------------------------ panels
    def _dock(self, key: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def add_panel(self, key: str, title: str, panel_class, area=Qt.DockWidgetArea.RightDockWidgetArea,
                  tab_with: str | None = None) -> QWidget:
        """Make ``panel_class(self)`` a dock titled ``title``; it hears :attr:`twin_opened` from now on."""
        if key in self.panels:
            raise ValueError(f"panel {key!r} is already in the window")
        panel = panel_class(self)
        panel.setObjectName(f"panel-{key}")
        self.panels[key] = panel
        dock = self._dock(key, title, panel, area)
        if tab_with and tab_with in self.docks:
            self.tabifyDockWidget(self.docks[tab_with], dock)
        if self.twin is not None and hasattr(panel, "twin_changed"):
            panel.twin_changed(self.twin)
        if hasattr(panel, "twin_changed"):
            self.twin_opened.connect(panel.twin_changed)
        return panel

    def restore_layout(self) -> None:
        """Put the docks back where the user left them (after every panel is added)."""
        state = self.settings.value("window/state")
        if state is not None and self.settings.value("window/layout_version") == str(LAYOUT_VERSION):
            self.restoreState(state, LAYOUT_VERSION)
            self.dock_sizes = []

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # the first show of a window with no saved layout: the 3D view gets the room, docks their sizes
        for keys, sizes, orientation in self.dock_sizes:
            self.resizeDocks([self.docks[k] for k in keys], list(sizes), orientation)
        self.dock_sizes = []
        QTimer.singleShot(0, self._hide_stale_tab_bars)

    def _hide_stale_tab_bars(self) -> None:
        """Hide the tab bars Qt leaves behind when docks are tabbed one by one.

        Tabbing a third dock onto a group makes a new tab bar and leaves the old
        two-tab one on screen over another dock (a QMainWindow quirk): a bar
        whose tabs are all in a larger visible bar, or the twin of an earlier
        one, is stale.
        """
        from PyQt6.QtWidgets import QTabBar

        bars = [b for b in self.findChildren(QTabBar) if b.parent() is self and b.isVisible()]
        tabs = [tuple(b.tabText(i) for i in range(b.count())) for b in bars]
        for k, (bar, mine) in enumerate(zip(bars, tabs)):
            bigger = any(set(mine) < set(other) for other in tabs)
            twin = mine in tabs[:k]
            if bigger or twin:
                bar.hide()
            else:
                # whole names with scroll arrows: nine panels' tabs cut to "I…", "Q…" named nothing
                bar.setElideMode(Qt.TextElideMode.ElideNone)
                bar.setUsesScrollButtons(True)

    def say(self, text: str) -> None:
        self.log_panel.say(text)
        self.statusBar().showMessage(text, 8000)

    def fail(self, text: str) -> None:
        """One clear message for the user, also kept in the log panel."""
        self.log_panel.say(f"error: {text}")
        log.error(text)
        if os.environ.get("LIFELINE_TWIN_NO_DIALOGS"):
            self.statusBar().showMessage(f"error: {text}", 15000)
            return
        QMessageBox.critical(self, "Lifeline Twin", text)

    # ------------------------------------------------------------------ the twin
    def open_twin(self, twin, path: Path | str | None = None) -> None:
        """Show ``twin`` (from ``path`` when it came from a project file)."""
        from app.scene.scene import Scene
        from app.view_model import ViewModel

        t0 = time.perf_counter()
        if self.scene is not None:
            self.interactor.clear()
        self.twin = twin
        self.path = Path(path) if path else None
        self.modified = False
        self.view_model = ViewModel.for_twin(twin)
        prefs = self.preferences()
        self.scene = Scene(twin, plotter=self.interactor, far_buildings=prefs.far_buildings)
        # the layer tree is the legend; a viewport-high legend crowds the view (Preferences turn it on)
        self.scene.legend(prefs.legend)
        self.view_model.clock.speed = prefs.speed
        self.scene.bind(self.view_model)
        self.view_model.selection.events.connect(self._on_selection)
        self.view_model.ground.events.exaggeration.connect(self._redraw)
        self._render_on_changes()
        self._update_title()
        if self.path:
            self._remember(self.path)
        self.request_render()
        self.last_open_s = time.perf_counter() - t0
        self.twin_opened.emit(twin)
        self.say(f"opened {twin.name!r}" + (f" from {self.path}" if self.path else "")
                 + f" in {self.last_open_s:.1f} s")

    def _redraw(self, exaggeration: float) -> None:
        """Draw the scene again at a new vertical exaggeration, keeping everything the model holds."""
        from app.scene.scene import Scene

        pose = self.scene.pose()
        self.interactor.clear()
        self.scene = Scene(self.twin, plotter=self.interactor, vertical_exaggeration=float(exaggeration),
                           far_buildings=self.preferences().far_buildings)
        self.scene.legend(self.preferences().legend)
        self.scene.bind(self.view_model)
        self.scene.go_to_pose(pose)
        self.request_render()
        self.say(f"vertical exaggeration x{exaggeration:g}")

    def request_render(self, *_args) -> None:
        """Redraw the 3D view at the next paint: many changes in one event-loop turn draw once.

        (An explicit render draws now and again when Qt paints the widget: twice.)
        """
        self.interactor.update()

    def _render_on_changes(self) -> None:
        m = self.view_model
        for signal in (m.values_changed, m.highlight_changed, m.results_changed, m.selection.events,
                       m.camera.events, m.ground.events, m.video.events):
            signal.connect(self.request_render)
        for view in m.layers.values():
            view.events.connect(self.request_render)
        m.layer_added.connect(lambda name: m.layer(name).events.connect(self.request_render))

    def mark_modified(self, modified: bool = True) -> None:
        self.modified = modified
        self._update_title()

    def _update_title(self) -> None:
        name = self.twin.name if self.twin is not None else "no city"
        where = f" — {self.path}" if self.path else ""
        self.setWindowTitle(f"{name}{' *' if self.modified else ''}{where} — Lifeline Twin")

    # ------------------------------------------------------------------ picking
    def _watch_clicks(self) -> None:
        iren = getattr(self.interactor, "iren", None)
        if iren is None:
            return
        iren.add_observer("LeftButtonPressEvent", self._on_press)
        iren.add_observer("LeftButtonReleaseEvent", self._on_release)

    # pyvista hangs these observers on the interactor style, which has no event position: ask the interactor
    def _on_press(self, _obj, _event) -> None:
        self._press = tuple(self.interactor.iren.get_event_position())

    def _on_release(self, _obj, _event) -> None:
        if self._press is None or self.scene is None:
            return
        x, y = self.interactor.iren.get_event_position()
        px, py = self._press
        self._press = None
        if abs(x - px) + abs(y - py) <= CLICK_SLOP_PX:
            self.pick_at(x, y)

    def pick_at(self, x: float, y: float):
        """Pick the feature under display pixel (x, y) (VTK coordinates) and select it."""
        hit = self.scene.pick(x, y)
        if hit is None:
            self.view_model.select(None)
        else:
            self.view_model.select(hit.layer, hit.feature_id)
        self.picked.emit(hit)
        return hit

    def _on_selection(self, _info=None) -> None:
        sel = self.view_model.selection
        self.view_model.highlight("selection", sel.layer, sel.feature_ids, "#ff00ff")
        self.request_render()

    # ------------------------------------------------------------------ menus
    def _menus(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._action(f, "New demo city", self.new_demo, "Ctrl+N")
        self._action(f, "Open project…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = f.addMenu("Open recent")
        self._fill_recent()
        self._action(f, "Import…", self.import_dialog, "Ctrl+I")
        f.addSeparator()
        self._action(f, "Save", self.save, QKeySequence.StandardKey.Save)
        self._action(f, "Save as…", self.save_as_dialog, QKeySequence.StandardKey.SaveAs)
        f.addSeparator()
        self._action(f, "Export screenshot…", self.screenshot_dialog)
        self._action(f, "Export movie of the clock…", self.movie_dialog)
        f.addSeparator()
        self._action(f, "Quit", self.close, QKeySequence.StandardKey.Quit)
        e = bar.addMenu("&Edit")
        self._action(e, "Preferences…", self.preferences_dialog, QKeySequence.StandardKey.Preferences)
        v = self.view_menu = bar.addMenu("&View")
        from app.scene.camera import PRESETS

        cams = v.addMenu("Camera")
        for k, preset in enumerate(PRESETS, start=1):
            self._action(cams, preset.capitalize(), lambda _=False, p=preset: self.set_camera(p), f"Ctrl+{k}")
        self.bookmark_menu = v.addMenu("Bookmarks")
        self._action(v, "Add bookmark…", self.bookmark_dialog, "Ctrl+B")
        v.addSeparator()

    def preferences(self):
        from app.window.preferences import Preferences

        return Preferences.read(self.settings)

    def apply_preferences(self) -> None:
        """Apply the preferences saved in the settings to what is open now."""
        prefs = self.preferences()
        if self.scene is not None:
            self.scene.legend(prefs.legend)
            self.request_render()
        self.settings.setValue("files/recent", self.recent()[:prefs.recent])
        self._fill_recent()

    def preferences_dialog(self) -> None:
        from app.window.preferences import PreferencesDialog

        PreferencesDialog(self).exec()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def set_camera(self, preset: str) -> None:
        if self.view_model is None:
            return
        if self.view_model.camera.preset == preset:
            self.scene.camera(preset)   # again: the user moved since
        else:
            self.view_model.camera.preset = preset
        self.request_render()

    def add_bookmark(self, name: str) -> None:
        """Keep the current camera as ``name`` in the project (saved with it)."""
        name = name.strip()
        if not name:
            raise ValueError("a bookmark needs a name")
        mark = self.scene.bookmark(name)
        self.view_model.camera.bookmarks = {**self.view_model.camera.bookmarks, name: mark}
        self.twin.metadata["camera_bookmarks"] = dict(self.scene.bookmarks)
        self.mark_modified()
        self._fill_bookmarks()

    def bookmark_dialog(self) -> None:
        if self.scene is None:
            return
        name, ok = QInputDialog.getText(self, "Bookmark", "Name of this view:")
        if ok and name.strip():
            self.add_bookmark(name)

    def _fill_bookmarks(self) -> None:
        self.bookmark_menu.clear()
        for name in (self.scene.bookmarks if self.scene else {}):
            self._action(self.bookmark_menu, name, lambda _=False, n=name: self._go_bookmark(n))

    def _go_bookmark(self, name: str) -> None:
        self.scene.go_to(name)
        self.request_render()

    # ------------------------------------------------------------------ recent files
    def recent(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        return [v for v in (value if isinstance(value, list) else [value]) if v]

    def _remember(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.settings.setValue("files/recent", items[:self.preferences().recent])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent():
            self._action(self.recent_menu, p, lambda _=False, path=p: self.open_project(path))
        self.recent_menu.setEnabled(bool(self.recent()))

    # ------------------------------------------------------------------ files
    def new_demo(self, _=False, seed: int = 7) -> None:
        if not self._may_discard():
            return
        from twin.demo import build_demo

        self.work.start("building the demo city", lambda progress: build_demo(seed=seed),
                        on_done=lambda twin: self.open_twin(twin), on_failed=self.fail,
                        on_cancelled=lambda: self.say("demo city not built"))

    def open_dialog(self) -> None:
        if not self._may_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(self._folder()),
                                              "Lifeline Twin projects (*.gpkg)")
        if path:
            self.open_project(path)

    def open_project(self, path, *, wait: bool = False) -> None:
        """Load the project at ``path`` off the window's thread, then show it."""
        from twin.project import load

        path = Path(path)
        job = self.work.start(f"opening {path.name}", lambda progress: load(path),
                              on_done=lambda twin: self.open_twin(twin, path), on_failed=self.fail)
        if wait:
            job.done.wait()

    def import_dialog(self) -> None:
        from app.window.importing import ImportDialog

        if not self._may_discard():
            return
        ImportDialog(self).exec()

    def save(self) -> bool:
        if self.twin is None:
            return False
        if self.path is None:
            return self.save_as_dialog()
        return self.save_to(self.path)

    def save_as_dialog(self) -> bool:
        if self.twin is None:
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(self._folder() / f"{self.twin.name}.gpkg"),
                                              "Lifeline Twin projects (*.gpkg)")
        return bool(path) and self.save_to(path)

    def save_to(self, path) -> bool:
        """Save the twin to ``path`` (atomically: a failed save leaves the file as it was)."""
        from twin.project import save

        path = Path(path)
        if self.scene is not None:
            self.twin.metadata["camera_bookmarks"] = dict(self.scene.bookmarks)
        try:
            save(self.twin, path)
        except Exception as exc:  # one message; the file on disk is unchanged
            self.fail(f"could not save {path}: {exc}")
            return False
        self.path = path
        self.mark_modified(False)
        self._remember(path)
        self.say(f"saved {path}")
        return True

    def _folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def _may_discard(self) -> bool:
        """True when there are no unsaved changes, or the user chose to save or drop them."""
        if not self.modified or os.environ.get("LIFELINE_TWIN_NO_DIALOGS"):
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.twin.name!r} first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # ------------------------------------------------------------------ pictures
    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export screenshot", str(self._folder() / "lifeline-twin.png"),
                                              "PNG images (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path) -> Path:
        """The whole window as it is on the screen, as a PNG (never over a file that is not a picture)."""
        from twin import atomic

        from PyQt6.QtWidgets import QApplication

        path = Path(path)
        atomic.check_target(path, "png")
        QApplication.processEvents()   # what was changed last is painted before the picture is taken
        self.repaint()
        self.interactor.render()   # now: the picture is taken next
        QApplication.processEvents()
        screen = self.screen()
        image = screen.grabWindow(int(self.winId()))
        if image.isNull():
            image = self.grab()
        from PyQt6.QtCore import QBuffer, QIODevice

        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buf, "PNG")
        atomic.write(path, bytes(buf.data()))
        self.say(f"screenshot saved to {path}")
        return path

    def movie_dialog(self) -> None:
        clock = self.view_model.clock if self.view_model is not None else None
        if clock is None or not clock.end > clock.start:
            self.fail("a movie of the clock needs a run on it: open a scenario first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export movie", str(self._folder() / "lifeline-twin.mp4"),
                                              "Movies (*.mp4 *.gif)")
        if path:
            self.export_movie(path)

    def export_movie(self, path, frames: int = 120, fps: int = 12, start: float | None = None,
                     end: float | None = None) -> Path | None:
        """The 3D view at ``frames`` clock times from ``start`` to ``end`` (default: the clock's window).

        The clock is moved frame by frame as the timeline would, so everything
        the view model shows follows; the clock is put back afterwards.  Cancel
        in the progress dialog stops it and removes the partial file.
        Returns the path, or None when cancelled.
        """
        from PyQt6.QtWidgets import QApplication, QProgressDialog

        from app.scene.movie import writer
        from twin import atomic

        path = Path(path)
        if path.suffix.lower() not in (".mp4", ".gif"):
            raise ValueError(f"{path}: a movie must end in .mp4 or .gif")
        atomic.check_target(path, path.suffix.lower()[1:])
        clock = self.view_model.clock
        start = clock.start if start is None else float(start)
        end = clock.end if end is None else float(end)
        if not end > start or frames < 2:
            raise ValueError("a movie needs a clock window and at least 2 frames")
        was = clock.time
        progress = QProgressDialog("Recording the movie…", "Cancel", 0, frames, self)
        progress.setWindowTitle("Export movie")
        progress.setMinimumDuration(500)
        class Cancelled(Exception):
            pass

        try:
            # a hidden temporary beside the movie, renamed over it only when every frame is written
            with atomic.replacing(path, keep_suffix=True, kind=path.suffix.lower()[1:]) as tmp, \
                    writer(tmp, fps) as out:
                for k in range(frames):
                    clock.time = start + (end - start) * k / (frames - 1)
                    while self.work.busy:        # a far seek runs on the worker: wait for it
                        QApplication.processEvents()
                    progress.setValue(k)
                    QApplication.processEvents()
                    if progress.wasCanceled():
                        raise Cancelled
                    image = self.scene.screenshot()
                    out.append_data(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])
        except Cancelled:
            self.say("movie cancelled; nothing written")
            return None
        finally:
            progress.close()
            clock.time = was
        self.say(f"movie saved to {path} ({frames} frames)")
        return path

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        if self.work.busy:
            self.work.job.cancel()
        if not self._may_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("window/layout_version", str(LAYOUT_VERSION))
        for panel in self.panels.values():
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        self.interactor.close()
        event.accept()


def after_drawn(window: MainWindow, then, delay_ms: int = 0) -> None:
    """Call ``then()`` once the window has been shown and its scene rendered."""
    def go():
        window.interactor.render()
        then()

    QTimer.singleShot(delay_ms, go)
