"""OpenStreetMap importer: buildings, drivable roads and fire hydrants from an .osm.pbf / .osm extract.

Read through GDAL's OSM driver (layers ``points``, ``lines``, ``multipolygons``),
whose ``other_tags`` column holds the tags it has no column for as hstore text
(``"height"=>"12 m","building:levels"=>"4"``).

Buildings (ways and multipolygon relations with ``building=*`` other than
``no``) get their height from, in order:

1. ``height`` — "12", "12 m", "12,5", "40'", "40 ft", "12'6\\"";
2. ``building:levels`` (+ ``roof:levels``) × the storey height (default 3.0 m);
3. a default by building type (:data:`DEFAULT_STOREYS`, :data:`DEFAULT_HEIGHT_M`).

How many came from each source is reported, and the column ``height_source``
says it per building, so a planner sees which heights are guesses.

Roads are the highway ways a vehicle can drive (:data:`DRIVABLE`, which keeps
pedestrian streets because fire engines use them); footways, cycleways, steps
and the like are left out and counted by class.  ``speed_kmh`` comes from
``maxspeed`` ("50", "30 mph", "FI:urban", "walk", "50;30" → the lowest),
else from an implicit zone in ``source:maxspeed``/``maxspeed:type``, else from
:data:`DEFAULT_SPEED_KMH` by class.  ``oneway=-1`` reverses the geometry so every
one-way road runs in its direction of travel.

Clipped extracts leave polygons whose rings lost their nodes: they are read
without failing, repaired where a polygon can be rebuilt (rings closed,
``make_valid`` keeping polygonal parts), skipped otherwise, and both are counted.
Feature ids are the OSM ids (``way/123``, ``relation/456``, ``node/789``), stable
across re-imports of newer extracts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from twin.crs import describe, metric_crs_for, parse_crs
from twin.errors import SourceError
from twin.importers import ImportReport
from twin.importers.vector import read_layer, reproject_frame

WGS84 = CRS.from_epsg(4326)
FOOT = 0.3048
MPH = 1.609344
KNOT = 1.852

# ---------------------------------------------------------------- building heights
#: Storeys assumed for a building type with neither height nor levels (× storey height).
DEFAULT_STOREYS = {
    "yes": 3, "building": 3, "apartments": 5, "residential": 4, "dormitory": 4, "hotel": 5,
    "house": 2, "detached": 2, "semidetached_house": 2, "terrace": 2, "bungalow": 1, "farm": 2,
    "office": 5, "commercial": 3, "retail": 2, "supermarket": 1, "civic": 3, "public": 3,
    "government": 4, "school": 3, "university": 4, "college": 3, "kindergarten": 2, "hospital": 5,
    "museum": 3, "train_station": 2, "transportation": 2, "fire_station": 2, "industrial": 2,
    "warehouse": 2, "manufacture": 2, "barracks": 3,
}
#: Buildings whose height is not a number of storeys: metres, independent of the storey height.
DEFAULT_HEIGHT_M = {
    "church": 15.0, "cathedral": 25.0, "chapel": 8.0, "mosque": 15.0, "synagogue": 12.0,
    "temple": 10.0, "shrine": 4.0, "tower": 20.0, "kiosk": 3.0, "shed": 2.5, "hut": 3.0,
    "cabin": 3.0, "garage": 3.0, "garages": 3.0, "carport": 3.0, "roof": 4.0, "pavilion": 4.0,
    "greenhouse": 4.0, "glasshouse": 4.0, "service": 3.0, "utility": 3.0, "transformer_tower": 6.0,
    "toilets": 3.0, "entrance": 3.0, "underpass_entrance": 3.0, "atrium": 10.0, "ship": 10.0,
    "bunker": 3.0, "container": 2.6, "silo": 20.0, "stadium": 20.0, "grandstand": 10.0,
    "sports_hall": 10.0, "parking": 9.0, "hangar": 12.0,
}
#: Largest ``height`` believed: taller values are typos (the world's tallest building is 828 m).
MAX_HEIGHT_M = 900.0

#: building=* → the twin's ``use``.
BUILDING_USE = {
    **dict.fromkeys(("apartments", "residential", "house", "detached", "semidetached_house", "terrace",
                     "bungalow", "dormitory", "farm", "cabin", "houseboat", "barracks"), "residential"),
    **dict.fromkeys(("commercial", "office", "retail", "supermarket", "kiosk", "hotel", "shop"), "commercial"),
    **dict.fromkeys(("industrial", "warehouse", "manufacture", "factory", "hangar", "silo", "storage_tank"),
                    "industrial"),
    **dict.fromkeys(("public", "civic", "government", "school", "university", "college", "kindergarten",
                     "hospital", "museum", "train_station", "transportation", "fire_station", "sports_hall",
                     "stadium"), "public"),
    **dict.fromkeys(("church", "cathedral", "chapel", "mosque", "synagogue", "temple", "shrine",
                     "religious"), "religious"),
    **dict.fromkeys(("shed", "garage", "garages", "carport", "roof", "hut", "service", "utility",
                     "transformer_tower", "toilets", "greenhouse", "glasshouse", "parking", "container",
                     "bunker"), "ancillary"),
}

# ---------------------------------------------------------------- roads
#: Highway classes a vehicle can use.  Pedestrian streets stay: fire engines and
#: ambulances are allowed in them, and an emergency twin must route through them.
DRIVABLE = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
    "service", "road", "busway", "pedestrian", "track",
})
#: Why the other highway classes are left out (reported).
NOT_DRIVABLE_REASON = {
    "construction": "under construction", "proposed": "not built", "abandoned": "not in use",
    "disused": "not in use", "raceway": "race track",
}

#: Speed by highway class when ``maxspeed`` is absent: urban limits, km/h.
DEFAULT_SPEED_KMH = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0,
    "primary": 50.0, "primary_link": 40.0, "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0, "unclassified": 40.0, "residential": 30.0,
    "road": 30.0, "busway": 50.0, "living_street": 20.0, "service": 20.0, "track": 20.0,
    "pedestrian": 10.0,
}

#: Implicit limits (``maxspeed=FI:urban``...), km/h, by country then zone.  "walk" is
#: walking pace; countries not listed use ``"*"``.
IMPLICIT_SPEED_KMH = {
    "*": {"urban": 50, "rural": 90, "motorway": 120, "trunk": 100, "living_street": 20, "walk": 6},
    "FI": {"urban": 50, "rural": 80, "motorway": 120, "trunk": 100, "living_street": 20},
    "SE": {"urban": 50, "rural": 70, "motorway": 110, "trunk": 90},
    "NO": {"urban": 50, "rural": 80, "motorway": 110},
    "DK": {"urban": 50, "rural": 80, "motorway": 130},
    "EE": {"urban": 50, "rural": 90, "motorway": 110},
    "DE": {"urban": 50, "rural": 100, "motorway": 130, "living_street": 7, "bicycle_road": 30},
    "AT": {"urban": 50, "rural": 100, "motorway": 130, "trunk": 100},
    "CH": {"urban": 50, "rural": 80, "motorway": 120, "trunk": 100},
    "NL": {"urban": 50, "rural": 80, "motorway": 100, "trunk": 100},
    "BE": {"urban": 50, "rural": 70, "motorway": 120},
    "FR": {"urban": 50, "rural": 80, "motorway": 130, "trunk": 110},
    "IT": {"urban": 50, "rural": 90, "motorway": 130, "trunk": 110},
    "ES": {"urban": 50, "rural": 90, "motorway": 120},
    "PL": {"urban": 50, "rural": 90, "motorway": 140, "trunk": 120},
    "RU": {"urban": 60, "rural": 90, "motorway": 110, "living_street": 20},
    "GB": {"urban": 30 * MPH, "rural": 60 * MPH, "nsl_single": 60 * MPH, "nsl_dual": 70 * MPH,
           "motorway": 70 * MPH},
    "US": {"urban": 25 * MPH, "rural": 55 * MPH, "motorway": 65 * MPH},
    "CN": {"urban": 50, "rural": 70, "motorway": 120},
}
WALKING_KMH = 6.0


# ---------------------------------------------------------------- tags
_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|(NULL))')
_UNESCAPE = re.compile(r"\\(.)")


def parse_other_tags(text) -> dict[str, str]:
    """GDAL's hstore text (``"k"=>"v","k2"=>"v2"``) as a dict; escaped quotes and commas kept.

    Malformed fragments are ignored rather than fatal: one broken tag must not
    lose the feature.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)) or not text:
        return {}
    out = {}
    for m in _HSTORE_PAIR.finditer(text):
        if m.group(3):
            continue
        out[_UNESCAPE.sub(r"\1", m.group(1))] = _UNESCAPE.sub(r"\1", m.group(2))
    return out


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".") if text.count(",") == 1 and "." not in text else text.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_FEET_INCHES = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:'|ft|feet|foot)\s*(?:(\d+(?:\.\d+)?)\s*(?:\"|in|inch|inches))?$")
_WITH_UNIT = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(m|meters?|metres?|km|cm|mm)?$")


