"""The attribute table: one layer's features as rows, sorted, filtered, selected and zoomed to.

:class:`LayerRows` holds a layer as column arrays (numpy, one per column, no
geometry) with the order the table shows its rows in: sorting is one
``argsort`` of a column, filtering one vectorised "contains" over the columns'
texts (made on the first filter, then kept).  No Python object is made per
row up front, so the 100,000 pipes of a big city open at once; the Qt model
(:class:`LayerTableModel`) formats only the cells the view draws.

:class:`AttributeTable` is the panel: a layer chooser, the filter box (Enter
applies it; over all columns or a chosen one), the table (click a header to
sort), a count, and Zoom to (or double-click a row).  Selecting rows selects
those features in the view model (the 3D view highlights them, the inspector
shows them); a feature selected anywhere else (a click in the 3D view) is
selected and scrolled to here, switching the table to its layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PyQt6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, Qt, QTimer
from PyQt6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                             QPushButton, QTableView, QVBoxLayout, QWidget)

ALL_COLUMNS = "(all columns)"
FILTER_PAUSE_MS = 400   # typing stops this long: the filter applies (Enter applies at once)


def _column_array(series: pd.Series) -> tuple[str, np.ndarray]:
    """(kind, values) of one column: ``float`` (NaN missing), ``int`` (as float, NaN missing),
    ``bool`` (1.0, 0.0, NaN), ``time`` (datetime64, NaT missing) or ``text`` (objects)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool", series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_integer_dtype(dtype):
        return "int", series.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(dtype):
        return "float", series.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return "time", series.to_numpy(dtype="datetime64[s]")
    return "text", series.to_numpy(dtype=object)


def _texts(kind: str, values: np.ndarray) -> pd.Series:
    """Every cell of a column as the table shows it, lower case (a pandas text Series; missing is '')."""
    if kind == "float":
        out = [f"{v:.6g}" if v == v else "" for v in values.tolist()]
    elif kind == "int":
        out = [f"{v:.0f}" if v == v else "" for v in values.tolist()]
    elif kind == "bool":
        out = np.where(np.isnan(values), "", np.where(values == 1.0, "true", "false"))
    elif kind == "time":
        out = np.char.replace(np.datetime_as_string(values, unit="s"), "T", " ")
        out[np.isnat(values)] = ""
    else:
        return pd.Series(values, dtype=object).fillna("").astype("str").str.lower()
    return pd.Series(out, dtype="str").str.lower()


def _text(kind: str, value) -> str:
    """One cell as the table shows it (the same text as :func:`_texts` makes)."""
    if kind in ("float", "int", "bool"):
        if value != value:  # NaN: missing
            return ""
        if kind == "bool":
            return "true" if value == 1.0 else "false"
        return f"{value:.6g}" if kind == "float" else f"{value:.0f}"
    if kind == "time":
        return "" if np.isnat(value) else str(value).replace("T", " ")
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


