"""Fire flow: can the network give each hydrant the required flow, for the required time, at residual pressure?

Defaults (NFPA 291 / AWWA M31 practice; every one is an argument):

* required flow ``flow_lps`` = 95 L/s (about 1,500 gpm), drawn for ``duration_h`` = 2 h
  on top of the normal demands;
* residual pressure ``residual_m`` = 14 m (20 psi) at the hydrant **and at every
  other junction** that has at least that pressure without the fire draw
  (junctions already below it are the baseline's problem, reported by ``run``,
  and would otherwise fail every hydrant);
* the test starts at the hour of peak demand of the baseline's first day
  (``start_h`` to choose another), with tank levels, pump and valve states as the
  baseline has them then; clock-time rules and controls follow the shifted clock,
  timer controls (relative to the original start) are disabled for the test.

A hydrant *passes* when every hydraulic step of the test window keeps those
residuals and EPANET converges.  Its *available flow* is the largest fire flow
that keeps them, found with the very check pass/fail uses (same window, rules
and watched junctions): one run where the hydrant junction becomes an emitter
discharging to the residual pressure (its elevation raised by the residual)
gives a first estimate; the estimate is then confirmed or bracketed by fire-flow
runs and bisected down to ``tolerance_lps`` (or 1 %).  So a hydrant that
passes at the required flow never reports less than it, and one that fails
never reports as much.

The test is demand-driven.  A hydrant whose junction is already below 0 m over
the window without any fire is *not assessed* (a demand-driven negative
pressure is not physical: the network fails there before the fire), and the
result's ``baseline`` says the run without a fire is not valid, as ``hydraulics
run`` does; a fire that drives a pressure below 0 m fails without the
unphysical number.  ``start_h`` after the end of the simulation (``sim_duration_h``,
default the network's) is refused as criticality refuses such a window; the
result's ``window`` gives the hours the fire was drawn.

Pass/fail costs one extended-period run of ``duration_h`` per hydrant (with
``duration_h=0``, one steady-state solve).  Hydrants are ``node_id`` of the
project's hydrants layer, or every junction of a bare network.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.criticality import check_window_start
from simulation.hydraulics.results import negative_pressure_check, write_atomic
from simulation.hydraulics.solver import (DURATION, ELEVATION, EMITTER, INITSETTING, INITSTATUS,
                                          PATTERNSTART, PRESSURE, PUMP, SETTING, STARTTIME, STATUS, TANK,
                                          TANKLEVEL, TIMER, UNBALANCED, Solver, SolverError)
from simulation.hydraulics.sweep import Study, sweep

FIRE_FLOW_LPS = 95.0
FIRE_DURATION_H = 2.0
RESIDUAL_M = 14.0
EMITBACKFLOW = 24  # EN_EMITBACKFLOW option (EPANET 2.3)
FIRE_PATTERN = b"LIFELINE_FIRE"


class FireFlowStudy(Study):
    def __init__(self, network, name: str, *, flow_lps: float = FIRE_FLOW_LPS,
                 duration_h: float = FIRE_DURATION_H, residual_m: float = RESIDUAL_M,
                 start_h: float | None = None, available: bool = True, tolerance_lps: float = 0.5,
                 sim_duration_h: float | None = None):
        super().__init__()
        if flow_lps <= 0:
            raise ValueError(f"fire flow must be > 0 L/s, not {flow_lps}")
        if duration_h < 0:
            raise ValueError(f"fire duration must be >= 0 h, not {duration_h}")
        if residual_m < 0:
            raise ValueError(f"residual pressure must be >= 0 m, not {residual_m}")
        if start_h is not None and start_h < 0:
            raise ValueError(f"fire start must be >= 0 h, not {start_h}")
        self.network, self.name = network, name
        self.flow_lps, self.duration_h, self.residual_m = float(flow_lps), float(duration_h), float(residual_m)
        self.start_h, self.available, self.tolerance_lps = start_h, available, float(tolerance_lps)
        if sim_duration_h is not None and sim_duration_h < 0:
            raise ValueError(f"duration must be >= 0 h, not {sim_duration_h}")
        self.sim_duration_h = sim_duration_h

    # ------------------------------------------------------------------ per worker
    def prepare(self):
        s = Solver(self.network, name=self.name)
        DemandModel().apply(s)
        if self.sim_duration_h is not None:  # the simulation the fire is set in (peak hour, --start bound)
            s.set_time(DURATION, int(round(self.sim_duration_h * 3600)))
            s.keep_changes()
            s.duration = int(round(self.sim_duration_h * 3600))
        if self.start_h is not None:  # the same refusal as criticality's closure window
            check_window_start(self.name, self.start_h * 3600, s.duration, "fire window")
        start = self._design_time(s) if self.start_h is None else int(round(self.start_h * 3600))
        if start > 0:
            self._shift_to(s, start)
        lib, ph = s.lib, s.handle
        lib.EN_settimeparam(ph, DURATION, int(round(self.duration_h * 3600)))
        lib.EN_setoption(ph, EMITBACKFLOW, 0.0)  # a hydrant never takes water in
        lib.EN_addpattern(ph, FIRE_PATTERN)  # constant 1: the fire flow does not follow demand patterns
        s.keep_changes()
        base = self._window(s)
        if base is None:
            raise SolverError(f"{self.name}: the network does not converge without any fire flow")
        j = s.junctions
        check = np.zeros(s.node_count, dtype=bool)
        check[j] = base[j] >= self.residual_m / s.pressure_factor
        lowest = pd.Series(base[j] * s.pressure_factor, index=[s.node_ids[i] for i in j], dtype=float)
        return {"solver": s, "check": check, "base_min": base, "design_time_s": start,
                "window": {"start_h": start / 3600, "end_h": start / 3600 + self.duration_h,
                           "chosen": "peak demand hour" if self.start_h is None else "--start"},
                # the fire test is demand-driven: negative pressures without a fire are not physical
                "baseline": negative_pressure_check(lowest, pdd=False),
                "to_units": 1e-3 / s.flow_factor}  # L/s -> network flow units

    def _watch(self, state, node: int) -> np.ndarray:
        """Indexes of the nodes that must keep the residual when ``node`` is the hydrant."""
        w = state["check"].copy()
        w[node] = True
        return np.flatnonzero(w)

    def _design_time(self, s: Solver) -> int:
        """The report time of highest total junction demand in the first 24 h of the baseline."""
        if s.duration == 0:
            return 0
        s.set_time(DURATION, min(s.duration, 24 * 3600))
        run = s.run(("demand",))
        s.restore()
        total = run.nodes["demand"][:, s.junctions].sum(axis=1)
        return int(run.times[int(np.argmax(total))]) if len(total) else 0

    def _shift_to(self, s: Solver, t0: int) -> None:
        """Start the network at ``t0``: tank levels, pump/valve states and clocks as the baseline has them."""
        lib, ph = s.lib, s.handle
        s.set_time(DURATION, t0)
        s.open_hydraulics()
        lib.EN_initH(ph, 10)
        t, step = ctypes.c_long(), ctypes.c_long()
        while True:
            lib.EN_runH(ph, ctypes.byref(t))
            lib.EN_nextH(ph, ctypes.byref(step))
            if step.value <= 0:
                break
        levels = {int(i): s.get_node(int(i), TANKLEVEL) for i in np.flatnonzero(s.node_types == TANK)}
        links = {i: (s.get_link(i, STATUS), s.get_link(i, SETTING)) for i in range(s.link_count)}
        s.restore()
        for i, lvl in levels.items():
            lib.EN_setnodevalue(ph, i + 1, TANKLEVEL, lvl)
        for i, (status, setting) in links.items():
            kind = s.link_types[i]
            if kind <= PUMP:  # pipes and pumps: open/closed (and pump speed) as at t0
                if status != s.get_link(i, INITSTATUS):
                    lib.EN_setlinkvalue(ph, i + 1, INITSTATUS, status)
                if kind == PUMP and status > 0 and setting > 0:
                    lib.EN_setlinkvalue(ph, i + 1, INITSETTING, setting)
            elif status == 0:  # a control valve closed at t0 (open ones stay active, not fixed open)
                lib.EN_setlinkvalue(ph, i + 1, INITSTATUS, 0)
        for code in (PATTERNSTART, STARTTIME):
            lib.EN_settimeparam(ph, code, s.time_param(code) + t0)
        n = ctypes.c_int()
        lib.EN_getcount(ph, 5, ctypes.byref(n))
        ty, li, ni = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        st, lv = ctypes.c_double(), ctypes.c_double()
        for k in range(1, n.value + 1):
            lib.EN_getcontrol(ph, k, ctypes.byref(ty), ctypes.byref(li), ctypes.byref(st), ctypes.byref(ni),
                              ctypes.byref(lv))
            if ty.value == TIMER:
                lib.EN_setcontrolenabled(ph, k, 0)

    def _window(self, s: Solver, node: int = -1, watch: np.ndarray | None = None):
        """Minimum pressure (EPANET units) of every node over the test window, or None if unbalanced.

        With ``watch`` (nodes that must keep the residual), the run stops at the
        first step where one of them drops below it: the test has failed, and the
        rest of the window cannot change that (most failing hydrants fail at once).
        """
        lib, ph = s.lib, s.handle
        s.open_hydraulics()
        s.check(lib.EN_initH(ph, 10), "initialise the hydraulics")
        t, step = ctypes.c_long(), ctypes.c_long()
        lowest = None
        residual = self.residual_m / s.pressure_factor
        buf, ptr = s.node_buffer, s.node_pointer
        while True:
            code = lib.EN_runH(ph, ctypes.byref(t))
            if code > 100:
                raise SolverError(f"EPANET failed at {t.value / 3600:.2f} h: {code}")
            if code == UNBALANCED:
                return None
            lib.EN_getnodevalues(ph, PRESSURE, ptr)
            lowest = buf.copy() if lowest is None else np.minimum(lowest, buf)
            if watch is not None and (buf[watch] < residual).any():
                return lowest
            lib.EN_nextH(ph, ctypes.byref(step))
            if step.value <= 0:
                return lowest

    def _with_fire(self, s: Solver, node: int, lps: float, units: float, watch: np.ndarray | None = None):
        lib, ph = s.lib, s.handle
        s.check(lib.EN_adddemand(ph, node + 1, lps * units, FIRE_PATTERN, b"fire"), "add the fire demand")
        try:
            return self._window(s, node, watch)
        finally:
            n = ctypes.c_int()
            lib.EN_getnumdemands(ph, node + 1, ctypes.byref(n))
            lib.EN_deletedemand(ph, node + 1, n.value)

    def _ok(self, state, node: int, lowest) -> tuple[bool, str]:
        s: Solver = state["solver"]
        if lowest is None:
            return False, "EPANET did not converge"
        r = self.residual_m / s.pressure_factor
        if lowest[node] < r:
            return False, f"residual at the hydrant {_pressure_text(lowest[node] * s.pressure_factor)}"
        others = state["check"].copy()
        others[node] = False
        low = others & (lowest < r)
        if low.any():
            worst = int(np.flatnonzero(low)[np.argmin(lowest[low])])
            return False, (f"{int(low.sum())} other junction(s) below {self.residual_m:g} m "
                           f"(lowest {s.node_ids[worst]}: {_pressure_text(lowest[worst] * s.pressure_factor)})")
        return True, ""

    def evaluate(self, state, node: int) -> dict:
        s: Solver = state["solver"]
        units = state["to_units"]
        base = state["base_min"][node] * s.pressure_factor
        if base < 0:  # a demand-driven pressure below zero before any fire: nothing to assess
            return {"assessed": False, "passes": False, "limited_by": NOT_ASSESSED,
                    **({"available_flow_lps": np.nan} if self.available else {})}
        watch = self._watch(state, node)
        passes, why = self._ok(state, node, self._with_fire(s, node, self.flow_lps, units, watch))
        out = {"assessed": True, "passes": passes, "limited_by": why}
        if self.available:
            out["available_flow_lps"] = self._available(state, node, passes)
        return out

    def _available(self, state, node: int, passes: bool) -> float:
        """Largest fire flow (L/s) keeping the residuals, to ``tolerance_lps``."""
        s: Solver = state["solver"]
        lib, ph = s.lib, s.handle
        elev = s.get_node(node, ELEVATION)
        # an emitter discharging at the residual: flow = C * sqrt(p - residual); C so large that the
        # residual is met to ~1 mm at 1,000 L/s, i.e. the network alone sets the flow
        coeff = 1000.0 * state["to_units"] / np.sqrt(0.001 / s.pressure_factor)
        try:
            lib.EN_setnodevalue(ph, node + 1, ELEVATION, elev + self.residual_m / s.length_factor)
            lib.EN_setnodevalue(ph, node + 1, EMITTER, coeff)
            q_hyd = self._emitter_window(s, node)
        finally:
            lib.EN_setnodevalue(ph, node + 1, EMITTER, 0.0)
            lib.EN_setnodevalue(ph, node + 1, ELEVATION, elev)
        q = self.flow_lps
        to_units = state["to_units"]
        watch = self._watch(state, node)

        seen: dict[float, bool] = {}

        def holds(lps: float) -> bool:
            if lps not in seen:
                seen[lps] = self._ok(state, node, self._with_fire(s, node, lps, to_units, watch))[0]
            return seen[lps]

        # The emitter estimate only seeds the search: the answer is decided by the same check as
        # pass/fail (same window, rules, watched junctions), so a hydrant that passes at Q never
        # reports less than Q, and one that fails at Q never reports Q or more.
        estimate = 0.0 if q_hyd is None else max(q_hyd / to_units, 0.0)
        if passes:
            lo = q  # known to hold
            if estimate > lo and holds(estimate):
                lo = estimate
            hi = lo * 1.25
            if estimate > hi / 1.25 and not holds(estimate):
                hi = estimate
            else:  # bracket from below: grow until the residuals fail
                while holds(hi):
                    lo, hi = hi, hi * 1.25
                    if lo > 50.0 * q:
                        return round(lo, 2)
        else:
            lo, hi = 0.0, q  # Q is known to fail
            if 0.0 < estimate < q and holds(estimate):
                lo = estimate
        # to tolerance_lps or 1 % of the flow, whichever is coarser: hydrant flows are not known better
        while hi - lo > max(self.tolerance_lps, 0.01 * hi):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if holds(mid) else (lo, mid)
        return round(lo, 2)

    def _emitter_window(self, s: Solver, node: int):
        """Smallest emitter discharge (flow units) over the window, or None if unbalanced."""
        from simulation.hydraulics.solver import EMITTERFLOW

        lib, ph = s.lib, s.handle
        s.check(lib.EN_initH(ph, 10), "initialise the hydraulics")
        t, step, v = ctypes.c_long(), ctypes.c_long(), ctypes.c_double()
        low = None
        while True:
            code = lib.EN_runH(ph, ctypes.byref(t))
            if code > 100 or code == UNBALANCED:
                return None
            lib.EN_getnodevalue(ph, node + 1, EMITTERFLOW, ctypes.byref(v))
            low = v.value if low is None else min(low, v.value)
            lib.EN_nextH(ph, ctypes.byref(step))
            if step.value <= 0:
                return low


NOT_ASSESSED = ("not assessed: the network without a fire already fails here (negative pressure in a "
                "demand-driven run, not physical)")


def _pressure_text(m: float) -> str:
    """A pressure for a failure reason: below zero a demand-driven pressure is not physical, so no number."""
    return f"{m:.1f} m" if m >= 0 else "below 0 m (the flow cannot be delivered; the demand-driven pressure is not physical)"


@dataclass
class FireFlow:
    network: str
    table: pd.DataFrame      # id, node, assessed, passes, available_flow_lps, limited_by
    failures: pd.DataFrame   # id, node, reason (EPANET errors)
    seconds: float
    settings: dict = field(default_factory=dict)
    #: the fire window: start_h, end_h (hours of the simulation) and how the start was chosen
    window: dict = field(default_factory=dict)
    #: the run without any fire over the window: valid, junctions (with negative pressure), lowest_m, lowest_junction
    baseline: dict = field(default_factory=lambda: {"valid": True, "junctions": 0, "lowest_m": None,
                                                    "lowest_junction": None})

    @property
    def assessed(self) -> pd.DataFrame:
        return self.table[self.table["assessed"].astype(bool)] if len(self.table) else self.table

    @property
    def pass_rate(self) -> float:
        """Share of the hydrants tested that pass (one not assessed, the network failing there already, does not)."""
        return float(self.table["passes"].astype(bool).mean()) if len(self.table) else float("nan")

    def to_json(self) -> dict:
        """The ``fire-flow --json`` document."""
        rows = [{"id": str(r.id), "node": str(r.node), "assessed": bool(r.assessed),
                 "passes": bool(r.passes) if r.assessed else None,
                 "available_flow_lps": (None if pd.isna(r.available_flow_lps) else round(float(r.available_flow_lps), 2))}
                for r in self.table.itertuples()]
        return {"hydrants": rows, "window": self.window, "baseline": self.baseline, "seconds": round(self.seconds, 3)}

    def write(self, out_dir) -> list[Path]:
        out = Path(out_dir)
        return [write_atomic(out / "fire_flow.csv", self.table.to_csv(index=False)),
                write_atomic(out / "fire_flow_failures.csv", self.failures.to_csv(index=False)),
                write_atomic(out / "fire_flow.json", json.dumps({**self.to_json(), "pass_rate": self.pass_rate,
                                                                 "settings": self.settings}, indent=1))]


def hydrant_nodes(system, nodes: list[str] | None = None) -> pd.DataFrame:
    """(id, node) of the hydrants to test: the hydrants layer, or every junction of a bare network."""
    wn = system.network
    if nodes:
        known = set(wn.junction_name_list)
        bad = [n for n in nodes if n not in known]
        if bad:
            raise KeyError(f"{system.source or system.name}: unknown junction id(s) {', '.join(map(repr, bad[:5]))}")
        return pd.DataFrame({"id": nodes, "node": nodes})
    if len(system.hydrants):
        return pd.DataFrame({"id": system.hydrants["id"].astype(str).to_numpy(),
                             "node": system.hydrants["node_id"].astype(str).to_numpy()})
    names = wn.junction_name_list
    return pd.DataFrame({"id": names, "node": names})


def fire_flow(system, *, nodes: list[str] | None = None, sample: int | None = None, seed: int = 0,
              flow_lps: float = FIRE_FLOW_LPS, duration_h: float = FIRE_DURATION_H,
              residual_m: float = RESIDUAL_M, start_h: float | None = None, available: bool = True,
              sim_duration_h: float | None = None, workers: int = 0, scheduler: str | None = None, progress: bool | Callable[[int, int], None] = False,
              cluster_threshold_s: float | None = None) -> FireFlow:
    """Test every hydrant (or junction); see the module docstring for the rules.

    ``progress``: True for a bar on stderr, or ``progress(done, total)`` told as hydrants complete
    (see :func:`~simulation.hydraulics.sweep.sweep`; what it raises stops the sweep).
    """
    hydrants = hydrant_nodes(system, nodes)
    if sample is not None and sample < 1:  # 0 ran an empty sweep reported as complete; < 0 crashed in numpy
        raise ValueError(f"sample must be at least 1, got {sample}")
    if sample is not None and sample < len(hydrants):
        hydrants = hydrants.sample(n=sample, random_state=seed).sort_index()
    network = system.epanet
    with Solver(network, name=system.name) as probe:
        index = [probe.node(n) for n in hydrants["node"]]
    study = FireFlowStudy(network, system.name, flow_lps=flow_lps, duration_h=duration_h, residual_m=residual_m,
                          start_h=start_h, available=available, sim_duration_h=sim_duration_h)
    # prepared here first (in-process sweeps reuse it): a bad window is refused before any worker starts,
    # and the fire window and the baseline without a fire are reported from it
    state = study.state()
    report = sweep(study, index, workers=workers, scheduler=scheduler, progress=progress, desc="hydrants",
                   cluster_threshold_s=cluster_threshold_s)
    rows, failures = [], []
    for (hid, node), o in zip(hydrants.itertuples(index=False), report.outcomes):
        if o.ok:
            rows.append({"id": hid, "node": node, "assessed": o.value["assessed"], "passes": o.value["passes"],
                         "available_flow_lps": o.value.get("available_flow_lps", np.nan),
                         "limited_by": o.value["limited_by"]})
        else:
            failures.append({"id": hid, "node": node, "reason": o.error})
    table = pd.DataFrame(rows, columns=["id", "node", "assessed", "passes", "available_flow_lps", "limited_by"])
    window = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in state["window"].items()}
    return FireFlow(system.name, table, pd.DataFrame(failures, columns=["id", "node", "reason"]), report.seconds,
                    {"flow_lps": flow_lps, "duration_h": duration_h, "residual_m": residual_m,
                     "start_h": start_h if start_h is not None else "peak demand hour", "workers": report.workers,
                     "setup_seconds": round(report.setup_seconds, 3)}, window, state["baseline"])