def parse_height_m(value) -> float | None:
    """Metres from an OSM length: "12", "12 m", "12,5", "40'", "40 ft", "12'6\\"".  None when unreadable."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    m = _FEET_INCHES.match(text)
    if m:
        metres = float(m.group(1)) * FOOT + (float(m.group(2)) * 0.0254 if m.group(2) else 0.0)
    else:
        m = _WITH_UNIT.match(text)
        if not m:
            return None
        number = _number(m.group(1))
        if number is None:
            return None
        metres = number * {"km": 1000.0, "cm": 0.01, "mm": 0.001}.get(m.group(2) or "m", 1.0)
    return metres if 0 < metres <= MAX_HEIGHT_M else None


def parse_levels(value) -> float | None:
    """Storeys from ``building:levels`` ("4", "4.5", "3;5" → the most).  None when unreadable or ≤ 0."""
    if value is None:
        return None
    numbers = [_number(p) for p in str(value).split(";")]
    numbers = [n for n in numbers if n is not None and 0 < n < 300]
    return max(numbers) if numbers else None


def building_height(tags: dict, storey_height: float = 3.0) -> tuple[float, str, float | None]:
    """(height m, source, storeys) for one building's tags; source is height, levels or default."""
    levels = parse_levels(tags.get("building:levels"))
    height = parse_height_m(tags.get("height"))
    if height is not None:
        return height, "height", levels
    if levels is not None:
        roof = parse_levels(tags.get("roof:levels")) or 0.0
        return (levels + roof) * storey_height, "levels", levels
    kind = tags.get("building", "yes")
    if kind in DEFAULT_HEIGHT_M:
        return DEFAULT_HEIGHT_M[kind], "default", None
    storeys = DEFAULT_STOREYS.get(kind, DEFAULT_STOREYS["yes"])
    return storeys * storey_height, "default", float(storeys)


