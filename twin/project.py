"""The project file: one GeoPackage holds the whole twin.

Layout of ``city.gpkg``:

* one vector table per non-empty layer, named as the layer (``water_pipes``...);
* the DEM as a GeoPackage raster table ``terrain`` (float32 gridded coverage,
  TIFF tiles, lossless; NaN where unknown) — one file to copy, mail or archive,
  and QGIS opens it directly;
* ``lifeline_network``: the water network (one row): its EPANET .inp text exactly
  as imported, the project's edits to it (JSON list) and the layout of the map
  (JSON: node coordinates and link vertices in the twin's CRS, when the text's
  are in another);
* ``lifeline_metadata``: key/JSON value pairs — name, CRS (WKT2), units,
  format version, the version of Lifeline Twin that wrote it, and the project
  settings (risk bands, import reports).

Saving writes a temporary file beside the target, flushes it to disk and renames
it over the target, so a crash mid-save leaves the previous project intact.
Recordings of sensors live beside the project, in ``<project>.readings/``.

A save keeps what it does not understand, or refuses:

* tables other programs added are copied from the previous file into the new
  one before the rename, with their SQL, rows (and rowids), indexes, triggers
  and GeoPackage registrations: plain SQLite tables and views, attribute
  tables registered in ``gpkg_contents`` (QGIS's ``layer_styles``...), and the
  ``gpkg_metadata`` / ``gpkg_metadata_reference`` rows that are not GDAL's own
  for a twin table.  Another program's map layers (feature or tile tables,
  with their spatial indexes) and virtual tables are not copied: the save is
  refused, naming them (:func:`foreign_tables` lists them all);
* the file's permission bits are kept, and a project reached through a
  symbolic link is written at the link's target (the link stays a link);
* one save of a project at a time: a save holds an exclusive ``flock`` on
  ``<project>.lock`` beside the file (removed afterwards), and a second save
  meanwhile is refused naming the process that holds it.  :func:`load` records
  the file's stamp (device, inode, size, mtime) in ``twin.file_stamp``; saving
  that twin after the file changed on disk (another program or window saved it
  in between) is refused, so two writers of one project cannot both succeed.
  A twin built in memory has no stamp and saves as before;
* temporary files of a killed save (``.<stem>.<pid>.tmp.gpkg`` and its SQLite
  journals) whose process is gone are removed by the next save;
* a file name that is not valid UTF-8 (SQLite URIs, GDAL and pyogrio need
  UTF-8) is opened through a symbolic link with a UTF-8 name in a private
  temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on POSIX: saves are not locked
    fcntl = None

import numpy as np
import pyogrio
import rasterio
from pyproj import CRS
from pyproj.exceptions import CRSError

from twin import atomic, epanet, schema
from twin.errors import LayerError, ProjectError, SourceError
from twin.model import FORMAT_VERSION, Twin
from twin.network import Edit, Network
from twin.terrain import Terrain

META_TABLE = "lifeline_metadata"
NETWORK_TABLE = "lifeline_network"
TERRAIN_TABLE = "terrain"
#: The tables a save writes afresh.
OUR_TABLES = frozenset(schema.SCHEMAS) | {TERRAIN_TABLE, META_TABLE, NETWORK_TABLE}
#: GeoPackage and SQLite bookkeeping that GDAL writes afresh for the twin's tables.
_SYSTEM_TABLES = frozenset({
    "gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_ogr_contents", "gpkg_geometry_columns",
    "gpkg_tile_matrix_set", "gpkg_tile_matrix", "gpkg_extensions", "gpkg_2d_gridded_coverage_ancillary",
    "gpkg_2d_gridded_tile_ancillary"})
_METADATA_TABLES = ("gpkg_metadata", "gpkg_metadata_reference")
_GDAL_METADATA_URI = "http://gdal.org"


def _app_version() -> str:
    try:
        return version("lifeline-twin")
    except PackageNotFoundError:
        return "unknown"


def readings_dir(project: Path | str) -> Path:
    """Where a project's sensor recordings live: beside the GeoPackage."""
    project = Path(project)
    return project.with_name(project.stem + ".readings")


# ---------------------------------------------------------------- file names
def _is_utf8(path: Path | str) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode of a name that is not UTF-8: surrogate escapes
        return False
    return True


