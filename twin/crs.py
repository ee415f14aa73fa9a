"""Coordinate reference systems: the twin is always in one CRS whose unit is the metre.

:func:`parse_crs` is the one reader of a CRS a user types (``--crs``,
``--to-crs``): ``EPSG:3547``, a WKT or PROJ string, or ``local:ft`` for
coordinates with no place on the earth.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pyproj import CRS
from pyproj.database import query_crs_info
from pyproj.enums import PJType
from pyproj.exceptions import CRSError

from twin.errors import SourceError


def axis_unit_factor(crs: CRS) -> float:
    """Metres per unit of the CRS's first axis (1.0 for metres, 0.3048006 for US feet)."""
    axes = crs.axis_info
    if not axes:
        raise SourceError(f"CRS {crs.name!r} has no axes")
    return float(axes[0].unit_conversion_factor)


def is_metric(crs: CRS) -> bool:
    return (crs.is_projected or crs.is_engineering) and abs(axis_unit_factor(crs) - 1.0) < 1e-12


def local_metric_crs(name: str) -> CRS:
    """A local engineering CRS in metres for data with no georeference (e.g. Micropolis)."""
    safe = name.replace('"', "'")
    return CRS.from_wkt(
        f'ENGCRS["{safe}",EDATUM["{safe} local datum"],CS[Cartesian,2],'
        'AXIS["easting (X)",east,ORDER[1],LENGTHUNIT["metre",1]],'
        'AXIS["northing (Y)",north,ORDER[2],LENGTHUNIT["metre",1]]]')


#: ``--crs local:<unit>``: metres per unit of a local (engineering) frame.
LOCAL_UNITS = {"m": ("metre", 1.0), "ft": ("foot", 0.3048), "ftus": ("US survey foot", 1200 / 3937)}


def local_crs(unit: str, flag: str = "--crs") -> CRS:
    """A local engineering frame in ``unit`` (``m``, ``ft`` or ``ftUS``); ``flag`` names the option given."""
    key = unit.strip().lower()
    if key not in LOCAL_UNITS:
        raise SourceError(f"{flag} local:{unit}: unknown unit (use local:m, local:ft or local:ftUS)")
    name, factor = LOCAL_UNITS[key]
    return CRS.from_wkt(
        f'ENGCRS["local frame ({name})",EDATUM["local datum"],CS[Cartesian,2],'
        f'AXIS["easting (X)",east,ORDER[1],LENGTHUNIT["{name}",{factor!r}]],'
        f'AXIS["northing (Y)",north,ORDER[2],LENGTHUNIT["{name}",{factor!r}]]]')


def parse_crs(text, flag: str = "--crs") -> CRS:
    """A CRS from what a user types: ``EPSG:3547``, a WKT or PROJ string, or ``local:ft``.

    ``flag`` is the option the text came with; a refusal names it.
    """
    text = str(text).strip()
    if text.lower().startswith("local:"):
        return local_crs(text.split(":", 1)[1], flag)
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise SourceError(f"{flag} {text!r}: not a coordinate reference system "
                          f"(use e.g. EPSG:3547, or local:ft for local coordinates in feet) ({exc})") from None


def metric_crs_for(crs: CRS, lon_lat=None) -> CRS:
    crs = CRS.from_user_input(crs)
    if is_metric(crs):
        return crs
    return CRS.from_wkt(_metric_wkt(crs.to_wkt(), None if lon_lat is None else tuple(map(float, lon_lat))))


@lru_cache(maxsize=64)
def _metric_wkt(wkt: str, lon_lat) -> str:
    return _metric_crs(CRS.from_wkt(wkt), lon_lat).to_wkt()


def _metric_crs(crs: CRS, lon_lat=None) -> CRS:
    """The metric CRS a twin uses for data in ``crs``.

    A metric projected CRS is kept.  A projected CRS in feet is replaced by its
    metric sibling from the EPSG registry (same datum and projection, e.g.
    EPSG:3547 Kentucky Single Zone (ftUS) -> EPSG:3546), else by the UTM zone.
    Geographic data goes to the UTM zone of ``lon_lat`` (a representative point).
    """
    crs = CRS.from_user_input(crs)
    if is_metric(crs):
        return crs
    if crs.is_projected:
        base = re.sub(r"\s*\((?:ftUS|ft|US survey foot|foot|feet|ftIn)\)\s*$", "", crs.name)
        for info in query_crs_info(auth_name="EPSG", pj_types=[PJType.PROJECTED_CRS]):
            if info.name in (base, f"{base} (m)") and not info.deprecated:
                candidate = CRS.from_epsg(int(info.code))
                if is_metric(candidate) and candidate.geodetic_crs == crs.geodetic_crs:
                    return candidate
    if lon_lat is None:
        raise SourceError(f"CRS {crs.name!r} is not in metres and no metric CRS could be chosen")
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    lon, lat = lon_lat
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise SourceError(f"CRS {crs.name!r}: the data's centre ({lon:.6g}, {lat:.6g}) is not a longitude and "
                          "latitude; are the coordinates really in this CRS?")
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    if not infos:
        raise SourceError(f"CRS {crs.name!r}: no UTM zone covers ({lon:.6g}, {lat:.6g}); pass a metric CRS")
    return CRS.from_epsg(int(infos[0].code))


def describe(crs: CRS) -> str:
    """'EPSG:3546' when the CRS has a code, else its name."""
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name


