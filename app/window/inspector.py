"""The inspector: the selected feature's layer, id and every attribute, and a site's file.

It follows the view model's selection (a pick in the 3D view, a row of the
attribute table, a panel selecting the valves of a break) and shows the first
selected feature: its attributes with their units from the twin's schema, and
the value of the result the view model shows on its layer (a junction's
pressure, updated as the clock plays).  A site of the register ("one site, one
file") shows its file: who to call, its LEC assessment (D = L x E x C) and risk
level in the warning colour, its hazards and its dated inspections, newest
first.  Nothing is computed here: every value is the twin's or the view
model's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from twin.schema import RISK_COLOURS, parse_json_field

NOTHING = "Click a feature in the 3D view, or a row of an attribute table."
MISSING = "—"
#: Columns of a site shown in its file rather than among its plain attributes.
SITE_FILE = ("name", "category", "contact", "building_id")
SITE_RISK = (("lec_l", "likelihood L"), ("lec_e", "exposure E"), ("lec_c", "consequence C"),
             ("lec_d", "D = L × E × C"), ("risk_level", "risk level"))


def shown_value(value, unit: str = "") -> str:
    """A value as the inspector and the tables show it: numbers to 6 significant digits, with the unit."""
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.6g}"
    elif isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    else:
        text = str(value)
    return f"{text} {unit}" if unit and text else text


class Inspector(QWidget):
    """Layer, id and attributes of the selected feature; a site's file."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.title = QLabel(NOTHING)
        self.title.setObjectName("inspector-title")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setObjectName("inspector-tree")
        self.tree.setHeaderLabels(["Field", "Value"])
        self.tree.setColumnWidth(0, 150)
        self.tree.setAlternatingRowColors(True)
        self.tree.setWordWrap(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.title)
        box.addWidget(self.tree, 1)
        self.layer: str | None = None
        self.feature_id: str | None = None
        self._result_item: QTreeWidgetItem | None = None
        self._model = None

    # ------------------------------------------------------------------ following the model
    def twin_changed(self, twin) -> None:
        model = self.window.view_model
        if self._model is not None:
            self._model.selection.events.disconnect(self._on_selection)
            self._model.values_changed.disconnect(self._on_values)
            self._model.results_changed.disconnect(self._on_results)
        self._model = model
        model.selection.events.connect(self._on_selection)
        model.values_changed.connect(self._on_values)
        model.results_changed.connect(self._on_results)
        self._on_selection()
        # the 3D view's cell locators built while the window is idle: the first click is as quick as the next
        QTimer.singleShot(0, self._prepare_picking)

    def _prepare_picking(self) -> None:
        if self.window.scene is not None:
            self.window.scene.prepare_picking()

    def _on_selection(self, _info=None) -> None:
        sel = self.window.view_model.selection
        fid = sel.feature_ids[0] if sel.feature_ids else None
        self.show_feature(sel.layer, fid, more=max(len(sel.feature_ids) - 1, 0))

    def _on_values(self, layer: str, _result: str, _values) -> None:
        if layer == self.layer and self._result_item is not None:
            self._fill_result(self._result_item)

    def _on_results(self, layer: str, _result) -> None:
        if layer == self.layer:
            self._on_selection()

    # ------------------------------------------------------------------ showing
    def show_feature(self, layer: str | None, feature_id: str | None, more: int = 0) -> None:
        """Show feature ``feature_id`` of ``layer`` (None: nothing selected)."""
        self.tree.clear()
        self._result_item = None
        self.layer, self.feature_id = layer, feature_id
        twin = self.window.twin
        if layer is None or feature_id is None or twin is None:
            self.layer = self.feature_id = None
            self.title.setText(NOTHING)
            return
        try:
            attributes = twin.feature(layer, feature_id)
        except KeyError:
            # the selection is half-way through changing (layer set, ids not yet): the next event shows it
            self.title.setText(f"{layer}: no feature {feature_id}")
            return
        label = layer.replace("_", " ")
        scene = self.window.scene
        if scene is not None and layer in scene.layers:
            label = scene.layers[layer].label
        also = f"  (+{more} more selected)" if more else ""
        self.title.setText(f"<b>{label}</b> &nbsp; {feature_id}{also}")
        if layer == "sites":
            self._site_file(attributes)
        attrs = self._group("Attributes")
        skip = {"id"}
        if layer == "sites":  # shown in the file above
            skip |= set(SITE_FILE) | {c for c, _ in SITE_RISK} | {"inspections", "hazards"}
        self._row(attrs, "layer", layer)
        self._row(attrs, "id", feature_id)
        for column, value in attributes.items():
            if column not in skip:
                self._row(attrs, column, shown_value(value, self._unit(layer, column)))
        if self.window.view_model.values.get(layer) is not None:
            group = self._group("Result")
            self._result_item = self._row(group, "", "")
            self._fill_result(self._result_item)
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)

    def _fill_result(self, item: QTreeWidgetItem) -> None:
        model = self.window.view_model
        shown = model.values.get(self.layer)
        if shown is None:
            item.setText(0, "")
            item.setText(1, MISSING)
            return
        result, values = shown
        value = values.get(self.feature_id) if hasattr(values, "get") else None
        item.setText(0, result)
        item.setText(1, shown_value(value, model.units.get((self.layer, result), "")))

    def _site_file(self, a: dict) -> None:
        """The register's file of a site: contact, LEC assessment, hazards, inspections."""
        file = self._group("Site file")
        for column in SITE_FILE:
            self._row(file, column.replace("_", " "), shown_value(a.get(column)))
        risk = self._group("Risk (LEC)")
        for column, title in SITE_RISK:
            item = self._row(risk, title, shown_value(a.get(column)))
            level = a.get("risk_level")
            if column == "risk_level" and level in RISK_COLOURS:
                item.setBackground(1, QBrush(QColor(RISK_COLOURS[level])))
                item.setForeground(1, QBrush(QColor("white" if level in ("red", "blue") else "black")))
        bands = self.window.twin.lec_bands
        self._row(risk, "bands", f"red D > {bands['red']:g}, orange {bands['orange']:g}–{bands['red']:g}, "
                                 f"yellow {bands['yellow']:g}–{bands['orange']:g}, blue ≤ {bands['yellow']:g}")
        hazards = [h.strip() for h in str(a.get("hazards") or "").split(",") if h.strip()]
        group = self._group(f"Hazards ({len(hazards)})")
        for h in hazards:
            self._row(group, "•", h)
        try:
            records = parse_json_field(a.get("inspections"), f"site {a.get('id')} inspections") or []
        except Exception as exc:  # a hand-edited register: say what is wrong, show the rest
            group = self._group("Inspections")
            self._row(group, "error", str(exc))
            return
        records = sorted((r for r in records if isinstance(r, dict)), key=lambda r: str(r.get("date", "")),
                         reverse=True)
        group = self._group(f"Inspections ({len(records)})")
        for r in records:
            item = self._row(group, str(r.get("date", MISSING)),
                             f"{r.get('result', MISSING)} — {r.get('inspector', MISSING)}")
            if r.get("notes"):
                self._row(item, "notes", str(r["notes"]))

    def _group(self, title: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [title, ""])
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setFirstColumnSpanned(True)
        return item

    @staticmethod
    def _row(parent: QTreeWidgetItem, field: str, value: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [field, value])
        item.setToolTip(1, value)
        return item

    def _unit(self, layer: str, column: str) -> str:
        from app.scene.scene import _schema_unit

        return _schema_unit(layer, column)

    # ------------------------------------------------------------------ reading (tests, copy)
    def rows(self) -> list[tuple[str, str, str]]:
        """What the inspector shows: (group, field, value) for every line, in order."""
        out = []

        def walk(item: QTreeWidgetItem, group: str) -> None:
            for k in range(item.childCount()):
                child = item.child(k)
                out.append((group, child.text(0), child.text(1)))
                walk(child, group)

        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            walk(top, top.text(0))
        return out

    def value(self, field: str, group: str | None = None) -> str | None:
        """The value shown for ``field`` (in ``group`` when given), or None when it is not shown."""
        return next((v for g, f, v in self.rows() if f == field and (group is None or g == group)), None)
