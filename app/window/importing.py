"""File → Import: every importer of the command line, from a form, with its report shown.

One form per importer (:data:`twin.importers.IMPORTERS`): the source file or
folder and the importer's options, the same as ``lifeline-twin import KIND``.
The import runs off the window's thread; its report (what was read, in which
CRS, what was repaired, skipped or guessed) goes to the log panel and a
dialog.  A new city (EPANET, Micropolis, OSM) opens unsaved; a layer or DEM
(vector, raster) is added to the open project, which must have been saved
(the importer reads it from its file) and is then marked changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QLabel, QLineEdit, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from twin.importers import ADDS_TO_PROJECT, IMPORTERS
from twin.schema import SCHEMAS


@dataclass(frozen=True)
class Field:
    name: str           # the importer's keyword (``source`` is the positional source)
    label: str
    kind: str           # file, folder, text, number, choice, layer
    required: bool = False
    default: object = None
    choices: tuple = ()


#: The form of each importer: its source and the options the window offers (those of the command line).
FORMS: dict[str, tuple[Field, ...]] = {
    "inp": (Field("source", "EPANET .inp file", "file", True),
            Field("crs", "CRS of its coordinates", "text", True, "EPSG:3547"),
            Field("to_crs", "Metric CRS of the twin", "text"),
            Field("gis_dir", "GIS layers folder", "folder"),
            Field("dem", "DEM raster", "file"),
            Field("dem_units", "DEM units", "choice", False, "auto", ("auto", "m", "ft", "us-ft")),
            Field("name", "Project name", "text")),
    "micropolis": (Field("source", "Micropolis folder", "folder", True),
                   Field("crs", "CRS to place it in", "text")),
    "osm": (Field("source", "OSM file (.osm.pbf, .osm)", "file", True),
            Field("to_crs", "Metric CRS of the twin", "text"),
            Field("storey_height", "Storey height (m)", "number", False, 3.0),
            Field("name", "Project name", "text")),
    "vector": (Field("source", "Vector file", "file", True),
               Field("layer", "Twin layer to fill", "layer", True),
               Field("source_layer", "Layer inside the file", "text"),
               Field("id_column", "Id column", "text"),
               Field("crs", "CRS when the file has none", "text")),
    "raster": (Field("source", "Raster file", "file", True),
               Field("crs", "CRS when the raster has none", "text")),
    "swmm": (Field("source", "SWMM .inp file", "file", True),
             Field("crs", "CRS of its coordinates", "text", True, "local:m"),
             Field("to_crs", "Metric CRS of the twin", "text"),
             Field("name", "Project name", "text")),
}


def options_from(kind: str, values: dict[str, str]) -> tuple[str, dict]:
    """The importer's source and keyword options from the form's texts; one clear error for a bad one."""
    source, options = None, {}
    for f in FORMS[kind]:
        text = str(values.get(f.name, "") or "").strip()
        if not text:
            if f.required:
                raise ValueError(f"import {kind}: {f.label} is required")
            continue
        if f.kind == "number":
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"import {kind}: {f.label}: {text!r} is not a number") from None
            if not value > 0 or value != value:
                raise ValueError(f"import {kind}: {f.label}: must be a positive number, not {text}")
            text = value
        if f.name == "source":
            source = text
        else:
            options[f.name] = text
    return source, options


class ImportDialog(QDialog):
    """Choose an importer, fill its form, import."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Import")
        self.kind = QComboBox()
        self.kind.setObjectName("import-kind")
        self.pages = QStackedWidget()
        self.inputs: dict[str, dict[str, QWidget]] = {}
        for kind, (_, _, what) in IMPORTERS.items():
            self.kind.addItem(f"{kind}: {what}", kind)
            self.pages.addWidget(self._page(kind))
        self.kind.currentIndexChanged.connect(self.pages.setCurrentIndex)
        self.message = QLabel("")
        self.message.setObjectName("import-message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b2182b")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(self.kind)
        box.addWidget(self.pages)
        box.addWidget(self.message)
        box.addWidget(buttons)

    def _page(self, kind: str) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.inputs[kind] = {}
        for f in FORMS[kind]:
            if f.kind == "choice":
                w = QComboBox()
                w.addItems(f.choices)
                w.setCurrentText(str(f.default))
                row = w
            elif f.kind == "layer":
                w = QComboBox()
                w.addItems(sorted(SCHEMAS))
                row = w
            elif f.kind == "number":
                w = QDoubleSpinBox()
                w.setRange(0.1, 50.0)
                w.setValue(float(f.default))
                row = w
            else:
                w = QLineEdit("" if f.default is None else str(f.default))
                row = w
                if f.kind in ("file", "folder"):
                    row = QWidget()
                    line = QHBoxLayout(row)
                    line.setContentsMargins(0, 0, 0, 0)
                    browse = QPushButton("Browse…")
                    browse.clicked.connect(lambda _=False, edit=w, folder=f.kind == "folder": self._browse(edit, folder))
                    line.addWidget(w, 1)
                    line.addWidget(browse)
            w.setObjectName(f"import-{kind}-{f.name}")
            self.inputs[kind][f.name] = w
            form.addRow(f.label + (" *" if f.required else ""), row)
        return page

    def _browse(self, edit: QLineEdit, folder: bool) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file")
        if path:
            edit.setText(path)

    def values(self, kind: str) -> dict[str, str]:
        out = {}
        for name, w in self.inputs[kind].items():
            out[name] = w.currentText() if isinstance(w, QComboBox) else (
                str(w.value()) if isinstance(w, QDoubleSpinBox) else w.text())
        return out

    def start(self) -> None:
        """Check the form, then import off the window's thread; the dialog closes when the import starts."""
        kind = self.kind.currentData()
        try:
            source, options = options_from(kind, self.values(kind))
            if kind in ADDS_TO_PROJECT:
                if self.window.twin is None or self.window.path is None:
                    raise ValueError(f"import {kind}: save the project first; the {kind} import adds to a "
                                     "project file")
                if self.window.modified:
                    raise ValueError(f"import {kind}: the project has unsaved changes; save them first "
                                     "(the import reads the project from its file)")
                options["project"] = str(self.window.path)
        except ValueError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText("")
        self.accept()
        run_import(self.window, kind, source, options)


def run_import(window, kind: str, source, options: dict):
    """Import off the window's thread; show the result and its report (returns the job)."""
    from twin.importers import import_source

    def done(result) -> None:
        twin, report = result
        report.count_layers(twin)
        report.warnings.extend(p for p in twin.reference_problems() if p not in report.warnings)
        text = report.text()
        for line in text.splitlines():
            window.log_panel.say(line)
        if kind in ADDS_TO_PROJECT:
            window.open_twin(twin, window.path)
        else:
            window.open_twin(twin)
        window.mark_modified(True)
        window.last_import_report = report
        window.say(f"imported {Path(str(source)).name}: {sum(report.counts.values())} features "
                   f"in {len(report.counts)} layers; not saved yet")

    return window.work.start(f"importing {Path(str(source)).name}", lambda progress: import_source(kind, source, **options),
                             on_done=done, on_failed=window.fail)
