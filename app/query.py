"""Threshold queries over a layer: "pressure < 20 m" on the junctions, "age > 48 h", "use == commercial".

A :class:`Threshold` names a layer, a field (one of the layer's columns, or the
result the view model shows on it), an operator and a value in the field's
unit, or in another unit of the same kind written after the number ("48 h" on
a field in seconds).  :func:`parse` turns what a user typed into one, or
raises :class:`QueryError` with one message naming the field or the value;
:func:`evaluate` gives the ids of the matching features.  A missing value
(NaN, an empty text) never matches, whatever the operator.

:class:`LiveQuery` keeps one query true on a :class:`~app.view_model.ViewModel`:
re-evaluated whenever the values it reads change (a playing clock re-sends
junction pressures every tick), its matches drawn as the highlight
``"query"``.  No Qt here: the window's query panel only forwards what the user
typed and shows what comes back.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from psygnal import Signal

#: Operator text -> comparison.
OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
             "!=": operator.ne}
#: The highlight a live query draws its matches as, and its colour (clear of the selection's magenta).
HIGHLIGHT = "query"
COLOUR = "#39ff14"

#: Units a value may be written in: unit -> (quantity, factor to the quantity's SI unit).
UNITS = {
    "mm": ("length", 1e-3), "cm": ("length", 1e-2), "m": ("length", 1.0), "km": ("length", 1e3),
    "s": ("time", 1.0), "min": ("time", 60.0), "h": ("time", 3600.0), "d": ("time", 86400.0),
    "m3/s": ("flow", 1.0), "m³/s": ("flow", 1.0), "L/s": ("flow", 1e-3), "m3/h": ("flow", 1 / 3600),
    "m³/h": ("flow", 1 / 3600),
    "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "MPa": ("pressure", 1e6), "bar": ("pressure", 1e5),
    "m/s": ("speed", 1.0), "km/h": ("speed", 1 / 3.6),
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


class QueryError(ValueError):
    """What is wrong with a query, in one sentence for the user."""


@dataclass(frozen=True)
class Field:
    """Something a layer's features can be compared on."""

    name: str
    kind: str            #: ``number`` or ``text``
    unit: str = ""
    result: bool = False  #: the result the view model shows on the layer (follows the clock)

    @property
    def label(self) -> str:
        """``pressure (result, m)``, ``diameter (m)``, ``use``."""
        notes = [n for n in ("result" if self.result else "", self.unit) if n]
        return f"{self.name} ({', '.join(notes)})" if notes else self.name


