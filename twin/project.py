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
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
from pyproj import CRS
from pyproj.exceptions import CRSError

from twin import atomic, schema
from twin.errors import LayerError, ProjectError, SourceError
from twin.model import FORMAT_VERSION, Twin
from twin.network import Edit, load_network
from twin.terrain import Terrain

META_TABLE = "lifeline_metadata"
NETWORK_TABLE = "lifeline_network"
TERRAIN_TABLE = "terrain"


def _app_version() -> str:
    try:
        return version("lifeline-twin")
    except PackageNotFoundError:
        return "unknown"


def readings_dir(project: Path | str) -> Path:
    """Where a project's sensor recordings live: beside the GeoPackage."""
    project = Path(project)
    return project.with_name(project.stem + ".readings")


def save(twin: Twin, path: Path | str) -> Path:
    """Write ``twin`` to ``path`` atomically; return the path."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise ProjectError(f"{path}: a project file must end in .gpkg")
    check_writable(path)
    foreign = foreign_tables(path)
    if foreign:
        raise ProjectError(f"{path}: holds tables that are not twin layers ({', '.join(foreign)}), added by "
                           "another program; saving would drop them: copy them to another file and remove "
                           "them from the project first")
    with atomic.replacing(path, keep_suffix=True) as tmp:
        _write(twin, tmp)
    return path


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
    """Tables of the Lifeline Twin project at ``path`` that are not twin layers (added in QGIS...).

    A save writes the twin afresh, so these would be lost; :func:`save` refuses
    instead.  Empty when ``path`` is absent, damaged or not a project.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if META_TABLE not in tables or "gpkg_contents" not in tables:
                return []
            names = [r[0] for r in con.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return []
    ours = set(schema.SCHEMAS) | {TERRAIN_TABLE, META_TABLE, NETWORK_TABLE}
    return [n for n in names if n not in ours]


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
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
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
    """Read a project file; every layer is validated against its schema."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"{path}: no such project file")
    if path.is_dir():
        raise ProjectError(f"{path}: is a folder, not a project file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head != b"SQLite format 3\x00":
            raise ProjectError(f"{path}: not a GeoPackage (not an SQLite file)")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
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
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio.errors.DataSourceError and friends
        raise ProjectError(f"{path}: cannot list layers ({exc})") from None
    for name, _geom in layers:
        if name not in schema.SCHEMAS:
            continue
        try:
            frame = pyogrio.read_dataframe(path, layer=name)
        except Exception as exc:
            raise ProjectError(f"{path}: cannot read layer {name!r} ({exc})") from None
        if frame.crs is None and len(frame):
            raise LayerError(f"{path}: layer {name!r} has no CRS")
        frame = frame.set_crs(crs, allow_override=True)
        twin.set_layer(name, frame, source=str(path))
    if has_terrain:
        try:
            twin.terrain = Terrain.read(path, crs=crs, table=TERRAIN_TABLE)
        except SourceError as exc:
            raise ProjectError(str(exc)) from None
    if net_row is not None:
        try:
            where = f"{path}:{NETWORK_TABLE}"
            try:
                edits = [Edit.from_dict(e) for e in json.loads(net_row[2] or "[]")]
                layout = json.loads(net_row[3]) if net_row[3] else None
            except (TypeError, KeyError, ValueError, json.JSONDecodeError) as exc:
                raise ProjectError(f"{where}: the network's edits or layout are damaged ({exc})") from None
            net = load_network(where, text=net_row[1], name=net_row[0], layout=layout)
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
