"""Drones over the city on the session clock: flights replayed and tested against the airspace zones.

:class:`Airspace` is an engine of the :class:`~simulation.session.Session`,
attached after the scripted sources and before the emergency response.  It
replays :class:`Flight` s — a recorded track of the twin's ``drone_tracks``
shifted to a clock time, or a scripted straight flight — and tests each
position sample (every ``sample_s``, default 5 s, from the flight's start;
the last sample is the flight's end) against the twin's ``airspace_zones``:
a sample is **in** a zone when its (x, y) lies in the zone's polygon
(boundary included) and ``floor_m <= z <= ceiling_m`` (elevations on the
DEM's datum).  The polygons go into one ``shapely.STRtree`` (prepared) when
the engine is built; each frame's samples are tested in one query.

On a sample in a zone the flight was not in at its previous sample, the
engine publishes ``alarm_raised`` (source ``airspace``, layer
``airspace_zones``, feature the zone id, value z in m; data: ``track``, x, y,
z, ``agl`` (height above the ground, m), ``zone_kind``, ``zone_name``,
``level``, floor and ceiling); on the first sample out of it, ``alarm_cleared``
(same data).  An entry is thus seen at the first sample at or after the
geometric entry: ``start + ceil(t_entry / sample_s) * sample_s``.  A flight
that ends inside a zone (landed or lost) has it cleared at its last sample
(``ended``: true).  At one instant, entries are published before exits, so a
drone moving from one zone into the next is never seen out of both.

Levels: **red** for ``no_fly`` and ``airport_surface`` (and ``prohibited``),
**orange** for ``restricted``, **yellow** for any other kind (advisory).
The emergency response (:mod:`simulation.session.response`) opens a
``drone_conflict`` incident on a red alert and sends the nearest free police
or patrol unit to the entry point — or, in a fleet without one like the demo
city's, a fire engine, its only ground responder — and closes it once the
unit is there and the drone has left the incident's zones (or after the
plan's hold time).

Scripted flights: straight legs from ``from`` to ``to`` (coordinates in the
twin's CRS or a feature id of any layer: a point, or a polygon's centroid
when inside it) at ``speed`` m/s and ``agl`` m above the ground
(``twin.terrain.sample``, bilinear), optionally hovering at ``to`` and flying
back.  Recorded tracks are interpolated linearly in time between their
points (Z as recorded).  The drones' positions are kept in
``session.state["drones"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from twin.errors import SourceError

SOURCE = "airspace"
LAYER = "airspace_zones"
DEFAULT_SAMPLE_S = 5.0
#: zone kind -> alert level (others: yellow)
LEVELS = {"no_fly": "red", "airport_surface": "red", "prohibited": "red", "restricted": "orange"}


def level_of(kind: str) -> str:
    return LEVELS.get(str(kind), "yellow")


@dataclass
class Flight:
    """One drone's flight: positions at vertex clock times, linear in time between them.

    ``z`` is the elevation at each vertex (a recorded track); when it is None
    the drone flies ``agl`` m above the ground under it (a scripted flight).
    """

    drone: str
    times: np.ndarray            # clock times of the vertices, increasing
    xy: np.ndarray               # (n, 2)
    z: np.ndarray | None = None  # (n,) elevations, or None: agl above the DEM
    agl: float | None = None
    sample_s: float = DEFAULT_SAMPLE_S
    kind: str = "scripted"
    samples: np.ndarray = field(init=False)

    def __post_init__(self):
        self.times = np.asarray(self.times, float)
        self.xy = np.asarray(self.xy, float).reshape(-1, 2)
        if len(self.times) < 2 or np.any(np.diff(self.times) < 0):
            raise SourceError(f"flight of {self.drone}: needs two or more points in time order")
        if not self.sample_s > 0:
            raise SourceError(f"flight of {self.drone}: sample period must be > 0 s")
        n = int(math.floor((self.end - self.start) / self.sample_s + 1e-9)) + 1
        samples = self.start + np.arange(n) * self.sample_s
        if samples[-1] < self.end - 1e-9:
            samples = np.append(samples, self.end)
        self.samples = samples

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def positions(self, t, terrain=None) -> np.ndarray:
        """(n, 4) x, y, z, height above the ground at clock times ``t`` (within the flight)."""
        t = np.asarray(t, float)
        x = np.interp(t, self.times, self.xy[:, 0])
        y = np.interp(t, self.times, self.xy[:, 1])
        ground = terrain.sample(x, y) if terrain is not None else np.full(len(t), np.nan)
        if self.z is None:
            z = ground + self.agl
            agl = np.full(len(t), float(self.agl))
        else:
            z = np.interp(t, self.times, self.z)
            agl = z - ground
        return np.column_stack([x, y, z, agl])


def straight_flight(drone: str, start: float, a, b, *, speed: float, agl: float, back: bool = False,
                    hover_s: float = 0.0, sample_s: float = DEFAULT_SAMPLE_S) -> Flight:
    """From ``a`` to ``b`` (xy) at ``speed`` m/s, ``agl`` m above the ground; hover, then back to ``a``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    leg = float(np.hypot(*(b - a))) / speed
    if leg <= 0:
        raise SourceError(f"drones: flight {drone}: from and to are the same point")
    pts, times = [a, b], [start, start + leg]
    if hover_s > 0:
        pts.append(b)
        times.append(times[-1] + hover_s)
    if back:
        pts.append(a)
        times.append(times[-1] + leg)
    return Flight(drone, np.array(times), np.array(pts), agl=float(agl), sample_s=sample_s)


