"""The closed loop: every incident's life cycle, from report to archive, on one SimPy clock.

``life_cycle`` is the whole loop for one incident, as one generator:
report -> verify (the platform calls the site back; false alarms close here)
-> assign (the dispatch board sends the closest available units, queues when
none is free) -> turnout (the first crew rolls) -> travel -> on scene ->
handle -> feedback (crews clear and head back to their stations; with
``available_en_route`` they are back in service at once and can be sent from
the road) -> close.

Each step is observed as it happens into a table with one row per incident
and one column per step (``StepLog``), and every unit sent into a crew table;
every statistic is computed from those two tables afterwards (``results``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import simpy

from simulation.emergency.config import Duration, Scenario
from simulation.emergency.dispatch import DispatchBoard
from simulation.emergency.fleet import Fleet
from simulation.emergency.incidents import Incidents
from simulation.emergency.turnout import HourlyTurnout

STEPS = ("report", "verify", "request", "assign", "turnout", "on_scene", "handled", "close")


class StepLog:
    """When each incident reached each step of its life cycle (NaN: not reached)."""

    def __init__(self, n: int):
        self.times = {step: [np.nan] * n for step in STEPS}

    def observe(self, step: str, i: int, t: float) -> None:
        self.times[step][i] = t

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({step: np.asarray(v, dtype=float) for step, v in self.times.items()})


@dataclass
class Draws:
    """Per-incident durations (s) and false-alarm flags, drawn once per replication."""

    verify: np.ndarray
    dispatch: np.ndarray
    handle: np.ndarray
    feedback: np.ndarray
    false_alarm: np.ndarray

    @classmethod
    def for_incidents(cls, incidents: Incidents, scenario: Scenario, rng: np.random.Generator) -> "Draws":
        n = len(incidents)

        def per_type(get):
            out = np.zeros(n)
            for k, name in enumerate(incidents.type_names):
                sel = np.flatnonzero(incidents.kind == k)
                if len(sel):
                    out[sel] = get(scenario.incident_types[name], len(sel))
            return out

        verify = scenario.verify.sample(rng, n)
        dispatch = scenario.dispatch.sample(rng, n)
        handle = per_type(lambda it, m: it.handle.sample(rng, m))
        feedback = scenario.feedback.sample(rng, n)
        false = per_type(lambda it, m: rng.random(m) < it.false_alarm).astype(bool)
        return cls(verify, dispatch, handle, feedback, false)


class _Lists:
    def __init__(self, **columns):
        self.__dict__.update(columns)


@dataclass
class Run:
    """One replication: the incident table with its step times, and the crew table."""

    incidents: pd.DataFrame
    crews: pd.DataFrame
    horizon_s: float
    fleet: Fleet
    events: int
    notes: list[str]


class ResponseSimulation:
    def __init__(self, scenario: Scenario, fleet: Fleet, travel, incidents: Incidents, *,
                 seed: int | None = None, draws: Draws | None = None,
                 turnout: dict[str, Duration | HourlyTurnout] | None = None,
                 assignments: dict[str, list[str]] | None = None, available_en_route: bool = False):
        self.scenario = scenario
        self.fleet = fleet
        self.travel = travel
        self.incidents = incidents
        self.rng = np.random.default_rng(scenario.seed if seed is None else seed)
        self.sites = travel.locate(incidents.xy)
        self.draws = draws or Draws.for_incidents(incidents, scenario, self.rng)
        notes = list(getattr(travel, "notes", []))
        if assignments is None:
            assignments, more = fleet.assignments(scenario)
            notes += more
        self.slots = [assignments.get(name, []) for name in incidents.type_names]
        self.micro_first = [scenario.incident_types[n].micro_first if n in scenario.incident_types else False
                            for n in incidents.type_names]
        far = self.sites.far
        if far.any():
            j = int(np.flatnonzero(far)[0])
            notes.append(f"{int(far.sum())} incident(s) lie more than {self.sites.max_snap_m:.0f} m from the "
                         f"reachable road network (worst {self.sites.snap_m.max():.0f} m, e.g. "
                         f"{incidents.ref[j]} at {incidents.xy[j, 0]:.0f}, {incidents.xy[j, 1]:.0f})")
        self.notes = notes
        self.env = simpy.Environment()
        self.log = StepLog(len(incidents))
        self.board = DispatchBoard(self.env, fleet, travel, self.sites, scenario, self.rng, turnout,
                                   available_en_route)
        # Plain Python lists: indexing numpy arrays one value at a time is slow in the hot loop.
        dr = self.draws
        self._d = _Lists(verify=dr.verify.tolist(), dispatch=dr.dispatch.tolist(), handle=dr.handle.tolist(),
                         feedback=dr.feedback.tolist(), false_alarm=dr.false_alarm.tolist(),
                         kind=incidents.kind.tolist(), priority=incidents.priority.tolist())

    # ------------------------------------------------------------------ processes
    def life_cycle(self, i: int):
        env, log, d = self.env, self.log, self._d
        log.observe("report", i, env.now)
        yield env.timeout(d.verify[i])                 # the platform calls the site back
        log.observe("verify", i, env.now)
        if d.false_alarm[i]:
            log.observe("close", i, env.now)
            return
        yield env.timeout(d.dispatch[i])               # the dispatcher picks the units
        log.observe("request", i, env.now)
        kind = d.kind[i]
        crews = yield self.board.assign(i, self.slots[kind], d.priority[i], self.micro_first[kind])
        log.observe("assign", i, env.now)
        if not crews:                                  # nobody can reach it: archived unserved
            log.observe("close", i, env.now)
            return
        lead = min(crews, key=lambda c: c.on_scene)
        yield env.timeout(lead.rolling - env.now)      # turnout: the first crew rolls
        log.observe("turnout", i, env.now)
        yield env.timeout(lead.on_scene - env.now)     # travel
        log.observe("on_scene", i, env.now)
        yield env.timeout(d.handle[i])                 # handle
        log.observe("handled", i, env.now)
        self.board.stand_down(i)                       # crews clear and head back to station
        yield env.timeout(d.feedback[i])               # feedback, then archive
        log.observe("close", i, env.now)

    def _reports(self):
        env, times = self.env, self.incidents.time.tolist()
        for i in range(len(times)):
            dt = times[i] - env.now
            if dt > 0:
                yield env.timeout(dt)
            env.process(self.life_cycle(i)).callbacks.append(self._archived)

    def _archived(self, _event) -> None:
        # Shift changes run forever: the run ends when the last incident is archived.
        self._open -= 1
        if self._open == 0:
            self._all_archived.succeed()

    # ------------------------------------------------------------------ run
    def run(self, horizon_s: float | None = None, on_day: Callable[[int], None] | None = None) -> Run:
        """Run until every incident is closed (the horizon only sets the utilisation window).

        ``on_day(days)``, when given, is called each time the clock passes midnight with the
        whole days simulated so far; an exception it raises (the user's Cancel) ends the run
        there.  The run is the same with or without it.
        """
        env = self.env
        self._open = len(self.incidents)
        self._all_archived = env.event()
        env.process(self._reports())
        if self._open:
            if on_day is None:
                env.run(until=self._all_archived)
            else:
                self._run_by_day(on_day)
        events = next(env._eid)  # SimPy numbers every scheduled event
        if horizon_s is None:
            horizon_s = float(np.ceil(max(self.incidents.time.max(initial=0.0), 1.0) / 86400.0) * 86400.0)
        return Run(self._incident_table(), self._crew_table(), horizon_s, self.fleet, events, self.notes)

    def _run_by_day(self, on_day: Callable[[int], None]) -> None:
        """``env.run(until=all archived)`` step by step, telling ``on_day`` at each midnight passed.

        SimPy's own loop with a look at the next event's time before each step: the
        same events in the same order, so the same run (and the same event count).
        """
        env, until = self.env, self._all_archived
        until.callbacks.append(simpy.core.StopSimulation.callback)
        midnight = 86400.0 * (env.now // 86400.0 + 1.0)
        try:
            while True:
                t = env.peek()
                if midnight <= t < float("inf"):
                    days = int(t // 86400.0)
                    on_day(days)
                    midnight = 86400.0 * (days + 1)
                env.step()
        except simpy.core.StopSimulation:
            return
        except simpy.core.EmptySchedule:
            raise RuntimeError("no scheduled events left but some incidents were never archived") from None

    def _incident_table(self) -> pd.DataFrame:
        inc = self.incidents
        frame = self.log.frame()
        frame.insert(0, "incident", np.arange(len(inc)))
        frame.insert(1, "type", np.asarray(inc.type_names, dtype=object)[inc.kind])
        frame.insert(2, "priority", inc.priority)
        frame["false_alarm"] = self.draws.false_alarm
        frame["x"] = inc.xy[:, 0]
        frame["y"] = inc.xy[:, 1]
        frame["snap_m"] = self.sites.snap_m
        unfilled = np.zeros(len(inc), np.int64)
        for i, n in self.board.unfilled.items():
            unfilled[i] = n
        frame["unfilled_slots"] = unfilled
        frame["ref"] = inc.ref
        return frame

    def _crew_table(self) -> pd.DataFrame:
        units, stations = self.fleet.units, self.fleet.stations
        rows = [(c.incident, c.unit, c.dispatched, c.rolling, c.on_scene, c.cleared, c.back, c.initial,
                 c.mutual_aid, c.queued_s, c.en_route) for c in self.board.crews]
        cols = ["incident", "unit", "dispatched", "rolling", "on_scene", "cleared", "back", "initial",
                "mutual_aid", "queued_s", "en_route"]
        frame = pd.DataFrame(rows, columns=cols)
        frame["unit_type"] = [units[u].type for u in frame["unit"]]
        frame["unit_name"] = [units[u].name for u in frame["unit"]]
        frame["station_kind"] = [stations[units[u].station].kind for u in frame["unit"]]
        frame["arrived"] = frame["on_scene"] <= frame["cleared"]
        return frame
