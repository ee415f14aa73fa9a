"""How long a unit drives from its station to an incident and back.

Two travel models answer the same questions, so the dispatch and the life
cycle never know which one they use:

* ``RoadTravel``: the twin's road graph (``roads.RoadGraph``); station-to-node
  tables outbound and back, computed once for all stations; the incident's
  snapping distance is driven at the access speed (off-road leg).
* ``StraightLineTravel``: t = a + b · (d / 1 km)^c seconds of straight-line
  distance d, for twins without roads and for dispatch records without a road
  graph (San Francisco); ``fit_straight_line`` fits a, b, c and the lognormal
  spread sigma on observed travel times.

``locate(xy)`` turns points into ``Sites``; ``out_times(sites, i)`` gives the
expected time from every station to site ``i`` (inf where unreachable),
``back_times`` the way back, ``from_point(xy, sites, i)`` the time from a
unit on the road (returning from an earlier incident) to site ``i``.

Actual travel is the expected time times the model's factor for the hour of
day (``hour_factor``, 24 values, 1 unless calibrated: ``fit_hour_factor``)
times a random factor: drawn from ``spread`` (observed ratios of actual to
expected travel, ``travel_spread``) when the model has one, else lognormal
with the model's ``sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from simulation.emergency.config import Roads, StraightLine
from simulation.emergency.roads import RoadGraph
from twin.errors import LayerError


@dataclass
class Sites:
    """Points the units drive to: position, snapped node (-1 without a graph), off-road leg."""

    xy: np.ndarray
    node: np.ndarray
    snap_m: np.ndarray
    leg_s: np.ndarray
    max_snap_m: float

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def far(self) -> np.ndarray:
        """Sites further from the road network than the threshold."""
        return self.snap_m > self.max_snap_m


class _TimeOfDay:
    """The hour-of-day factor and the spread shared by both travel models."""

    hour_factor: np.ndarray
    spread: np.ndarray | None

    def calibrate(self, hour_factor=None, spread=None) -> None:
        """Set the travel-time factor by hour of day (24 values) and the observed spread (ratios)."""
        if hour_factor is not None:
            hour_factor = np.asarray(hour_factor, dtype=float)
            if hour_factor.shape != (24,) or not np.isfinite(hour_factor).all() or (hour_factor <= 0).any():
                raise ValueError("hour_factor needs 24 positive travel-time factors, one per hour of the day")
            self.hour_factor = hour_factor
        if spread is not None:
            spread = np.asarray(spread, dtype=float)
            if len(spread) == 0 or not np.isfinite(spread).all() or (spread <= 0).any():
                raise ValueError("the travel spread needs positive ratios of actual to expected travel")
            self.spread = spread

    def factor_at(self, t: float) -> float:
        """Travel-time factor at simulation time ``t`` (s; day 0 starts at midnight)."""
        return float(self.hour_factor[int(t // 3600.0) % 24])


class RoadTravel(_TimeOfDay):
    """Travel over the road graph from a fixed set of stations."""

    def __init__(self, graph: RoadGraph, station_xy: np.ndarray, roads: Roads, station_ids=None):
        self.graph = graph
        self.hour_factor = np.ones(24)
        self.spread = None
        self._from_node: dict[int, np.ndarray] = {}
        self.roads = roads
        self.sigma = roads.travel_sigma
        self.access_mps = roads.access_speed_kmh / 3.6
        station_xy = np.asarray(station_xy, dtype=float).reshape(-1, 2)
        ids = list(station_ids) if station_ids is not None else [str(i) for i in range(len(station_xy))]
        self._stations = (station_xy, ids)
        self.station_node, self.station_snap_m = graph.snap(station_xy)
        self.notes: list[str] = []
        for sid, d in zip(ids, self.station_snap_m):
            if d > roads.max_snap_m:
                self.notes.append(f"station {sid!r} is {d:.0f} m from the nearest road "
                                  f"(more than {roads.max_snap_m:.0f} m): check its position")
        leg = self.station_snap_m / self.access_mps
        # (n_nodes, n_stations), C order: one incident reads one contiguous row
        self.out = np.ascontiguousarray((graph.times_from(self.station_node) + leg[:, None]).T)
        self.back = np.ascontiguousarray((graph.times_to(self.station_node) + leg[:, None]).T)
        ok = np.isfinite(self.out).any(axis=1) & np.isfinite(self.back).any(axis=1)
        self.reachable = np.flatnonzero(ok)
        if len(self.reachable) == 0:
            raise LayerError("no road node can be reached from any station (and back)")
        self.unreachable_nodes = int(graph.n_nodes - len(self.reachable))
        if self.unreachable_nodes:
            parts = [p for p in graph.parts()]
            self.notes.append(
                f"{self.unreachable_nodes} of {graph.n_nodes} road nodes cannot be reached from any "
                f"station and back (road graph has {graph.n_parts} part(s); the largest has "
                f"{parts[0].nodes} nodes); incidents there are served from the nearest reachable node")

    @property
    def n_stations(self) -> int:
        return self.out.shape[1]

    def slowed(self, speed_factor: dict[str, float]) -> "RoadTravel":
        """Travel on the same roads with some slowed or closed (road id -> factor of its speed, 0 closes
        it; :meth:`RoadGraph.slowed`): the station tables are worked out again, so units detour round
        closed roads, and the calibration (hour factor, spread, sigma) is kept.  No factor: this travel."""
        if not speed_factor:
            return self
        travel = RoadTravel(self.graph.slowed(speed_factor), *self._stations[:1], self.roads,
                            station_ids=self._stations[1])
        travel.hour_factor, travel.spread, travel.sigma = self.hour_factor, self.spread, self.sigma
        return travel

    def locate(self, xy: np.ndarray) -> Sites:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        node, dist = self.graph.snap(xy, self.reachable)
        return Sites(xy, node, dist, dist / self.access_mps, self.roads.max_snap_m)

    def out_times(self, sites: Sites, i: int) -> np.ndarray:
        return self.out[sites.node[i]] + sites.leg_s[i]

    def back_times(self, sites: Sites, i: int) -> np.ndarray:
        return self.back[sites.node[i]] + sites.leg_s[i]

    def back_time(self, sites: Sites, i: int, station: int) -> float:
        return float(self.back[sites.node[i], station] + sites.leg_s[i])

    def from_point(self, xy, sites: Sites, i: int) -> float:
        """Expected time from a point (a unit on the road) to site ``i``: the point's nearest
        reachable node, the graph from there (one Dijkstra per node, kept), the site's leg."""
        node, dist = self.graph.snap(np.asarray(xy, dtype=float).reshape(1, 2), self.reachable)
        n = int(node[0])
        row = self._from_node.get(n)
        if row is None:
            if len(self._from_node) >= 512:
                self._from_node.clear()
            row = self._from_node[n] = self.graph.times_from(np.array([n]))[0]
        return float(row[sites.node[i]] + sites.leg_s[i] + dist[0] / self.access_mps)

    def point_to_station(self, xy, station: int) -> float:
        """Expected time from a point to a station (a crew turned round on its way)."""
        node, dist = self.graph.snap(np.asarray(xy, dtype=float).reshape(1, 2), self.reachable)
        return float(self.back[int(node[0]), station] + dist[0] / self.access_mps)

    def table(self, sites: Sites) -> np.ndarray:
        """Expected outbound time from every station to every site: (n_sites, n_stations)."""
        return self.out[sites.node] + sites.leg_s[:, None]