class LayerRows:
    """A layer's rows in the order and selection a table shows them (no Qt)."""

    def __init__(self, frame: pd.DataFrame):
        self.columns = [c for c in frame.columns if c != "geometry"]
        self.kinds: dict[str, str] = {}
        self.values: dict[str, np.ndarray] = {}
        for c in self.columns:
            self.kinds[c], self.values[c] = _column_array(frame[c])
        self.ids = frame["id"].astype(str).to_numpy(dtype=object)
        self.n = len(frame)
        self._index = None               # id -> row, made on first use
        self._sorted = np.arange(self.n)  # every row, in the sort order
        self._keep = None                 # rows the filter keeps (bool per row), None: all
        self._texts: dict[str, np.ndarray] = {}
        self.order = self._sorted         # rows shown, top to bottom
        self.sort_column: str | None = None
        self.descending = False

    def text(self, row: int, column: str) -> str:
        return _text(self.kinds[column], self.values[column][row])

    def texts(self, column: str) -> pd.Series:
        """Every cell of ``column`` as shown, lower case (made on first use, then kept)."""
        if column not in self._texts:
            self._texts[column] = _texts(self.kinds[column], self.values[column])
        return self._texts[column]

    def sort(self, column: str | None, descending: bool = False) -> None:
        """Rows by ``column`` (None: the layer's order); missing values last either way."""
        self.sort_column, self.descending = column, descending
        if column is None:
            self._sorted = np.arange(self.n)
        else:
            kind, values = self.kinds[column], self.values[column]
            if kind == "text":
                keys = self.texts(column)
                order = keys.argsort(kind="stable").to_numpy()
                present = (keys != "").to_numpy()
                order = order[present[order]]
                if descending:
                    order = order[::-1]
                self._sorted = np.concatenate([order, np.flatnonzero(~present)])
            else:
                numbers = values
                if kind == "time":
                    numbers = np.where(np.isnat(values), np.nan, values.astype("int64").astype(float))
                self._sorted = np.argsort(-numbers if descending else numbers, kind="stable")  # NaN last
        self._apply()

    def filter(self, text: str, column: str | None = None) -> None:
        """Keep the rows where ``text`` is contained (any case) in ``column``'s text, or any column's."""
        text = (text or "").strip().lower()
        if not text:
            self._keep = None
        else:
            keep = np.zeros(self.n, dtype=bool)
            for c in [column] if column else self.columns:
                keep |= self.texts(c).str.contains(text, regex=False).to_numpy()
            self._keep = keep
        self._apply()

    def _apply(self) -> None:
        self.order = self._sorted if self._keep is None else self._sorted[self._keep[self._sorted]]
        self._position = None

    def rows_of(self, ids) -> np.ndarray:
        """Rows of features ``ids`` (-1 for an id the layer lacks)."""
        if self._index is None:
            self._index = pd.Index(self.ids)
        return self._index.get_indexer(pd.Index([str(i) for i in ids], dtype=object))

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Where rows are shown, top row 0 (-1: filtered out or unknown)."""
        if self._position is None:
            self._position = np.full(self.n, -1)
            self._position[self.order] = np.arange(len(self.order))
        rows = np.asarray(rows, dtype=int)
        return np.where(rows >= 0, self._position[np.clip(rows, 0, max(self.n - 1, 0))], -1)


class LayerTableModel(QAbstractTableModel):
    """A Qt table over :class:`LayerRows`: cells are formatted when the view draws them."""

    def __init__(self, rows: LayerRows, units: dict[str, str] | None = None):
        super().__init__()
        self.rows = rows
        self.units = units or {}

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows.order)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows.columns)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        column = self.rows.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.rows.text(int(self.rows.order[index.row()]), column)
        if role == Qt.ItemDataRole.TextAlignmentRole and self.rows.kinds[column] in ("float", "int"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            column = self.rows.columns[section]
            unit = self.units.get(column)
            return f"{column} ({unit})" if unit else column
        return str(section + 1)

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self.beginResetModel()
        self.rows.sort(self.rows.columns[column] if column >= 0 else None,
                       order == Qt.SortOrder.DescendingOrder)
        self.endResetModel()

    def set_filter(self, text: str, column: str | None) -> None:
        self.beginResetModel()
        self.rows.filter(text, column)
        self.endResetModel()


class AttributeTable(QWidget):
    """One layer's attribute table: sort, filter, select, zoom to."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.layer_box = QComboBox()
        self.layer_box.setObjectName("table-layer")
        self.filter_box = QLineEdit()
        self.filter_box.setObjectName("table-filter")
        self.filter_box.setPlaceholderText("Filter: rows containing…")
        self.filter_box.setClearButtonEnabled(True)
        self.column_box = QComboBox()
        self.column_box.setObjectName("table-filter-column")
        self.count = QLabel("")
        self.count.setObjectName("table-count")
        self.zoom_button = QPushButton("Zoom to")
        self.zoom_button.setObjectName("table-zoom")
        self.zoom_button.setToolTip("Move the 3D view to the selected features (or double-click a row)")
        self.view = QTableView()
        self.view.setObjectName("table-view")
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        vh = self.view.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setSortIndicatorShown(True)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Layer"))
        bar.addWidget(self.layer_box)
        bar.addWidget(self.filter_box, 1)
        bar.addWidget(QLabel("in"))
        bar.addWidget(self.column_box)
        bar.addWidget(self.count)
        bar.addWidget(self.zoom_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addLayout(bar)
        box.addWidget(self.view, 1)
        self.layer: str | None = None
        self.rows: LayerRows | None = None
        self.model: LayerTableModel | None = None
        self._syncing = False
        self._view_model = None
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(FILTER_PAUSE_MS)
        self._pause.timeout.connect(self.apply_filter)
        self.layer_box.activated.connect(lambda _i: self.show_layer(self.layer_box.currentData()))
        self.filter_box.returnPressed.connect(self.apply_filter)
        self.filter_box.textEdited.connect(lambda _t: self._pause.start())
        self.column_box.activated.connect(lambda _i: self.apply_filter())
        self.zoom_button.clicked.connect(self.zoom_to_selected)
        self.view.doubleClicked.connect(self._on_double_click)

    # ------------------------------------------------------------------ the twin and the layer
    def twin_changed(self, twin) -> None:
        model = self.window.view_model
        if self._view_model is not None:
            self._view_model.selection.events.disconnect(self._follow_selection)
        self._view_model = model
        model.selection.events.connect(self._follow_selection)
        self.layer_box.clear()
        scene = self.window.scene
        for name, frame in twin.layers.items():
            if len(frame):
                label = scene.layers[name].label if scene is not None and name in scene.layers \
                    else name.replace("_", " ")
                self.layer_box.addItem(f"{label} ({len(frame):,})", name)
        self.layer = self.rows = None
        first = "buildings" if "buildings" in twin.layers and len(twin["buildings"]) else self.layer_box.itemData(0)
        if first is not None:
            self.show_layer(first)

    def show_layer(self, name: str) -> None:
        """Show layer ``name``'s table (unfiltered, in the layer's order)."""
        from app.scene.scene import _schema_unit

        frame = self.window.twin[name]
        self.layer = name
        self.layer_box.setCurrentIndex(max(self.layer_box.findData(name), 0))
        self.rows = LayerRows(frame)
        self.model = LayerTableModel(self.rows, {c: _schema_unit(name, c) for c in self.rows.columns})
        self.view.setModel(self.model)
        self.view.selectionModel().selectionChanged.connect(self._on_rows_selected)
        # sorted or filtered, the rows move: the selection is put back on them
        self.model.modelReset.connect(self._show_selection)
        header = self.view.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        # widths from the header and the first rows, never a pass over 100k rows
        metrics = self.view.fontMetrics()
        for k, c in enumerate(self.rows.columns):
            sample = [self.rows.text(r, c) for r in range(min(self.rows.n, 50))]
            text = max([str(self.model.headerData(k, Qt.Orientation.Horizontal)), *sample], key=len)
            self.view.setColumnWidth(k, min(max(metrics.horizontalAdvance(text) + 24, 60), 320))
        self.view.setSortingEnabled(True)
        self.column_box.clear()
        self.column_box.addItem(ALL_COLUMNS, None)
        for c in self.rows.columns:
            self.column_box.addItem(c, c)
        self.filter_box.clear()
        self._show_count()
        self._show_selection()

    # ------------------------------------------------------------------ filter
    def apply_filter(self) -> None:
        """Keep the rows containing the filter box's text (in the chosen column, or any)."""
        self._pause.stop()
        if self.model is None:
            return
        self.model.set_filter(self.filter_box.text(), self.column_box.currentData())
        self._show_count()

    def _show_count(self) -> None:
        rows = self.rows
        if rows is None:
            self.count.setText("")
            return
        shown = len(rows.order)
        self.count.setText(f"{shown:,} of {rows.n:,}" if shown != rows.n else f"{rows.n:,} rows")

    # ------------------------------------------------------------------ selection both ways
    def selected_ids(self) -> list[str]:
        """Ids of the rows selected in the table, top to bottom."""
        if self.model is None:
            return []
        positions = []
        for r in self.view.selectionModel().selection():
            positions.append(np.arange(r.top(), r.bottom() + 1))
        if not positions:
            return []
        pos = np.unique(np.concatenate(positions))
        return [str(i) for i in self.rows.ids[self.rows.order[pos]]]

    def _on_rows_selected(self, *_args) -> None:
        if self._syncing:
            return
        ids = self.selected_ids()
        self._syncing = True
        try:
            self.window.view_model.select(self.layer if ids else None, *ids)
        finally:
            self._syncing = False

    def _follow_selection(self, _info=None) -> None:
        """A feature was selected elsewhere: switch to its layer, select and scroll to its row."""
        if self._syncing or self.rows is None or self.window.view_model is None:
            return
        sel = self.window.view_model.selection
        if sel.layer is not None and sel.layer != self.layer and self.layer_box.findData(sel.layer) >= 0:
            self.show_layer(sel.layer)   # shows the selection itself
            return
        self._show_selection()

    def _show_selection(self) -> None:
        """Select the rows of the view model's selection on this layer (none when it is on another)."""
        if self.rows is None or self.window.view_model is None:
            return
        sel = self.window.view_model.selection
        ids = sel.feature_ids if sel.layer == self.layer else ()
        positions = self.rows.positions(self.rows.rows_of(ids)) if ids else np.array([], dtype=int)
        positions = np.unique(positions[positions >= 0])
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        if len(positions):
            # runs of neighbouring rows: one range each
            breaks = np.flatnonzero(np.diff(positions) > 1)
            starts = np.concatenate([[positions[0]], positions[breaks + 1]])
            ends = np.concatenate([positions[breaks], [positions[-1]]])
            for a, b in zip(starts, ends):
                selection.select(self.model.index(int(a), 0), self.model.index(int(b), last))
        self._syncing = True
        try:
            self.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        finally:
            self._syncing = False
        if len(positions):
            self.view.scrollTo(self.model.index(int(positions[0]), 0),
                               QAbstractItemView.ScrollHint.PositionAtCenter)

    # ------------------------------------------------------------------ zoom
    def _on_double_click(self, index: QModelIndex) -> None:
        fid = str(self.rows.ids[self.rows.order[index.row()]])
        self.zoom_to([fid])

    def zoom_to_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.window.say("select rows of the table to zoom to")
            return
        self.zoom_to(ids)

    def zoom_to(self, ids) -> None:
        """Move the 3D view to features ``ids`` of the table's layer (the view keeps its direction)."""
        try:
            self.window.scene.zoom_to(self.layer, ids)
        except KeyError as exc:
            self.window.say(str(exc.args[0]) if exc.args else str(exc))
            return
        self.window.request_render()