@contextmanager
def _utf8_name(path: Path | str) -> Iterator[Path]:
    """``path``, or a symbolic link to it with a UTF-8 name when its own name is not UTF-8.

    The link lives in a private temporary folder removed afterwards; it may
    point to a file not made yet (SQLite and GDAL create it through the link).
    """
    path = Path(path)
    if _is_utf8(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="lifeline-name-")
    try:
        link = Path(folder) / ("project" + (path.suffix if _is_utf8(path.suffix) else ".gpkg"))
        os.symlink(os.path.abspath(path), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _uri(path: Path | str, mode: str = "ro") -> str:
    """An SQLite URI for ``path`` (``?``, ``#`` and ``%`` in the name quoted)."""
    return f"file:{urllib.parse.quote(os.path.abspath(path))}?mode={mode}"


def _connect_ro(path: Path | str) -> sqlite3.Connection:
    return sqlite3.connect(_uri(path), uri=True)


def _stamp(path: Path | str) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime in ns) of the file at ``path``, None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _target(path: Path) -> Path:
    """Where a save of ``path`` writes: the file itself, or the final target of a symbolic link."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


# ---------------------------------------------------------------- saving
def save(twin: Twin, path: Path | str) -> Path:
    """Write ``twin`` to ``path`` atomically, keeping other programs' tables; return the path.

    Raises ProjectError, writing nothing, when the previous file holds another
    program's feature or tile tables, when another save of the project is in
    progress, or when ``twin`` was loaded from ``path`` and the file changed on
    disk since.
    """
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise ProjectError(f"{path}: a project file must end in .gpkg")
    check_writable(path)
    target = _target(path)
    if target != path:
        check_writable(target)
    with _save_lock(path, target):
        _check_unchanged(twin, path, target)
        wal = target.with_name(target.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise ProjectError(f"{path}: is open in another program that writes to it ({wal.name} beside it, "
                               "e.g. QGIS editing a layer); close it there, then save again")
        remove_stale_temporaries(target)
        with _utf8_name(target) as old:
            plan = _foreign_plan(old) if target.is_file() else _Foreign()
            if plan.refused:
                raise ProjectError(
                    f"{path}: holds tables that are not twin layers ({', '.join(plan.refused)}), added by another "
                    "program; saving would drop them: Lifeline Twin keeps other programs' attribute tables, "
                    "styles and metadata, but not their map layers (feature, tile or virtual tables); copy "
                    "them to another file and remove them from the project first")
            mode = os.stat(target).st_mode & 0o7777 if target.is_file() else None
            with _replacing(path, target) as tmp:
                with _utf8_name(tmp) as new:
                    _write(twin, new)
                    if plan:
                        _keep_foreign(path, new, old, plan)
                if mode is not None and tmp.exists():
                    os.chmod(tmp, mode)
    if getattr(twin, "file_stamp", None) is not None:
        twin.file_stamp = (os.path.realpath(target), _stamp(target))
    return path


def _check_unchanged(twin: Twin, path: Path, target: Path) -> None:
    """Refuse to save ``twin`` over the file it was loaded from when that file changed since."""
    stamp = getattr(twin, "file_stamp", None)
    if not stamp or stamp[0] != os.path.realpath(target):
        return
    now = _stamp(target)
    if now is None or now == stamp[1]:
        return
    when = datetime.fromtimestamp(now[3] / 1e9).isoformat(sep=" ", timespec="seconds")
    raise ProjectError(f"{path}: changed on disk since this twin was loaded from it (written at {when}, by "
                       "another program or another save); saving would overwrite that change, so nothing "
                       "was saved: load the project again and redo the edits, or save to another file")


@contextmanager
def _save_lock(path: Path, target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<project>.lock`` for one save; a second save meanwhile is refused."""
    if fcntl is None:
        yield
        return
    lock = target.with_name(target.name + ".lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProjectError(f"{path}: cannot make the lock file {lock} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise ProjectError(f"{path}: another save of this project is in progress (pid {holder}); "
                               "nothing was saved: wait for it to finish, then load the project again "
                               "(saving now would overwrite what it writes)") from None
        # The holder before us may have removed the file after we opened it: lock the one at the path.
        if _stamp(lock) is not None and os.fstat(fd).st_ino == os.stat(lock).st_ino:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process id we can ask about: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(project: Path | str) -> list[Path]:
    """Remove the temporary files of killed saves of ``project``; return those removed.

    They are ``.<stem>.<pid>.tmp.gpkg`` beside the project (and their SQLite
    journals); one whose process is still alive (a save in progress) is kept.
    """
    project = Path(project)
    pattern = re.compile(rf"\.{re.escape(project.stem)}\.(\d+)\.tmp{re.escape(project.suffix)}"
                         r"(-journal|-wal|-shm)?")
    removed = []
    try:
        names = os.listdir(project.parent)
    except OSError:
        return removed
    for name in names:
        hit = pattern.fullmatch(name)
        if not hit or int(hit.group(1)) == os.getpid() or _pid_alive(int(hit.group(1))):
            continue
        stale = project.parent / name
        try:
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
                removed.append(stale)
        except OSError:
            pass
    return removed


@contextmanager
def _replacing(path: Path, target: Path) -> Iterator[Path]:
    """:func:`twin.atomic.replacing` for a project, also when ``target``'s name is not UTF-8.

    atomic's guard opens SQLite files by a UTF-8 URI, so such a target is
    checked through a UTF-8 link to it and replaced here the same way: a
    temporary ``.<stem>.<pid>.tmp.gpkg`` beside it, flushed, then renamed over it.
    """
    if _is_utf8(target):
        with atomic.replacing(target, keep_suffix=True, kind="project") as tmp:
            yield tmp
        return
    if os.path.lexists(target):
        with _utf8_name(target) as alias:
            try:
                atomic.check_target(alias, "project")
            except atomic.OutputRefused as exc:
                raise atomic.OutputRefused(str(exc).replace(str(alias), str(path))) from None
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    if tmp.exists():
        tmp.unlink()
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    atomic.sync_directory(target.parent)


@dataclass
class _Foreign:
    """What a project file holds that a save does not write itself."""

    kept: list[str] = field(default_factory=list)      # tables and views copied into the new file
    refused: list[str] = field(default_factory=list)   # map layers and virtual tables: the save is refused
    metadata: bool = False                             # gpkg_metadata rows to merge

    def __bool__(self) -> bool:
        return bool(self.kept or self.metadata)


def _foreign_plan(path: Path | str) -> _Foreign:
    """Sort the tables of the project at ``path`` that are not the twin's (empty when not a project)."""
    plan = _Foreign()
    try:
        con = _connect_ro(path)
        try:
            master = con.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                                 "ORDER BY rowid").fetchall()
            names = {name for _t, name, _s in master}
            if META_TABLE not in names:
                return plan
            contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents")) \
                if "gpkg_contents" in names else {}
            spatial = con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall() \
                if "gpkg_geometry_columns" in names else []
            try:
                shadow = {r[1] for r in con.execute("PRAGMA table_list") if r[2] == "shadow"}
            except sqlite3.OperationalError:  # SQLite before 3.37: virtual tables are refused with their shadows
                shadow = set()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return plan
    spatial_index = {f"rtree_{t}_{c}{end}" for t, c in spatial for end in ("", "_node", "_parent", "_rowid")}
    plan.metadata = "gpkg_metadata" in names
    for kind, name, sql in master:
        if (name in OUR_TABLES or name in _SYSTEM_TABLES or name in _METADATA_TABLES
                or name.startswith("sqlite_") or name in spatial_index or name in shadow):
            continue
        registered = contents.get(name, "attributes")
        if registered != "attributes" or (sql or "").upper().startswith("CREATE VIRTUAL TABLE"):
            plan.refused.append(name)
        else:
            plan.kept.append(name)
    return plan


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _keep_foreign(path: Path, new: Path, old: Path, plan: _Foreign) -> None:
    """Copy the tables of ``plan`` (and the metadata not GDAL's own) from ``old`` into ``new``."""
    con = sqlite3.connect(_uri(new, "rw"), uri=True, isolation_level=None)
    try:
        con.execute("ATTACH DATABASE ? AS old", (_uri(old),))
        con.execute("BEGIN")
        _copy_tables(con, plan.kept)
        if plan.metadata:
            _merge_metadata(con)
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        what = ", ".join(plan.kept + (list(_METADATA_TABLES) if plan.metadata else []))
        raise ProjectError(f"{path}: cannot keep the tables another program added ({what}): {exc}; nothing "
                           "was saved: copy them to another file and remove them from the project first") from None
    finally:
        con.close()


