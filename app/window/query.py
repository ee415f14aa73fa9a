"""The threshold query panel: "pressure < 20 m" on the junctions, kept true as the clock plays.

Layer, field (a column, or the result the view model shows on the layer),
operator and value (in the field's unit, shown beside it; another unit of the
same kind may follow the number: "48 h").  Highlight (or Enter) hands what was
typed to :mod:`app.query`, which checks it, finds the matches, highlights them
in the 3D view and re-evaluates them whenever the result's values change; the
panel shows the count, or the one message saying what is wrong with the input.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from app.query import OPERATORS, LiveQuery, Matches, QueryError, fields, parse

ERROR_STYLE = "color: #b2182b; font-weight: bold"


class QueryPanel(QWidget):
    """Layer, field, operator, value: the features that match, highlighted and counted."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.layer_box = QComboBox()
        self.layer_box.setObjectName("query-layer")
        self.field_box = QComboBox()
        self.field_box.setObjectName("query-field")
        self.field_box.setEditable(True)   # a field may be typed; an unknown one is named in the message
        self.field_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.op_box = QComboBox()
        self.op_box.setObjectName("query-op")
        for op in OPERATORS:
            self.op_box.addItem(op)
        self.value_box = QLineEdit()
        self.value_box.setObjectName("query-value")
        self.value_box.setPlaceholderText("value, e.g. 20")
        self.unit = QLabel("")
        self.unit.setObjectName("query-unit")
        self.run_button = QPushButton("Highlight")
        self.run_button.setObjectName("query-run")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("query-clear")
        self.result = QLabel("")
        self.result.setObjectName("query-result")
        self.result.setWordWrap(True)
        grid = QGridLayout()
        grid.addWidget(QLabel("Layer"), 0, 0)
        grid.addWidget(self.layer_box, 0, 1, 1, 2)
        grid.addWidget(QLabel("Field"), 1, 0)
        grid.addWidget(self.field_box, 1, 1, 1, 2)
        grid.addWidget(QLabel("Where"), 2, 0)
        grid.addWidget(self.op_box, 2, 1)
        value_row = QHBoxLayout()
        value_row.addWidget(self.value_box, 1)
        value_row.addWidget(self.unit)
        grid.addLayout(value_row, 2, 2)
        grid.setColumnStretch(2, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addLayout(grid)
        box.addLayout(buttons)
        box.addWidget(self.result)
        box.addStretch(1)
        self.live: LiveQuery | None = None
        self._model = None
        self.layer_box.activated.connect(lambda _i: self._fill_fields())
        self.field_box.currentIndexChanged.connect(lambda _i: self._show_unit())
        self.field_box.editTextChanged.connect(lambda _t: self._show_unit())
        self.value_box.returnPressed.connect(self.run)
        self.run_button.clicked.connect(self.run)
        self.clear_button.clicked.connect(self.clear)
        self.setEnabled(False)

    # ------------------------------------------------------------------ the twin
    def twin_changed(self, twin) -> None:
        model = self.window.view_model
        if self.live is not None:
            self.live.close()
        if self._model is not None:
            self._model.results_changed.disconnect(self._on_results)
        self._model = model
        self.live = LiveQuery(twin, model)
        self.live.changed.connect(self._show)
        model.results_changed.connect(self._on_results)
        self.layer_box.clear()
        for name, frame in twin.layers.items():
            if len(frame):
                self.layer_box.addItem(name.replace("_", " "), name)
        k = self.layer_box.findData("water_junctions")
        self.layer_box.setCurrentIndex(max(k, 0))
        self._fill_fields()
        self.result.setText("")
        self.setEnabled(True)

    def layer(self) -> str | None:
        return self.layer_box.currentData()

    def _fields(self):
        layer = self.layer()
        return {} if layer is None else fields(self.window.twin[layer], layer, self.window.view_model)

    def _fill_fields(self) -> None:
        """The chosen layer's fields, the result it shows first; the field chosen before is kept."""
        before = self.field()
        self.field_box.blockSignals(True)
        self.field_box.clear()
        for name, f in self._fields().items():
            self.field_box.addItem(f.label, name)
        k = self.field_box.findData(before)
        self.field_box.setCurrentIndex(k if k >= 0 else 0)
        self.field_box.blockSignals(False)
        self._show_unit()

    def _on_results(self, layer: str, _result) -> None:
        if layer == self.layer():
            self._fill_fields()

    def field(self) -> str:
        """The field chosen, or typed."""
        text = self.field_box.currentText().strip()
        k = self.field_box.findText(text)
        return self.field_box.itemData(k) if k >= 0 else text

    def _show_unit(self) -> None:
        f = self._fields().get(self.field())
        self.unit.setText(f.unit if f is not None else "")

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        """Check what was typed; highlight and count the matches from now on, or say what is wrong."""
        if self.live is None:
            return
        try:
            query = parse(self.layer(), self.field(), self.op_box.currentText(), self.value_box.text(),
                          self._fields())
            self.live.set(query)
        except QueryError as exc:
            self.live.set(None)
            self._show(exc)
        self.window.request_render()

    def clear(self) -> None:
        if self.live is not None:
            self.live.set(None)
        self.result.setText("")
        self.result.setStyleSheet("")
        self.window.request_render()

    def _show(self, outcome) -> None:
        if isinstance(outcome, Matches):
            self.result.setStyleSheet("")
            self.result.setText(str(outcome))
        else:
            self.result.setStyleSheet(ERROR_STYLE)
            self.result.setText(str(outcome))

    def shutdown(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None