def recorded_flight(twin, track_id: str, start: float, drone: str | None = None,
                    sample_s: float = DEFAULT_SAMPLE_S) -> Flight:
    """Track ``track_id`` of the twin's ``drone_tracks``, its first point shifted to clock time ``start``."""
    tracks = twin["drone_tracks"]
    pts = tracks[tracks["track_id"].astype(str) == str(track_id)] if len(tracks) else tracks
    if len(pts) < 2:
        known = sorted(tracks["track_id"].astype(str).unique())[:8] if len(tracks) else []
        raise SourceError(f"drone track {track_id!r}: not in drone_tracks with two or more points "
                          f"(tracks: {', '.join(known) or 'none'})")
    pts = pts.sort_values("time", kind="stable")
    secs = (pts["time"] - pts["time"].iloc[0]).dt.total_seconds().to_numpy()
    geom = pts.geometry.values
    xy = shapely.get_coordinates(geom)
    z = shapely.get_coordinates(geom, include_z=True)[:, 2]
    if np.isnan(z).any():
        raise SourceError(f"drone track {track_id!r}: points without Z (elevation)")
    return Flight(drone or str(track_id), start + secs, xy, z=z, sample_s=sample_s, kind="recorded")


def feature_point(twin, ref) -> np.ndarray:
    """(x, y) of ``ref``: a pair of coordinates, or the id of a feature of any layer of the twin."""
    if not isinstance(ref, str):
        xy = np.asarray(ref, float).reshape(-1)
        if xy.shape != (2,) or not np.isfinite(xy).all():
            raise SourceError(f"{ref!r} is not a pair of coordinates x, y")
        return xy
    for frame in twin.layers.values():
        if not len(frame) or "id" not in frame:
            continue
        hit = frame[frame["id"].astype(str) == ref]
        if len(hit):
            g = hit.geometry.iloc[0]
            p = g.centroid if g.geom_type == "Point" or g.contains(g.centroid) else g.representative_point()
            return np.array([p.x, p.y])
    raise SourceError(f"{ref!r}: no feature of that id in any layer of the twin")


