"""The readings store: every sensor reading of a project, in Parquet files partitioned by day.

Layout, beside the project (``twin.project.readings_dir``)::

    city.readings/
        readings/day=2019-01-01/<part>.parquet
        positions/day=2017-03-14/<part>.parquet      (moving sensors only)

A reading is (``sensor_id``, ``phenomenon_time``, ``result_time``, ``value``,
``quality``): phenomenon time is when the value was true in the world,
result time when it was produced or received (equal for imported logs).  Times
are UTC milliseconds.  ``quality`` is one byte: :data:`GOOD` (0),
:data:`UNCERTAIN` (1) or :data:`BAD` (2).

A position is (``sensor_id``, ``time``, ``x``, ``y``): where a moving sensor
was (lon/lat degrees for GPS loggers, as imported).

Each day's files are sorted by sensor then time.  An import writes one part per
day named after its source (``imp-<key>.parquet``), so importing the same file
again *replaces* its readings instead of doubling them.  The live recorder
writes small ``live-*`` parts and compacts them; a compaction writes the
merged file as ``*.compacting`` listing the parts it replaces, deletes them, then
renames — :meth:`ReadingStore.recover` finishes any compaction a crash
interrupted, so no reading is lost or doubled.

Queries read only the day folders that overlap the range (pyarrow); DuckDB is
available for ad-hoc SQL over the same files (:meth:`ReadingStore.sql`).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from twin import atomic
from twin.errors import SourceError

GOOD, UNCERTAIN, BAD = 0, 1, 2
QUALITY_NAMES = {"good": GOOD, "uncertain": UNCERTAIN, "suspect": UNCERTAIN, "bad": BAD}

DAY_MS = 86_400_000

READING_SCHEMA = pa.schema([
    ("sensor_id", pa.string()),
    ("phenomenon_time", pa.timestamp("ms", tz="UTC")),
    ("result_time", pa.timestamp("ms", tz="UTC")),
    ("value", pa.float64()),
    ("quality", pa.uint8()),
])
POSITION_SCHEMA = pa.schema([
    ("sensor_id", pa.string()),
    ("time", pa.timestamp("ms", tz="UTC")),
    ("x", pa.float64()),
    ("y", pa.float64()),
])


def readings_table(sensor_id, phenomenon_ms, value, quality=None, result_ms=None) -> pa.Table:
    """Build a readings table from arrays (times as int64 UTC milliseconds)."""
    phenomenon_ms = np.asarray(phenomenon_ms, dtype="int64")
    n = len(phenomenon_ms)
    if isinstance(sensor_id, str):
        sensor = pa.repeat(pa.scalar(sensor_id, pa.string()), n)
    else:
        sensor = pa.array(sensor_id, pa.string()) if not isinstance(sensor_id, pa.Array) else sensor_id.cast(pa.string())
    value = np.asarray(value, dtype="float64")
    quality = np.zeros(n, "uint8") if quality is None else np.asarray(quality, dtype="uint8")
    result_ms = phenomenon_ms if result_ms is None else np.asarray(result_ms, dtype="int64")
    ts = pa.timestamp("ms", tz="UTC")
    return pa.Table.from_arrays(
        [sensor, pa.array(phenomenon_ms).cast(ts), pa.array(result_ms).cast(ts),
         pa.array(value, pa.float64()), pa.array(quality, pa.uint8())], schema=READING_SCHEMA)


def positions_table(sensor_id, time_ms, x, y) -> pa.Table:
    time_ms = np.asarray(time_ms, dtype="int64")
    n = len(time_ms)
    sensor = pa.repeat(pa.scalar(sensor_id, pa.string()), n) if isinstance(sensor_id, str) \
        else pa.array(sensor_id, pa.string())
    return pa.Table.from_arrays(
        [sensor, pa.array(time_ms).cast(pa.timestamp("ms", tz="UTC")),
         pa.array(np.asarray(x, "float64")), pa.array(np.asarray(y, "float64"))], schema=POSITION_SCHEMA)


def _day_name(day_index: int) -> str:
    return "day=" + np.datetime_as_string(np.datetime64(int(day_index), "D"))


def _time_ms(value) -> int:
    from simulation.clock import to_seconds

    return int(round(to_seconds(value) * 1000))


class ReadingStore:
    """A project's readings and positions on disk; append, query, compact."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @classmethod
    def for_project(cls, project: Path | str) -> "ReadingStore":
        from twin.project import readings_dir

        return cls(readings_dir(project))

    # ------------------------------------------------------------ writing
    def append(self, table: pa.Table, *, part: str | None = None, kind: str = "readings",
               durable: bool = True, presorted: bool = False) -> list[Path]:
        """Write ``table`` as one part per day it covers; returns the files written.

        ``part`` names the files (re-writing a part of the same name replaces it);
        by default a fresh unique name is used.  Each file is written to a
        temporary name, flushed and renamed, so a crash never leaves half a file.
        """
        if table.num_rows == 0:
            return []
        schema = READING_SCHEMA if kind == "readings" else POSITION_SCHEMA
        time_col = "phenomenon_time" if kind == "readings" else "time"
        table = table.select(schema.names).cast(schema)
        ms = table.column(time_col).cast(pa.int64()).to_numpy()
        days = np.floor_divide(ms, DAY_MS)
        if not presorted:
            order = np.lexsort((ms, days))  # by day, then time; sensor sort happens per day below
            if not (np.diff(order) == 1).all():
                table = table.take(pa.array(order))
                days = days[order]
        bounds = np.flatnonzero(np.diff(days)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(days)]])
        name = part or f"part-{uuid.uuid4().hex[:12]}"
        written = []
        for s, e in zip(starts, ends):
            chunk = table.slice(int(s), int(e - s))
            if not presorted:  # the caller vouches for sensor-then-time order within each day
                chunk = chunk.sort_by([("sensor_id", "ascending"), (time_col, "ascending")])
            folder = self.root / kind / _day_name(int(days[s]))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.parquet"
            _write_atomic(chunk, path, durable)
            written.append(path)
        return written

    def append_positions(self, table: pa.Table, *, part: str | None = None, durable: bool = True) -> list[Path]:
        return self.append(table, part=part, kind="positions", durable=durable)

    # ------------------------------------------------------------ reading
    def days(self, kind: str = "readings") -> list[str]:
        """The days (``YYYY-MM-DD``) that hold data, sorted."""
        folder = self.root / kind
        if not folder.exists():
            return []
        return sorted(p.name[4:] for p in folder.iterdir() if p.name.startswith("day=") and any(p.glob("*.parquet")))

    def _files(self, kind: str, t0_ms: int | None, t1_ms: int | None) -> list[Path]:
        folder = self.root / kind
        if not folder.exists():
            return []
        d0 = None if t0_ms is None else t0_ms // DAY_MS
        d1 = None if t1_ms is None else t1_ms // DAY_MS
        files = []
        for day_dir in sorted(folder.iterdir()):
            if not day_dir.name.startswith("day="):
                continue
            d = np.datetime64(day_dir.name[4:], "D").astype("int64")
            if (d0 is not None and d < d0) or (d1 is not None and d > d1):
                continue
            files.extend(sorted(day_dir.glob("*.parquet")))
        return files

    def query(self, t0=None, t1=None, sensors=None, *, kind: str = "readings") -> pa.Table:
        """Readings with ``t0 <= phenomenon_time < t1`` (either bound optional), for ``sensors`` or all.

        Sorted by sensor then time.
        """
        schema = READING_SCHEMA if kind == "readings" else POSITION_SCHEMA
        time_col = "phenomenon_time" if kind == "readings" else "time"
        t0_ms = None if t0 is None else _time_ms(t0)
        t1_ms = None if t1 is None else _time_ms(t1)
        files = self._files(kind, t0_ms, None if t1_ms is None else t1_ms - 1)
        if not files:
            return schema.empty_table()
        tables = []
        sensor_set = None if sensors is None else pa.array(sorted({str(s) for s in sensors}), pa.string())
        for f in files:
            try:
                t = pq.read_table(f, schema=schema)
            except (OSError, pa.ArrowInvalid) as exc:
                raise SourceError(f"{f}: unreadable readings file ({exc})") from None
            mask = None
            if t0_ms is not None or t1_ms is not None:
                ms = t.column(time_col).cast(pa.int64())
                if t0_ms is not None:
                    mask = pc.greater_equal(ms, t0_ms)
                if t1_ms is not None:
                    m2 = pc.less(ms, t1_ms)
                    mask = m2 if mask is None else pc.and_(mask, m2)
            if sensor_set is not None:
                m3 = pc.is_in(t.column("sensor_id"), value_set=sensor_set)
                mask = m3 if mask is None else pc.and_(mask, m3)
            if mask is not None:
                t = t.filter(mask)
            tables.append(t)
        out = pa.concat_tables(tables)
        if len(tables) > 1:
            out = out.sort_by([("sensor_id", "ascending"), (time_col, "ascending")])
        return out

    def positions(self, t0=None, t1=None, sensors=None) -> pa.Table:
        return self.query(t0, t1, sensors, kind="positions")

    def sensor_ids(self) -> list[str]:
        out: set[str] = set()
        for f in self._files("readings", None, None):
            out.update(pq.read_table(f, columns=["sensor_id"]).column(0).unique().to_pylist())
        return sorted(out)

    def count(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._files("readings", None, None))

    def sql(self, query: str):
        """Run SQL with DuckDB over views ``readings`` and ``positions``; returns a DuckDB relation.

        Fetch results as Arrow (``.to_arrow_table()``) or select times as
        ``epoch_ms(phenomenon_time)``: DuckDB hands time-zone-aware timestamps
        to Python objects only with ``pytz`` installed, which the project does not need.
        """
        import duckdb

        con = duckdb.connect()
        for kind, schema in (("readings", READING_SCHEMA), ("positions", POSITION_SCHEMA)):
            if self._files(kind, None, None):
                glob = str(self.root / kind / "day=*" / "*.parquet").replace("'", "''")
                con.execute(f"CREATE VIEW {kind} AS SELECT * FROM read_parquet('{glob}', hive_partitioning=false)")
            else:
                cols = ", ".join(f"NULL::{_duck_type(f.type)} AS {f.name}" for f in schema)
                con.execute(f"CREATE VIEW {kind} AS SELECT {cols} WHERE false")
        return con.sql(query)

    def per_sensor(self) -> list[dict]:
        """What the store holds of each sensor, by id: readings, first and last time (UTC POSIX ms),
        uncertain and bad readings, and positions of a moving sensor."""
        rows = self.sql("select sensor_id, count(*) as n, epoch_ms(min(phenomenon_time)) as first, "
                        "epoch_ms(max(phenomenon_time)) as last, "
                        "sum(case when quality = 1 then 1 else 0 end) as uncertain, "
                        "sum(case when quality = 2 then 1 else 0 end) as bad "
                        "from readings group by sensor_id order by sensor_id").fetchall()
        moving = {r[0]: r[1] for r in self.sql("select sensor_id, count(*) from positions group by 1").fetchall()}
        return [{"sensor": sid, "readings": int(n), "first_ms": first, "last_ms": last, "uncertain": int(uncertain),
                 "bad": int(bad), "positions": int(moving.get(sid, 0))}
                for sid, n, first, last, uncertain, bad in rows]

    # --------------------------------------------------------- maintenance
    def compact(self, prefix: str = "live-", kind: str = "readings") -> int:
        """Merge each day's parts whose name starts with ``prefix`` into one file; returns files merged."""
        merged = 0
        folder = self.root / kind
        if not folder.exists():
            return 0
        time_col = "phenomenon_time" if kind == "readings" else "time"
        schema = READING_SCHEMA if kind == "readings" else POSITION_SCHEMA
        for day_dir in sorted(folder.glob("day=*")):
            parts = sorted(day_dir.glob(f"{prefix}*.parquet"))
            if len(parts) < 2:
                continue
            table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
            table = table.sort_by([("sensor_id", "ascending"), (time_col, "ascending")])
            final = day_dir / f"{prefix}c{uuid.uuid4().hex[:12]}.parquet"
            pending = final.with_suffix(".compacting")
            meta = {b"lifeline_replaces": json.dumps([p.name for p in parts]).encode()}
            _write_atomic(table.replace_schema_metadata(meta), pending)
            for p in parts:
                p.unlink()
            os.replace(pending, final)
            merged += len(parts)
        return merged

    def recover(self) -> int:
        """Finish compactions a crash interrupted; returns how many were finished."""
        done = 0
        for pending in self.root.glob("*/day=*/*.compacting"):
            try:
                meta = pq.read_schema(pending).metadata or {}
            except (OSError, pa.ArrowInvalid):
                pending.unlink()  # written to a temp name first, so an unreadable one never replaced anything
                continue
            for name in json.loads(meta.get(b"lifeline_replaces", b"[]")):
                (pending.parent / name).unlink(missing_ok=True)
            os.replace(pending, pending.with_suffix(".parquet"))
            done += 1
        for tmp in self.root.glob("*/day=*/.*.tmp"):
            tmp.unlink()
        return done


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "VARCHAR"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_uint8(t):
        return "UTINYINT"
    return "DOUBLE"


def _write_atomic(table: pa.Table, path: Path, durable: bool = True) -> None:
    # durable: the recorder's loss bound relies on it; a re-runnable import may skip it
    with atomic.replacing(path, durable) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=1, use_dictionary=["sensor_id"])
