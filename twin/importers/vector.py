"""Generic vector import: any GDAL vector file into one twin layer.

The escape hatch for data no dedicated importer knows: a utility's hydrant
shapefile, a GeoJSON of sensors.  Everything lands in the twin's metric CRS;
what was assumed (a column taken because its name matches, a height unit
inferred) is written into the import report, so a planner can check it
instead of discovering it later on a map.

Local frames: data with no georeference (a shapefile without .prj in local
feet, like Micropolis) can be declared with ``--crs local:ft`` (also
``local:ftUS``, ``local:m``).  Such coordinates are only scaled to metres and
placed in the project's own local frame: a local frame has no position on the
earth, so it cannot be mixed with a georeferenced project.

The project and placement helpers here (:func:`existing_or_new`,
:func:`twin_crs_for`, :func:`local_scale`) are shared with the DEM import in
:mod:`twin.importers.raster`.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from twin.crs import axis_unit_factor, check_area_of_use, describe, local_metric_crs, metric_crs_for, parse_crs
from twin.errors import LayerError, SourceError, reading_problem
from twin.importers import ImportReport
from twin.schema import LINE, POINT, SCHEMAS

# --------------------------------------------------------------------------- CRS
def twin_crs_for(source_crs: CRS, bounds, name: str) -> CRS:
    """The metric CRS a new project gets for data in ``source_crs`` within ``bounds``."""
    if source_crs.is_engineering:
        return local_metric_crs(f"{name} local frame")
    minx, miny, maxx, maxy = bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    if source_crs.is_geographic:
        lon, lat = cx, cy
    else:
        lon, lat = Transformer.from_crs(source_crs, CRS.from_epsg(4326), always_xy=True).transform(cx, cy)
    return metric_crs_for(source_crs, lon_lat=(lon, lat))


def local_scale(source: CRS, target: CRS, path) -> float | None:
    """Metres-per-unit ratio when both CRSs are local frames, None when both are georeferenced."""
    if source.is_engineering and target.is_engineering:
        return axis_unit_factor(source) / axis_unit_factor(target)
    if source.is_engineering or target.is_engineering:
        local, geo = (source, target) if source.is_engineering else (target, source)
        raise SourceError(f"{path}: cannot place data in the local frame {local.name!r} into "
                          f"{describe(geo)} (a local frame has no position on the earth); "
                          "use a project in a local frame, or give the source's real CRS with --crs")
    return None


def reproject_frame(frame: gpd.GeoDataFrame, target: CRS, path) -> gpd.GeoDataFrame:
    """``frame`` in ``target``; refuses coordinates the transformation cannot place."""
    source = CRS.from_user_input(frame.crs)
    if source.equals(target):
        return frame.set_crs(target, allow_override=True)
    factor = local_scale(source, target, path)
    if factor is not None:
        out = frame.copy()
        out.geometry = shapely.transform(out.geometry.values, lambda xy: xy * factor)
        return out.set_crs(target, allow_override=True)
    try:
        out = frame.to_crs(target)
    except Exception as exc:  # pyproj raises several types for impossible transformations
        raise SourceError(f"{path}: cannot transform from {describe(source)} to {describe(target)} ({exc})") from None
    coords = shapely.get_coordinates(out.geometry.values)
    if len(coords) and not np.isfinite(coords).all():
        raise SourceError(f"{path}: some coordinates cannot be transformed from {describe(source)} to "
                          f"{describe(target)}; is the source CRS right (--crs)?")
    return out


# --------------------------------------------------------------------------- reading
@dataclass
class GeometryRepair:
    """What reading a layer did to its geometries, by feature row."""

    ring_fixed: list[int] = field(default_factory=list)    # unreadable as stored, readable once rings closed
    made_valid: list[int] = field(default_factory=list)    # self-intersections etc. repaired by make_valid
    unreadable: list[int] = field(default_factory=list)    # cannot be made into a geometry: skipped
    collapsed: list[int] = field(default_factory=list)     # nothing polygonal left after repair: skipped
    missing: list[int] = field(default_factory=list)       # no geometry in the source

    @property
    def skipped(self) -> list[int]:
        return sorted(self.unreadable + self.collapsed + self.missing)


def _polygonal_part(geom):
    """The polygons inside a repaired geometry (make_valid may add lines and points)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    parts = [p for g in polys for p in shapely.get_parts(g)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def decode_geometries(wkb: np.ndarray) -> tuple[np.ndarray, GeometryRepair]:
    """Shapely geometries from GDAL's WKB, repairing what can be repaired.

    Unclosed or short rings make GEOS refuse a polygon outright; those are read
    again with shapely's ring fixing.  Readable polygons that are invalid
    (self-intersecting, touching rings) go through ``make_valid`` and keep only
    their polygonal parts.  What still yields nothing is left as None.
    """
    repair = GeometryRepair()
    geoms = np.empty(len(wkb), dtype=object)
    for i, blob in enumerate(wkb):
        if blob is None:
            repair.missing.append(i)
            continue
        g = shapely.from_wkb(blob, on_invalid="ignore")
        if g is None:
            g = shapely.from_wkb(blob, on_invalid="fix")
            if g is None or g.is_empty:
                repair.unreadable.append(i)
                continue
            repair.ring_fixed.append(i)
        if g.geom_type in ("Polygon", "MultiPolygon") and not g.is_valid:
            fixed = _polygonal_part(shapely.make_valid(g))
            if fixed is None:
                repair.collapsed.append(i)
                continue
            if i not in repair.ring_fixed:
                repair.made_valid.append(i)
            g = fixed
        elif g.is_empty:
            repair.missing.append(i)
            continue
        geoms[i] = g
    return geoms, repair


def read_layer(path, layer=None, columns=None, where=None, **open_options) -> tuple[gpd.GeoDataFrame, GeometryRepair]:
    """One layer of any GDAL vector source, never failing on a bad geometry.

    Returns every feature (geometry None where it could not be read or
    repaired), with the file's feature ids as column ``fid`` and the file's CRS
    (None when it has none).  ``open_options`` go to the GDAL driver.
    """
    try:
        with warnings.catch_warnings():
            # GDAL reports each unclosed ring as a warning; the repair accounts for them.
            warnings.simplefilter("ignore", RuntimeWarning)
            meta, fids, wkb, fields = pyogrio.raw.read(path, layer=layer, columns=columns, where=where,
                                                        return_fids=True, **open_options)
    except Exception as exc:  # pyogrio.errors.DataSourceError, DataLayerError, FieldError...
        raise SourceError(f"{path}: cannot read{f' layer {layer!r}' if layer else ''}: {reading_problem(exc)}") from None
    geoms, repair = decode_geometries(wkb if wkb is not None else np.full(len(fids), None))
    data = {name: values for name, values in zip(meta["fields"], fields)}
    frame = pd.DataFrame(data)
    frame["fid"] = np.asarray(fids)
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs), repair


