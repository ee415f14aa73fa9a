"""The twin's layer schemas: which layers exist, in which domain, with which columns.

Every vector layer is a GeoDataFrame with a string ``id`` column (the stable
feature id, unique within the layer) and the columns declared here.  Required
columns must be present; optional columns are added (empty) when missing so
every consumer can rely on them.  ``validate`` is the single place a layer's
shape is checked, and its errors name the layer, the column and the file.

Units are SI throughout: metres, seconds, m³/s for water demand, km/h for road
speed (the unit planners read), %LEL for combustible gas.
"""

from __future__ import annotations

import json
from functools import lru_cache
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.errors import LayerError

DOMAINS = ("underground", "ground", "low_altitude")

#: The four warning levels, most severe first: site risk, sensor alarms and the
#: alarm levels that open incidents all take their names from here.
RISK_LEVELS = ("red", "orange", "yellow", "blue")

#: The one colour of each warning level, for every drawing (plan, plots, 3D scene).
RISK_COLOURS = {"red": "#d7191c", "orange": "#fd8d3c", "yellow": "#ffd92f", "blue": "#2c7bb6"}

#: LEC (Graham–Kinney) bands: D = L × E × C.  D > 320 extremely dangerous (red),
#: 160–320 highly dangerous (orange), 70–160 significant (yellow), below 70 blue.
DEFAULT_LEC_BANDS = {"red": 320.0, "orange": 160.0, "yellow": 70.0}


@dataclass(frozen=True)
class Column:
    """One column: its kind (``str``, ``float``, ``int``, ``bool``, ``datetime``)."""

    kind: str
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] | None = None
    #: Smallest value that makes physical sense (a negative diameter or height is a data error).
    minimum: float | None = None
    #: Whether ``minimum`` itself is refused (a pipe of diameter 0 carries no water).
    exclusive: bool = False


@dataclass(frozen=True)
class LayerSchema:
    name: str
    domain: str
    geometry: tuple[str, ...]
    columns: dict[str, Column] = field(default_factory=dict)
    doc: str = ""

    @property
    def required(self) -> list[str]:
        return [c for c, col in self.columns.items() if col.required]


def _req(kind, doc="", choices=None, minimum=None, exclusive=False):
    return Column(kind, True, doc, choices, minimum, exclusive)


def _opt(kind, doc="", choices=None, minimum=None, exclusive=False):
    return Column(kind, False, doc, choices, minimum, exclusive)


POINT = ("Point",)
LINE = ("LineString", "MultiLineString")
POLYGON = ("Polygon", "MultiPolygon")

WELL_TYPES = ("sewer", "storm", "gas", "water", "heat", "power", "telecom", "other")
GAS_PRESSURE_CLASSES = ("low", "medium_b", "medium_a", "subhigh_b", "subhigh_a", "high")