_ZONE = re.compile(r"^([a-z]{2})(?:-[a-z0-9]+)?:([a-z_]+?)(?::?(\d+))?$")


def parse_speed_kmh(value) -> float | None:
    """km/h from an OSM ``maxspeed``.  None for "none", "signals", "variable" and unreadable values.

    "50" and "50 km/h" are km/h; "30 mph" and "10 knots" are converted;
    "FI:urban", "DE:zone30", "DE:zone:30", "GB:nsl_single" use
    :data:`IMPLICIT_SPEED_KMH`; "walk" is walking pace; "50;30" gives the lowest.
    """
    if value is None:
        return None
    speeds = []
    for part in str(value).split(";"):
        text = part.strip().lower()
        if not text:
            continue
        m = re.match(r"^(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?$", text)
        if m:
            number = float(m.group(1))
            speeds.append(number * {"mph": MPH, "knots": KNOT}.get(m.group(2) or "", 1.0))
            continue
        if text == "walk":
            speeds.append(WALKING_KMH)
            continue
        m = _ZONE.match(text)
        if m:
            country, zone, digits = m.group(1).upper(), m.group(2), m.group(3)
            if digits and zone in ("zone", "zone_"):
                speeds.append(float(digits))
                continue
            if zone == "walk":
                speeds.append(WALKING_KMH)
                continue
            table = IMPLICIT_SPEED_KMH.get(country, {})
            fallback = IMPLICIT_SPEED_KMH["*"]
            if zone in table or zone in fallback:
                speeds.append(float(table.get(zone, fallback.get(zone))))
    return min(speeds) if speeds else None