class StraightLineTravel(_TimeOfDay):
    """Travel as a function of straight-line distance from each station."""

    def __init__(self, station_xy: np.ndarray, params: StraightLine, max_snap_m: float = np.inf):
        self.hour_factor = np.ones(24)
        self.spread = None
        self.station_xy = np.asarray(station_xy, dtype=float).reshape(-1, 2)
        self.params = params
        self.sigma = params.sigma
        self.max_snap_m = max_snap_m
        self.notes: list[str] = []
        self.unreachable_nodes = 0

    @property
    def n_stations(self) -> int:
        return len(self.station_xy)

    def slowed(self, speed_factor: dict[str, float]) -> "StraightLineTravel":
        """Straight-line travel knows no roads: flooded streets do not change it."""
        return self

    def seconds(self, d_m: np.ndarray) -> np.ndarray:
        p = self.params
        return p.a + p.b * np.power(np.asarray(d_m, dtype=float) / 1000.0, p.c)

    def locate(self, xy: np.ndarray) -> Sites:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        zeros = np.zeros(len(xy))
        return Sites(xy, np.full(len(xy), -1, np.int64), zeros, zeros, self.max_snap_m)

    def out_times(self, sites: Sites, i: int) -> np.ndarray:
        d = np.hypot(*(self.station_xy - sites.xy[i]).T)
        return self.seconds(d)

    back_times = out_times

    def back_time(self, sites: Sites, i: int, station: int) -> float:
        d = float(np.hypot(*(self.station_xy[station] - sites.xy[i])))
        return float(self.seconds(d))

    def from_point(self, xy, sites: Sites, i: int) -> float:
        """Expected time from a point (a unit on the road) to site ``i``."""
        return float(self.seconds(float(np.hypot(*(np.asarray(xy, dtype=float) - sites.xy[i])))))

    def point_to_station(self, xy, station: int) -> float:
        """Expected time from a point to a station (a crew turned round on its way)."""
        return float(self.seconds(float(np.hypot(*(np.asarray(xy, dtype=float) - self.station_xy[station])))))

    def table(self, sites: Sites) -> np.ndarray:
        d = np.hypot(sites.xy[:, None, 0] - self.station_xy[None, :, 0],
                     sites.xy[:, None, 1] - self.station_xy[None, :, 1])
        return self.seconds(d)


