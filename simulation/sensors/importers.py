"""Importers of recorded sensor data into the readings store.

Formats:

* ``battledim`` — BattLeDIM SCADA CSV (``2019_Flows.csv``, ``2019_Levels.csv``):
  ``Timestamp;p227;p235`` with ``;`` separators and ``,`` decimal marks, one
  column per sensor; timestamps are taken as UTC.
* ``picarro`` — Picarro CRDS survey logs (``*.dat``, whitespace columns): CH4 in
  ppm as sensor ``<instrument>:CH4`` (a moving sensor: its GPS positions go to the
  store's ``positions`` table; rows without a GPS fix keep their reading).
  Times come from ``EPOCH_TIME`` (UTC).
* ``bwdf`` — Battle of the Water Demand Forecasting ``InflowData.xlsx``: hourly net
  DMA inflow in L/s, local Italian time (CET/CEST); converted to UTC (the
  repeated autumn hour is resolved in file order) and to m³/h.
* ``csv`` / ``parquet`` — any table, with a :class:`ColumnMapping`: long format
  (a sensor column) or wide (one column per sensor), a unit conversion.

What every importer reports (never silently): rows read, readings stored, per
sensor the first/last time, **gaps** (spacing above 1.5 × the sampling period:
count, missing time and the ranges), **duplicates** (same sensor and time: the
later line in the file wins, the others are dropped; count and time range),
**out-of-order** timestamps (count and range; readings are stored sorted), and
empty, non-numeric or infinite values (dropped, counted; they show up as gaps).

Timestamps with a UTC offset (``2024-05-01 10:00:00+02:00``) are converted to
UTC whatever the offsets are; text without one is in the mapping's time zone; a
column mixing both is refused, naming a line of each.  Sensor ids are strings:
surrounding spaces are removed and whole numbers (``12``, ``12.0`` in a Parquet
column) become ``"12"``, so one sensor never gets two ids; an empty id, a
fraction or a boolean is refused with its line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from simulation.clock import iso
from simulation.sensors.store import GOOD, ReadingStore, DAY_MS, positions_table
from twin.errors import SourceError

KINDS = ("battledim", "picarro", "bwdf", "csv", "parquet")

#: Unit conversions: (from, to) -> factor applied to the value.
UNIT_FACTORS = {
    ("l/s", "m3/h"): 3.6, ("m3/s", "m3/h"): 3600.0, ("m3/h", "l/s"): 1 / 3.6, ("m3/h", "m3/s"): 1 / 3600.0,
    ("l/s", "m3/s"): 1e-3, ("m3/s", "l/s"): 1e3, ("gpm", "m3/h"): 0.2271247, ("mgd", "m3/h"): 157.725491,
    ("kpa", "m"): 1 / 9.80665, ("mpa", "m"): 1000 / 9.80665, ("bar", "m"): 10.19716, ("psi", "m"): 0.7030696,
    ("m", "kpa"): 9.80665, ("ft", "m"): 0.3048, ("mm", "m"): 1e-3, ("cm", "m"): 1e-2,
    # methane: LEL is 5 % by volume = 50,000 ppm, so 1 %LEL = 500 ppm
    ("ppm", "%lel"): 1 / 500.0, ("%vol", "%lel"): 20.0, ("%lel", "ppm"): 500.0,
}



def _dst_reason(exc: Exception) -> str:
    """Why local times could not be placed, in the same words whatever pandas' version says: a time the
    clocks skipped (spring) is nonexistent; a repeated autumn hour that cannot be told apart is ambiguous."""
    import re

    text = str(exc)
    when = re.search(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?", text)
    if "NonExistent" in type(exc).__name__ and when:
        return f"{when.group(0).replace('T', ' ')} is a nonexistent time: the clocks skipped it"
    return text

def unit_factor(from_unit: str, to_unit: str) -> float:
    a, b = _unit_key(from_unit), _unit_key(to_unit)
    if a == b:
        return 1.0
    try:
        return UNIT_FACTORS[(a, b)]
    except KeyError:
        known = ", ".join(f"{x}->{y}" for x, y in UNIT_FACTORS)
        raise ValueError(f"no conversion from {from_unit!r} to {to_unit!r} (known: {known})") from None


def _unit_key(unit: str) -> str:
    return str(unit).strip().lower().replace("³", "3").replace(" ", "").replace("lps", "l/s").replace("cmh", "m3/h")


@dataclass
class SeriesReport:
    """What was found in one sensor's readings."""

    sensor_id: str
    rows: int = 0
    stored: int = 0
    first: str | None = None
    last: str | None = None
    period_s: float | None = None
    empty_values: int = 0
    gaps: int = 0
    gap_seconds: float = 0.0
    gap_ranges: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    duplicate_range: tuple[str, str] | None = None
    out_of_order: int = 0
    out_of_order_range: tuple[str, str] | None = None

    def lines(self) -> list[str]:
        out = [f"{self.sensor_id}: {self.stored:,} readings {self.first} .. {self.last}"
               + (f" every {self.period_s:g} s" if self.period_s else "")]
        if self.empty_values:
            out.append(f"  {self.empty_values:,} empty or non-numeric values dropped")
        if self.gaps:
            shown = ", ".join(f"{a}..{b}" for a, b in self.gap_ranges[:3])
            more = f" (+{self.gaps - 3} more)" if self.gaps > 3 else ""
            out.append(f"  {self.gaps:,} gaps, {self.gap_seconds / 3600:.1f} h missing (no data between): "
                       f"{shown}{more}")
        if self.duplicates:
            out.append(f"  {self.duplicates:,} duplicate timestamps dropped (later line kept) "
                       f"{self.duplicate_range[0]}..{self.duplicate_range[1]}")
        if self.out_of_order:
            out.append(f"  {self.out_of_order:,} out-of-order timestamps, sorted "
                       f"{self.out_of_order_range[0]}..{self.out_of_order_range[1]}")
        return out


