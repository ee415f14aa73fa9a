"""The water network on the session clock: EPANET stepped frame by frame, changed by events.

:class:`WaterNetwork` opens the twin's network in EPANET 2.3 (the text as
imported, with the project's edits), pressure-driven, and runs it with
``runH``/``nextH`` only as far as the session asks.  EPANET's hydraulic time 0
is the session's start; the hydraulic step is capped at the session step so
EPANET stops at every frame.

* A scripted **break** (:meth:`break_pipe`, set up before the run) splits the
  pipe and opens an orifice to the atmosphere at its time (see
  :mod:`simulation.hydraulics.breaks` for the rule); it publishes
  ``pipe_broken`` and ``leak_started`` with the leak flow.
* ``valve_closed`` / ``valve_opened`` events (from a crew) close or open the
  link the valve sits on at the start of the next frame; ``repair_done`` of a
  break closes its orifice (``leak_stopped`` with the volume lost).
* **Service**: a junction serving people is *without service* while its
  pressure is below the service pressure and the same network without the
  session's breaks and valve changes (a baseline EPANET run stepped in
  lockstep) keeps it at or above it — low spots of the network itself are not
  the event's doing; ``service_lost`` / ``service_restored`` carry the people
  it serves (buildings layer, else the population equivalent of its demand).

The baseline depends only on the network, the demand model, the duration and
the step, never on the session's events or seed: a :class:`Baseline` is run
once per such key in a process and shared (a small cache,
:func:`clear_baselines`), so the replications of an ensemble and the re-run a
seek back starts read the pressures already solved, identical to stepping
their own.
"""

from __future__ import annotations

import bisect
import ctypes
import hashlib
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from simulation.hydraulics.results import SERVICE_PRESSURE, DemandModel
from simulation.hydraulics.solver import (_US_UNITS as US_UNITS, DURATION, FLOW, HEAD, HYDSTEP, PRESSURE,
                                          REPORTSTEP, STATUS, Solver, SolverError)

SOURCE = "water"
#: shared baselines kept per process, at most so many and (but for the latest) so many bytes of pressures:
#: a baseline holds nodes x steps x 8 bytes (the demo city's day in 60 s steps: 935 x 1,459, about 11 MB)
#: the range the pressure colours span, m
PRESSURE_RANGE = (0.0, 60.0)
BASELINES_KEPT = 4
BASELINES_BYTES = 256 * 2**20


class Baseline:
    """The network without any session's events, stepped as far as asked and remembered (pressures, m).

    Stepped on demand with the same ``runH``/``nextH`` loop a session uses, so
    its solutions are those of a baseline run in lockstep with the session.
    """

    def __init__(self, system, demand_model: DemandModel, length: int, step: int):
        from twin.network import Network

        # the network only (not the system, which holds the twin), until the run is over
        self.network: Network | None = Network(system.epanet.text, name=system.epanet.name,
                                               edits=system.epanet.edits)
        self.name, self.demand_model, self.length, self.step = system.name, demand_model, length, step
        self.times: list[float] = []          # hydraulic time (s from the session start) of each step
        self.pressures: list[np.ndarray] = []
        self.next_t = 0.0                     # time of the next step (inf: the run is over)
        self._solver: Solver | None = None
        self._lock = threading.Lock()

    def advance_to(self, target: float) -> None:
        """Solve every step at or before hydraulic time ``target`` not solved yet."""
        if self.next_t > target:
            return
        with self._lock:
            b = self._solver
            if b is None and self.next_t == 0.0:
                b = self._solver = Solver(self.network, name=self.name)
                self.demand_model.apply(b)
                b.set_time(DURATION, self.length)
                b.set_time(HYDSTEP, self.step)
                b.set_time(REPORTSTEP, self.step)
                b.keep_changes()
                b.open_hydraulics()
                b.check(b.lib.EN_initH(b.handle, 10), "initialise the baseline")
            t, step = ctypes.c_long(), ctypes.c_long()
            while self.next_t <= target:
                if b.lib.EN_runH(b.handle, ctypes.byref(t)) > 100:
                    raise SolverError(f"{self.name}: the baseline failed at {t.value / 3600:.2f} h")
                self.times.append(float(t.value))
                self.pressures.append(WaterNetwork._pressures(b))
                b.lib.EN_nextH(b.handle, ctypes.byref(step))
                if step.value <= 0:
                    self.next_t = float("inf")
                    self._solver, self.network = None, None
                    b.close()
                    break
                self.next_t = float(t.value + step.value)

    def at(self, t_hyd: float) -> np.ndarray:
        """Pressures of the solution in force at hydraulic time ``t_hyd`` (the first one before it)."""
        return self.pressures[max(bisect.bisect_right(self.times, t_hyd) - 1, 0)]

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.pressures[:1]) * len(self.pressures)


