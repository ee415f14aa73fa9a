"""Import an EPANET network (.inp) into a twin, with its GIS layers and a DEM.

``import_inp`` reads the network, moves its coordinates into a metric CRS,
derives the water layers from it, joins the utility's GIS attributes
(material, install year...) by element id, and lays the network on the
terrain: every junction gets the DEM's ground level and its burial depth, every
pipe its cover, and node elevations that disagree with the DEM are reported.
The hydraulic elevations in the network are never changed: the DEM informs,
the model stays the engineer's.

The helpers here (:func:`read_inp`, :func:`dem_height_factor`, :func:`lay_on_terrain`)
are shared with the Micropolis importer; a typed CRS is read by
:func:`twin.crs.parse_crs`, as in every importer.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from pyproj import CRS, Transformer

from twin.crs import axis_unit_factor, check_area_of_use, describe, parse_crs, placement
from twin.errors import SourceError
from twin.importers import ImportReport
from twin.model import Twin
from twin.network import Network, load_network, network_layers
from twin.terrain import Terrain

#: Node elevations further than this from the DEM are reported (metres).  Five metres is
#: well above the vertical error of a 10-30 m USGS/SRTM DEM (a few metres) and below a
#: storey, so what is reported is a real survey or digitising problem.
ELEVATION_TOLERANCE_M = 5.0

#: Height units a DEM may be in, as metres per unit.
HEIGHT_UNITS = {"m": 1.0, "ft": 0.3048, "us-ft": 1200 / 3937}

#: Files in a GIS folder, recognised by a word in their name, and the layer they describe.
GIS_LAYER_WORDS = (("junction", "water_junctions"), ("pipe", "water_pipes"), ("pump", "water_pumps"),
                   ("tank", "water_tanks"), ("reservoir", "water_reservoirs"), ("valve", "water_valves"))
GIS_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".fgb")

#: Columns a GIS layer may carry under another name, and the schema column they fill.
ATTRIBUTE_ALIASES = {
    "material": ("material", "pipemat", "pipe_mat", "mat", "matl", "pipe_material"),
    "install_year": ("install_year", "year", "install_yr", "instyear", "yr_inst", "year_installed",
                     "installyear", "yearinst"),
    "zone": ("zone", "pressure_zone", "dma", "pzone"),
}

#: Attributes WNTR's own GIS export writes: the network already holds them, so they are
#: not joined again (the network stays the single source of hydraulic values).
NETWORK_ATTRIBUTES = {
    "name", "start_node_name", "end_node_name", "check_valve", "diameter", "initial_status",
    "length", "minor_loss", "roughness", "base_demand", "demand_pattern", "elevation",
    "initial_quality", "demand_category", "base_speed", "power", "pump_curve_name",
    "speed_pattern_name", "pump_type", "min_vol", "overflow", "vol_curve_name", "init_level",
    "max_level", "min_level", "base_head", "head_pattern_name", "valve_type", "initial_setting",
    "emitter_coefficient", "leak", "leak_area", "leak_discharge_coeff", "bulk_coeff", "wall_coeff",
    "tag", "vertices", "node_type", "link_type", "coordinates",
}

_ID_COLUMNS = ("name", "id", "element_id", "elem_id", "label")


def import_inp(path, crs, to_crs=None, gis_dir=None, dem=None, name=None, *,
               dem_units: str = "auto",
               elevation_tolerance: float = ELEVATION_TOLERANCE_M) -> tuple[Twin, ImportReport]:
    """Build a twin from an EPANET network whose coordinates are in ``crs``.

    ``to_crs`` is the twin's CRS (default: the metric sibling of ``crs``, e.g.
    EPSG:3547 US feet -> EPSG:3546 metres).  ``gis_dir`` holds GIS layers of the
    same network (``*junction*``, ``*pipe*``... files) whose extra attributes are
    joined by element id.  ``dem`` is a raster of ground heights; ``dem_units``
    is ``auto`` (see :func:`dem_height_factor`), ``m``, ``ft`` or ``us-ft``.
    """
    path = Path(path)
    report = ImportReport(source=str(path))
    src_crs = parse_crs(crs, "--crs")
    report.source_crs = describe(src_crs)
    net = read_inp(path, report)
    wn = net.model
    if wn.num_nodes == 0:
        raise SourceError(f"{path}: the network has no nodes (an empty file, or not an EPANET .inp?)")
    xy = np.array([wn.get_node(n).coordinates for n in wn.node_name_list], dtype=float)
    if len(xy) and not np.allclose(xy, 0.0):
        # A wrong --crs (feet declared as degrees, the wrong zone) is named here, not
        # discovered later as a twin on the other side of the planet.
        strays = check_area_of_use(src_crs, xy, str(path))
        if strays.any():
            names = [n for n, out in zip(wn.node_name_list, strays) if out]
            report.warnings.append(f"{len(names)} of {len(xy)} nodes lie outside the area of use of "
                                   f"{describe(src_crs)} (misplaced, e.g. left at 0,0?): "
                                   f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    # a schematic network (--crs local:ft) is only scaled to metres in a local frame of the twin's own
    twin_crs, place, notes = placement(src_crs, to_crs, crs, name or path.stem, xy)
    report.notes.extend(notes)
    if src_crs.is_engineering or not twin_crs.equals(src_crs):
        net.place(place)
        wn = net.model
        moved = np.array([wn.get_node(n).coordinates for n in wn.node_name_list], dtype=float)
        if len(moved) and not np.isfinite(moved).all():
            raise SourceError(f"{path}: node coordinates cannot be transformed from {describe(src_crs)} "
                              f"to {describe(twin_crs)}; is --crs right?")
    twin = Twin(name or path.stem, twin_crs, network=net)
    for layer, frame in network_layers(wn, twin_crs).items():
        twin.set_layer(layer, frame, source=str(path))
    if len(xy) and np.allclose(xy, 0.0):
        report.warnings.append("the network has no coordinates (every node at 0,0)")
    if gis_dir is not None:
        join_gis_layers(twin, gis_dir, report)
    if dem is not None:
        terrain, _ = read_dem(dem, twin, report, units=dem_units, default_crs=src_crs)
        twin.terrain = terrain
        lay_on_terrain(twin, report, tolerance=elevation_tolerance)
    report.count_layers(twin)
    twin.metadata["import"] = report.as_dict()
    return twin, report


# --------------------------------------------------------------------------- network

def read_inp(path: Path, report: ImportReport) -> Network:
    """Read a network (checked by EPANET 2.3); WNTR's warnings about the file go to the report."""
    notes: list[str] = []
    net = load_network(Path(path), notes=notes)
    report.warnings.extend(f"network: {n}" for n in notes)
    return net