_SCHEMAS = [
    # ---------------------------------------------------------------- underground
    LayerSchema("water_junctions", "underground", POINT, {
        "elevation": _req("float", "node elevation used by the hydraulic model, m"),
        "base_demand": _opt("float", "base demand, m³/s"),
        "terrain_elevation": _opt("float", "ground level from the DEM, m"),
        "burial_depth": _opt("float", "ground level minus node elevation, m"),
        "zone": _opt("str", "pressure zone or DMA"),
    }, "Junctions of the water network (one per EPANET junction)."),
    LayerSchema("water_pipes", "underground", LINE, {
        "start_node": _req("str"),
        "end_node": _req("str"),
        "length": _opt("float", "m", minimum=0),
        "diameter": _req("float", "internal diameter, m", minimum=0, exclusive=True),
        "material": _opt("str", "CI, DI, PVC, PE, steel, AC, ..."),
        "install_year": _opt("int"),
        "roughness": _opt("float", "Hazen-Williams C (or the model's headloss unit)", minimum=0),
        "burial_depth": _opt("float", "depth of the pipe crown below ground, m"),
        "status": _opt("str", "OPEN, CLOSED or CV"),
    }, "Pipes of the water network (one per EPANET pipe)."),
    LayerSchema("water_valves", "underground", POINT, {
        "valve_type": _req("str", "isolation, or an EPANET type: PRV, PSV, PBV, FCV, TCV, GPV"),
        "pipe_id": _opt("str", "pipe the isolation valve sits on"),
        "node_id": _opt("str", "junction the valve closes off (the side of the pipe it guards)"),
        "link_id": _opt("str", "EPANET valve link modelling this valve, if any"),
        "diameter": _opt("float", "m", minimum=0),
        "operable": _opt("bool", "false when the valve is known not to close"),
    }, "Valves: isolation valves on pipes and the network's control valves."),
    LayerSchema("water_pumps", "underground", LINE, {
        "start_node": _req("str"),
        "end_node": _req("str"),
        "pump_type": _opt("str", "HEAD or POWER"),
    }),
    LayerSchema("water_tanks", "underground", POINT, {
        "elevation": _req("float", "tank bottom, m"),
        "init_level": _opt("float", "m", minimum=0),
        "min_level": _opt("float", "m", minimum=0),
        "max_level": _opt("float", "m", minimum=0),
        "diameter": _opt("float", "m", minimum=0),
    }),
    LayerSchema("water_reservoirs", "underground", POINT, {
        "base_head": _req("float", "m"),
    }),
    LayerSchema("hydrants", "underground", POINT, {
        "node_id": _opt("str", "junction the hydrant draws from"),
        "distance_to_node": _opt("float", "m", minimum=0),
    }),
    LayerSchema("gas_mains", "underground", LINE, {
        "pressure_class": _req("str", "GB 50028 class", GAS_PRESSURE_CLASSES),
        "material": _opt("str"),
        "diameter": _opt("float", "m", minimum=0),
        "burial_depth": _opt("float", "m"),
        "install_year": _opt("int"),
    }),
    LayerSchema("sewers", "underground", LINE, {
        "upstream_invert": _req("float", "invert elevation at the upstream end, m"),
        "downstream_invert": _req("float", "invert elevation at the downstream end, m"),
        "diameter": _opt("float", "m", minimum=0),
        "kind": _opt("str", "sanitary, storm or combined"),
        "material": _opt("str"),
        "upstream_manhole": _opt("str"),
        "downstream_manhole": _opt("str"),
    }),
    LayerSchema("manholes", "underground", POINT, {
        "well_type": _req("str", "what the well gives access to", WELL_TYPES),
        "rim_elevation": _opt("float", "m"),
        "depth": _opt("float", "m", minimum=0),
    }),
    LayerSchema("septic_tanks", "underground", POINT, {
        "volume_m3": _opt("float", minimum=0),
        "building_id": _opt("str"),
        "depth": _opt("float", "m", minimum=0),
    }),
    LayerSchema("utility_tunnels", "underground", LINE, {
        "width": _opt("float", "m", minimum=0),
        "height": _opt("float", "m", minimum=0),
        "burial_depth": _opt("float", "m"),
        "contents": _opt("str", "comma-separated: water, gas, power, telecom, heat"),
    }),
    # ---------------------------------------------------------------- ground
    LayerSchema("buildings", "ground", POLYGON, {
        "height": _req("float", "m above ground", minimum=0),
        "floors": _opt("int", minimum=0),
        "population": _opt("int", minimum=0),
        "use": _opt("str", "residential, commercial, industrial, public, ..."),
        "risk_level": _opt("str", "red, orange, yellow, blue or empty", RISK_LEVELS + ("",)),
        "base_elevation": _opt("float", "ground level, m"),
        "junction_id": _opt("str", "water junction serving the building"),
    }),
    LayerSchema("roads", "ground", LINE, {
        "road_class": _req("str", "motorway, primary, secondary, tertiary, residential, service, ..."),
        "speed_kmh": _req("float", minimum=0),
        "name": _opt("str"),
        "oneway": _opt("bool"),
        "lanes": _opt("int", minimum=0),
    }),
    LayerSchema("sites", "ground", POINT + POLYGON, {
        "name": _req("str"),
        "category": _req("str", "gas station, school, hospital, plant, market, ..."),
        "contact": _opt("str"),
        "inspections": _opt("str", "JSON list of {date, inspector, result, notes}"),
        "hazards": _opt("str", "comma-separated hazards"),
        "lec_l": _opt("float", "likelihood L", minimum=0),
        "lec_e": _opt("float", "exposure E", minimum=0),
        "lec_c": _opt("float", "consequence C", minimum=0),
        "lec_d": _opt("float", "D = L × E × C (derived)"),
        "risk_level": _opt("str", "derived from D with the project's bands", RISK_LEVELS + ("",)),
    }, "'One site, one file': the register of sites that need watching."),
    LayerSchema("fire_stations", "ground", POINT, {
        "name": _req("str"),
        "kind": _req("str", "station or micro_station", ("station", "micro_station", "ems",
                                                          "water_repair", "gas_emergency")),
        "units": _opt("str", 'JSON object, unit type → count, e.g. {"engine": 2}'),
    }),
    LayerSchema("cameras", "ground", POINT, {
        "height": _opt("float", "m above ground", minimum=0),
        "heading": _opt("float", "degrees clockwise from north"),
        "fov_deg": _opt("float", "horizontal field of view, degrees (default 60)", minimum=0, exclusive=True),
        "range_m": _opt("float", "distance the camera makes out a person or a vehicle at, m (default 120)",
                        minimum=0, exclusive=True),
        "video": _opt("str", "recorded video file (path, relative to the project's folder)"),
        "video_start": _opt("str", "UTC time of the video's first frame (ISO 8601)"),
    }),
    LayerSchema("sensors", "ground", POINT, {
        "sensor_type": _req("str", "pressure, flow, level, methane, smoke, water_level, strain, ..."),
        "unit": _req("str", "m, m3/h, %LEL, ..."),
        "layer": _opt("str", "layer of the feature the sensor sits on"),
        "feature_id": _opt("str", "id of that feature"),
        "period_s": _opt("float", "sampling period, s", minimum=0),
        "thresholds": _opt("str", 'JSON object, level → threshold, e.g. {"yellow": 25}'),
    }),
    # ---------------------------------------------------------------- low altitude
    LayerSchema("airspace_zones", "low_altitude", POLYGON, {
        "name": _opt("str"),
        "kind": _req("str", "airport_surface, no_fly, restricted, ..."),
        "floor_m": _req("float", "elevation of the floor on the DEM's vertical datum (not above ground), m"),
        "ceiling_m": _req("float", "elevation of the ceiling on the DEM's vertical datum, m"),
    }),
    LayerSchema("drone_corridors", "low_altitude", LINE, {
        "name": _opt("str"),
        "width_m": _req("float", minimum=0),
    }, "3D lines: Z is the corridor's centre elevation on the DEM's vertical datum (not above ground)."),
    LayerSchema("drone_tracks", "low_altitude", POINT, {
        "track_id": _req("str"),
        "time": _req("datetime", "UTC"),
    }, "Timestamped 3D points; Z is elevation on the DEM's vertical datum (not above ground)."),
]