_BASELINES: OrderedDict[tuple, Baseline] = OrderedDict()
_BASELINES_LOCK = threading.Lock()


def baseline(system, demand_model: DemandModel, length: int, step: int) -> Baseline:
    """The shared :class:`Baseline` of a network run for ``length`` s in steps of at most ``step`` s."""
    text = system.epanet.text
    key = (hashlib.sha1(text.encode("utf-8")).hexdigest(), len(text), system.epanet.edits, demand_model,
           int(length), int(step))
    with _BASELINES_LOCK:
        found = _BASELINES.get(key)
        if found is None:
            found = _BASELINES[key] = Baseline(system, demand_model, int(length), int(step))
        _BASELINES.move_to_end(key)
        while len(_BASELINES) > 1 and (len(_BASELINES) > BASELINES_KEPT
                                       or sum(b.nbytes for b in _BASELINES.values()) > BASELINES_BYTES):
            _BASELINES.popitem(last=False)  # the least recently asked for; its sessions keep it
        return found


def clear_baselines() -> None:
    """Forget every shared baseline (a benchmark timing cold runs; sessions keep the one they use)."""
    with _BASELINES_LOCK:
        _BASELINES.clear()


class WaterNetwork:
    """EPANET on the session clock."""

    name = SOURCE

    def __init__(self, system, *, demand_model: DemandModel | None = None,
                 service_pressure: float = SERVICE_PRESSURE):
        self.system = system
        self.demand_model = demand_model or DemandModel(pdd=True)
        self.service_pressure = float(service_pressure)
        self.solver: Solver | None = None
        self.breaks: dict[str, dict] = {}
        self._pending: list[tuple[str, int]] = []   # (link id, status) to apply at the next frame
        self.t = 0.0                                # hydraulic time, s from the session start
        self.pressure: np.ndarray | None = None     # m, every node, as of the last hydraulic step
        self.flow: np.ndarray | None = None         # m³/s, every link
        self.steps: list[tuple[float, np.ndarray, np.ndarray]] = []  # this frame's (clock time, p, q)
        self.served_at_start: np.ndarray | None = None
        self.without: np.ndarray | None = None
        self.people_without = 0.0
        self.timeline: list[tuple[float, float, float]] = []  # clock time, people without water, leak L/s
        self._prev_t: float | None = None
        self.finished = False
        #: (what, clock time, junction id -> pressure m) at the key moments: the break, the valves
        #: closed, the repair done; what the report's pictures show
        self.snapshots: list[tuple[str, float, pd.Series]] = []
        self._snapshot_next: str | None = None

    # ---------------------------------------------------------------- set-up
    def attach(self, session) -> None:
        self.session = session
        length = int(round(session.end - session.start))
        s = self.solver = Solver(self.system.epanet, name=self.system.name)
        self.demand_model.apply(s)
        s.set_time(DURATION, length)
        step = int(min(s.time_param(HYDSTEP) or 3600, session.step_s))
        s.set_time(HYDSTEP, step)
        s.set_time(REPORTSTEP, step)
        s.keep_changes()
        self.baseline = baseline(self.system, self.demand_model, length, step)
        junctions = [s.node_ids[i] for i in s.junctions]
        people = self.system.population.reindex(junctions).fillna(0.0).to_numpy(float)
        self.people = np.zeros(s.node_count)
        self.people[s.junctions] = people
        session.subscribe(self._on_event, kinds=("valve_closed", "valve_opened", "repair_done"))

    def break_pipe(self, pipe: str, at: float, hole_mm: float = 100.0, discharge_coefficient: float = 0.75) -> None:
        """A break of ``pipe`` at clock time ``at`` (before the run starts): an orifice of ``hole_mm``."""
        s = self.solver
        if pipe not in s.link_index:
            raise KeyError(f"{self.system.name}: no pipe {pipe!r} to break")
        if pipe in self.breaks:
            raise ValueError(f"pipe {pipe!r} breaks twice")
        if self.pressure is not None:
            raise ValueError("breaks are set before the session runs")
        if not self.session.start <= at < self.session.end:
            raise ValueError(f"break of {pipe} at {at}: outside the session")
        hole = s.add_break(pipe, f"BREAK-{pipe}", f"{pipe}-B", f"OUTFALL-{pipe}", f"HOLE-{pipe}",
                           hole_mm / 1000.0, 1.0 / discharge_coefficient ** 2)
        s.add_timer(hole, 1, at - self.session.start)
        s.keep_changes()
        self.people = np.concatenate([self.people, np.zeros(s.node_count - len(self.people))])
        self.breaks[pipe] = {"hole": hole, "at": float(at), "hole_mm": float(hole_mm), "half": f"{pipe}-B",
                             "open": False, "announced": False, "volume_m3": 0.0}

    # ---------------------------------------------------------------- events from other engines
    def _on_event(self, event) -> None:
        if event.kind in ("valve_closed", "valve_opened") and event.layer != "water_valves":
            return  # a gas main shut off, a drain gate: not this network's
        if event.kind == "valve_closed" and not any(w == "valves closed" for w, _, _ in self.snapshots):
            self._snapshot_next = "valves closed"
        elif event.kind == "repair_done" and event.get("pipe") in self.breaks:
            self._snapshot_next = "repair done"
        if event.kind in ("valve_closed", "valve_opened"):
            link = event.get("link")
            if link is None:
                return
            self._pending.append((str(link), 0 if event.kind == "valve_closed" else 1))
        elif event.kind == "repair_done":
            pipe = event.get("pipe")
            if pipe in self.breaks:
                self._pending.append((f"HOLE-{pipe}", 0))

    def _apply_pending(self) -> None:
        s = self.solver
        for link, status in self._pending:
            if link not in s.link_index:
                continue
            s.check(s.lib.EN_setlinkvalue(s.handle, s.link_index[link] + 1, STATUS, float(status)),
                    f"set the status of {link}")
            closed = self.session.state["links_closed"]
            (closed.add if status == 0 else closed.discard)(link)
        self._pending.clear()

    # ---------------------------------------------------------------- time
    def advance_to(self, t_clock: float) -> None:
        s, session = self.solver, self.session
        lib, ph = s.lib, s.handle
        target = t_clock - session.start
        if self.pressure is None:
            s.open_hydraulics()
            s.check(lib.EN_initH(ph, 10), "initialise the hydraulics")
        self.baseline.advance_to(target)
        self._apply_pending()
        self.steps = []
        t, step = ctypes.c_long(), ctypes.c_long()
        # at the session's end EPANET's last step (at the end itself) is solved too
        last = t_clock >= session.end
        while (self.t < target or self.pressure is None or (last and not self.finished)):
            code = lib.EN_runH(ph, ctypes.byref(t))
            if code > 100:
                raise SolverError(f"{self.system.name}: EPANET failed at {t.value / 3600:.2f} h")
            p = self._pressures(s)
            q = s.link_values(FLOW) * s.flow_factor
            now = session.start + float(t.value)
            self._observe(now, p, q, first=self.pressure is None)
            self.pressure, self.flow = p, q
            self.steps.append((now, p, q))
            lib.EN_nextH(ph, ctypes.byref(step))
            if step.value <= 0:
                self.t = float(session.end - session.start)
                self.finished = True
                break
            self.t = float(t.value + step.value)

    @staticmethod
    def _pressures(s: Solver) -> np.ndarray:
        """Pressures in m, as :meth:`Solver.run` gives them (US units: head less elevation, in m)."""
        if s.flow_units in US_UNITS:
            elevation = s._elevations()  # first: it reads through the same buffer
            s.check(s.lib.EN_getnodevalues(s.handle, HEAD, s.node_pointer), "read heads")
            return (s.node_buffer - elevation) * s.length_factor
        s.check(s.lib.EN_getnodevalues(s.handle, PRESSURE, s.node_pointer), "read pressures")
        return s.node_buffer.copy() * s.pressure_factor

    def _baseline_at(self, t_hyd: float) -> np.ndarray:
        return self.baseline.at(t_hyd)

    def _observe(self, now: float, p: np.ndarray, q: np.ndarray, first: bool) -> None:
        s, session = self.solver, self.session
        # the previous solution held from its step until now: its leak flow integrates over that time
        dt = now - self._prev_t if self._prev_t is not None else 0.0
        self._prev_t = now
        leak_total = 0.0
        for pipe, b in self.breaks.items():
            flow = max(float(q[b["hole"]]), 0.0)
            if self.flow is not None:
                b["volume_m3"] += max(float(self.flow[b["hole"]]), 0.0) * dt
            if flow > 1e-9 and not b["open"]:
                b["open"] = True
                self._snapshot_next = self._snapshot_next or f"pipe {pipe} broken"
                session.state["breaks"][pipe] = {"since": now, "hole_mm": b["hole_mm"]}
                session.publish(now, "pipe_broken", SOURCE, "water_pipes", pipe, b["hole_mm"],
                                f"pipe {pipe} broke ({b['hole_mm']:g} mm hole)")
                session.publish(now, "leak_started", SOURCE, "water_pipes", pipe, flow * 1000.0,
                                f"leak of {flow * 1000:.1f} L/s from pipe {pipe}")
            elif flow <= 1e-9 and b["open"]:
                b["open"] = False
                session.state["breaks"].pop(pipe, None)
                session.publish(now, "leak_stopped", SOURCE, "water_pipes", pipe, b["volume_m3"],
                                f"leak from pipe {pipe} stopped: {b['volume_m3']:.0f} m³ lost")
            leak_total += flow
        if first:
            self.without = np.zeros(s.node_count, dtype=bool)
            self._serves = self.people[:s.node_count] > 0  # junctions serving people (nothing else does)
        base = self._baseline_at(now - session.start)
        n = len(base)  # the baseline has no break nodes: they come after every node of the network
        without = (p < self.service_pressure) & self._serves
        without[:n] &= base >= self.service_pressure
        changed = without != self.without
        if first or changed.any():
            for i in np.flatnonzero(changed & without):
                session.publish(now, "service_lost", SOURCE, "water_junctions", s.node_ids[i], self.people[i],
                                f"junction {s.node_ids[i]} below {self.service_pressure:g} m ({p[i]:.1f} m)",
                                pressure_m=round(float(p[i]), 3))
            for i in np.flatnonzero(changed & self.without):
                session.publish(now, "service_restored", SOURCE, "water_junctions", s.node_ids[i], self.people[i],
                                f"junction {s.node_ids[i]} back above {self.service_pressure:g} m",
                                pressure_m=round(float(p[i]), 3))
            self.without = without
            session.state["junctions_without_service"] = {s.node_ids[i] for i in np.flatnonzero(without)}
            self.people_without = float(self.people[:s.node_count][without].sum())
        if self._snapshot_next and not first:
            ids = [s.node_ids[i] for i in s.junctions]
            self.snapshots.append((self._snapshot_next, now, pd.Series(p[s.junctions], index=ids)))
            self._snapshot_next = None
        self.timeline.append((now, self.people_without, leak_total * 1000.0))

    # ---------------------------------------------------------------- reading the state
    def layer_values(self) -> list:
        """Junction pressures, and pipe pressures (the mean of a pipe's two ends, as ``render --color-by``
        shows them: junctions are specks from a town's height, the mains carry the colour), m, now."""
        from simulation.session.values import LayerValues

        if self.pressure is None or self.solver is None:
            return []
        s, p = self.solver, self.pressure
        out = [LayerValues("water_junctions", "pressure", pd.Series(p[s.junctions], index=[s.node_ids[i]
                           for i in s.junctions]), "m", "RdYlBu", PRESSURE_RANGE)]
        ends = self._pipe_ends()
        if ends is not None:
            ids, a, b = ends
            out.append(LayerValues("water_pipes", "pressure", pd.Series((p[a] + p[b]) / 2.0, index=ids), "m",
                                   "RdYlBu", PRESSURE_RANGE))
        return out

    def _pipe_ends(self):
        """(pipe ids, start node index, end node index) of the twin's water pipes EPANET knows, kept."""
        if getattr(self, "_ends", None) is None:
            twin = getattr(self.session, "twin", None)
            if twin is None or "water_pipes" not in twin.layers:
                return None
            s, pipes = self.solver, twin["water_pipes"]
            keep = [k for k, (a, b) in enumerate(zip(pipes["start_node"], pipes["end_node"]))
                    if a in s.node_index and b in s.node_index]
            ids = pipes["id"].astype(str).to_numpy()[keep]
            start = np.array([s.node_index[a] for a in pipes["start_node"].to_numpy()[keep]], dtype=np.int64)
            end = np.array([s.node_index[b] for b in pipes["end_node"].to_numpy()[keep]], dtype=np.int64)
            self._ends = (ids, start, end)
        return self._ends

    def node_value(self, node_id: str, t_clock: float, what: str = "pressure") -> float:
        """Pressure (m) of a node as EPANET's solution holds it at clock time ``t_clock``."""
        i = self.solver.node_index[node_id]
        state = self._at(t_clock)
        return float(state[1][i])

    def deficit(self, node_id: str) -> float:
        """How far (m) the node's pressure now lies below what the network without the session's events gives."""
        i = self.solver.node_index[node_id]
        base = self._baseline_at(self.session.now - self.session.start)
        return float(base[i] - self.pressure[i]) if i < len(base) else 0.0

    def link_flow(self, link_id: str, t_clock: float) -> float:
        i = self.solver.link_index[link_id]
        return float(self._at(t_clock)[2][i])

    def _at(self, t_clock: float):
        # a solution holds from its step until the next one
        for now, p, q in reversed(self.steps):
            if now <= t_clock:
                return now, p, q
        return (self.session.now, self.pressure, self.flow)

    def timeline_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.timeline, columns=["time_s", "people_without_water", "leak_lps"])