def _layer_names(path) -> list[str]:
    try:
        return [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        raise SourceError(f"{path}: not a vector file GDAL can read ({exc})") from None


def existing_or_new(project: Path, crs_for_new, report: ImportReport):
    """The project to add to (loaded), or a new twin when the file does not exist."""
    from twin.model import Twin
    from twin.project import load

    if project.exists():
        return load(project), False
    crs = crs_for_new()
    report.warnings.append(f"{project} does not exist: a new project in {describe(crs)} is created")
    return Twin(project.stem, crs), True


def _metric_target(to_crs: str) -> CRS:
    """The CRS of a new project from --to-crs, refused (naming the flag) unless it is in metres."""
    crs = parse_crs(to_crs, "--to-crs")
    if not crs.is_engineering and not (crs.is_projected and abs(axis_unit_factor(crs) - 1.0) < 1e-12):
        raise SourceError(f"--to-crs {to_crs}: a project's CRS must be projected in metres "
                          f"({describe(crs)} is not)")
    return crs


def _as_text_if_listed(values: pd.Series) -> pd.Series:
    """List-valued cells (GeoJSON arrays, GDAL StringList fields) as JSON text.

    A GeoPackage column holds scalars; left as arrays they were written as
    numpy's repr (``['a' 'b']``), which nothing can read back.
    """
    if values.dtype != object or not values.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return values

    def text(v):
        if isinstance(v, (list, tuple, np.ndarray)):
            return json.dumps([x.item() if isinstance(x, np.generic) else x for x in v], ensure_ascii=False)
        return v
    return values.map(text)


def check_project_path(project: Path) -> None:
    if project.suffix.lower() != ".gpkg":
        raise SourceError(f"{project}: a project file must end in .gpkg")


def check_source(path: Path) -> None:
    """A missing file is named plainly (zipped shapefiles are read as the .zip itself)."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")


def _listing(items, limit: int = 40) -> str:
    items = list(items)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _ids(rows: list[int]) -> str:
    return _listing([str(r) for r in rows], 10)


# --------------------------------------------------------------------------- vector
def import_vector(path, layer, project, source_layer=None, mapping=None, scale=None, id_column=None,
                  crs=None, to_crs=None):
    """Fill twin layer ``layer`` of ``project`` from any GDAL vector file.

    ``mapping`` maps twin columns to source columns (``{"height": "HGT"}``);
    schema columns not mapped are taken from a source column of the same name
    (case-insensitive), and that is reported.  ``scale`` multiplies columns
    (after mapping, by twin column name), e.g. ``{"height": 0.3048}``.  Other
    source columns are kept as extra attributes.  Feature ids come from
    ``id_column``, else a source column named ``id``, else the file's feature ids.
    ``crs`` is the source CRS when the file has none (or overrides it);
    ``to_crs`` is the CRS of a new project.  Returns ``(twin, report)``; nothing
    is written (the caller saves).
    """
    path, project = Path(path), Path(project)
    if layer not in SCHEMAS:
        hint = "; the terrain is set with 'lifeline-twin import raster'" if layer == "terrain" else ""
        raise LayerError(f"{path}: unknown twin layer {layer!r} (layers: {', '.join(SCHEMAS)}){hint}")
    check_project_path(project)
    check_source(path)
    schema = SCHEMAS[layer]
    mapping = {str(k): str(v) for k, v in (mapping or {}).items()}
    scale = {str(k): _factor(k, v) for k, v in (scale or {}).items()}
    if "id" in mapping:
        if id_column and id_column != mapping["id"]:
            raise SourceError(f"{path}: --map id={mapping['id']} and --id-column {id_column} disagree")
        id_column = mapping.pop("id")
    for twin_col in mapping:
        if twin_col not in schema.columns:
            raise SourceError(f"{path}: --map {twin_col}={mapping[twin_col]}: layer {layer!r} has no column "
                              f"{twin_col!r} (its columns: id, {', '.join(schema.columns)}); "
                              "source columns not mapped are kept as they are")

    names = _layer_names(path)
    chosen = source_layer is not None
    if source_layer is None:
        if not names:
            raise SourceError(f"{path}: the file has no layers")
        source_layer = names[0]
    elif source_layer not in names:
        raise SourceError(f"{path}: no layer {source_layer!r} (layers: {_listing(names)})")
    report = ImportReport(source=str(path))
    if len(names) > 1 and not chosen:
        report.guessed.append(f"read layer {source_layer!r} of {len(names)} ({_listing(names, 8)}); "
                              "choose another with --source-layer")

    frame, repair = read_layer(path, source_layer)
    where = f"{path}" + (f" layer {source_layer!r}" if len(names) > 1 else "")

    # ---- the source CRS
    if crs is not None:
        src_crs = parse_crs(crs)
        if frame.crs is not None and not CRS.from_user_input(frame.crs).equals(src_crs):
            report.warnings.append(f"--crs {crs} overrides the file's own CRS {describe(CRS.from_user_input(frame.crs))}")
    elif frame.crs is not None:
        src_crs = CRS.from_user_input(frame.crs)
    else:
        hint = " (a shapefile without its .prj file?)" if path.suffix.lower() == ".shp" else ""
        raise SourceError(f"{path}: the source has no CRS{hint}; pass it with --crs, e.g. --crs EPSG:3547, "
                          "or --crs local:ft for local coordinates in feet")
    frame = frame.set_crs(src_crs, allow_override=True)
    report.source_crs = describe(src_crs)
    if crs is not None:
        # The user's --crs is a claim about the coordinates: test it (a sample of the
        # vertices is enough, a wrong CRS moves the whole file).
        coords = shapely.get_coordinates(frame.geometry.values)
        strays = check_area_of_use(src_crs, coords[:: max(1, len(coords) // 5000)], where)
        if strays.any():
            report.warnings.append(f"some vertices lie outside the area of use of --crs {describe(src_crs)} "
                                   f"({int(strays.sum())} of {len(strays)} checked): misplaced features?")

    # ---- columns
    source_cols = [c for c in frame.columns if c not in ("geometry", "fid")]
    lower = {}
    for c in source_cols:
        lower.setdefault(c.lower(), c)

    def need(col: str, flag: str) -> str:
        if col in frame.columns and col != "geometry":
            return col
        raise SourceError(f"{where}: {flag}: no column {col!r} in the source "
                          f"(available columns: {_listing(source_cols) or 'none'})")

    for twin_col, src_col in mapping.items():
        need(src_col, f"--map {twin_col}={src_col}")
    for twin_col in schema.columns:
        if twin_col not in mapping and twin_col in lower:
            mapping[twin_col] = lower[twin_col]
            report.guessed.append(f"column {lower[twin_col]!r} used for {twin_col!r} (same name; "
                                  "check its unit, or map another with --map)")

    keep = frame.geometry.notna().to_numpy()
    if id_column is not None:
        need(id_column, f"--id-column {id_column}")
        ids = frame[id_column]
        bad = ids.isna() & keep
        if bad.any():
            raise SourceError(f"{where}: --id-column {id_column}: empty at feature {int(frame['fid'][bad].iloc[0])}")
        ids = ids.map(_id_text)
        dup = ids[keep].duplicated()
        if dup.any():
            raise SourceError(f"{where}: --id-column {id_column}: value {ids[keep][dup].iloc[0]!r} repeats; "
                              "feature ids must be unique")
    elif "id" in lower and not (frame[lower["id"]].isna() & keep).any() \
            and not frame[lower["id"]].map(_id_text)[keep].duplicated().any():
        id_column = lower["id"]
        ids = frame[id_column].map(_id_text)
        report.guessed.append(f"feature ids from column {id_column!r} (pass --id-column to choose another)")
    else:
        ids = frame["fid"].map(str)
        if "id" in lower:
            report.warnings.append(f"column {lower['id']!r} is empty or repeats values: feature ids are "
                                   "the file's feature numbers instead")

    out = pd.DataFrame({"id": ids})
    for twin_col, src_col in mapping.items():
        out[twin_col] = frame[src_col]
    used = set(mapping.values()) | ({id_column} if id_column else set())
    taken = {c.lower() for c in out.columns} | {"geometry", "fid"}
    for c in source_cols:
        if c in used:
            continue
        name = c if c.lower() not in taken else f"source_{c}"
        taken.add(name.lower())
        out[name] = _as_text_if_listed(frame[c])
    for col, factor in scale.items():
        if col not in out.columns:
            raise SourceError(f"{where}: --scale {col}={factor:g}: no column {col!r} (scales apply to twin "
                              f"columns after --map; columns: {_listing(out.columns)})")
        values = pd.to_numeric(out[col], errors="coerce")
        nonnum = values.isna() & out[col].notna()
        if nonnum.any():
            raise SourceError(f"{where}: --scale {col}={factor:g}: column {col!r} holds non-numbers, "
                              f"e.g. {out[col][nonnum].iloc[0]!r}")
        out[col] = values * factor

    for col in schema.required:
        if col not in out.columns:
            # Name the flag that fixes it, not only the schema rule it breaks.
            raise SourceError(f"{where}: layer {layer!r} needs column {col!r}: map a source column to it, "
                              f"e.g. --map {col}=<column> (source columns: {_listing(source_cols) or 'none'})")
    gdf = gpd.GeoDataFrame(out, geometry=frame.geometry.values, crs=src_crs)
    _report_repair(report, repair, frame, ids)
    gdf = gdf[keep].reset_index(drop=True)
    gdf = _fit_geometry(gdf, schema.geometry, report)
    if len(gdf) == 0:
        # Importing nothing would only empty the project's layer: a wrong file or
        # --source-layer, never what was meant.
        if len(frame):
            why = "; ".join(report.skipped) or "none has a geometry"
            raise SourceError(f"{where}: no features to import into {layer!r}: all {len(frame)} were skipped ({why})")
        raise SourceError(f"{where}: no features to import into {layer!r} (the source layer is empty)")

    # ---- into the project
    twin, created = existing_or_new(
        project, lambda: _metric_target(to_crs) if to_crs else
        twin_crs_for(src_crs, gdf.total_bounds if len(gdf) else frame.total_bounds, project.stem), report)
    if not created and to_crs:
        report.warnings.append(f"--to-crs {to_crs} ignored: {project} exists and is in {describe(twin.crs)}")
    gdf = reproject_frame(gdf, twin.crs, path)
    factor = local_scale(src_crs, twin.crs, path)
    if factor is not None and factor != 1.0:
        report.guessed.append(f"local coordinates scaled by {factor:g} to metres; the source's origin is taken "
                              f"to be the project's ({twin.crs.name!r})")
    before_extent = twin.extent
    previous = twin.count(layer)
    twin.set_layer(layer, gdf, source=where)
    if previous:
        report.warnings.append(f"layer {layer!r} held {previous} features: replaced by the {len(gdf)} from {path.name}")
    if before_extent is not None and len(gdf) and not overlaps(before_extent, twin[layer].total_bounds):
        report.warnings.append(f"layer {layer!r} lies outside everything else in {project.name}: "
                               "is the source CRS right?")
    if layer.startswith("water_") and twin.network is not None:
        problems = twin.network_problems()
        if problems:
            report.warnings.append(f"{len(problems)} disagreements between the layers and the water network, "
                                   f"e.g. {problems[0]}")
    twin.metadata.setdefault("layer_sources", {})[layer] = {
        "file": str(path), "source_layer": source_layer, "crs": describe(src_crs),
        "mapping": mapping, "scale": scale, "id_column": id_column}
    report.count_layers(twin)
    return twin, report


def _factor(column, value) -> float:
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = float("nan")
    if not math.isfinite(factor) or factor == 0:
        raise SourceError(f"--scale {column}={value}: the factor must be a non-zero number, e.g. 0.3048")
    return factor


def _id_text(value) -> str | None:
    """Feature ids as text; whole-number floats (shapefile integers) without a trailing '.0'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def overlaps(a, b) -> bool:
    return not (b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1])