class Airspace:
    """Drone flights replayed on the session clock, each sample tested against the airspace zones."""

    name = SOURCE

    def __init__(self, twin, flights=()):
        self.twin = twin
        self.flights: list[Flight] = list(flights)
        zones = twin["airspace_zones"]
        self.zone_id = zones["id"].astype(str).to_numpy() if len(zones) else np.array([], str)
        self.kind = zones["kind"].astype(str).to_numpy() if len(zones) else np.array([], str)
        self.zone_name = (zones["name"].fillna("").astype(str).to_numpy() if len(zones) and "name" in zones
                          else np.full(len(zones), "", dtype=object))
        self.floor = zones["floor_m"].to_numpy(float) if len(zones) else np.array([])
        self.ceiling = zones["ceiling_m"].to_numpy(float) if len(zones) else np.array([])
        self.geoms = np.asarray(zones.geometry.values) if len(zones) else np.array([], dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        terrain = twin.terrain
        for f in self.flights:
            if f.z is None:
                if terrain is None:
                    raise SourceError(f"drones: flight {f.drone}: a height above the ground needs the twin's terrain")
                ground = terrain.sample(*f.positions(f.samples)[:, :2].T)
                if np.isnan(ground).any():
                    k = int(np.flatnonzero(np.isnan(ground))[0])
                    raise SourceError(f"drones: flight {f.drone}: leaves the terrain (DEM) at "
                                      f"{f.samples[k] - f.start:g} s into the flight")

    def zones_at(self, xyz: np.ndarray) -> list[set[int]]:
        """The zones (indices) each (x, y, z) point is in: inside the polygon, floor <= z <= ceiling."""
        xyz = np.asarray(xyz, float).reshape(-1, 3)
        out = [set() for _ in range(len(xyz))]
        if not len(self.geoms) or not len(xyz):
            return out
        pi, zi = self.tree.query(shapely.points(xyz[:, :2]), predicate="intersects")
        z = xyz[pi, 2]
        ok = (self.floor[zi] <= z) & (z <= self.ceiling[zi])
        for p, k in zip(pi[ok], zi[ok]):
            out[int(p)].add(int(k))
        return out

    def attach(self, session) -> None:
        self.session = session
        self.next = [0] * len(self.flights)
        self.inside: list[set[int]] = [set() for _ in self.flights]
        self.entries: list[tuple] = []   # (flight index, zone index, clock time) of every entry
        state = session.state.setdefault("drones", {})
        for f in self.flights:
            state[f.drone] = {"status": "scheduled", "x": None, "y": None, "z": None, "zones": []}

    def _data(self, f: Flight, k: int, pos) -> dict:
        x, y, z, agl = (float(v) for v in pos)
        return {"track": f.drone, "x": round(x, 2), "y": round(y, 2), "z": round(z, 2),
                "agl": None if math.isnan(agl) else round(agl, 2), "zone_kind": self.kind[k],
                "zone_name": self.zone_name[k], "level": level_of(self.kind[k]),
                "floor_m": float(self.floor[k]), "ceiling_m": float(self.ceiling[k]), "flight": f.kind}

    def advance_to(self, t: float) -> None:
        session = self.session
        out = []   # (time, flight, order, kind, zone, data): published in time order
        for i, f in enumerate(self.flights):
            lo = self.next[i]
            hi = int(np.searchsorted(f.samples, t, side="right"))
            if hi <= lo:
                continue
            times = f.samples[lo:hi]
            pos = f.positions(times, self.twin.terrain)
            seen = self.zones_at(pos[:, :3])
            for j, (at, now_in) in enumerate(zip(times, seen)):
                ended = lo + j == len(f.samples) - 1
                if ended:
                    now_in = set()  # landed or lost: no longer in the air
                for k in sorted(now_in - self.inside[i]):
                    self.entries.append((i, k, float(at)))
                    out.append((float(at), i, 0, "alarm_raised", k, self._data(f, k, pos[j])))
                for k in sorted(self.inside[i] - now_in):
                    out.append((float(at), i, 1, "alarm_cleared", k, {**self._data(f, k, pos[j]), "ended": ended}))
                self.inside[i] = now_in
            self.next[i] = hi
            x, y, z, _ = pos[-1]
            session.state["drones"][f.drone] = {
                "status": "landed" if hi == len(f.samples) else "flying", "x": float(x), "y": float(y),
                "z": float(z), "zones": [self.zone_id[k] for k in sorted(self.inside[i])]}
        for at, i, _, kind, k, data in sorted(out, key=lambda r: r[:3]):
            what = self.kind[k].replace("_", " ")
            name = f" ({self.zone_name[k]})" if self.zone_name[k] else ""
            if kind == "alarm_raised":
                msg = f"drone {data['track']} entered {what} {self.zone_id[k]}{name} at {data['z']:.0f} m"
            elif data["ended"]:
                msg = f"drone {data['track']}'s flight ended in {what} {self.zone_id[k]} (landed or lost)"
            else:
                msg = f"drone {data['track']} left {what} {self.zone_id[k]}{name}"
            session.publish(at, kind, SOURCE, LAYER, self.zone_id[k], data["z"], msg, **data)