SCHEMAS: dict[str, LayerSchema] = {s.name: s for s in _SCHEMAS}
#: The raster layer of the ground domain (held as ``Twin.terrain``, not a GeoDataFrame).
RASTER_LAYERS = {"terrain": "ground"}
#: Every layer name of the three domains, in display order (terrain leads the ground).
LAYER_DOMAINS: dict[str, str] = {
    name: domain
    for domain in DOMAINS
    for name in ([*(n for n, d in RASTER_LAYERS.items() if d == domain)]
                 + [s.name for s in _SCHEMAS if s.domain == domain])
}

_NULLS = {"str": None, "float": np.nan, "int": pd.NA, "bool": pd.NA, "datetime": pd.NaT}
_DTYPES = {"str": object, "float": "float64", "int": "Int64", "bool": "boolean",
           "datetime": "datetime64[ms, UTC]"}


def empty_layer(name: str, crs) -> gpd.GeoDataFrame:
    """An empty layer with the schema's columns, in ``crs``."""
    return _empty_template(name).set_crs(crs, allow_override=True)


@lru_cache(maxsize=None)
def _empty_template(name: str) -> gpd.GeoDataFrame:
    crs = None
    schema = SCHEMAS[name]
    data = {"id": pd.Series([], dtype=object)}
    for col, spec in schema.columns.items():
        data[col] = pd.Series([], dtype=_DTYPES[spec.kind])
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _show(value) -> str:
    """repr of a cell value without numpy's type wrapper (1975.5, not np.float64(1975.5))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _coerce(series: pd.Series, kind: str, where: str) -> pd.Series:
    """Convert ``series`` to the column kind or raise naming the column."""
    if kind == "str":
        bad = series.map(lambda v: not (v is None or isinstance(v, str) or
                                        (isinstance(v, float) and np.isnan(v))))
        if bad.any() and series.dtype.kind in "fiub":
            raise LayerError(f"{where}: expected text, found {series.dtype} values")
        return series.astype(object).where(series.notna(), None).map(
            lambda v: v if v is None or isinstance(v, str) else str(v))
    if kind == "float":
        if series.dtype.kind in "fiu" or series.isna().all():
            return series.astype("float64")
        converted = pd.to_numeric(series, errors="coerce")
        nonnum = converted.isna() & series.notna()
        if nonnum.any():
            first = series[nonnum].iloc[0]
            raise LayerError(f"{where}: expected numbers, found {_show(first)} "
                             f"({int(nonnum.sum())} non-numeric values)")
        return converted.astype("float64")
    if kind == "int":
        if series.isna().all():
            return series.astype("Int64")
        converted = pd.to_numeric(series, errors="coerce")
        nonnum = converted.isna() & series.notna()
        frac = converted.notna() & (converted.astype("float64") % 1 != 0)
        if nonnum.any() or frac.any():
            first = series[nonnum | frac].iloc[0]
            raise LayerError(f"{where}: expected whole numbers, found {_show(first)}")
        return converted.round().astype("Int64")
    if kind == "bool":
        if series.dtype.kind == "b" or str(series.dtype) == "boolean":
            return series.astype("boolean")
        mapping = {True: True, False: False, 1: True, 0: False, "true": True, "false": False,
                   "yes": True, "no": False, "1": True, "0": False}
        out = series.map(lambda v: mapping.get(v.lower() if isinstance(v, str) else v, "bad")
                         if not pd.isna(v) else pd.NA)
        if (out.astype(object) == "bad").any():
            first = series[out.astype(object) == "bad"].iloc[0]
            raise LayerError(f"{where}: expected true/false, found {_show(first)}")
        return out.astype("boolean")
    if kind == "datetime":
        try:
            out = pd.to_datetime(series, utc=True, errors="raise", format="mixed")
        except (ValueError, TypeError) as exc:
            raise LayerError(f"{where}: expected timestamps ({exc})") from None
        return out.astype("datetime64[ms, UTC]")
    raise AssertionError(kind)


def validate(name: str, frame: gpd.GeoDataFrame, source: str = "<memory>") -> gpd.GeoDataFrame:
    """Check and normalise one layer; return it with every schema column present.

    Raises :class:`LayerError` naming the layer, the column and ``source`` when a
    required column is missing, a value has the wrong type, ids are missing or
    repeated, the geometry type is wrong, or the CRS is missing.
    """
    if name not in SCHEMAS:
        known = ", ".join(SCHEMAS)
        raise LayerError(f"{source}: unknown layer {name!r} (known layers: {known})")
    schema = SCHEMAS[name]
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerError(f"{source}: layer {name!r} is not a GeoDataFrame")
    if frame.crs is None and len(frame):
        raise LayerError(f"{source}: layer {name!r} has no CRS")
    if "id" not in frame.columns:
        raise LayerError(f"{source}: layer {name!r} is missing required column 'id'")
    for col in schema.required:
        if col not in frame.columns:
            raise LayerError(f"{source}: layer {name!r} is missing required column {col!r}")
    out = frame.copy()
    ids = out["id"]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise LayerError(f"{source}: layer {name!r} column 'id' is empty at row {row}")
    out["id"] = ids.map(str)
    dup = out["id"].duplicated()
    if dup.any():
        raise LayerError(f"{source}: layer {name!r} column 'id' repeats {out['id'][dup].iloc[0]!r}")
    for col, spec in schema.columns.items():
        where = f"{source}: layer {name!r} column {col!r}"
        if col not in out.columns:
            out[col] = pd.Series([_NULLS[spec.kind]] * len(out), index=out.index, dtype=_DTYPES[spec.kind])
            continue
        out[col] = _coerce(out[col], spec.kind, where)
        # Required text included: a road whose class is NaN cannot be routed.  An empty string is
        # a value someone wrote (a smoke detector's unit is ""), so only a missing value is refused.
        empty = out[col].isna()
        if spec.required and empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise LayerError(f"{where} is empty at row {row} (feature {out['id'].iloc[row]!r})")
        if spec.minimum is not None:
            values = out[col].astype("float64")
            low = values <= spec.minimum if spec.exclusive else values < spec.minimum
            if low.any():
                row = int(np.flatnonzero(low.to_numpy())[0])
                bound = f"above {spec.minimum:g}" if spec.exclusive else f"at least {spec.minimum:g}"
                raise LayerError(f"{where}: {_show(out[col].iloc[row])} at row {row} (feature "
                                 f"{out['id'].iloc[row]!r}); the value must be {bound}")
        if spec.choices:
            present = out[col].dropna()
            bad = present[~present.isin(spec.choices)]
            if len(bad):
                raise LayerError(f"{where}: {bad.iloc[0]!r} is not one of {', '.join(c for c in spec.choices if c)}")
    if name == "sensors" and len(out):
        # The layer a sensor sits on is a fixed vocabulary; a typo would silently detach it.
        layer = out["layer"]
        unknown = (layer.notna() & (layer != "") & ~layer.isin(list(SCHEMAS) + list(RASTER_LAYERS))).to_numpy()
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise LayerError(f"{source}: layer {name!r} column 'layer': {layer.iloc[row]!r} (feature "
                             f"{out['id'].iloc[row]!r}) is not a layer of the twin "
                             f"(layers: {', '.join([*RASTER_LAYERS, *SCHEMAS])})")
    if name == "airspace_zones" and len(out):
        upside_down = out["ceiling_m"] < out["floor_m"]
        if upside_down.any():
            row = int(np.flatnonzero(upside_down.to_numpy())[0])
            raise LayerError(f"{source}: layer {name!r} feature {out['id'].iloc[row]!r}: ceiling_m "
                             f"{out['ceiling_m'].iloc[row]:g} is below floor_m {out['floor_m'].iloc[row]:g}")
    if len(out):
        geom = out.geometry
        if geom.isna().any():
            row = int(np.flatnonzero(geom.isna().to_numpy())[0])
            raise LayerError(f"{source}: layer {name!r} feature {out['id'].iloc[row]!r} has no geometry")
        types = set(geom.geom_type.unique())
        wrong = types - set(schema.geometry)
        if wrong:
            raise LayerError(f"{source}: layer {name!r} expects {'/'.join(schema.geometry)} "
                             f"geometry, found {', '.join(sorted(wrong))}")
    ordered = ["id", *schema.columns]
    extra = [c for c in out.columns if c not in ordered and c != out.geometry.name]
    out = out[ordered + extra + [out.geometry.name]]
    if out.geometry.name != "geometry":
        out = out.rename_geometry("geometry")
    return out.reset_index(drop=True)


def lec_risk_level(d: float, bands: dict[str, float] | None = None) -> str:
    """Warning level for an LEC score D (bands: lower bounds of red, orange, yellow)."""
    bands = bands or DEFAULT_LEC_BANDS
    if d is None or pd.isna(d):
        return ""
    for level in RISK_LEVELS[:-1]:
        if d > bands[level]:
            return level
    return RISK_LEVELS[-1]


def derive_site_risk(sites: gpd.GeoDataFrame, bands: dict[str, float] | None = None) -> gpd.GeoDataFrame:
    """Fill ``lec_d`` = L × E × C and ``risk_level`` from it for every site that has L, E and C."""
    out = sites.copy()
    d = out["lec_l"] * out["lec_e"] * out["lec_c"]
    out["lec_d"] = d.astype("float64")
    out["risk_level"] = [lec_risk_level(v, bands) if not pd.isna(v) else (r or "")
                         for v, r in zip(d, out["risk_level"])]
    return out


def parse_json_field(value, where: str) -> object:
    """Parse a JSON text column value (``units``, ``thresholds``, ``inspections``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise LayerError(f"{where}: not valid JSON ({exc.msg} at character {exc.pos})") from None