@dataclass(frozen=True)
class Threshold:
    """``field op value`` on ``layer``; ``value`` is in the field's unit (a number) or a text."""

    layer: str
    field: Field
    op: str
    value: float | str

    def __str__(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else f'"{self.value}"'
        unit = f" {self.field.unit}" if self.field.unit and isinstance(self.value, float) else ""
        return f"{self.field.name} {self.op} {value}{unit}"


@dataclass(frozen=True)
class Matches:
    """The features of ``query.layer`` that match, and how many were compared."""

    query: Threshold
    ids: tuple[str, ...]
    compared: int

    @property
    def count(self) -> int:
        return len(self.ids)

    def __str__(self) -> str:
        return f"{self.count:,} of {self.compared:,} {self.query.layer.replace('_', ' ')} match {self.query}"


def _column_kind(series: pd.Series) -> str | None:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    return "text"


def fields(frame: pd.DataFrame, layer: str, model=None) -> dict[str, Field]:
    """What features of ``layer`` (its table ``frame``) can be compared on: the result the view
    model shows on it first, then its columns of numbers and texts (not its geometry, dates or flags)."""
    from app.scene.scene import _schema_unit

    out: dict[str, Field] = {}
    shown = model.values.get(layer) if model is not None else None
    if shown is not None:
        result = shown[0]
        out[result] = Field(result, "number", model.units.get((layer, result), "") or "", result=True)
    for column in frame.columns:
        if column == "geometry" or column in out:
            continue
        kind = _column_kind(frame[column])
        if kind is not None:
            out[column] = Field(column, kind, _schema_unit(layer, column) if kind == "number" else "")
    return out


def parse(layer: str, field: str, op: str, text: str, available: dict[str, Field]) -> Threshold:
    """The query a user wrote, checked against the fields ``available`` on ``layer``."""
    field = (field or "").strip()
    if field not in available:
        names = ", ".join(available) or "none"
        raise QueryError(f'{layer} has no field "{field}" (fields: {names})')
    f = available[field]
    if op not in OPERATORS:
        raise QueryError(f'unknown operator "{op}" (operators: {", ".join(OPERATORS)})')
    text = (text or "").strip()
    if not text:
        raise QueryError(f"type a value to compare {f.name} with")
    if f.kind == "text":
        if op not in ("==", "!="):
            raise QueryError(f"{f.name} is text: compare it with == or !=, not {op}")
        return Threshold(layer, f, op, text)
    m = _NUMBER.match(text)
    if m is None:
        unit = f" (in {f.unit})" if f.unit else ""
        raise QueryError(f'{f.name} needs a number{unit}, not "{text}"')
    value, unit = float(m.group(1)), m.group(2)
    if not np.isfinite(value):
        raise QueryError(f'{f.name} needs a finite number, not "{text}"')
    if unit and unit != f.unit:
        have, want = UNITS.get(unit), UNITS.get(f.unit)
        if have is None or want is None or have[0] != want[0]:
            where = f"which is in {f.unit}" if f.unit else "which has no unit"
            raise QueryError(f'"{text}" cannot be compared with {f.name}, {where}')
        value = value * have[1] / want[1]
    return Threshold(layer, f, op, value)


def evaluate(query: Threshold, frame: pd.DataFrame, model=None) -> Matches:
    """The features of ``query.layer`` (table ``frame``; results from ``model``) that match."""
    f = query.field
    compare = OPERATORS[query.op]
    if f.result:
        shown = model.values.get(query.layer) if model is not None else None
        if shown is None or shown[0] != f.name:
            raise QueryError(f"{f.name} is no longer shown on {query.layer}")
        series = shown[1]
        ids = np.asarray(series.index.astype(str), dtype=object)
        values = pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        if f.name not in frame.columns:
            raise QueryError(f'{query.layer} has no field "{f.name}"')
        ids = frame["id"].astype(str).to_numpy(dtype=object)
        column = frame[f.name]
        if f.kind == "text":
            present = column.notna().to_numpy() & (column.astype(str).str.strip() != "").to_numpy()
            equal = (column.astype(str).str.strip() == query.value).to_numpy()
            hit = present & (equal if query.op == "==" else ~equal)
            return Matches(query, tuple(ids[hit]), len(ids))
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        hit = compare(values, query.value) & np.isfinite(values)
    return Matches(query, tuple(ids[hit]), len(ids))


class LiveQuery:
    """One threshold query kept true on a view model, its matches highlighted.

    ``changed`` sends the new :class:`Matches` after every evaluation, or the
    :class:`QueryError` when the query no longer holds (its result stopped
    being shown: the highlight goes, the query stays and comes back with the
    result).
    """

    changed = Signal(object)

    def __init__(self, twin, model, *, name: str = HIGHLIGHT, colour: str = COLOUR):
        self.twin = twin
        self.model = model
        self.name = name
        self.colour = colour
        self.query: Threshold | None = None
        self.matches: Matches | None = None
        model.values_changed.connect(self._on_values)
        model.results_changed.connect(self._on_results)

    def set(self, query: Threshold | None) -> Matches | None:
        """Run ``query`` now and from now on (None: no query, no highlight)."""
        self.query = query
        if query is None:
            self.matches = None
            self.model.highlight(self.name, None)
            return None
        return self._run()

    def close(self) -> None:
        """Stop following the view model; the highlight goes."""
        self.set(None)
        self.model.values_changed.disconnect(self._on_values)
        self.model.results_changed.disconnect(self._on_results)

    def _run(self) -> Matches:
        q = self.query
        try:
            matches = evaluate(q, self.twin[q.layer], self.model)
        except QueryError as exc:
            self.matches = None
            self.model.highlight(self.name, None)
            self.changed.emit(exc)
            raise
        self.matches = matches
        self.model.highlight(self.name, q.layer, matches.ids, self.colour, label=str(q))
        self.changed.emit(matches)
        return matches

    def _on_values(self, layer: str, result: str, _values) -> None:
        q = self.query
        if q is not None and q.field.result and layer == q.layer and result == q.field.name:
            self._run()

    def _on_results(self, layer: str, result) -> None:
        q = self.query
        if q is not None and q.field.result and layer == q.layer and result != q.field.name:
            try:
                self._run()
            except QueryError:
                pass  # already sent through ``changed``