def road_speed(tags: dict) -> tuple[float, str]:
    """(km/h, source) for a road: maxspeed, zone (source:maxspeed, maxspeed:type) or class default."""
    if "maxspeed" in tags:
        speed = parse_speed_kmh(tags["maxspeed"])
        if speed is not None:
            return speed, "maxspeed"
    directional = [parse_speed_kmh(tags.get(k)) for k in ("maxspeed:forward", "maxspeed:backward")]
    directional = [s for s in directional if s is not None]
    if directional:
        return min(directional), "maxspeed"
    for key in ("source:maxspeed", "maxspeed:type", "zone:maxspeed"):
        speed = parse_speed_kmh(tags.get(key))
        if speed is not None:
            return speed, "zone"
    return DEFAULT_SPEED_KMH.get(tags.get("highway"), 30.0), "default"


def oneway_of(tags: dict) -> tuple[bool, bool]:
    """(one-way?, drawn against the direction of travel?) from ``oneway`` and what implies it."""
    value = str(tags.get("oneway", "")).strip().lower()
    if value in ("-1", "reverse"):
        return True, True
    if value in ("yes", "true", "1"):
        return True, False
    if value in ("no", "false", "0", "reversible", "alternating"):
        return False, False
    implied = tags.get("highway") in ("motorway", "motorway_link") or \
        tags.get("junction") in ("roundabout", "circular")
    return implied, False


def parse_lanes(value) -> int | None:
    if value is None:
        return None
    numbers = [_number(p) for p in str(value).split(";")]
    numbers = [int(n) for n in numbers if n is not None and n >= 1 and float(n).is_integer()]
    return max(numbers) if numbers else None