@dataclass
class ReadingImport:
    """Report of one import: per-sensor findings, totals and notes."""

    source: str
    kind: str
    rows: int = 0
    series: list[SeriesReport] = field(default_factory=list)
    positions: int = 0
    notes: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.series)

    @property
    def gaps(self) -> int:
        return sum(s.gaps for s in self.series)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.series)

    @property
    def out_of_order(self) -> int:
        return sum(s.out_of_order for s in self.series)

    def sensor(self, sensor_id: str) -> SeriesReport:
        for s in self.series:
            if s.sensor_id == sensor_id:
                return s
        raise KeyError(f"{self.source}: no sensor {sensor_id!r} in this import")

    def text(self) -> str:
        head = (f"{self.source} ({self.kind}): {self.rows:,} rows, {self.stored:,} readings of "
                f"{len(self.series)} sensor(s) stored in {self.files} day file(s)"
                + (f", {self.positions:,} positions" if self.positions else ""))
        body = [line for s in self.series for line in s.lines()]
        return "\n".join([head, *body, *self.notes])

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self) | {"stored": self.stored}


@dataclass
class Series:
    """One sensor's cleaned readings: sorted, unique times (UTC ms) and values."""

    sensor_id: str
    t_ms: np.ndarray
    values: np.ndarray
    quality: np.ndarray | None = None


def clean_series(sensor_id: str, t_ms, values, period_s: float | None = None,
                 quality=None) -> tuple[Series, SeriesReport]:
    """Sort, de-duplicate and drop empty values of one sensor's readings; report what was done."""
    t = np.asarray(t_ms, dtype="int64")
    v = np.asarray(values, dtype="float64")
    q = None if quality is None else np.asarray(quality, dtype="uint8")
    rep = SeriesReport(sensor_id, rows=len(t))
    valid = np.isfinite(v)  # NaN is no number, and an infinite reading is no measurement
    rep.empty_values = int((~valid).sum())
    step = np.diff(t)
    back = np.flatnonzero(step < 0) + 1
    if len(back):
        rep.out_of_order = len(back)
        rep.out_of_order_range = (iso(t[back].min() / 1000), iso(t[back].max() / 1000))
        order = np.argsort(t, kind="stable")
        t, v, valid = t[order], v[order], valid[order]
        q = None if q is None else q[order]
    # duplicates among the timestamps (the later line, i.e. the last after a stable sort, wins)
    same = np.flatnonzero(t[1:] == t[:-1])
    if len(same):
        keep = np.ones(len(t), bool)
        keep[same] = False
        rep.duplicates = len(same)
        rep.duplicate_range = (iso(t[same].min() / 1000), iso(t[same].max() / 1000))
        t, v, valid = t[keep], v[keep], valid[keep]
        q = None if q is None else q[keep]
    if period_s is None and len(t) > 2:
        period_s = float(np.median(np.diff(t))) / 1000.0
    rep.period_s = period_s
    t, v = t[valid], v[valid]
    q = None if q is None else q[valid]
    if len(t):
        rep.first, rep.last = iso(t[0] / 1000), iso(t[-1] / 1000)
    if period_s and len(t) > 1:
        d = np.diff(t)
        big = np.flatnonzero(d > 1.5 * period_s * 1000)
        rep.gaps = len(big)
        rep.gap_seconds = float((d[big] - period_s * 1000).sum() / 1000)
        longest = big[np.argsort(-d[big], kind="stable")][:10] if len(big) > 10 else big
        # each gap as (last reading before it, first reading after it); the ten longest, in time order
        stamp = iso if period_s >= 1 else iso_ms
        rep.gap_ranges = [(stamp(t[i] / 1000), stamp(t[i + 1] / 1000)) for i in sorted(longest)]
    rep.stored = len(t)
    return Series(sensor_id, t, v, q), rep