# --------------------------------------------------------------------------- GIS layers

def join_gis_layers(twin: Twin, gis_dir, report: ImportReport) -> None:
    """Join the attributes of a folder of GIS layers onto the water layers, by element id."""
    folder = Path(gis_dir)
    if folder.is_file():
        raise SourceError(f"{folder}: --gis-dir is a file; give the folder holding the network's GIS layers")
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such GIS folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in GIS_SUFFIXES)
    used = 0
    for file in files:
        layer = next((lay for word, lay in GIS_LAYER_WORDS if word in file.stem.lower()), None)
        if layer is None:
            report.skipped.append(f"{file.name}: not a water-network layer (name has none of "
                                  f"{', '.join(w for w, _ in GIS_LAYER_WORDS)})")
            continue
        _join_one(twin, layer, file, report)
        used += 1
    if used == 0:
        report.warnings.append(f"{folder}: no GIS layer of the network found "
                               f"({', '.join('*' + w + '*' for w, _ in GIS_LAYER_WORDS)})")


def read_vector(file: Path) -> gpd.GeoDataFrame:
    """Read a GIS file; an unreadable file or one without CRS is one error naming it."""
    try:
        frame = pyogrio.read_dataframe(file)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, FieldError...
        raise SourceError(f"{file}: cannot read GIS layer ({' '.join(str(exc).split())})") from None
    if frame.crs is None:
        hint = " (the shapefile has no .prj)" if file.suffix.lower() == ".shp" else ""
        raise SourceError(f"{file}: layer has no CRS{hint}; add one, e.g. "
                          f"ogr2ogr -a_srs EPSG:XXXX out{file.suffix} {file.name}")
    return frame


