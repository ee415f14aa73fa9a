"""Flooding reaches the roads: water on the street around a flooding manhole, and what it does to traffic.

**Water on the street.**  A flooding manhole's water stands on the street
around it: over ``STREET_AREA_M2`` = 560 m², the carriageway within
``REACH_M`` = 40 m either side of the manhole (half the 80 m manhole spacing
of the town's drains, so every stretch of street belongs to one manhole) by
7 m wide (two 3.5 m lanes).  Its depth is the ponded volume over that area.
A model that ponds (``ALLOW_PONDING YES`` and a ponded area at the node, as
the town's model built by :mod:`simulation.drainage.build` has, with exactly
this area) gives the depth above the rim directly.  A model that does not
pond loses its flood water in SWMM; the street then holds the volume flooded
since the manhole started flooding, over the same area, until it stops.

**Which roads.**  Every road segment passing within ``REACH_M`` of a flooding
manhole gets the deepest water of those manholes (:func:`road_depths`).  A
road counts as flooded from ``FLOODED_M`` = 1 cm of water (a wet road below
that is not reported).

**Depth and speed** (Pregnolato, M., Ford, A., Wilkinson, S. M. & Dawson,
R. J., 2017, "The impact of flooding on road transport: a depth-disruption
function", *Transportation Research Part D* 55: 67-81, eq. 5)::

    v = 0.0009 w^2 - 0.5529 w + 86.9448   km/h, w = water depth in mm

the maximum safe speed of a car through ``w`` mm of water, 86.9 km/h in the
dry; the road is closed from 300 mm (where v falls to about 2 km/h).  The
speed factor is ``v(w) / v(0)`` (1 dry, 0 closed): a road's travel speed is
its normal speed times that factor, never more than the road's own limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

REACH_M = 40.0
CARRIAGEWAY_M = 7.0
STREET_AREA_M2 = 2 * REACH_M * CARRIAGEWAY_M
FLOODED_M = 0.01
CLOSED_M = 0.30
_A, _B, _C = 0.0009, -0.5529, 86.9448


def safe_speed_kmh(depth_m) -> np.ndarray:
    """Pregnolato et al. (2017): maximum safe speed (km/h) through ``depth_m`` of water; 0 from 0.30 m."""
    w = np.clip(np.asarray(depth_m, dtype=float), 0.0, None) * 1000.0
    v = _A * w ** 2 + _B * w + _C
    return np.where(w >= CLOSED_M * 1000.0, 0.0, v)


def speed_factor(depth_m) -> np.ndarray:
    """The share of its speed a road keeps under ``depth_m`` of water (1 dry, 0 closed)."""
    return np.clip(safe_speed_kmh(depth_m) / _C, 0.0, 1.0)


def road_depths(node_xy: np.ndarray, street_depth_m: np.ndarray, roads, reach_m: float = REACH_M) -> pd.Series:
    """Water depth (m) on every road within ``reach_m`` of a manhole with water on the street.

    ``node_xy`` (n x 2) and ``street_depth_m`` (n) are the manholes and the
    depth around each; ``roads`` a GeoDataFrame with ``id`` and line
    geometry.  Returns road id -> the deepest water of the manholes in reach,
    only for roads with at least ``FLOODED_M`` of water.
    """
    depth = np.asarray(street_depth_m, dtype=float)
    wet = np.flatnonzero(depth >= FLOODED_M)
    if len(wet) == 0 or roads is None or len(roads) == 0:
        return pd.Series(dtype=float, name="depth_m")
    tree = shapely.STRtree(roads.geometry.values)
    points = shapely.points(np.asarray(node_xy, dtype=float)[wet])
    node_i, road_i = tree.query(points, predicate="dwithin", distance=reach_m)
    if len(road_i) == 0:
        return pd.Series(dtype=float, name="depth_m")
    found = pd.DataFrame({"road": roads["id"].to_numpy()[road_i], "depth_m": depth[wet][node_i]})
    return found.groupby("road")["depth_m"].max().rename("depth_m")


def road_speed_factors(depths: pd.Series) -> dict[str, float]:
    """Road id -> speed factor (0..1, 0 closed) for the flooded roads of :func:`road_depths`."""
    if len(depths) == 0:
        return {}
    return dict(zip(depths.index.astype(str), speed_factor(depths.to_numpy()).tolist()))
