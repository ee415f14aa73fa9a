"""The dispatch board: which units are free, who gets which, and who waits.

Units are the resources of the simulation.  The board holds them the way a
SimPy store holds items, with the dispatch rule in place of first-in-first-out:

* the closest available unit of the requested type by expected travel time,
  from its station; with ``available_en_route`` a unit is back in service
  when its incident is handled (as real crews report "available" on the
  radio) and is sent from where it is on its way back (straight-line
  progress from the incident towards its station), with the on-road turnout
  of an ``HourlyTurnout``;
* a unit that is not from the incident's first-due station is mutual aid;
* micro fire station crews are sent ahead of the engines for the incident
  types that ask for it, when one is free within the micro radius;
* when no unit of a type is free the request waits in a queue ordered by
  priority, then by time; a unit coming back into service takes the most
  urgent waiting request it can serve;
* a unit off shift is out of service (``off_duty: off``) or turns out from
  home with the extra on-call delay (``off_duty: on_call``).

Travel is the expected time times the travel model's factor for the hour of
the day times a random factor (``travel``); turnout is the unit type's
duration, or an ``HourlyTurnout`` drawn by hour of day and by whether the crew
is in quarters or on the road.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import simpy

from simulation.emergency.config import Scenario
from simulation.emergency.fleet import Fleet
from simulation.emergency.travel import Sites
from simulation.emergency.turnout import HourlyTurnout


class Crew:
    """One unit sent to one incident, with its timestamps (s)."""

    __slots__ = ("unit", "incident", "dispatched", "rolling", "on_scene", "cleared", "back",
                 "initial", "mutual_aid", "queued_s", "back_s", "origin", "en_route")

    def __init__(self, unit, incident, dispatched, rolling, on_scene, initial, mutual_aid, queued_s, back_s,
                 origin=None, en_route=False):
        self.unit = unit
        self.incident = incident
        self.dispatched = dispatched
        self.rolling = rolling
        self.on_scene = on_scene
        self.cleared = np.nan
        self.back = np.nan
        self.initial = initial
        self.mutual_aid = mutual_aid
        self.queued_s = queued_s
        self.back_s = back_s
        self.origin = origin      # where the crew set off from (x, y)
        self.en_route = en_route  # sent while on its way back from an earlier incident


class _Draws:
    """Pre-drawn random numbers, refilled in blocks (numpy per value is slow)."""

    def __init__(self, sample, block=4096):
        self._sample = sample
        self._block = block
        self._buf = sample(block)
        self._i = 0

    def __call__(self) -> float:
        if self._i == self._block:
            self._buf = self._sample(self._block)
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return float(v)


class DispatchBoard:
    def __init__(self, env: simpy.Environment, fleet: Fleet, travel, sites: Sites, scenario: Scenario,
                 rng: np.random.Generator, turnout=None, available_en_route: bool = False):
        self.env = env
        self.fleet = fleet
        self.travel = travel
        self.sites = sites
        self.scenario = scenario
        n = len(fleet.units)
        self.unit_station = fleet.unit_station
        self.unit_type = [u.type for u in fleet.units]
        self.pool = {t: np.array([u.index for u in fleet.units if u.type == t], np.int64)
                     for t in fleet.types()}
        self.pool_station = {t: self.unit_station[c] for t, c in self.pool.items()}
        self._units = fleet.units
        self.free = np.ones(n, bool)
        self.busy = np.zeros(n, bool)
        self.off_shift = np.zeros(n, bool)
        self.waiting: dict[str, list] = {t: [] for t in self.pool}
        self.pending: dict[int, int] = {}
        self.unfilled: dict[int, int] = {}  # requests still waiting when the incident was handled
        self.first_wait: dict[int, simpy.Event] = {}
        self.crews_of: dict[int, list[Crew]] = {}
        self.crews: list[Crew] = []
        self.unserved_slots = 0
        self._seq = itertools.count()
        spread = getattr(travel, "spread", None)
        if spread is not None:
            self._noise = _Draws(lambda k: rng.choice(spread, k))
        else:
            sigma = float(travel.sigma)
            self._noise = _Draws(lambda k: np.exp(sigma * rng.standard_normal(k)))
        hour_factor = getattr(travel, "hour_factor", None)
        self._hour_factor = np.ones(24) if hour_factor is None else np.asarray(hour_factor, dtype=float)
        turnout = turnout or {t: scenario.unit_types[t].turnout for t in self.pool}
        self._turnout, self._hourly = {}, {}
        for t in self.pool:
            d = turnout[t]
            if isinstance(d, HourlyTurnout):  # one stream per hour of day, in quarters and on the road
                self._hourly[t] = {(h, road): _Draws(lambda k, d=d, h=h, road=road: d.sample(rng, k, h, road), 256)
                                   for h in range(24) for road in (False, True)}
            else:
                self._turnout[t] = _Draws(lambda k, d=d: d.sample(rng, k))
        # Units back in service on their way home: where they left from, when, and when they get home.
        self.en_route = available_en_route
        self.station_xy = fleet.station_xy
        self._returning: dict[int, tuple[np.ndarray, float, float]] = {}
        self._last_crew: dict[int, Crew] = {}
        self._micro = "micro" in self.pool
        self._micro_radius = scenario.micro_radius_s
        for u in fleet.units:
            if u.off_duty == "off" and not u.always_on:
                if not u.on_duty(0.0):
                    self.off_shift[u.index] = True
                    self.free[u.index] = False
                env.process(self._shift(u))

    # ------------------------------------------------------------------ requests
    def assign(self, i: int, slots: list[str], priority: int, micro_first: bool) -> simpy.Event:
        """Send units to incident ``i``; the event fires with the crews sent now, or with the
        first one when every unit is busy (the rest follow as units come free)."""
        ev = self.env.event()
        times = self.travel.out_times(self.sites, i)
        crews = []
        if micro_first and self._micro:
            u = self._closest("micro", i, times, self._micro_radius)
            if u is not None:
                crews.append(self._send(u, i, times, True, 0.0))
        for pool in slots:
            u = self._closest(pool, i, times)
            if u is not None:
                crews.append(self._send(u, i, times, True, 0.0))
            elif np.isfinite(times[self.pool_station[pool]]).any():
                heapq.heappush(self.waiting[pool], (priority, self.env.now, next(self._seq), i, times))
                self.pending[i] = self.pending.get(i, 0) + 1
            else:
                self.unserved_slots += 1
        if crews:
            ev.succeed(crews)
        elif self.pending.get(i):
            self.first_wait[i] = ev
        else:
            ev.succeed([])
        return ev

    def position(self, u: int) -> np.ndarray | None:
        """Where a unit on its way back to its station is now (None: at its station)."""
        trip = self._returning.get(u)
        if trip is None:
            return None
        start, t0, t1 = trip
        now = self.env.now
        if now >= t1:
            del self._returning[u]
            return None
        home = self.station_xy[self.unit_station[u]]
        f = (now - t0) / (t1 - t0) if t1 > t0 else 1.0
        return start + (home - start) * f

    def _expected(self, u: int, i: int, times: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Expected travel of unit ``u`` to incident ``i`` from where it is, and that point
        (None when it is at its station)."""
        pos = self.position(u) if self._returning else None
        if pos is None:
            return float(times[self.unit_station[u]]), None
        return self.travel.from_point(pos, self.sites, i), pos

    def _closest(self, pool: str, i: int, times: np.ndarray, limit: float = np.inf):
        cand = self.pool[pool]
        t = np.where(self.free[cand], times[self.pool_station[pool]], np.inf)
        if self._returning:
            for k in np.flatnonzero(self.free[cand]):
                u = int(cand[k])
                if u in self._returning:
                    t[k] = self._expected(u, i, times)[0]
        k = int(t.argmin())
        if not t[k] <= limit or t[k] == np.inf:  # inf <= inf: a busy pool is no answer
            return None
        return int(cand[k])

    def _send(self, u: int, i: int, times: np.ndarray, initial: bool, queued_s: float) -> Crew:
        now = self.env.now
        self.free[u] = False
        self.busy[u] = True
        unit = self._units[u]
        st = unit.station
        expected, pos = self._expected(u, i, times)
        if pos is not None:  # sent on its way home: that trip ends here
            del self._returning[u]
            self._last_crew[u].back = now
        first_due = float(times[self.pool_station[unit.type]].min())
        hour = int(now // 3600.0) % 24
        hourly = self._hourly.get(unit.type)
        turnout = hourly[hour, pos is not None]() if hourly is not None else self._turnout[unit.type]()
        if unit.off_duty == "on_call" and not unit.on_duty(now):
            turnout += unit.on_call_extra_s
        travel = expected * self._hour_factor[hour] * self._noise()
        crew = Crew(u, i, now, now + turnout, now + turnout + travel, initial,
                    float(times[st]) > first_due + 1e-9, queued_s, self.travel.back_time(self.sites, i, st),
                    self.station_xy[st] if pos is None else pos, pos is not None)
        self.crews.append(crew)
        self.crews_of.setdefault(i, []).append(crew)
        return crew

    # ------------------------------------------------------------------ release
    def stand_down(self, i: int) -> None:
        """Incident ``i`` is handled: its crews head back, its waiting requests are dropped."""
        now = self.env.now
        left = self.pending.pop(i, 0)
        if left:
            self.unfilled[i] = left
        for crew in self.crews_of.pop(i, ()):
            crew.cleared = now
            if self.en_route:
                self._head_back(crew, now)
                continue
            if crew.on_scene <= now:
                ret = crew.back_s
            else:  # still on the way: turn round
                ret = min(now - crew.dispatched, crew.back_s)
            crew.back = now + ret
            self.env.timeout(ret).callbacks.append(lambda _e, u=crew.unit: self._in_service(u))

    def _head_back(self, crew: Crew, now: float) -> None:
        """``available_en_route``: the crew is back in service now and drives home from where it is
        (the incident, or the point it had reached when turned round)."""
        u = crew.unit
        st = self.unit_station[u]
        xy = self.sites.xy[crew.incident]
        if crew.on_scene <= now:
            pos, ret = xy, crew.back_s
        else:
            f = min(max((now - crew.rolling) / max(crew.on_scene - crew.rolling, 1e-9), 0.0), 1.0)
            pos = crew.origin + (xy - crew.origin) * f
            ret = 0.0 if f == 0 and not crew.en_route else self.travel.point_to_station(pos, st)
        crew.back = now + ret
        if ret > 0:
            self._returning[u] = (np.asarray(pos, dtype=float), now, now + ret)
        self._last_crew[u] = crew
        self._in_service(u)

    def _in_service(self, u: int) -> None:
        """Unit ``u`` is back in service (at its station, or on its way with ``available_en_route``):
        give it to the most urgent waiting request."""
        self.busy[u] = False
        if self.off_shift[u]:
            return
        queue = self.waiting[self.unit_type[u]]
        unreachable = []
        try:
            while queue:
                entry = heapq.heappop(queue)
                priority, t_req, _, i, times = entry
                if self.pending.get(i, 0) <= 0:
                    continue  # the incident was handled meanwhile
                if not np.isfinite(times[self.unit_station[u]]):
                    unreachable.append(entry)  # another unit must take this one
                    continue
                self.pending[i] -= 1
                crew = self._send(u, i, times, False, self.env.now - t_req)
                ev = self.first_wait.pop(i, None)
                if ev is not None:
                    crew.initial = True
                    ev.succeed([crew])
                return
            self.free[u] = True
        finally:
            for entry in unreachable:
                heapq.heappush(queue, entry)

    def _shift(self, unit):
        """Take a unit out of service at the end of its shift and back at the start."""
        env = self.env
        start, end = unit.duty_start_s, unit.duty_end_s
        while True:
            s = env.now % 86400.0
            boundaries = sorted({start, end, start + 86400.0, end + 86400.0})
            nxt = next(b for b in boundaries if b > s + 1e-9)
            yield env.timeout(nxt - s)
            u = unit.index
            if unit.on_duty(env.now):
                if self.off_shift[u]:
                    self.off_shift[u] = False
                    if not self.busy[u]:
                        self._in_service(u)
            else:
                self.off_shift[u] = True
                self.free[u] = False