def _join_one(twin: Twin, layer: str, file: Path, report: ImportReport) -> None:
    gis = read_vector(file)
    lower = {c.lower(): c for c in gis.columns if c != gis.geometry.name}
    id_col = next((lower[c] for c in _ID_COLUMNS if c in lower), None)
    if id_col is None:
        raise SourceError(f"{file}: no id column to join on (looked for {', '.join(_ID_COLUMNS)})")
    gis = gis.to_crs(twin.crs)
    gis["_id"] = gis[id_col].map(lambda v: None if pd.isna(v) else str(v).strip())
    dup = gis["_id"].duplicated() & gis["_id"].notna()
    if dup.any():
        raise SourceError(f"{file}: column {id_col!r} repeats {gis['_id'][dup].iloc[0]!r}")
    target = twin[layer].copy()
    have, want = set(gis["_id"].dropna()), set(target["id"])
    only_gis, only_net = sorted(have - want), sorted(want - have)
    matched = len(have & want)
    if only_gis:
        report.warnings.append(f"{file.name}: {len(only_gis)} features with no {layer} element: "
                               f"{', '.join(only_gis[:5])}{' ...' if len(only_gis) > 5 else ''}")
    if only_net:
        report.warnings.append(f"{file.name}: {len(only_net)} {layer} elements missing from the GIS "
                               f"layer: {', '.join(only_net[:5])}{' ...' if len(only_net) > 5 else ''}")
    gis = gis[gis["_id"].notna()].set_index("_id")
    joined = []
    for column, aliases in ATTRIBUTE_ALIASES.items():
        source = next((lower[a] for a in aliases if a in lower), None)
        if source is None or column not in target.columns:
            continue
        values = target["id"].map(gis[source])
        if column == "install_year":
            values = pd.to_numeric(values, errors="coerce")
            values = values.where((values > 1700) & (values < 2200))
        target[column] = values
        joined.append(f"{source}->{column}")
    extra = [lower[c] for c in lower if c not in NETWORK_ATTRIBUTES and lower[c] != id_col
             and not any(c in aliases for aliases in ATTRIBUTE_ALIASES.values())]
    for source in extra:
        column = re.sub(r"\W+", "_", source.lower()).strip("_")
        if column in target.columns or column == "geometry":
            column = f"gis_{column}"
        target[column] = target["id"].map(gis[source])
        joined.append(f"{source}->{column}")
    offsets = _position_offsets(target, gis)
    twin.set_layer(layer, target, source=str(file))
    what = f"joined {', '.join(joined)}" if joined else "no attributes beyond the network's"
    where = ""
    if offsets is not None and len(offsets):
        far = offsets[offsets > 1.0]
        if len(far):
            report.warnings.append(f"{file.name}: {len(far)} features lie more than 1 m from the network's "
                                   f"position (worst {far.idxmax()} at {far.max():.1f} m)")
        else:
            where = f"; positions agree within {offsets.max():.2f} m"
    report.notes.append(f"{file.name}: {matched} of {len(target)} {layer} matched by {id_col!r}; "
                           f"{what}{where}")


def _position_offsets(target: gpd.GeoDataFrame, gis: gpd.GeoDataFrame) -> pd.Series | None:
    """Distance from each element to its GIS feature (Hausdorff for lines, so a bent pipe counts)."""
    common = target[target["id"].isin(gis.index)]
    if common.empty:
        return None
    mine = common.geometry.values
    theirs = gis.geometry.reindex(common["id"]).values
    lines = shapely.get_type_id(mine) != 0
    theirs_lines = shapely.get_type_id(theirs) != 0
    both = lines & theirs_lines
    dist = np.where(both, shapely.hausdorff_distance(mine, theirs), shapely.distance(mine, theirs))
    return pd.Series(dist, index=common["id"].to_numpy())


# --------------------------------------------------------------------------- terrain

