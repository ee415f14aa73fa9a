"""Rain for the drainage model: a Chicago design storm from a rainstorm intensity formula, or a gauge record.

**Rainstorm intensity formula** (GB 50014-2021, *Standard for design of
outdoor wastewater engineering*, §4.1.9; the form every Chinese city
publishes its own parameters in)::

    q = 167 A1 (1 + C lg P) / (t + b)^n      L/(s·ha)
    i =     A1 (1 + C lg P) / (t + b)^n      mm/min      (q = 167 i)

with ``P`` the return period (years), ``t`` the duration (min) and ``A1``,
``C``, ``b``, ``n`` the city's parameters.  The average intensity over ``t``
gives the IDF depth ``D(t) = i(t) · t`` (mm).

**Chicago hyetograph** (Keifer, C. J. & Chu, H. H., 1957, "Synthetic storm
pattern for drainage design", *Journal of the Hydraulics Division*, ASCE
83(HY4), 1332-1-25): the storm is built so that every window of duration
``t`` placed around the peak holds the IDF depth ``D(t)``, with a share ``r``
of the window before the peak (``r`` is the peak position, 0..1).  Its
cumulative depth from the storm's start, for a storm of duration ``T`` with
the peak at ``tp = r T``, is::

    H(t) = r D(T) - r D((tp - t) / r)             for t <= tp
    H(t) = r D(T) + (1 - r) D((t - tp) / (1 - r)) for t >= tp

so ``H(T) = D(T)``: the storm's total depth is the IDF depth for its duration
(exactly; the tests check it to 1e-6).  Each time step's intensity is the
difference of ``H`` over the step (the mean of Keifer & Chu's instantaneous
intensity over the step).

A **recorded gauge** (:func:`read_gauge_csv`) is a CSV with a ``time``
column (ISO 8601 date-times, or minutes from the start) and either
``intensity_mm_h`` (the rate over the interval that starts at the row's
time) or ``depth_mm`` (depth fallen in that interval).

Bad input raises one :class:`ValueError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


def _number(name: str, value, *, low=None, high=None, low_open=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"design storm: {name} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"design storm: {name} must be a finite number, not {value!r}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"design storm: {name} must be {'>' if low_open else '>='} {low:g}, not {v:g}")
    if high is not None and v > high:
        raise ValueError(f"design storm: {name} must be <= {high:g}, not {v:g}")
    return v


@dataclass(frozen=True)
class IntensityFormula:
    """A rainstorm intensity formula i = A1 (1 + C lg P) / (t + b)^n, i in mm/min, t in min."""

    A1: float
    C: float
    b: float
    n: float

    def __post_init__(self):
        _number("A1", self.A1, low=0, low_open=True)
        _number("C", self.C, low=0)
        _number("b", self.b, low=0)
        _number("n", self.n, low=0, low_open=True)

    @classmethod
    def from_q(cls, A: float, C: float, b: float, n: float) -> "IntensityFormula":
        """From the published L/(s·ha) form q = A (1 + C lg P) / (t + b)^n, with A = 167 A1."""
        return cls(_number("A", A, low=0, low_open=True) / 167.0, C, b, n)

    def intensity(self, t_min, P: float) -> np.ndarray:
        """Average intensity (mm/min) over a duration ``t_min`` for return period ``P`` years."""
        a = self.A1 * (1.0 + self.C * math.log10(P))
        return a / (np.asarray(t_min, dtype=float) + self.b) ** self.n

    def depth(self, t_min, P: float) -> np.ndarray:
        """IDF depth (mm) in a duration ``t_min`` for return period ``P`` years."""
        t = np.asarray(t_min, dtype=float)
        return self.intensity(t, P) * t


#: Beijing's zone I formula as widely quoted (q = 2001 (1 + 0.811 lg P) / (t + 8)^0.711 L/(s·ha),
#: DB11/685-2013); an illustration of the form, not a design value: use the city's current standard.
BEIJING_I = IntensityFormula.from_q(2001.0, 0.811, 8.0, 0.711)


@dataclass(frozen=True)
class Hyetograph:
    """Rain as constant intensities (mm/h) over equal steps from ``start_s`` (s from the session start)."""

    intensities_mm_h: tuple
    step_s: float
    start_s: float = 0.0
    name: str = "storm"

    def __post_init__(self):
        _number("time step", self.step_s, low=0, low_open=True)
        _number("start", self.start_s, low=0)
        values = np.asarray(self.intensities_mm_h, dtype=float)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError("rain: intensities must be a non-empty list of numbers")
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"rain: intensity at step {int(np.flatnonzero(bad)[0])} is not a number (NaN)")
        if (values < 0).any():
            i = int(np.flatnonzero(values < 0)[0])
            raise ValueError(f"rain: intensity at step {i} is negative ({values[i]:g} mm/h)")

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.intensities_mm_h, dtype=float)

    @property
    def depth_mm(self) -> float:
        return float(self.values.sum() * self.step_s / 3600.0)

    @property
    def duration_s(self) -> float:
        return len(self.values) * self.step_s

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def peak_mm_h(self) -> float:
        return float(self.values.max())

    def frame(self) -> pd.DataFrame:
        """One row per step: time_s (start of the step, from the session start), intensity_mm_h."""
        t = self.start_s + np.arange(len(self.values)) * self.step_s
        return pd.DataFrame({"time_s": t, "intensity_mm_h": self.values})

    @property
    def series_name(self) -> str:
        """The name of the storm's series in a SWMM model (SWMM names take no spaces)."""
        return "_".join(self.name.split()) or "storm"

    def swmm_timeseries(self) -> list[str]:
        """``[TIMESERIES]`` rows (hours from the simulation start, mm/h), closing with a zero."""
        name = self.series_name
        rows = [f"{name:<16} {(self.start_s + k * self.step_s) / 3600.0:.6f} {v:.6f}"
                for k, v in enumerate(self.values)]
        rows.append(f"{name:<16} {self.end_s / 3600.0:.6f} 0.0")
        return rows