# ---------------------------------------------------------------- import
def _tags(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Per feature: the driver's own columns (where set) merged with the parsed ``other_tags``."""
    own = [c for c in columns if c in frame.columns and c not in ("osm_id", "osm_way_id", "other_tags",
                                                                 "z_order", "fid")]
    records = frame[own].to_dict("records")
    others = frame["other_tags"].tolist() if "other_tags" in frame.columns else [None] * len(frame)
    out = []
    for rec, other in zip(records, others):
        tags = parse_other_tags(other)
        tags.update({k: v for k, v in rec.items() if isinstance(v, str) and v != ""})
        out.append(tags)
    return out


def _osm_ids(frame: pd.DataFrame) -> pd.Series:
    """``way/123`` or ``relation/456`` for multipolygons, from the driver's two id columns."""
    way = frame["osm_way_id"]
    rel = frame["osm_id"]
    return pd.Series(np.where(way.notna(), "way/" + way.astype(str), "relation/" + rel.astype(str)),
                     index=frame.index)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".osm.pbf", ".osm.bz2", ".osm", ".pbf"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _read(path, layer, where=None):
    """One layer of the driver; files edited by hand or in JOSM have unsorted node ids, which
    GDAL's fast node index refuses, so those are read again with its slower general index."""
    try:
        return read_layer(path, layer, where=where)
    except SourceError as exc:
        if "Non increasing node id" not in str(exc):
            raise
        return read_layer(path, layer, where=where, USE_CUSTOM_INDEXING="NO")


def import_osm(path, to_crs=None, storey_height=3.0, name=None):
    """Buildings, drivable roads and fire hydrants of an OSM extract as a new twin.

    ``to_crs`` is the twin's metric CRS (default: the UTM zone at the centre of
    the data); ``storey_height`` is metres per ``building:levels``.  Returns
    ``(twin, report)``; the per-source numbers are also kept in
    ``twin.metadata["osm_import"]``.
    """
    from twin.model import Twin

    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if not (storey_height and storey_height > 0):
        raise SourceError(f"--storey-height {storey_height}: must be a positive number of metres")
    try:
        import pyogrio
        layers = {str(n) for n, _ in pyogrio.list_layers(path)}
    except Exception as exc:
        raise SourceError(f"{path}: not an OpenStreetMap file GDAL can read ({exc})") from None
    missing = {"points", "lines", "multipolygons"} - layers
    if missing:
        raise SourceError(f"{path}: not an OpenStreetMap extract (no layer {', '.join(sorted(missing))}; "
                          f"layers: {', '.join(sorted(layers))})")
    report = ImportReport(source=str(path), source_crs=describe(WGS84))
    stats: dict = {}

    polys, repair = _read(path, "multipolygons")
    lines, line_repair = _read(path, "lines", where="highway IS NOT NULL")
    points, _ = _read(path, "points", where="other_tags LIKE '%fire_hydrant%'")

    geoms = [g for g in (polys.geometry, lines.geometry, points.geometry) if g.notna().any()]
    if not geoms:
        raise SourceError(f"{path}: the extract holds no buildings, roads or hydrants")
    bounds = np.array([g.dropna().total_bounds for g in geoms])
    centre = ((bounds[:, 0].min() + bounds[:, 2].max()) / 2, (bounds[:, 1].min() + bounds[:, 3].max()) / 2)
    crs = parse_crs(to_crs, "--to-crs") if to_crs else metric_crs_for(WGS84, lon_lat=centre)
    if crs.is_engineering:
        raise SourceError(f"--to-crs {to_crs}: OpenStreetMap data are on the earth; choose a projected CRS "
                          f"in metres (default: the UTM zone, here {describe(metric_crs_for(WGS84, centre))})")
    twin = Twin(name or _stem(path), crs)

    buildings = _buildings(polys, repair, storey_height, report, stats)
    roads = _roads(lines, line_repair, polys, report, stats)
    hydrants = _hydrants(points, report, stats)
    for layer, frame in (("buildings", buildings), ("roads", roads), ("hydrants", hydrants)):
        frame = reproject_frame(frame.set_crs(WGS84, allow_override=True), crs, path)
        twin.set_layer(layer, frame, source=str(path))

    twin.metadata["osm_import"] = stats
    twin.metadata["attribution"] = "© OpenStreetMap contributors, ODbL 1.0"
    report.count_layers(twin)
    return twin, report


def _buildings(polys: gpd.GeoDataFrame, repair, storey_height: float, report: ImportReport,
               stats: dict) -> gpd.GeoDataFrame:
    ids = _osm_ids(polys)
    is_building = (polys["building"].notna() & (polys["building"] != "no")).to_numpy()

    def buildings_in(rows):
        return [ids.iloc[r] for r in rows if is_building[r]]

    # "Invalid rings" are the polygons GEOS refuses to build at all (a plain read_file raises on
    # them); they are repaired when closing the rings gives a polygon, skipped when nothing is left.
    invalid = len(repair.unreadable) + len(repair.ring_fixed)
    stats.update({"invalid_rings": invalid, "invalid_rings_repaired": len(repair.ring_fixed),
                  "invalid_rings_skipped": len(repair.unreadable),
                  "degenerate_skipped": len(repair.collapsed),
                  "invalid_polygons_made_valid": len(repair.made_valid)})
    if invalid:
        in_buildings = len(buildings_in(repair.unreadable + repair.ring_fixed))
        report.warnings.append(
            f"{invalid} multipolygons have invalid rings (too few nodes left by clipping the extract; a plain "
            f"read fails on them): {len(repair.ring_fixed)} repaired by closing their rings, "
            f"{len(repair.unreadable)} cannot be rebuilt and are skipped; {in_buildings} of the {invalid} "
            "are buildings, the others parks, landuse...")
    skipped = buildings_in(sorted(repair.unreadable + repair.collapsed))
    fixed = buildings_in(sorted(repair.ring_fixed + repair.made_valid))
    if skipped:
        report.skipped.append(f"{len(skipped)} buildings whose footprint has no area (rings of one or two nodes "
                              f"after clipping): {', '.join(skipped)}")
    if fixed:
        report.repaired.append(f"{len(fixed)} building footprints (unclosed rings, self-intersections) made "
                               f"valid, polygonal parts kept: {', '.join(fixed[:10])}"
                               + (f", ... ({len(fixed) - 10} more)" if len(fixed) > 10 else ""))
    stats["buildings_skipped"] = len(skipped)
    stats["buildings_repaired"] = len(fixed)

    keep = is_building & polys.geometry.notna()
    frame = polys[keep]
    tags = _tags(frame, list(frame.columns))
    rows = []
    for tag in tags:
        height, source, storeys = building_height(tag, storey_height)
        kind = tag.get("building", "yes")
        use = BUILDING_USE.get(kind)
        if use is None and kind == "yes":
            use = _use_from_amenity(tag)
        levels = parse_levels(tag.get("building:levels"))
        floors = levels if levels is not None else (storeys if storeys is not None
                                                    else max(1.0, round(height / storey_height)))
        rows.append({"height": height, "height_source": source, "floors": int(max(1, round(floors))),
                     "use": use, "building_type": kind, "name": tag.get("name"),
                     "levels_tag": tag.get("building:levels"), "height_tag": tag.get("height")})
    attrs = pd.DataFrame(rows, columns=["height", "height_source", "floors", "use", "building_type", "name",
                                        "levels_tag", "height_tag"])
    attrs.insert(0, "id", ids[keep].to_numpy())
    out = gpd.GeoDataFrame(attrs, geometry=frame.geometry.to_numpy(), crs=WGS84)
    sources = Counter(attrs["height_source"])
    stats["buildings_height_from"] = {k: int(sources.get(k, 0)) for k in ("height", "levels", "default")}
    unreadable = int((attrs["height_tag"].notna() & (attrs["height_source"] != "height")).sum())
    stats["buildings_height_tag_unreadable"] = unreadable
    report.guessed.append(
        f"building heights: {sources.get('height', 0)} from height, {sources.get('levels', 0)} from "
        f"building:levels × {storey_height:g} m, {sources.get('default', 0)} default by building type "
        "(column height_source)" + (f"; {unreadable} unreadable height values ignored" if unreadable else ""))
    return out


def _use_from_amenity(tags: dict) -> str | None:
    """``use`` for building=yes from what the building houses (shop, office, amenity)."""
    if tags.get("shop"):
        return "commercial"
    if tags.get("office"):
        return "commercial"
    amenity = tags.get("amenity", "")
    if amenity in ("school", "university", "college", "kindergarten", "hospital", "clinic", "library",
                   "townhall", "police", "fire_station", "courthouse", "theatre", "community_centre"):
        return "public"
    if amenity in ("place_of_worship",):
        return "religious"
    if amenity in ("restaurant", "cafe", "bank", "bar", "pub", "fast_food", "cinema", "nightclub"):
        return "commercial"
    return None


def _roads(lines: gpd.GeoDataFrame, repair, polys: gpd.GeoDataFrame, report: ImportReport,
           stats: dict) -> gpd.GeoDataFrame:
    lines = lines[lines.geometry.notna()]
    tags = _tags(lines, list(lines.columns))
    ids = "way/" + lines["osm_id"].astype(str)
    rows, geoms, left_out = [], [], Counter()
    speed_from, reversed_count = Counter(), 0
    for tag, way_id, geom in zip(tags, ids, lines.geometry):
        kind = tag.get("highway")
        if kind not in DRIVABLE:
            left_out[kind] += 1
            continue
        speed, source = road_speed(tag)
        speed_from[source] += 1
        oneway, backwards = oneway_of(tag)
        if backwards:
            geom = shapely.reverse(geom)
            reversed_count += 1
        rows.append({"id": way_id, "road_class": kind, "speed_kmh": float(speed), "speed_source": source,
                     "name": tag.get("name"), "oneway": oneway, "lanes": parse_lanes(tag.get("lanes")),
                     "maxspeed_tag": tag.get("maxspeed")})
        geoms.append(geom)
    attrs = pd.DataFrame(rows, columns=["id", "road_class", "speed_kmh", "speed_source", "name", "oneway",
                                        "lanes", "maxspeed_tag"])
    attrs["lanes"] = attrs["lanes"].astype("Int64")
    out = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    total = sum(left_out.values())
    stats["highway_ways"] = int(len(lines))
    stats["roads"] = int(len(out))
    stats["roads_not_drivable"] = dict(left_out.most_common())
    stats["roads_speed_from"] = {k: int(speed_from.get(k, 0)) for k in ("maxspeed", "zone", "default")}
    stats["roads_reversed"] = reversed_count
    if total:
        why = ", ".join(f"{k} {n}" + (f" ({NOT_DRIVABLE_REASON[k]})" if k in NOT_DRIVABLE_REASON else "")
                        for k, n in left_out.most_common())
        report.skipped.append(f"{total} of {len(lines)} highway ways are not for vehicles: {why}")
    if repair.skipped:
        report.skipped.append(f"{len(repair.skipped)} highway ways with no usable line")
    area_tags = polys["other_tags"].fillna("").str.contains('"highway"=>', regex=False) if len(polys) else []
    stats["highway_areas"] = int(np.sum(area_tags))
    if stats["highway_areas"]:
        report.skipped.append(f"{stats['highway_areas']} highway areas (squares, platforms) are outlines, "
                              "not road centre lines")
    report.guessed.append(
        f"road speeds: {speed_from.get('maxspeed', 0)} from maxspeed, {speed_from.get('zone', 0)} from an "
        f"implicit zone, {speed_from.get('default', 0)} default by class (column speed_source)"
        + (f"; {reversed_count} oneway=-1 ways reversed to their direction of travel" if reversed_count else ""))
    return out


def _hydrants(points: gpd.GeoDataFrame, report: ImportReport, stats: dict) -> gpd.GeoDataFrame:
    points = points[points.geometry.notna()]
    tags = _tags(points, list(points.columns))
    keep = [t.get("emergency") == "fire_hydrant" for t in tags]
    rows = []
    for tag, node_id, ok in zip(tags, points["osm_id"].astype(str), keep):
        if ok:
            rows.append({"id": f"node/{node_id}", "hydrant_type": tag.get("fire_hydrant:type"),
                         "diameter_mm": _number(tag.get("fire_hydrant:diameter", "") or "") or np.nan,
                         "ref": tag.get("ref"), "operator": tag.get("operator")})
    attrs = pd.DataFrame(rows, columns=["id", "hydrant_type", "diameter_mm", "ref", "operator"])
    out = gpd.GeoDataFrame(attrs, geometry=points.geometry[np.array(keep, dtype=bool)].to_numpy()
                           if len(points) else [], crs=WGS84)
    stats["hydrants"] = int(len(out))
    return out