def read_dem(dem, twin: Twin, report: ImportReport, units: str = "auto", default_crs: CRS | None = None,
             z_reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[Terrain, float]:
    """Read a DEM, convert its heights to metres and warp it to the twin's CRS.

    Returns the terrain and the metres-per-height-unit factor used.  A DEM with
    no CRS is taken to be in ``default_crs`` (said in the report).
    """
    dem = Path(dem)
    if not dem.exists():
        raise SourceError(f"{dem}: no such DEM file")
    try:
        terrain = Terrain.read(dem)
    except SourceError as exc:
        if "has no CRS" not in str(exc) or default_crs is None:
            raise
        terrain = Terrain.read(dem, crs=default_crs)
        report.guessed.append(f"{dem.name}: the DEM has no CRS; taken to be {describe(default_crs)} "
                              "like the network")
    if z_reference is None:
        j = twin["water_junctions"]
        z_reference = (j.geometry.x.to_numpy(), j.geometry.y.to_numpy(), j["elevation"].to_numpy())
    factor = dem_height_factor(dem, terrain, twin.crs, z_reference, units, report)
    terrain = terrain.reprojected(twin.crs, scale_z=factor)
    if terrain.crs != twin.crs:  # reprojected() keeps an equal-but-differently-spelled CRS object
        terrain = Terrain(terrain.heights, terrain.transform, twin.crs)
    return terrain, factor


def _raster_units(dem: Path) -> str:
    try:
        with rasterio.open(dem) as src:
            return (src.units[0] or "").strip().lower()
    except rasterio.errors.RasterioIOError:
        return ""


def dem_height_factor(dem: Path, terrain: Terrain, twin_crs: CRS, reference, units: str,
                      report: ImportReport, horizontal: tuple[str, float] | None = None) -> float:
    """Metres per height unit of ``terrain``.

    ``units`` other than ``auto`` is obeyed.  ``auto`` trusts, in order: a
    vertical axis of the raster's CRS, the band's unit metadata, and then the
    data — heights read as metres and as the CRS's horizontal unit are both
    compared with the network's node elevations (``reference`` = x, y, z in the
    twin CRS, metres) and the reading that agrees wins.  Heights are *not*
    assumed to share the horizontal unit: USGS DEMs in US-feet state-plane grids
    (like KY4's) hold heights in metres.  The decision is written to the report.
    """
    name = dem.name
    if units != "auto":
        if units not in HEIGHT_UNITS:
            raise SourceError(f"DEM height unit {units!r}: use one of auto, {', '.join(HEIGHT_UNITS)}")
        report.notes.append(f"{name}: heights in {units} as given (x {HEIGHT_UNITS[units]:.6g} to metres)")
        return HEIGHT_UNITS[units]
    for sub in terrain.crs.sub_crs_list or []:
        if sub.is_vertical and sub.axis_info:
            factor = float(sub.axis_info[0].unit_conversion_factor)
            report.notes.append(f"{name}: heights in {sub.axis_info[0].unit_name} "
                                   f"(the raster's vertical CRS), x {factor:.6g} to metres")
            return factor
    band_unit = _raster_units(dem)
    for spelled, factor in (("metre", 1.0), ("meter", 1.0), ("m", 1.0), ("us survey foot", HEIGHT_UNITS["us-ft"]),
                            ("us-ft", HEIGHT_UNITS["us-ft"]), ("ftus", HEIGHT_UNITS["us-ft"]),
                            ("foot", 0.3048), ("feet", 0.3048), ("ft", 0.3048)):
        if band_unit == spelled:
            report.notes.append(f"{name}: heights in {band_unit} (the band's unit), x {factor:.6g} to metres")
            return factor
    if horizontal is None:
        linear = terrain.crs.is_projected and terrain.crs.axis_info  # degrees are no height unit
        factor = axis_unit_factor(terrain.crs) if linear else 1.0
        horizontal = (f"{terrain.crs.axis_info[0].unit_name} (the CRS's horizontal unit)"
                      if linear else "metres", factor)
    candidates = {"metres": 1.0}
    if abs(horizontal[1] - 1.0) > 1e-9:
        candidates[horizontal[0]] = horizontal[1]
    x, y, z = (np.asarray(a, dtype=float) for a in reference)
    if len(candidates) == 1:
        report.notes.append(f"{name}: heights taken as metres (metric CRS, no unit metadata)")
        return 1.0
    if len(x) and not terrain.crs.equals(twin_crs):
        x, y = Transformer.from_crs(twin_crs, terrain.crs, always_xy=True).transform(x, y)
    ground = terrain.sample(x, y) if len(x) else np.array([])
    ok = np.isfinite(ground) & np.isfinite(z)
    if ok.sum() < 3:
        label, factor = list(candidates.items())[-1]
        report.guessed.append(f"{name}: too few network nodes on the DEM to check its height unit; "
                              f"heights taken as {label}, x {factor:.6g} to metres")
        return factor
    misfit = {label: float(np.median(np.abs(ground[ok] * f - z[ok]))) for label, f in candidates.items()}
    best = min(misfit, key=misfit.get)
    others = "; ".join(f"as {label}: {m:.1f} m" for label, m in misfit.items() if label != best)
    report.guessed.append(f"{name}: heights are in {best} — median |DEM - node elevation| over "
                          f"{int(ok.sum())} nodes is {misfit[best]:.2f} m read that way ({others})")
    return candidates[best]


def lay_on_terrain(twin: Twin, report: ImportReport, tolerance: float = ELEVATION_TOLERANCE_M,
                   worst: int = 5) -> None:
    """Give junctions ground level and burial depth, pipes their cover; report DEM disagreements.

    A junction's ``burial_depth`` is ground minus node elevation (the EPANET
    elevation is taken as the pipe centreline at the node).  A pipe's
    ``burial_depth`` is the cover over its crown: the mean of its end junctions'
    depths (one end when the other is a tank or reservoir) minus half the
    diameter.  Negative values mean the node sits above the DEM's ground.
    """
    terrain = twin.terrain
    junctions = twin["water_junctions"].copy()
    if terrain is None or junctions.empty:
        return
    ground = terrain.sample(junctions.geometry.x.to_numpy(), junctions.geometry.y.to_numpy())
    junctions["terrain_elevation"] = ground
    junctions["burial_depth"] = ground - junctions["elevation"].to_numpy()
    twin.set_layer("water_junctions", junctions, source="DEM")
    off = int(np.isnan(ground).sum())
    if off:
        report.warnings.append(f"DEM: {off} of {len(junctions)} junctions lie outside the DEM "
                               "(no ground level, no burial depth)")
    depth = junctions.set_index("id")["burial_depth"]
    pipes = twin["water_pipes"].copy()
    if len(pipes):
        a = pipes["start_node"].map(depth).to_numpy(dtype=float)
        b = pipes["end_node"].map(depth).to_numpy(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # both ends off the DEM -> NaN, reported above
            mean = np.nanmean(np.vstack([a, b]), axis=0)
        pipes["burial_depth"] = mean - pipes["diameter"].to_numpy() / 2
        twin.set_layer("water_pipes", pipes, source="DEM")
    diff = junctions["elevation"].to_numpy() - ground
    ok = np.isfinite(diff)
    if not ok.any():
        report.warnings.append("DEM: no junction lies on the DEM; elevations not compared")
        return
    absd = np.abs(diff[ok])
    ids = junctions["id"].to_numpy()[ok]
    above = int((diff[ok] > 0).sum())
    report.notes.append(f"DEM: ground level and burial depth for {int(ok.sum())} junctions and "
                           f"{len(pipes)} pipes; node elevation - DEM: median {np.median(diff[ok]):+.2f} m, "
                           f"90% within {np.percentile(absd, 90):.2f} m; {above} nodes above ground")
    big = absd > tolerance
    if big.any():
        order = np.argsort(-absd)[:worst]
        listed = ", ".join(f"{ids[i]} node {junctions['elevation'].to_numpy()[ok][i]:.1f} m vs DEM "
                           f"{ground[ok][i]:.1f} m ({diff[ok][i]:+.1f} m)" for i in order)
        report.warnings.append(f"DEM: {int(big.sum())} of {int(ok.sum())} junction elevations differ from the "
                               f"DEM by more than {tolerance:g} m; worst: {listed}")
