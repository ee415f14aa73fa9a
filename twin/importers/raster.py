"""Import any GDAL raster as a project's DEM: warped to the twin's CRS, heights in metres.

The escape hatch for terrain no dedicated importer brings: a county LiDAR
DEM, a national elevation tile.  The height unit is taken from ``--z-factor``,
else the band's declared unit, else whichever unit agrees with the project's
water node elevations, else the CRS's linear unit; what was guessed is written
into the import report.  Ground levels stored on junctions and buildings
follow the new DEM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.crs import axis_unit_factor, check_area_of_use, describe, parse_crs
from twin.errors import SourceError
from twin.importers import ImportReport
from twin.importers.vector import check_project_path, check_source, existing_or_new, local_scale, overlaps, twin_crs_for
from twin.terrain import Terrain

#: Band unit strings (GDAL ``GetUnitType``) and what they are in metres.
HEIGHT_UNITS = {"m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0,
                "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international foot": 0.3048,
                "us survey foot": 1200 / 3937, "us_survey_foot": 1200 / 3937, "ftus": 1200 / 3937,
                "us-ft": 1200 / 3937}


def import_raster(path, project, crs=None, z_factor=None):
    """Make any GDAL raster the DEM of ``project`` (created when absent).

    The raster is warped to the twin's CRS and its heights converted to metres:
    by ``z_factor`` when given; else by the band's declared unit; else, when the
    project holds water junctions, tanks or reservoirs inside the raster, by
    whichever unit (metres, or the CRS's linear unit) agrees with their
    elevations; else by the CRS's linear unit (a guess, reported).  Ground
    elevations stored on junctions and buildings are refreshed from the new DEM.
    """
    path, project = Path(path), Path(project)
    check_project_path(project)
    check_source(path)
    src_crs = parse_crs(crs) if crs is not None else None
    raw = Terrain.read(path, crs=src_crs)
    if src_crs is not None:
        minx, miny, maxx, maxy = raw.bounds
        check_area_of_use(src_crs, [(minx, miny), (maxx, maxy), (minx, maxy), (maxx, miny)], str(path))
    band_unit = _band_unit(path)
    report = ImportReport(source=str(path), source_crs=describe(raw.crs))

    twin, _created = existing_or_new(project, lambda: twin_crs_for(raw.crs, raw.bounds, project.stem), report)
    factor = local_scale(raw.crs, twin.crs, path)
    if factor is not None:
        t = raw.transform
        from affine import Affine
        warped = Terrain(raw.heights.copy(), Affine(t.a * factor, t.b * factor, t.c * factor,
                                                    t.d * factor, t.e * factor, t.f * factor), twin.crs)
    else:
        try:
            warped = raw.reprojected(twin.crs)
        except Exception as exc:
            raise SourceError(f"{path}: cannot warp from {describe(raw.crs)} to {describe(twin.crs)} ({exc})") from None
        if np.isnan(warped.heights).all():
            raise SourceError(f"{path}: nothing left after warping to {describe(twin.crs)}; is the CRS right?")

    z, how, guessed = _height_factor(raw, band_unit, z_factor, twin, warped)
    terrain = Terrain(warped.heights * z, warped.transform, warped.crs)
    lo, hi = np.nanmin(terrain.heights), np.nanmax(terrain.heights)
    if guessed:
        report.guessed.append(f"{how}: ground from {lo:.1f} to {hi:.1f} m; pass --z-factor to override")

    extent = twin.extent
    if twin.terrain is not None:
        report.warnings.append(f"the project's DEM ({twin.terrain.shape[1]}×{twin.terrain.shape[0]} cells) "
                               "is replaced")
    if extent is not None and twin.terrain is None and not overlaps(extent, terrain.bounds):
        report.warnings.append(f"the DEM lies outside everything in {project.name}: is the raster's CRS right?")
    twin.terrain = terrain
    _refresh_ground(twin, report)
    twin.metadata["terrain_source"] = {"file": str(path), "crs": describe(raw.crs), "z_factor": z}
    report.count_layers(twin)
    return twin, report


def _band_unit(path) -> str:
    import rasterio

    try:
        with rasterio.open(path) as src:
            return (src.units[0] or "").strip() if src.units else ""
    except Exception:
        return ""


def _reference_points(twin, terrain: Terrain):
    """(x, y, elevation) of water nodes with elevations, for checking the DEM's unit."""
    xs, ys, zs = [], [], []
    for name in ("water_junctions", "water_tanks"):
        frame = twin[name]
        if len(frame) and "elevation" in frame:
            ok = frame["elevation"].notna()
            xs.append(frame.geometry.x[ok].to_numpy())
            ys.append(frame.geometry.y[ok].to_numpy())
            zs.append(frame["elevation"][ok].to_numpy(dtype=float))
    if not xs:
        return None
    x, y, z = np.concatenate(xs), np.concatenate(ys), np.concatenate(zs)
    dem = terrain.sample(x, y)
    ok = np.isfinite(dem)
    return (dem[ok], z[ok]) if ok.sum() >= 3 else None


def _height_factor(raw: Terrain, band_unit: str, z_factor, twin, warped: Terrain) -> tuple[float, str, bool]:
    """Metres per height unit, how it was decided, and whether that is a guess."""
    if z_factor is not None:
        if not z_factor > 0:
            raise SourceError(f"--z-factor {z_factor}: must be a positive number of metres per unit")
        return float(z_factor), f"heights × {z_factor:g} (--z-factor)", False
    unit = band_unit.lower()
    if unit in HEIGHT_UNITS:
        return HEIGHT_UNITS[unit], f"heights in {band_unit} (the band's unit)", False
    linear = axis_unit_factor(raw.crs) if (raw.crs.is_projected or raw.crs.is_engineering) else 1.0
    unit_name = raw.crs.axis_info[0].unit_name if raw.crs.axis_info else "metre"
    ref = _reference_points(twin, warped)
    if ref is not None and abs(linear - 1.0) > 1e-9:
        dem, elev = ref
        err = {f: float(np.median(np.abs(dem * f - elev))) for f in (1.0, linear)}
        best = min(err, key=err.get)
        name = "metres" if best == 1.0 else unit_name
        return best, (f"heights taken as {name}: they agree with {len(elev)} water node elevations "
                      f"(median difference {err[best]:.2f} m, against {err[1.0 if best != 1.0 else linear]:.2f} m "
                      f"if read as {'metres' if best != 1.0 else unit_name})"), True
    if abs(linear - 1.0) > 1e-9:
        return linear, (f"heights taken as {unit_name} like the raster's CRS (×{linear:.7g}), as the file "
                        "does not say"), True
    return 1.0, "heights taken as metres, as the file does not say", True


def _refresh_ground(twin, report: ImportReport) -> None:
    """Ground levels stored on features follow the new DEM."""
    t = twin.terrain
    refreshed = []
    junctions = twin["water_junctions"]
    if len(junctions):
        ground = t.sample(junctions.geometry.x.to_numpy(), junctions.geometry.y.to_numpy())
        frame = junctions.copy()
        frame["terrain_elevation"] = ground
        frame["burial_depth"] = ground - frame["elevation"].to_numpy(dtype=float)
        twin.set_layer("water_junctions", frame, source=f"{twin.name}: DEM")
        refreshed.append(f"{int(np.isfinite(ground).sum())} junction ground levels and burial depths")
    buildings = twin["buildings"]
    if len(buildings):
        c = buildings.geometry.representative_point()
        frame = buildings.copy()
        frame["base_elevation"] = t.sample(c.x.to_numpy(), c.y.to_numpy())
        twin.set_layer("buildings", frame, source=f"{twin.name}: DEM")
        refreshed.append(f"{len(buildings)} building base elevations")
    if refreshed:
        report.notes.append("from the new DEM: " + ", ".join(refreshed))
    pipes = twin["water_pipes"]
    if len(pipes) and pipes["burial_depth"].notna().any():
        report.warnings.append("pipe burial depths were computed from the previous ground levels: "
                               "re-run the network import with --dem to refresh them")