def chicago_storm(formula: IntensityFormula, P: float, duration_min: float, r: float = 0.4,
                  step_min: float = 1.0, start_s: float = 0.0, name: str = "storm") -> Hyetograph:
    """The Chicago design storm of ``formula`` for return period ``P`` (years) over ``duration_min``.

    ``r`` is the peak position (0..1, typically 0.3-0.5 for Chinese cities);
    ``step_min`` the time step, a divisor of the duration.
    """
    P = _number("return period P", P, low=0, low_open=True)
    T = _number("duration", duration_min, low=0, low_open=True)
    r = _number("peak position r", r, low=0)
    if r > 1:
        raise ValueError(f"design storm: peak position r must be between 0 and 1, not {r:g}")
    dt = _number("time step", step_min, low=0, low_open=True)
    steps = T / dt
    if abs(steps - round(steps)) > 1e-9 * max(steps, 1):
        raise ValueError(f"design storm: time step {dt:g} min does not divide the duration {T:g} min")
    steps = int(round(steps))
    t = np.linspace(0.0, T, steps + 1)
    H = cumulative_depth(formula, P, T, r, t)
    depth = np.diff(H)
    if (depth < -1e-12).any():
        raise ValueError(f"design storm: n = {formula.n:g} gives negative intensities with b = {formula.b:g} "
                         f"over {T:g} min (the formula's depth must grow with duration)")
    return Hyetograph(tuple(np.maximum(depth, 0.0) / dt * 60.0), dt * 60.0, start_s, name)


def cumulative_depth(formula: IntensityFormula, P: float, T: float, r: float, t) -> np.ndarray:
    """Keifer & Chu's cumulative depth H(t) (mm) of a storm of ``T`` min peaking at ``r T``."""
    t = np.asarray(t, dtype=float)
    tp = r * T
    total_before = r * formula.depth(T, P)
    before = np.zeros_like(t)
    after = np.zeros_like(t)
    if r > 0:
        before = total_before - r * formula.depth(np.clip(tp - t, 0.0, None) / r, P)
    if r < 1:
        after = total_before + (1.0 - r) * formula.depth(np.clip(t - tp, 0.0, None) / (1.0 - r), P)
    return np.where(t <= tp, before, after)


def read_gauge_csv(path, start: float | None = None, name: str = "gauge") -> Hyetograph:
    """A recorded rain gauge series from a CSV (see the module); ``start`` (UTC POSIX s) anchors date-times."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        from twin.errors import reading_problem

        raise ValueError(f"{path}: cannot read the rain gauge series: {reading_problem(exc)}") from None
    columns = {c.strip().lower(): c for c in table.columns}
    if "time" not in columns:
        raise ValueError(f"{path}: the rain gauge series needs a 'time' column (has {', '.join(table.columns)})")
    if len(table) < 2:
        raise ValueError(f"{path}: the rain gauge series needs at least two rows")
    raw = table[columns["time"]]
    minutes = pd.to_numeric(raw, errors="coerce")
    if minutes.notna().all():
        seconds = minutes.to_numpy(float) * 60.0
        offset = 0.0
    else:
        stamps = pd.to_datetime(raw, utc=True, errors="coerce")
        if stamps.isna().any():
            row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise ValueError(f"{path}: time at row {row + 1} ({raw.iloc[row]!r}) is neither a date-time nor minutes")
        seconds = stamps.astype("int64").to_numpy() / 1e9
        offset = seconds[0] - (start if start is not None else seconds[0])
        seconds = seconds - seconds[0]
    steps = np.diff(seconds)
    if (steps <= 0).any() or not np.allclose(steps, steps[0]):
        raise ValueError(f"{path}: time must increase in equal steps")
    step = float(steps[0])
    if "intensity_mm_h" in columns:
        values = pd.to_numeric(table[columns["intensity_mm_h"]], errors="coerce").to_numpy(float)
        field = "intensity_mm_h"
    elif "depth_mm" in columns:
        values = pd.to_numeric(table[columns["depth_mm"]], errors="coerce").to_numpy(float) / step * 3600.0
        field = "depth_mm"
    else:
        raise ValueError(f"{path}: the rain gauge series needs an 'intensity_mm_h' or a 'depth_mm' column")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{path}: {field} at row {int(np.flatnonzero(bad)[0]) + 1} is not a number")
    if (values < 0).any():
        row = int(np.flatnonzero(values < 0)[0])
        raise ValueError(f"{path}: {field} at row {row + 1} is negative ({table[columns[field]].iloc[row]})")
    if offset < 0:
        raise ValueError(f"{path}: the record starts before the session")
    return Hyetograph(tuple(values), step, float(offset), name)
