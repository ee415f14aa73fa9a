"""Coordinate reference systems: the twin is always in one CRS whose unit is the metre."""

from __future__ import annotations

import re
from functools import lru_cache

from pyproj import CRS
from pyproj.database import query_crs_info
from pyproj.enums import PJType

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
    infos = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    return CRS.from_epsg(int(infos[0].code))


def describe(crs: CRS) -> str:
    """'EPSG:3546' when the CRS has a code, else its name."""
    auth = crs.to_authority(min_confidence=90)
    return f"{auth[0]}:{auth[1]}" if auth else crs.name