#: How far (degrees) coordinates may lie outside a CRS's published area of use before
#: they are taken for a wrong CRS.  Areas of use are where a CRS is accurate, not where it
#: is defined, so data a little beyond them is legitimate (a city straddling a state line);
#: a wrong CRS puts data hundreds of kilometres or whole continents away.
AREA_OF_USE_MARGIN_DEG = 1.0


def check_area_of_use(crs: CRS, xy, what: str, flag: str = "--crs"):
    """Raise SourceError when most coordinates ``xy`` (N×2, in ``crs``) lie outside its area of use.

    This catches the commonest CRS mistake — feet of a state plane declared as
    EPSG:4326, or a UTM zone for data in another projection — before a twin is
    built far from where the data is.  ``what`` names the data (the file) and
    ``flag`` the option the user gave the CRS with.  Engineering (local) CRSs
    and CRSs without a published area of use are not checked.  A wrong CRS
    moves every point; a few strays (a node left at 0,0) are a data problem,
    so when at most half are outside their mask is returned for the caller to
    report (all False when every point is inside).
    """
    import numpy as np
    from pyproj import Transformer

    crs = CRS.from_user_input(crs)
    area = crs.area_of_use
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    outside = np.zeros(len(xy), dtype=bool)
    finite = np.isfinite(xy).all(axis=1)
    xy = xy[finite]
    if area is None or crs.is_engineering or crs.geodetic_crs is None or not len(xy):
        return outside
    with np.errstate(all="ignore"):
        lon, lat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    m = AREA_OF_USE_MARGIN_DEG
    west, south, east, north = area.west, area.south, area.east, area.north
    if west > east:  # the area crosses the antimeridian
        lon = np.where(lon < west - m, lon + 360.0, lon)
        east += 360.0
    inside = (np.isfinite(lon) & np.isfinite(lat) & (lon >= west - m) & (lon <= east + m)
              & (lat >= south - m) & (lat <= north + m))
    bad = int((~inside).sum())
    if 2 * bad <= len(xy):
        outside[np.flatnonzero(finite)[~inside]] = True
        return outside
    x, y = xy[~inside][0]
    if np.isfinite(lon[~inside][0]) and abs(lon[~inside][0]) <= 360 and abs(lat[~inside][0]) <= 90:
        where = f"falls at lon {lon[~inside][0]:.2f}, lat {lat[~inside][0]:.2f}"
    else:
        where = "is no longitude and latitude on Earth"
    raise SourceError(
        f"{what}: {bad} of {len(xy)} coordinates lie outside the area of use of {flag} {describe(crs)} "
        f"({crs.name}: lon {area.west:g}..{area.east:g}, lat {area.south:g}..{area.north:g}); "
        f"e.g. ({x:.6g}, {y:.6g}) {where}; is {flag} the CRS the coordinates are in? "
        f"(for coordinates with no place on the earth use {flag} local:m, local:ft or local:ftUS)")


def placement(src_crs: CRS, to_crs: str | None, crs_text: str, frame_name: str, xy, what: str = "network"):
    """Where an imported network goes: (the twin's metric CRS, ``place(x, y) -> (x, y)`` in it, notes).

    A local frame (``--crs local:ft``) has no place on the earth: its coordinates are only scaled to
    metres in a local frame of the twin's own (``--to-crs`` refused).  Otherwise the twin's CRS is
    ``--to-crs`` (projected in metres, or refused naming one that is) or the metric sibling of the source
    CRS (its UTM zone from the middle of ``xy`` for geographic coordinates), and ``place`` transforms.
    """
    import numpy as np
    from pyproj import Transformer

    notes = []
    if src_crs.is_engineering:
        if to_crs:
            raise SourceError(f"--to-crs {to_crs}: a {what} in a local frame ({crs_text}) has no position on "
                              "the earth to reproject; give its real CRS with --crs, or drop --to-crs")
        twin_crs = local_metric_crs(f"{frame_name} local frame")
        factor = axis_unit_factor(src_crs)
        if factor != 1.0:
            notes.append(f"coordinates are in a local frame ({crs_text}): scaled by {factor:g} to metres, "
                         "origin kept")
        return twin_crs, (lambda x, y: (np.asarray(x) * factor, np.asarray(y) * factor)), notes
    centre = _centre(src_crs, xy)
    if to_crs:
        twin_crs = parse_crs(to_crs, "--to-crs")
        if not is_metric(twin_crs):
            raise SourceError(f"--to-crs {to_crs}: the twin's CRS must be projected in metres "
                              f"({describe(twin_crs)} is not); e.g. {describe(metric_crs_for(src_crs, centre))}")
    else:
        twin_crs = metric_crs_for(src_crs, centre if src_crs.is_geographic else None)
    if twin_crs.equals(src_crs):
        return twin_crs, (lambda x, y: (np.asarray(x), np.asarray(y))), notes
    return twin_crs, Transformer.from_crs(src_crs, twin_crs, always_xy=True).transform, notes


def _centre(crs: CRS, xy) -> tuple[float, float] | None:
    """Longitude and latitude of the middle of ``xy`` (for choosing a UTM zone), None when unknown."""
    import numpy as np
    from pyproj import Transformer

    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if not len(xy) or not np.isfinite(xy).any():
        return None
    x, y = np.nanmean(xy, axis=0)
    lon, lat = Transformer.from_crs(crs, crs.geodetic_crs or CRS.from_epsg(4326), always_xy=True).transform(x, y)
    return (lon, lat) if np.isfinite([lon, lat]).all() else None