def _report_repair(report: ImportReport, repair: GeometryRepair, frame, ids) -> None:
    def named(rows):
        return _ids([ids.iloc[r] for r in rows])

    if repair.ring_fixed:
        report.repaired.append(f"{len(repair.ring_fixed)} features with unclosed or short rings closed: "
                               f"{named(repair.ring_fixed)}")
    if repair.made_valid:
        report.repaired.append(f"{len(repair.made_valid)} invalid polygons (self-intersections, touching rings) "
                               f"made valid: {named(repair.made_valid)}")
    if repair.unreadable:
        report.skipped.append(f"{len(repair.unreadable)} features whose geometry cannot be read or repaired: "
                              f"{named(repair.unreadable)}")
    if repair.collapsed:
        report.skipped.append(f"{len(repair.collapsed)} polygons with no area left after repair: "
                              f"{named(repair.collapsed)}")
    if repair.missing:
        report.skipped.append(f"{len(repair.missing)} features without geometry: {named(repair.missing)}")


def _fit_geometry(gdf: gpd.GeoDataFrame, allowed: tuple[str, ...], report: ImportReport) -> gpd.GeoDataFrame:
    """Single-part multi geometries become simple ones where the layer wants them simple."""
    if not len(gdf):
        return gdf
    types = gdf.geom_type
    if allowed == POINT and (types == "MultiPoint").any():
        nparts = shapely.get_num_geometries(gdf.geometry.values)
        many = (types == "MultiPoint").to_numpy() & (nparts > 1)
        out = gdf.explode(index_parts=True)  # keeps the source order; single parts become points
        outer = out.index.get_level_values(0).to_numpy()
        part = out.index.get_level_values(1).to_numpy()
        out["id"] = [f"{fid}/{k + 1}" if many[row] else fid for fid, row, k in zip(out["id"], outer, part)]
        gdf = out.reset_index(drop=True)
        if many.any():
            report.guessed.append(f"{int(many.sum())} multi-point features split into one point each "
                                  "(ids '<id>/1', '<id>/2', ...)")
    elif allowed == LINE:
        pass  # MultiLineString is allowed as is
    return gdf
