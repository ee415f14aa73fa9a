"""The layer tree: the twin's layers grouped by domain, each with visibility, opacity and colour-by.

Under the ground, on the ground, low-altitude airspace: one branch each, one
checkable row per layer the scene draws, with a swatch of its colour (the
tree is the window's legend; the 3D view's own legend is for pictures).  Below the tree, the selected layer's
opacity slider and colour-by choice (its columns, and any result the view
model shows on it).  Every control writes the view model; the scene redraws
because the model changed.  A check box that the model changes elsewhere (a
scenario hiding a layer) follows too.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                             QSlider, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from twin.schema import DOMAINS, LAYER_DOMAINS

DOMAIN_TITLES = {"underground": "Under the ground", "ground": "On the ground", "low_altitude": "Low-altitude airspace"}
OWN_COLOUR = "(own colour)"


def _swatch(colour: str):
    """A small square of the layer's own colour: the tree is the window's legend."""
    from PyQt6.QtGui import QColor, QIcon, QPixmap

    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class LayerTree(QWidget):
    """Layers by domain: visibility, opacity, colour-by."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.tree = QTreeWidget()
        self.tree.setObjectName("layer-tree")
        self.tree.setHeaderLabels(["Layer", "Features"])
        self.tree.setColumnWidth(0, 200)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("layer-opacity")
        self.opacity.setRange(0, 100)
        self.colour_by = QComboBox()
        self.colour_by.setObjectName("layer-colour-by")
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.underground = QCheckBox("Underground mode")
        self.underground.setObjectName("underground")
        self.exaggeration = QDoubleSpinBox()
        self.exaggeration.setObjectName("exaggeration")
        self.exaggeration.setRange(1.0, 20.0)
        self.exaggeration.setSingleStep(0.5)
        self.exaggeration.setPrefix("x")
        self.exaggeration.setKeyboardTracking(False)
        cameras = QHBoxLayout()
        from app.scene.camera import PRESETS

        self.camera_buttons = {}
        for preset in PRESETS:
            b = self.camera_buttons[preset] = QPushButton(preset.capitalize())
            b.setObjectName(f"camera-{preset}")
            b.clicked.connect(lambda _=False, p=preset: self.window.set_camera(p))
            cameras.addWidget(b)
        form = QFormLayout()
        form.addRow("Opacity", self.opacity)
        form.addRow("Colour by", self.colour_by)
        form.addRow(self.underground)
        form.addRow("Vertical exaggeration", self.exaggeration)
        form.addRow("Camera", cameras)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.tree, 1)
        box.addLayout(form)
        box.addWidget(self.legend)
        self.items: dict[str, QTreeWidgetItem] = {}
        self._filling = False
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(lambda *_: self._show_current())
        self.opacity.valueChanged.connect(self._on_opacity)
        self.colour_by.activated.connect(self._on_colour_by)
        self.underground.toggled.connect(self._on_underground)
        self.exaggeration.valueChanged.connect(self._on_exaggeration)

    # ------------------------------------------------------------------ filling
    def twin_changed(self, twin) -> None:
        model, scene = self.window.view_model, self.window.scene
        self._filling = True
        self.tree.clear()
        self.items.clear()
        for domain in DOMAINS:
            names = [n for n, d in LAYER_DOMAINS.items() if d == domain and n in scene.layers]
            if not names:
                continue
            branch = QTreeWidgetItem(self.tree, [DOMAIN_TITLES[domain], ""])
            branch.setFlags(branch.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            for name in names:
                count = len(twin[name]) if name in twin.layers else ""
                item = QTreeWidgetItem(branch, [scene.layers[name].label, f"{count}"])
                item.setIcon(0, _swatch(scene.palette.layer(name)))
                item.setData(0, Qt.ItemDataRole.UserRole, name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                view = model.layer(name)
                item.setCheckState(0, Qt.CheckState.Checked if view.visible else Qt.CheckState.Unchecked)
                self.items[name] = item
                view.events.visible.connect(lambda v, n=name: self._follow_visible(n, v))
                view.events.colour_by.connect(lambda _v, n=name: n == self.current() and self._show_current())
            branch.setExpanded(True)
        model.results_changed.connect(lambda layer, _r: layer == self.current() and self._show_current())
        for name in self.items:
            model.layer(name).events.opacity.connect(lambda _v, n=name: n == self.current() and self._show_current())
        self.underground.setChecked(model.ground.underground)
        self.exaggeration.setValue(model.ground.exaggeration)
        model.ground.events.underground.connect(self._follow_ground)
        model.ground.events.exaggeration.connect(self._follow_ground)
        self._filling = False
        first = next(iter(self.items.values()), None)
        if first is not None:
            self.tree.setCurrentItem(first)

    def current(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def select_layer(self, name: str) -> None:
        self.tree.setCurrentItem(self.items[name])

    # ------------------------------------------------------------------ user → model
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole)
        if self._filling or name is None or column != 0:
            return
        self.window.view_model.layer(name).visible = item.checkState(0) == Qt.CheckState.Checked
        self.window.request_render()

    def _on_opacity(self, value: int) -> None:
        name = self.current()
        if self._filling or name is None:
            return
        self.window.view_model.layer(name).opacity = value / 100.0
        self.window.request_render()

    def _on_colour_by(self, index: int) -> None:
        name = self.current()
        if name is None:
            return
        field = self.colour_by.itemData(index)
        view = self.window.view_model.layer(name)
        try:
            view.colour_by = field
        except Exception as exc:  # a column the scene cannot colour by
            self.window.fail(f"layer {name}: cannot colour by {field}: {exc}")
            return
        self.window.request_render()
        self._show_current()

    def _on_underground(self, on: bool) -> None:
        if self._filling or self.window.view_model is None:
            return
        self.window.view_model.ground.underground = on
        self.window.request_render()

    def _on_exaggeration(self, value: float) -> None:
        if self._filling or self.window.view_model is None:
            return
        self.window.view_model.ground.exaggeration = value

    # ------------------------------------------------------------------ model → widgets
    def _follow_ground(self, _v=None) -> None:
        ground = self.window.view_model.ground
        self._filling = True
        self.underground.setChecked(ground.underground)
        self.exaggeration.setValue(ground.exaggeration)
        self._filling = False

    def _follow_visible(self, name: str, visible: bool) -> None:
        item = self.items.get(name)
        if item is None:
            return
        self._filling = True
        item.setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
        self._filling = False

    def _show_current(self) -> None:
        name = self.current()
        if name is None:
            return
        model, scene = self.window.view_model, self.window.scene
        view = model.layer(name)
        self._filling = True
        self.opacity.setValue(round(view.opacity * 100))
        self.colour_by.clear()
        self.colour_by.addItem(OWN_COLOUR, None)
        result = model.results.get(name)
        if result:
            self.colour_by.addItem(f"{result} (result)", result)
        for column in model.columns.get(name, ()):
            if column != "id":
                self.colour_by.addItem(column, column)
        k = self.colour_by.findData(view.colour_by)
        self.colour_by.setCurrentIndex(max(k, 0))
        self._filling = False
        sl = scene.layers.get(name)
        if sl is not None and sl.colour_by:
            if sl.categories:
                text = ", ".join(f'<span style="color:{c}">■</span> {v}' for v, c in sl.categories.items())
            else:
                unit = f" {sl.unit}" if sl.unit else ""
                text = f"{sl.colour_by}: {sl.clim[0]:.4g} – {sl.clim[1]:.4g}{unit} ({sl.cmap})"
            self.legend.setText(text)
        else:
            self.legend.setText("")