@dataclass(frozen=True)
class TravelFit:
    params: StraightLine
    n: int
    rmse_log: float
    median_abs_error_s: float


def fit_straight_line(distance_m: np.ndarray, seconds: np.ndarray) -> TravelFit:
    """Fit t = a + b·(d/1 km)^c to observed travel times.

    The fit is on log t (travel-time errors are multiplicative) with a soft-L1
    loss, so units that did not start from their station (already on the road)
    do not drag the curve; sigma is the robust spread (1.4826 · MAD) of the log
    residuals and becomes the lognormal noise of simulated travel.
    """
    d = np.asarray(distance_m, dtype=float) / 1000.0
    t = np.asarray(seconds, dtype=float)
    ok = np.isfinite(d) & np.isfinite(t) & (t > 0) & (d >= 0)
    d, t = d[ok], t[ok]
    if len(t) < 10:
        raise ValueError(f"only {len(t)} usable travel times: too few to fit the travel-time model")
    logt = np.log(t)

    def resid(p):
        a, b, c = p
        return np.log(np.maximum(a + b * np.power(d, c), 1e-6)) - logt

    start = [max(float(np.percentile(t, 5)) * 0.5, 1.0), float(np.median(t)), 0.8]
    res = least_squares(resid, start, bounds=([0.0, 1e-3, 0.05], [3600.0, 1e5, 3.0]),
                        loss="soft_l1", f_scale=0.3)
    a, b, c = (float(v) for v in res.x)
    r = resid(res.x)
    sigma = float(1.4826 * np.median(np.abs(r - np.median(r))))
    pred = a + b * np.power(d, c)
    return TravelFit(StraightLine(a=a, b=b, c=c, sigma=sigma), int(len(t)),
                     float(np.sqrt(np.mean(r ** 2))), float(np.median(np.abs(pred - t))))


def fit_hour_factor(hours: np.ndarray, ratios: np.ndarray, window: int = 1, min_samples: int = 20) -> np.ndarray:
    """Travel-time factor for each hour of the day from observed ratios of actual to expected travel.

    The factor of hour h is the median ratio of the responses dispatched in
    hours h - window .. h + window (wrapping midnight), divided by the median
    of all ratios, so the factors say how much slower or faster than usual
    that hour drives and the curve keeps the typical speed.  An hour with
    fewer than ``min_samples`` responses in its window gets 1.
    """
    hours = np.asarray(hours, dtype=np.int64) % 24
    ratios = np.asarray(ratios, dtype=float)
    ok = np.isfinite(ratios) & (ratios > 0)
    hours, ratios = hours[ok], ratios[ok]
    if len(ratios) == 0:
        return np.ones(24)
    overall = float(np.median(ratios))
    out = np.ones(24)
    for h in range(24):
        near = (hours - h + 12) % 24 - 12  # signed distance in hours, wrapping midnight
        sel = np.abs(near) <= window
        if sel.sum() >= min_samples:
            out[h] = float(np.median(ratios[sel])) / overall
    return out


def travel_spread(ratios: np.ndarray, hours: np.ndarray | None = None,
                  hour_factor: np.ndarray | None = None) -> np.ndarray:
    """Observed ratios of actual to expected travel, each divided by its hour's factor: the
    random factor simulated travel is drawn from, so its upper tail is the data's, not a
    lognormal's (and its level keeps any bias of the expected times, e.g. a road graph's speeds)."""
    ratios = np.asarray(ratios, dtype=float)
    if hour_factor is not None:
        ratios = ratios / np.asarray(hour_factor, dtype=float)[np.asarray(hours, dtype=np.int64) % 24]
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    if len(ratios) < 10:
        raise ValueError(f"only {len(ratios)} usable travel ratios: too few for the travel spread")
    return ratios