def _columns(con: sqlite3.Connection, schema_name: str, table: str) -> list[tuple]:
    return con.execute(f"PRAGMA {schema_name}.table_xinfo({_quote(table)})").fetchall()


def _copy_tables(con: sqlite3.Connection, kept: list[str]) -> None:
    if not kept:
        return
    marks = ",".join("?" * len(kept))
    objects = con.execute(f"SELECT type, name, tbl_name, sql FROM old.sqlite_master WHERE tbl_name IN ({marks}) "
                          "AND sql IS NOT NULL ORDER BY rowid", kept).fetchall()
    for kind, name, _table, sql in objects:  # tables and views first, in the old file's order
        if kind == "table":
            con.execute(sql)
            _copy_rows(con, name)
    for kind, name, _table, sql in objects:
        if kind == "view":
            con.execute(sql)
    old_tables = {r[0] for r in con.execute("SELECT name FROM old.sqlite_master WHERE type='table'")}
    main_tables = {r[0] for r in con.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
    if "sqlite_sequence" in old_tables:
        for name, seq in con.execute(f"SELECT name, seq FROM old.sqlite_sequence WHERE name IN ({marks})",
                                     kept).fetchall():
            con.execute("DELETE FROM main.sqlite_sequence WHERE name=?", (name,))
            con.execute("INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))
    # Their GeoPackage registrations (and the CRS they name), feature counts and extensions.
    for table in ("gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_ogr_contents", "gpkg_extensions"):
        if table not in old_tables:
            continue
        if table not in main_tables:
            con.execute(con.execute("SELECT sql FROM old.sqlite_master WHERE name=?", (table,)).fetchone()[0])
        main_cols = {r[1] for r in _columns(con, "main", table)}
        cols = ", ".join(_quote(r[1]) for r in _columns(con, "old", table) if r[1] in main_cols)
        if table == "gpkg_spatial_ref_sys":
            where = (f"srs_id IN (SELECT srs_id FROM old.gpkg_contents WHERE table_name IN ({marks})) "
                     "AND srs_id NOT IN (SELECT srs_id FROM main.gpkg_spatial_ref_sys)")
        else:
            where = f"table_name IN ({marks})"
        # A clash with the twin's own rows (the same identifier in gpkg_contents...) fails the save.
        verb = {"gpkg_ogr_contents": "INSERT OR REPLACE", "gpkg_extensions": "INSERT OR IGNORE"}.get(table, "INSERT")
        con.execute(f"{verb} INTO main.{table} ({cols}) SELECT {cols} FROM old.{table} WHERE {where}", kept)
    for kind, name, _table, sql in objects:  # after the rows, so that no trigger counts them twice
        if kind in ("index", "trigger"):
            con.execute(sql)


def _copy_rows(con: sqlite3.Connection, table: str) -> None:
    """Copy every row of ``old.table`` into ``main.table``, rowids included."""
    info = _columns(con, "old", table)
    cols = [r[1] for r in info if r[6] == 0]  # not generated
    keys = [r for r in info if r[5]]
    rowid_alias = len(keys) == 1 and keys[0][2].upper() == "INTEGER"
    rowid = next((n for n in ("rowid", "_rowid_", "oid") if n not in {c.lower() for c in cols}), None)
    if not rowid_alias and rowid is not None:
        try:
            con.execute(f"SELECT {rowid} FROM old.{_quote(table)} LIMIT 0")
        except sqlite3.OperationalError:  # WITHOUT ROWID
            rowid = None
    listed = ", ".join(_quote(c) for c in cols)
    if not rowid_alias and rowid is not None:
        listed = f"{rowid}, {listed}" if cols else rowid
    con.execute(f"INSERT INTO main.{_quote(table)} ({listed}) SELECT {listed} FROM old.{_quote(table)}"
                + (f" ORDER BY {rowid}" if rowid and not rowid_alias else ""))


def _merge_metadata(con: sqlite3.Connection) -> None:
    """Copy ``gpkg_metadata`` rows (and their references) that are not GDAL's own for a twin table.

    Ids are kept unless the new file uses them already; references to tables
    the new file does not have are dropped, and so is metadata left with none.
    """
    old_tables = {r[0] for r in con.execute("SELECT name FROM old.sqlite_master WHERE type='table'")}
    main_tables = {r[0] for r in con.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
    for table in _METADATA_TABLES:
        if table in old_tables and table not in main_tables:
            for (sql,) in con.execute("SELECT sql FROM old.sqlite_master WHERE tbl_name=? AND sql IS NOT NULL "
                                      "ORDER BY type='table' DESC, rowid", (table,)).fetchall():
                con.execute(sql)  # the table, then its indexes and triggers
    if "gpkg_extensions" in old_tables and "gpkg_extensions" in main_tables:
        con.execute("INSERT OR IGNORE INTO main.gpkg_extensions SELECT * FROM old.gpkg_extensions "
                    "WHERE table_name IN ('gpkg_metadata', 'gpkg_metadata_reference')")
    main_tables = {r[0] for r in con.execute("SELECT name FROM main.sqlite_master WHERE type IN ('table', 'view')")}
    refs = con.execute("SELECT reference_scope, table_name, column_name, row_id_value, timestamp, md_file_id, "
                       "md_parent_id FROM old.gpkg_metadata_reference ORDER BY rowid").fetchall() \
        if "gpkg_metadata_reference" in old_tables else []
    taken = {r[0] for r in con.execute("SELECT id FROM main.gpkg_metadata")}
    new_id: dict[int, int] = {}
    for row in con.execute("SELECT id, md_scope, md_standard_uri, mime_type, metadata FROM old.gpkg_metadata "
                           "ORDER BY id").fetchall():
        mine = [r for r in refs if r[5] == row[0]]
        if row[2] == _GDAL_METADATA_URI and mine and all(r[1] in OUR_TABLES for r in mine):
            continue  # GDAL's own notes on a twin table: written afresh
        if mine and not any(r[1] is None or r[1] in main_tables for r in mine):
            continue  # about tables that are gone
        ident = row[0] if row[0] not in taken else max(taken) + 1
        taken.add(ident)
        new_id[row[0]] = ident
        con.execute("INSERT INTO main.gpkg_metadata (id, md_scope, md_standard_uri, mime_type, metadata) "
                    "VALUES (?, ?, ?, ?, ?)", (ident, *row[1:]))
    for scope, table, column, row_id, stamp, file_id, parent in refs:
        if file_id in new_id and (table is None or table in main_tables):
            con.execute("INSERT INTO main.gpkg_metadata_reference (reference_scope, table_name, column_name, "
                        "row_id_value, timestamp, md_file_id, md_parent_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (scope, table, column, row_id, stamp, new_id[file_id], new_id.get(parent)))


def check_writable(path: Path | str) -> None:
    """Raise ProjectError for a target that is a folder or lies in a folder we cannot write.

    :func:`save` calls it first; commands call it before a long build or import.

    GDAL would otherwise fail half-way with an SQLite message naming the hidden
    temporary file, and a folder named ``x.gpkg`` only at the final rename.
    """
    path = Path(path)
    if path.is_dir():
        raise ProjectError(f"{path}: is a folder, not a project file")
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise ProjectError(f"{path}: cannot write the project: {folder} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".probe", dir=path.parent)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot write the project in {path.parent} "
                           f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _write(twin: Twin, tmp: Path) -> None:
    for name, frame in twin.layers.items():
        if len(frame) == 0:
            continue
        out = frame.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pyogrio.write_dataframe(out, tmp, layer=name, driver="GPKG", promote_to_multi=False)
    if twin.terrain is not None:
        t = twin.terrain
        rows, cols = t.shape
        profile = dict(driver="GPKG", width=cols, height=rows, count=1, dtype="float32",
                       crs=twin.crs.to_wkt(), transform=t.transform)
        options = dict(RASTER_TABLE=TERRAIN_TABLE, TILE_FORMAT="TIFF")
        if tmp.exists():
            options["APPEND_SUBDATASET"] = "YES"
        with rasterio.open(tmp, "w", **profile, **options) as dst:
            dst.write(t.heights.astype("float32"), 1)
    meta = dict(twin.metadata)
    meta.update({"name": twin.name, "crs_wkt": twin.crs.to_wkt(), "units": "m",
                 "format_version": FORMAT_VERSION, "written_by": f"lifeline-twin {_app_version()}",
                 "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    if twin.terrain is not None:
        # The exact float64 grid is not kept by the float32 raster; record the precision.
        meta["terrain_dtype"] = "float32"
    if not tmp.exists():
        # A twin with no layers and no terrain: let GDAL lay out a valid, empty GeoPackage.
        pyogrio.write_dataframe(schema.empty_layer("water_junctions", twin.crs), tmp,
                                layer="water_junctions", driver="GPKG")
    con = sqlite3.connect(tmp)
    try:
        con.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                        [(k, json.dumps(v)) for k, v in meta.items()])
        con.execute(f"CREATE TABLE {NETWORK_TABLE} (name TEXT PRIMARY KEY, inp TEXT NOT NULL, "
                    "edits TEXT NOT NULL DEFAULT '[]', layout TEXT)")
        if twin.network is not None:
            net = twin.network
            con.execute(f"INSERT INTO {NETWORK_TABLE} VALUES (?, ?, ?, ?)",
                        (net.name or twin.name, net.text, json.dumps([e.as_dict() for e in net.edits]),
                         json.dumps(net.layout) if net.layout else None))
        for table, what in ((META_TABLE, "Lifeline Twin project metadata"),
                            (NETWORK_TABLE, "EPANET network (.inp text)")):
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                        "VALUES (?, 'attributes', ?, ?)", (table, table, what))
        con.commit()
    finally:
        con.close()


def foreign_tables(path: Path | str) -> list[str]:
    """Tables of the Lifeline Twin project at ``path`` that are not the twin's (added in QGIS...).

    A save keeps the attribute and plain tables among them (and
    ``gpkg_metadata``), and refuses while there are map layers of another
    program.  Empty when ``path`` is absent, damaged or not a project.
    """
    path = Path(path)
    if not path.is_file():
        return []
    with _utf8_name(path) as name:
        plan = _foreign_plan(name)
    extra = [t for t in _METADATA_TABLES if plan.metadata]
    return sorted(plan.kept + plan.refused + extra)


def replaceable_layers(path: Path | str) -> list[str]:
    """The non-empty layers of the project at ``path`` that a new save would replace.

    Raises ProjectError when ``path`` exists but is not a Lifeline Twin project
    (a user's own GeoPackage, a source file given as the output by mistake):
    writing over it would destroy data this program never made.
    """
    path = Path(path)
    if not path.exists() or path.is_dir():
        return []
    refusal = (f"{path}: exists and is not a Lifeline Twin project; refusing to write over it "
               "(choose another output, or remove the file)")
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise ProjectError(refusal)
        with _utf8_name(path) as name:
            con = _connect_ro(name)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if META_TABLE not in tables:
                raise ProjectError(refusal)
            names = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
            return [n for n in names if n in schema.SCHEMAS or n == TERRAIN_TABLE]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        # A damaged project: replacing it is what the user wants; there is nothing to list.
        return []


def load(path: Path | str) -> Twin:
    """Read a project file; every layer is validated against its schema.

    The twin's ``file_stamp`` records which file it was read from and that
    file's stamp, so that :func:`save` refuses to overwrite a change made since.
    """
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"{path}: no such project file")
    if path.is_dir():
        raise ProjectError(f"{path}: is a folder, not a project file")
    stamp = (os.path.realpath(path), _stamp(path))  # before reading: a change while reading is a change
    with _utf8_name(path) as name:
        twin = _load(path, name)
    twin.file_stamp = stamp
    return twin


def _load(path: Path, name: Path) -> Twin:
    """Read the project ``path``, opening it as ``name`` (a UTF-8 name for it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head != b"SQLite format 3\x00":
            raise ProjectError(f"{path}: not a GeoPackage (not an SQLite file)")
        con = _connect_ro(name)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise ProjectError(f"{path}: the file is damaged ({check})")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if META_TABLE not in tables:
                raise ProjectError(f"{path}: not a Lifeline Twin project (no {META_TABLE} table); "
                                   "use 'lifeline-twin import' to make one")
            meta = {}
            for key, value in con.execute(f"SELECT key, value FROM {META_TABLE}"):
                try:
                    meta[key] = json.loads(value)
                except (TypeError, json.JSONDecodeError):
                    raise ProjectError(f"{path}: metadata {key!r} is not valid JSON "
                                       "(the file was edited by hand, or damaged)") from None
            net_row = None
            if NETWORK_TABLE in tables:
                columns = {r[1] for r in con.execute(f"PRAGMA table_info({NETWORK_TABLE})")}
                extra = ("edits, layout" if {"edits", "layout"} <= columns else "'[]', NULL")  # format 1: text only
                net_row = con.execute(f"SELECT name, inp, {extra} FROM {NETWORK_TABLE}").fetchone()
            has_terrain = bool(con.execute(
                "SELECT 1 FROM gpkg_contents WHERE table_name=? AND data_type IN "
                "('tiles','2d-gridded-coverage')", (TERRAIN_TABLE,)).fetchone())
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ProjectError(f"{path}: the file is damaged or truncated ({exc})") from None

    for key in ("name", "crs_wkt"):
        if key not in meta:
            raise ProjectError(f"{path}: metadata has no {key!r}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ProjectError(f"{path}: written by a newer Lifeline Twin (format {meta['format_version']}, "
                           f"this one reads up to {FORMAT_VERSION})")
    try:
        crs = CRS.from_wkt(meta["crs_wkt"])
    except (CRSError, TypeError):
        raise ProjectError(f"{path}: metadata 'crs_wkt' is not a CRS pyproj can read") from None
    keep = {k: v for k, v in meta.items()
            if k not in ("name", "crs_wkt", "units", "format_version", "written_at", "terrain_dtype")}
    twin = Twin(meta["name"], crs, metadata=keep)
    try:
        layers = pyogrio.list_layers(name)
    except Exception as exc:  # pyogrio.errors.DataSourceError and friends
        raise ProjectError(f"{path}: cannot list layers ({exc})") from None
    for layer, _geom in layers:
        if layer not in schema.SCHEMAS:
            continue
        try:
            frame = pyogrio.read_dataframe(name, layer=layer)
        except Exception as exc:
            raise ProjectError(f"{path}: cannot read layer {layer!r} ({exc})") from None
        if frame.crs is None and len(frame):
            raise LayerError(f"{path}: layer {layer!r} has no CRS")
        frame = frame.set_crs(crs, allow_override=True)
        twin.set_layer(layer, frame, source=str(path))
    if has_terrain:
        try:
            twin.terrain = Terrain.read(name, crs=crs, table=TERRAIN_TABLE)
        except SourceError as exc:
            raise ProjectError(str(exc).replace(str(name), str(path))) from None
    if net_row is not None:
        try:
            where = f"{path}:{NETWORK_TABLE}"
            try:
                edits = [Edit.from_dict(e) for e in json.loads(net_row[2] or "[]")]
                layout = json.loads(net_row[3]) if net_row[3] else None
            except (TypeError, KeyError, ValueError, json.JSONDecodeError) as exc:
                raise ProjectError(f"{where}: the network's edits or layout are damaged ({exc})") from None
            # EPANET checks the text now; the WNTR helper is read when something first needs it
            # (graphs, metrics), not on every open: it costs a second on a town.
            epanet.check(net_row[1], where, (layout or {}).get("encoding") or "utf-8")
            net = Network(net_row[1], name=net_row[0], source=where, layout=layout)
            twin.network = net.edited(*edits) if edits else net
        except SourceError as exc:
            raise ProjectError(str(exc)) from None
    return twin


def terrain_equal(a: Terrain | None, b: Terrain | None) -> bool:
    """Whether two terrains are the same grid (heights compared at float32, NaN equal to NaN)."""
    if a is None or b is None:
        return a is b
    return (a.shape == b.shape and a.transform.almost_equals(b.transform)
            and np.array_equal(a.heights.astype("float32"), b.heights.astype("float32"), equal_nan=True))