def iso_ms(seconds: float) -> str:
    """ISO 8601 UTC to the millisecond, for sub-second loggers."""
    from simulation.clock import to_datetime

    return to_datetime(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_series(store: ReadingStore, series: list[Series], part: str) -> int:
    """Write cleaned series as one file per day, sorted by sensor then time without a global sort.

    Returns the number of day files written.  Days that an earlier import of the
    same ``part`` wrote but this one does not cover are removed, so re-importing
    a corrected file replaces the old readings entirely.
    """
    series = sorted((s for s in series if len(s.t_ms)), key=lambda s: s.sensor_id)
    old = set((store.root / "readings").glob(f"day=*/{part}.parquet"))
    if not series:
        for p in old:
            p.unlink()
        return 0
    day0 = min(int(s.t_ms[0] // DAY_MS) for s in series)
    day1 = max(int(s.t_ms[-1] // DAY_MS) for s in series)
    edges = np.arange(day0, day1 + 2, dtype="int64") * DAY_MS
    cuts = [np.searchsorted(s.t_ms, edges) for s in series]
    names = pa.array([s.sensor_id for s in series], pa.string())
    # Parquet encoding and compression release the GIL: days are written in parallel while the
    # next ones are cut
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
    futures = []
    for k in range(day1 - day0 + 1):
        idx, ts, vs, qs = [], [], [], []
        for j, (s, c) in enumerate(zip(series, cuts)):
            a, b = c[k], c[k + 1]
            if b > a:
                idx.append(np.full(b - a, j, "int32"))
                ts.append(s.t_ms[a:b])
                vs.append(s.values[a:b])
                qs.append(np.zeros(b - a, "uint8") if s.quality is None else s.quality[a:b])
        if not ts:
            continue
        t = np.concatenate(ts)
        sensor = pa.DictionaryArray.from_arrays(pa.array(np.concatenate(idx)), names).cast(pa.string())
        tt = pa.array(t).cast(pa.timestamp("ms", tz="UTC"))
        table = pa.Table.from_arrays([sensor, tt, tt, pa.array(np.concatenate(vs)), pa.array(np.concatenate(qs))],
                                     names=["sensor_id", "phenomenon_time", "result_time", "value", "quality"])
        futures.append(pool.submit(store.append, table, part=part, durable=False, presorted=True))
    try:
        paths = [p for f in futures for p in f.result()]
    finally:
        pool.shutdown()
    for p in paths:
        old.discard(p)
    for p in old:
        p.unlink()
    return len(paths)


def _utc_ms(series) -> np.ndarray:
    """A tz-aware pandas datetime Series as int64 UTC milliseconds."""
    return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ms]").astype("int64")


def _numbers(series, decimal: str = ".") -> np.ndarray:
    """Values as float64; text that is not a number becomes NaN (counted as empty by the report)."""
    import pandas as pd

    if series.dtype.kind in "fiu":
        return series.to_numpy("float64")
    text = series.astype("string")
    if decimal != ".":
        text = text.str.replace(".", "", regex=False).str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy("float64", na_value=np.nan)


def _part_name(path: Path, kind: str) -> str:
    return "imp-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{kind}-{path.name}")


def _check_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder, expected a file")
    return path


# --------------------------------------------------------------------------- wide CSV
def _read_wide_csv(path: Path, *, sep: str, decimal: str, time_col: str | None) -> tuple[np.ndarray, dict, int]:
    """Read a one-column-per-sensor CSV quickly (pyarrow); times as UTC ms, values float64."""
    import pyarrow.csv as pacsv

    head = _header(path, sep)
    time_col = time_col or head[0]
    if time_col not in head:
        raise SourceError(f"{path}: no time column {time_col!r} (columns: {', '.join(head)})")
    value_cols = [c for c in head if c != time_col]
    if not value_cols:
        raise SourceError(f"{path}: no sensor columns besides {time_col!r}")
    types = {c: pa.float64() for c in value_cols}
    types[time_col] = pa.string()
    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=sep),
                               convert_options=pacsv.ConvertOptions(column_types=types, decimal_point=decimal,
                                                                    strings_can_be_null=True))
    except pa.ArrowInvalid as exc:
        raise SourceError(f"{path}: {_arrow_message(exc)}") from None
    t_ms = _parse_times(table.column(time_col), path, time_col)
    values = {c: table.column(c).to_numpy(zero_copy_only=False).astype("float64", copy=False) for c in value_cols}
    return t_ms, values, table.num_rows


def _header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = fh.readline().rstrip("\r\n")
    if not line:
        raise SourceError(f"{path}: empty file")
    return [c.strip().strip("\"") for c in line.split(sep)]


def _arrow_message(exc: Exception) -> str:
    text = str(exc).splitlines()[0]
    m = re.search(r"In CSV column #(\d+): Row #(\d+): (.*)", str(exc))
    if m:
        return f"line {int(m.group(2))}, column {int(m.group(1)) + 1}: {m.group(3)}"
    return text


def _parse_times(column: pa.ChunkedArray, path: Path, name: str) -> np.ndarray:
    """Timestamps (ISO-like text) as UTC ms; a bad one is reported with its line number."""
    try:
        ts = pc.strptime(column, format="%Y-%m-%d %H:%M:%S", unit="ms", error_is_null=True)
    except pa.ArrowInvalid:
        ts = None
    if ts is None or ts.null_count > column.null_count:
        try:
            import pandas as pd

            parsed = pd.to_datetime(column.to_pandas(), utc=True, format="mixed", errors="coerce")
        except (ValueError, TypeError) as exc:
            raise SourceError(f"{path}: column {name!r}: unreadable timestamps ({exc})") from None
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SourceError(f"{path}: line {row + 2}, column {name!r}: not a timestamp: "
                              f"{column[row].as_py()!r}")
        return _utc_ms(parsed)
    return ts.cast(pa.int64()).to_numpy(zero_copy_only=False)


def import_battledim(path, store: ReadingStore, *, prefix: str = "", period_s: float | None = 300.0,
                     factor: float = 1.0) -> ReadingImport:
    """BattLeDIM SCADA CSV: one column per sensor, ``;`` separated, ``,`` decimal, timestamps UTC."""
    path = _check_file(path)
    t_ms, columns, rows = _read_wide_csv(path, sep=";", decimal=",", time_col=None)
    return _store_wide(path, "battledim", store, t_ms, columns, rows, prefix=prefix, period_s=period_s, factor=factor)


def _store_wide(path, kind, store, t_ms, columns, rows, *, prefix, period_s, factor,
                notes=()) -> ReadingImport:
    report = ReadingImport(str(path), kind, rows=rows, notes=list(notes))
    series = []
    for name, values in columns.items():
        s, rep = clean_series(prefix + name, t_ms, values * factor if factor != 1.0 else values, period_s)
        series.append(s)
        report.series.append(rep)
    report.files = write_series(store, series, _part_name(Path(path), kind))
    return report


# --------------------------------------------------------------------------- Picarro
def import_picarro(path, store: ReadingStore, *, channels=("CH4",), sensor: str | None = None) -> ReadingImport:
    """A Picarro survey log: one moving sensor per channel, positions from GPS_ABS_LAT/LONG."""
    import pandas as pd

    path = _check_file(path)
    try:
        frame = pd.read_csv(path, sep=r"\s+", engine="c", on_bad_lines="error")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{path}: not a Picarro whitespace log ({str(exc).splitlines()[0]})") from None
    for col in ("EPOCH_TIME", *channels):
        if col not in frame.columns:
            raise SourceError(f"{path}: Picarro log has no column {col!r} "
                              f"(columns: {', '.join(frame.columns[:12])}, ...)")
    instrument = sensor or path.name.split("-")[0]
    epoch = pd.to_numeric(frame["EPOCH_TIME"], errors="coerce").to_numpy("float64")
    bad_time = np.isnan(epoch)
    report = ReadingImport(str(path), "picarro", rows=len(frame))
    if bad_time.any():
        report.notes.append(f"{int(bad_time.sum())} line(s) without a readable EPOCH_TIME dropped "
                            f"(first: line {int(np.flatnonzero(bad_time)[0]) + 2})")
    t_ms = np.round(epoch[~bad_time] * 1000).astype("int64")
    series = []
    for ch in channels:
        vals = pd.to_numeric(frame[ch], errors="coerce").to_numpy("float64")[~bad_time]
        s, rep = clean_series(f"{instrument}:{ch}", t_ms, vals, period_s=None)
        series.append(s)
        report.series.append(rep)
    report.files = write_series(store, series, _part_name(path, "picarro"))
    if "GPS_ABS_LAT" in frame.columns and "GPS_ABS_LONG" in frame.columns:
        lat = pd.to_numeric(frame["GPS_ABS_LAT"], errors="coerce").to_numpy("float64")[~bad_time]
        lon = pd.to_numeric(frame["GPS_ABS_LONG"], errors="coerce").to_numpy("float64")[~bad_time]
        fix = ~np.isnan(lat) & ~np.isnan(lon) & ~((lat == 0) & (lon == 0)) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if (~fix).any():
            report.notes.append(f"{int((~fix).sum())} reading(s) without a GPS fix: no position stored for them")
        order = np.argsort(t_ms[fix], kind="stable")
        tf = t_ms[fix][order]
        keep = np.concatenate([[True], tf[1:] != tf[:-1]]) if len(tf) else np.zeros(0, bool)
        old = set((store.root / "positions").glob(f"day=*/{_part_name(path, 'picarro')}.parquet"))
        for ch in channels:
            table = positions_table(f"{instrument}:{ch}", tf[keep], lon[fix][order][keep], lat[fix][order][keep])
            for p in store.append_positions(table, part=_part_name(path, "picarro") + ("" if ch == channels[0] else f"-{ch}"),
                                            durable=False):
                old.discard(p)
        for p in old:
            p.unlink()
        report.positions = int(keep.sum())
    else:
        report.notes.append("no GPS_ABS_LAT/GPS_ABS_LONG columns: positions not stored")
    return report


# --------------------------------------------------------------------------- BWDF
def import_bwdf(path, store: ReadingStore, *, unit: str = "m3/h", timezone: str = "Europe/Rome",
                prefix: str = "") -> ReadingImport:
    """BWDF ``InflowData.xlsx``: hourly DMA inflows in L/s, local time -> UTC, stored in ``unit``."""
    import pandas as pd

    path = _check_file(path)
    try:
        frame = pd.read_excel(path, sheet_name=0, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many kinds (zipfile.BadZipFile, KeyError, InvalidFileException)
        raise SourceError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    if frame.shape[1] < 2:
        raise SourceError(f"{path}: expected a date-time column and DMA columns, found {list(frame.columns)}")
    time_col = frame.columns[0]
    raw = frame[time_col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        local = raw
    else:  # text, or a mix of text and cells Excel stored as dates
        local = pd.Series([v if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "year") else
                           pd.to_datetime(v, format="%d/%m/%Y %H:%M", errors="coerce") for v in raw],
                          index=raw.index, dtype="datetime64[ns]")
    if local.isna().any():
        row = int(np.flatnonzero(local.isna().to_numpy())[0])
        raise SourceError(f"{path}: row {row + 2}, column {time_col!r}: not a DD/MM/YYYY HH:mm time: {raw.iloc[row]!r}")
    notes = []
    try:
        utc = local.dt.tz_localize(timezone, ambiguous="infer", nonexistent="raise").dt.tz_convert("UTC")
        repeated = int(local.duplicated(keep=False).sum() // 2)
        if repeated:
            notes.append(f"times converted from {timezone} local time to UTC; {repeated} repeated autumn "
                         "hour(s) resolved in file order (first = summer time)")
    except Exception as exc:  # pytz AmbiguousTimeError / NonExistentTimeError
        raise SourceError(f"{path}: column {time_col!r}: local times cannot be placed in {timezone} "
                          f"({_dst_reason(exc)})") from None
    t_ms = _utc_ms(utc)
    columns = {}
    factor = None
    for col in frame.columns[1:]:
        m = re.match(r"\s*(.*?)\s*\(([^)]*)\)\s*$", str(col))
        name, src_unit = (m.group(1), m.group(2)) if m else (str(col).strip(), "L/s")
        factor = unit_factor(src_unit, unit)
        columns[re.sub(r"\s+", "_", name)] = pd.to_numeric(frame[col], errors="coerce").to_numpy("float64") * factor
    notes.append(f"values converted to {unit}")
    return _store_wide(path, "bwdf", store, t_ms, columns, len(frame), prefix=prefix, period_s=3600.0,
                       factor=1.0, notes=notes)


# --------------------------------------------------------------------------- generic
@dataclass
class ColumnMapping:
    """How a generic table maps to readings.

    Long format: ``sensor`` names the sensor-id column and ``value`` the value
    column.  Wide format: leave ``sensor`` empty; ``values`` lists the sensor
    columns (default: every column but time).  ``unit_from``/``unit_to`` convert
    (see :data:`UNIT_FACTORS`) or ``factor`` scales directly.
    """

    time: str = "time"
    sensor: str | None = None
    value: str = "value"
    values: list[str] | None = None
    quality: str | None = None
    unit_from: str | None = None
    unit_to: str | None = None
    factor: float = 1.0
    sep: str = ","
    decimal: str = "."
    timezone: str = "UTC"
    period_s: float | None = None
    prefix: str = ""


def import_table(path, store: ReadingStore, mapping: ColumnMapping | None = None, *,
                 kind: str | None = None) -> ReadingImport:
    """A generic CSV or Parquet table mapped to readings by ``mapping``."""
    import pandas as pd

    path = _check_file(path)
    m = mapping or ColumnMapping()
    kind = kind or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            frame = pq.read_table(path).to_pandas()
        else:
            frame = pd.read_csv(path, sep=m.sep, decimal=m.decimal, dtype={m.sensor: str} if m.sensor else None)
    except (pa.ArrowInvalid, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: unreadable {kind} ({str(exc).splitlines()[0]})") from None
    for col in [m.time, *( [m.sensor, m.value] if m.sensor else (m.values or []) ), *([m.quality] if m.quality else [])]:
        if col not in frame.columns:
            raise SourceError(f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})")
    if bool(m.unit_from) != bool(m.unit_to):  # one alone used to be ignored: values stored unconverted
        given = f"--unit-from {m.unit_from}" if m.unit_from else f"--unit-to {m.unit_to}"
        raise ValueError(f"unit conversion needs both --unit-from and --unit-to, got only {given}")
    if m.period_s is not None and m.period_s <= 0:
        raise ValueError(f"sampling period must be > 0 s, not {m.period_s:g}")
    factor = m.factor * (unit_factor(m.unit_from, m.unit_to) if m.unit_from and m.unit_to else 1.0)
    raw_times = frame[m.time]
    offset = None
    if raw_times.dtype == object or pd.api.types.is_string_dtype(raw_times):
        text = raw_times.astype("string").str.strip()
        offset = text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(bool)
        if offset.any() and not offset.all():
            a, b = int(np.flatnonzero(offset)[0]), int(np.flatnonzero(~offset)[0])
            raise SourceError(f"{path}: column {m.time!r}: timestamps with a UTC offset (line {a + 2}: "
                              f"{raw_times.iloc[a]!r}) and without one (line {b + 2}: {raw_times.iloc[b]!r}): "
                              "give every timestamp an offset or none")
        # with offsets: each converted to UTC by its own offset (several offsets in one file, e.g.
        # across a change to summer time, used to fail as "Mixed timezones detected")
        times = pd.to_datetime(raw_times, errors="coerce", format="mixed", utc=bool(offset.any()))
    else:
        times = pd.to_datetime(raw_times, errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise SourceError(f"{path}: line {row + 2}, column {m.time!r}: not a timestamp: {frame[m.time].iloc[row]!r}")
    if offset is not None and offset.any() and m.timezone not in ("UTC", "utc", None):
        note_tz = (f"timestamps carry UTC offsets: converted by their own offsets, time zone {m.timezone} "
                   "not applied")
    else:
        note_tz = None
    if times.dt.tz is None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(m.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {m.timezone!r} (an IANA name such as UTC or Europe/Rome)") from None
        try:
            times = times.dt.tz_localize(m.timezone, ambiguous="infer")
        except Exception as exc:  # pytz AmbiguousTimeError / NonExistentTimeError at a DST change
            raise SourceError(f"{path}: column {m.time!r}: local times cannot be placed in {m.timezone} "
                              f"({_dst_reason(exc)})") from None
    t_ms = _utc_ms(times)
    report = ReadingImport(str(path), kind, rows=len(frame))
    if note_tz:
        report.notes.append(note_tz)
    series = []
    if m.sensor:
        ids = sensor_ids(frame[m.sensor], path, m.sensor)
        vals = _numbers(frame[m.value], m.decimal) * factor
        qual = None
        if m.quality:
            qual = _quality_codes(frame[m.quality], path, m.quality)
        for sid in sorted(set(ids)):
            sel = ids == sid
            s, rep = clean_series(m.prefix + sid, t_ms[sel], vals[sel], m.period_s,
                                  None if qual is None else qual[sel])
            series.append(s)
            report.series.append(rep)
    else:
        cols = m.values or [c for c in frame.columns if c != m.time]
        for col in cols:
            vals = _numbers(frame[col], m.decimal) * factor
            s, rep = clean_series(m.prefix + str(col).strip(), t_ms, vals, m.period_s)
            series.append(s)
            report.series.append(rep)
    if factor != 1.0:
        report.notes.append(f"values multiplied by {factor:g}"
                            + (f" ({m.unit_from} -> {m.unit_to})" if m.unit_from else ""))
    report.files = write_series(store, series, _part_name(path, kind))
    return report


_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


def sensor_ids(column, path, name) -> np.ndarray:
    """A sensor-id column as stripped strings, whole numbers as ``"12"`` (see the module docstring);
    an empty, fractional or boolean id is one error naming the line."""
    import pandas as pd

    from simulation.sensors.live import PayloadError, sensor_key

    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise SourceError(f"{path}: line {row + 2}, column {name!r}: empty sensor id")
    keys = []
    for k, value in enumerate(uniques):
        value = value.item() if isinstance(value, np.generic) else value
        try:
            keys.append(sensor_key(value))
        except PayloadError:
            row = int(np.flatnonzero(codes == k)[0])
            raise SourceError(f"{path}: line {row + 2}, column {name!r}: sensor id {value!r} is not a name "
                              "or a whole number") from None
    return np.asarray(keys, dtype=object)[codes] if len(keys) else np.zeros(0, dtype=object)


def _quality_codes(column, path, name) -> np.ndarray:
    from simulation.sensors.store import QUALITY_NAMES

    out = np.zeros(len(column), "uint8")
    for i, v in enumerate(column.to_numpy()):
        if isinstance(v, str):
            code = QUALITY_NAMES.get(v.strip().lower())
        elif v is None or v != v:
            code = GOOD
        else:
            code = int(v) if v in (0, 1, 2) else None  # 1.7 is no quality code (int() made it 1)
        if code is None:
            v = v.item() if isinstance(v, np.generic) else v  # the file's value, not numpy's repr
            raise SourceError(f"{path}: line {i + 2}, column {name!r}: quality must be good/uncertain/bad "
                              f"or 0/1/2, found {v!r}")
        out[i] = code
    return out


def import_readings(kind: str, path, store: ReadingStore, **options) -> ReadingImport:
    """Dispatch on ``kind`` (one of :data:`KINDS`)."""
    if kind == "battledim":
        return import_battledim(path, store, **options)
    if kind == "picarro":
        return import_picarro(path, store, **options)
    if kind == "bwdf":
        return import_bwdf(path, store, **options)
    if kind in ("csv", "parquet"):
        return import_table(path, store, options.pop("mapping", None), kind=kind)
    raise ValueError(f"unknown import kind {kind!r} (known: {', '.join(KINDS)})")
