"""Preferences (Edit > Preferences…), kept with ``QSettings`` beside the window's layout and recent files.

* **legend in the 3D view**: VTK's legend panel drawn in the view (off by
  default: the layer tree is the window's legend; pictures for reports may
  want it);
* **clock speed**: the speed the clock starts at when a run is opened;
* **recent files**: how many the File menu keeps;
* **merge far buildings**: seen from far, neighbouring buildings drawn as
  one block each (on by default: on software OpenGL a large city's
  buildings cost most of a frame; :mod:`app.scene.lod`).  Applies to the
  next city opened.

:class:`Preferences` reads and writes them (typed, with defaults, a bad
stored value falling back to the default); :class:`PreferencesDialog` is the
form.  The window applies them when a city or a run opens.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox

from app.window.timeline import SPEEDS


@dataclass
class Preferences:
    legend: bool = False
    speed: float = 60.0
    recent: int = 8
    far_buildings: bool = True

    @classmethod
    def read(cls, settings) -> "Preferences":
        p = cls()
        legend = settings.value("prefs/legend", p.legend)
        p.legend = legend if isinstance(legend, bool) else str(legend).lower() == "true"
        far = settings.value("prefs/far_buildings", p.far_buildings)
        p.far_buildings = far if isinstance(far, bool) else str(far).lower() != "false"
        try:
            speed = float(settings.value("prefs/speed", p.speed))
            p.speed = speed if speed in SPEEDS else cls.speed
        except (TypeError, ValueError):
            pass
        try:
            p.recent = min(30, max(1, int(settings.value("prefs/recent", p.recent))))
        except (TypeError, ValueError):
            pass
        return p

    def write(self, settings) -> None:
        settings.setValue("prefs/legend", bool(self.legend))
        settings.setValue("prefs/speed", float(self.speed))
        settings.setValue("prefs/recent", int(self.recent))
        settings.setValue("prefs/far_buildings", bool(self.far_buildings))


class PreferencesDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Preferences")
        prefs = Preferences.read(window.settings)
        self.legend = QCheckBox("Legend in the 3D view")
        self.legend.setObjectName("pref-legend")
        self.legend.setChecked(prefs.legend)
        self.speed = QComboBox()
        self.speed.setObjectName("pref-speed")
        for s in SPEEDS:
            self.speed.addItem(f"x{s}", float(s))
        self.speed.setCurrentIndex(max(0, self.speed.findData(float(prefs.speed))))
        self.recent = QSpinBox()
        self.recent.setObjectName("pref-recent")
        self.recent.setRange(1, 30)
        self.recent.setValue(prefs.recent)
        self.far_buildings = QCheckBox("Merge far buildings into blocks (faster on software OpenGL)")
        self.far_buildings.setObjectName("pref-far-buildings")
        self.far_buildings.setChecked(prefs.far_buildings)
        form = QFormLayout(self)
        form.addRow(self.legend)
        form.addRow(self.far_buildings)
        form.addRow("Clock speed for a new run", self.speed)
        form.addRow("Recent files kept", self.recent)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def save(self) -> None:
        Preferences(self.legend.isChecked(), float(self.speed.currentData()), self.recent.value(),
                    self.far_buildings.isChecked()).write(self.window.settings)
        self.window.apply_preferences()
        self.accept()
