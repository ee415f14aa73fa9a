"""The gas network on the session clock: a series of steady states, solved when something changes.

:class:`GasNetwork` is an engine of the :class:`~simulation.session.Session`
(``name = "gas"``), attached after the water network and before the
emergency response (and before :class:`~simulation.gas.migration.Migration`,
which reads its leaks).  Gas in a distribution network settles within seconds
to a minute of a change (pressure waves travel at the speed of sound, some
hundreds of m/s), so the network is a steady state between changes, solved by
:func:`simulation.gas.leak.solve`:

* at the session's start;
* when a scripted leak opens (:meth:`GasNetwork.leak`, set up before the run):
  at its exact clock time, even inside a frame;
* when a ``valve_closed`` / ``valve_opened`` / ``repair_done`` event names a
  gas main (layer ``gas_mains``; the twin has no gas valves, so the event
  names the main the crew shuts off): the main goes out of / back into
  service, a repair closes the main's leak; applied at the start of the
  engine's next frame (the session's rule for an order from a later engine:
  within one ``step_s``);
* when the hour changes and ``hourly_factors`` (24 multipliers of the design
  hour, by local hour) give the new hour another factor.  Without them the
  network carries its design hour all day (GB 50028 sizes a network for its
  design hour), and nothing is solved between events.

After each solve it publishes what changed: ``leak_started`` (layer
``gas_mains``, value: the leak's flow in L/s of gas at 0 °C, 101.325 kPa),
``leak_stopped`` (value: m³ of gas released, same reference), and
``gas_supply_lost`` / ``gas_supply_restored`` (layer ``buildings``, one
summary per solve, value: the people who lost or regained gas; ``data``: the
customers (buildings), households and mains).  ``session.state["gas_leaks"]``
holds each leak (``gas_mains/<id>`` -> position, active) for the crews, as
:mod:`simulation.session.sources` does, with its ``flow``: (clock time, L/s)
at every solve since it opened, a step function (what
:class:`~simulation.gas.migration.Migration` spreads through the soil); and
``session.state["buildings_without_gas"]`` the buildings without gas.

Every solve is kept (:attr:`GasNetwork.results`: clock time, what changed,
the :class:`~simulation.gas.leak.Solution`); :meth:`pressure_table`,
:meth:`flow_table`, :meth:`leak_table` and :meth:`timeline_frame` are the
tidy tables.  :func:`solve_sequence` solves the same states straight through,
with no session: stepping on the clock gives the same solutions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulation.gas.leak import Leak, Solution, place_leak, solve
from simulation.gas.network import GasGrid, GasNetworkError

SOURCE = "gas"
LAYER = "gas_mains"


@dataclass
class ScriptedLeak:
    """A leak of the scenario: its hole, and the clock time it opens."""

    leak: Leak
    at: float
    started: bool = False
    announced: bool = False         # leak_started published, leak_stopped not yet
    flow_lps: float = 0.0           # as of the last solve
    volume_m3: float = 0.0          # released so far (at reference conditions)
    history: list = field(default_factory=list)   # (clock time, L/s) at every solve from its opening


class GasNetwork:
    """pandapipes on the session clock: steady states solved on changes, events published."""

    name = SOURCE

    def __init__(self, grid: GasGrid, *, hourly_factors=None, utc_offset_h: float = 0.0, tol: float = 1e-6):
        self.grid = grid
        if hourly_factors is not None:
            factors = [float(f) for f in hourly_factors]
            if len(factors) != 24 or not all(math.isfinite(f) and f >= 0 for f in factors):
                raise GasNetworkError("gas network: hourly_factors must be 24 numbers >= 0 (one per local hour)")
            hourly_factors = factors
        self.hourly_factors = hourly_factors
        self.utc_offset_h = float(utc_offset_h)
        self.tol = float(tol)
        self.leaks: list[ScriptedLeak] = []
        self.results: list[tuple[float, str, Solution]] = []
        self.timeline: list[tuple[float, float, int, float, float]] = []
        self.without = np.zeros(len(grid.customers), dtype=bool)
        self._pending: list[tuple[str, str]] = []
        self.now: float | None = None
        self.solution: Solution | None = None

    # ---------------------------------------------------------------- set-up
    def leak(self, main: str, at: float, hole_mm: float, along: float = 0.5,
             discharge_coefficient: float = 0.61) -> ScriptedLeak:
        """A hole of ``hole_mm`` in gas main ``main`` opening at clock time ``at`` (before the run)."""
        if self.now is not None:
            raise GasNetworkError("gas network: leaks are set before the session runs")
        if any(s.leak.main == main for s in self.leaks):
            raise GasNetworkError(f"gas network: gas main {main} leaks twice")
        leak = place_leak(self.grid, Leak(main, hole_mm, along, discharge_coefficient))
        scripted = ScriptedLeak(leak, float(at))
        self.leaks.append(scripted)
        self.leaks.sort(key=lambda s: s.at)
        return scripted

    def attach(self, session) -> None:
        self.session = session
        for s in self.leaks:
            if not session.start <= s.at < session.end:
                raise GasNetworkError(f"gas network: the leak on {s.leak.main} at {s.at} falls outside the session")
        state = session.state.setdefault("gas_leaks", {})
        for s in self.leaks:
            state[f"{LAYER}/{s.leak.main}"] = {"layer": LAYER, "feature": s.leak.main, "x": s.leak.xy[0],
                                               "y": s.leak.xy[1], "active": False, "flow": s.history}
        session.state["buildings_without_gas"] = set()
        session.subscribe(self._on_event, kinds=("valve_closed", "valve_opened", "repair_done"))

    # ---------------------------------------------------------------- events from other engines
    def _on_event(self, event) -> None:
        if event.layer == LAYER and event.feature is not None and self.grid.has_main(event.feature):
            self._pending.append((event.kind, event.feature))

    def _apply(self, kind: str, main: str) -> None:
        if kind == "valve_closed":
            self.grid.close(main)
        elif kind == "valve_opened":
            self.grid.open(main)
        else:  # repair_done: the hole is closed
            for s in self.leaks:
                if s.leak.main == main:
                    s.leak.open = False

    # ---------------------------------------------------------------- time
    def factor(self, t: float) -> float:
        """The hour's share of the design hour at clock time ``t``."""
        if self.hourly_factors is None:
            return 1.0
        return self.hourly_factors[int(((t + self.utc_offset_h * 3600.0) % 86400.0) // 3600.0)]

    def _changes(self, after: float, until: float) -> list[float]:
        """Clock times in (after, until] where a leak opens or the hour's factor changes."""
        times = {s.at for s in self.leaks if after < s.at <= until}
        if self.hourly_factors is not None:
            h = math.floor(after / 3600.0) * 3600.0 + 3600.0
            while h <= until:
                if self.factor(h) != self.factor(h - 1.0):
                    times.add(h)
                h += 3600.0
        return sorted(times)

    def advance_to(self, t: float) -> None:
        if self.now is None:
            self.now = self.session.start
            self._solve_at(self.now, "start")
        if self._pending:
            pending, self._pending = self._pending, []
            for kind, main in pending:
                self._apply(kind, main)
            self._solve_at(self.now, ", ".join(f"{k} {m}" for k, m in pending))
        for at in self._changes(self.now, t):
            self._solve_at(at, "leak or hour")
        self.now = t

    def _solve_at(self, at: float, why: str) -> None:
        for s in self.leaks:
            if not s.started and s.at <= at:
                s.started = True
                s.leak.open = True
        factor = self.factor(at)
        if factor != self.grid.demand_factor:
            self.grid.set_demand_factor(factor)
        solution = solve(self.grid, [s.leak for s in self.leaks], tol=self.tol)
        self.results.append((at, why, solution))
        self._observe(at, solution)
        self.solution = solution

    # ---------------------------------------------------------------- what changed
    def _observe(self, at: float, sol: Solution) -> None:
        session, grid = self.session, self.grid
        rho_n = grid.normal_density
        total = 0.0
        for k, s in enumerate(self.leaks):
            if s.history:
                s.volume_m3 += s.flow_lps / 1000.0 * (at - s.history[-1][0])
            lps = float(sol.leak_kg_s[k]) / rho_n * 1000.0
            if s.started:
                s.history.append((at, lps))
            s.flow_lps = lps
            total += lps
            key = f"{LAYER}/{s.leak.main}"
            p_kpa = float(sol.p_bar[s.leak.junction]) * 100.0
            if lps > 0.0 and not s.announced:
                s.announced = True
                session.state["gas_leaks"][key]["active"] = True
                session.publish(at, "leak_started", SOURCE, LAYER, s.leak.main, lps,
                                f"natural gas leak of {lps:.1f} L/s from gas main {s.leak.main} "
                                f"({s.leak.hole_mm:g} mm hole at {p_kpa:.1f} kPa)",
                                gas="natural gas", x=round(s.leak.xy[0], 2), y=round(s.leak.xy[1], 2),
                                hole_mm=s.leak.hole_mm, pressure_kpa=round(p_kpa, 3))
            elif lps <= 0.0 and s.announced:
                s.announced = False
                session.state["gas_leaks"][key]["active"] = False
                by = "repair" if not s.leak.open else "main shut off"
                session.publish(at, "leak_stopped", SOURCE, LAYER, s.leak.main, s.volume_m3,
                                f"gas leak from main {s.leak.main} stopped ({by}): {s.volume_m3:.1f} m³ released",
                                gas="natural gas", by=by)
        c = grid.customers
        without = self.without
        if len(c):
            p = sol.p_bar[c["junction"].to_numpy(int)]
            without = c["main"].isin(grid.closed).to_numpy() | ~(p >= grid.min_supply_bar)
            for lost, kind, verb in ((without & ~self.without, "gas_supply_lost", "without gas"),
                                     (~without & self.without, "gas_supply_restored", "back on gas")):
                if lost.any():
                    people = float(c["people"].to_numpy()[lost].sum())
                    households = float(c["households"].to_numpy()[lost].sum())
                    mains = sorted(set(c["main"].to_numpy()[lost]))
                    session.publish(at, kind, SOURCE, "buildings", None, people,
                                    f"{int(lost.sum())} building(s), {households:.0f} household(s), {people:.0f} "
                                    f"people {verb} (mains {', '.join(mains[:6])}{', ...' if len(mains) > 6 else ''})",
                                    buildings=int(lost.sum()), households=round(households, 1), mains=mains)
            self.without = without
            session.state["buildings_without_gas"] = set(c["building"].to_numpy()[without])
        people_without = float(c["people"].to_numpy()[without].sum()) if len(c) else 0.0
        self.timeline.append((at, people_without, int(without.sum()), total, float(grid.demand_factor)))

    # ---------------------------------------------------------------- reading the results
    def pressure_table(self) -> pd.DataFrame:
        """Gauge pressure (kPa) of every junction (columns: pandapipes junction names) at every solve."""
        return pd.DataFrame([sol.p_bar * 100.0 for _, _, sol in self.results],
                            index=pd.Index([t for t, _, _ in self.results], name="time_s"),
                            columns=self.grid.net.junction["name"].to_numpy())

    def flow_table(self) -> pd.DataFrame:
        """Mass flow (kg/s, from its first end) of every pipe (columns: pandapipes pipe index) at every solve."""
        return pd.DataFrame([sol.mdot_pipe for _, _, sol in self.results],
                            index=pd.Index([t for t, _, _ in self.results], name="time_s"),
                            columns=self.grid.net.pipe.index)

    def leak_table(self) -> pd.DataFrame:
        """One row per solve and leak: time, main, pressure at the hole (kPa), flow (kg/s and L/s)."""
        rho_n = self.grid.normal_density
        rows = [(t, s.leak.main, float(sol.p_bar[s.leak.junction]) * 100.0, float(sol.leak_kg_s[k]),
                 float(sol.leak_kg_s[k]) / rho_n * 1000.0)
                for t, _, sol in self.results for k, s in enumerate(self.leaks)]
        return pd.DataFrame(rows, columns=["time_s", "main", "pressure_kpa", "flow_kg_s", "flow_lps"])

    def timeline_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.timeline, columns=["time_s", "people_without_gas", "buildings_without_gas",
                                                    "leak_lps", "demand_factor"])

    def solution_at(self, t: float) -> Solution:
        """The steady state in force at clock time ``t`` (the last solved at or before it)."""
        found = None
        for at, _, sol in self.results:
            if at > t:
                break
            found = sol
        if found is None:
            raise ValueError(f"gas network: nothing solved at or before {t}")
        return found

    def main_pressure(self, t: float) -> pd.Series:
        """Gauge pressure (kPa) of each gas main at clock time ``t``: the mean of its ends' (NaN: shut off or
        cut off), for colouring the ``gas_mains`` layer."""
        sol = self.solution_at(t)
        net, pipes = self.grid.net, self.grid.pipes
        ends = (sol.p_bar[net.pipe.loc[pipes.index, "from_junction"].to_numpy(int)]
                + sol.p_bar[net.pipe.loc[pipes.index, "to_junction"].to_numpy(int)]) * 50.0
        ends = np.where(pipes["main"].isin(self.grid.closed).to_numpy(), np.nan, ends)
        return pd.Series(ends, index=pipes["main"].to_numpy()).groupby(level=0).mean()

    def layer_values(self) -> list:
        """Each gas main's pressure as a share of its class's set point (%: 100 as designed, 0 or missing
        without gas) at the session's time, for the 3D view (:mod:`simulation.session.values`): one scale
        for mains of 350 kPa and of 3 kPa."""
        from simulation.gas.network import SET_POINT_BAR
        from simulation.session.values import LayerValues

        if not self.results or getattr(self, "session", None) is None:
            return []
        kpa = self.main_pressure(self.session.now)
        set_kpa = getattr(self, "_set_kpa", None)
        if set_kpa is None or not set_kpa.index.equals(kpa.index):   # each main's class set point, once
            layer = self.session.twin["gas_mains"]
            cls = pd.Series(layer["pressure_class"].astype(str).to_numpy(), index=layer["id"].astype(str).to_numpy())
            set_kpa = self._set_kpa = cls.map(lambda c: SET_POINT_BAR.get(c, np.nan) * 100.0).reindex(kpa.index)
        return [LayerValues("gas_mains", "pressure_share", 100.0 * kpa / set_kpa, "% of set point", "RdYlBu",
                            (0.0, 100.0))]


def solve_sequence(grid: GasGrid, leaks, changes, *, tol: float = 1e-6) -> list[tuple[float, Solution]]:
    """The steady states of ``grid`` straight through, with no session: the reference a stepped run must equal.

    ``leaks``: :class:`~simulation.gas.leak.Leak` s already placed, with the clock time each opens, as
    ``(leak, at)``; ``changes``: ``(clock time, kind, main)`` with kind ``valve_closed``,
    ``valve_opened``, ``repair_done`` or ``demand`` (main: the factor).  One solve per distinct time
    (the first at the earliest time given).
    """
    times = sorted({t for _, t in leaks} | {t for t, _, _ in changes})
    out = []
    for at in times:
        for leak, t in leaks:
            if t == at:
                leak.open = True
        for t, kind, what in changes:
            if t != at:
                continue
            if kind == "valve_closed":
                grid.close(what)
            elif kind == "valve_opened":
                grid.open(what)
            elif kind == "repair_done":
                for leak, _ in leaks:
                    if leak.main == what:
                        leak.open = False
            elif kind == "demand":
                grid.set_demand_factor(float(what))
            else:
                raise ValueError(f"unknown change {kind!r}")
        out.append((at, solve(grid, [lk for lk, _ in leaks], tol=tol)))
    return out
