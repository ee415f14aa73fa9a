"""A main break in time: the leak, the isolation that follows, and who loses water while it lasts.

The broken pipe is split at its middle (the break junction).  The hole is an
orifice discharging to the atmosphere: a short link from the break junction to
an outfall reservoir at the junction's elevation, with a minor loss
``1 / Cd²`` over the hole's area (``Q = Cd·A·√(2g·p)``, Cd = 0.75 by default).
It opens at ``at_h`` through a timer control, so EPANET steps exactly there.

With ``isolate_after_h``, the crew closes the valves of the break's segment (see
:mod:`simulation.hydraulics.segments`) that long after the break: each closed
valve closes its pipe, and the leak stops (the segment is dry).  The run is
pressure-driven (default thresholds of :class:`~simulation.hydraulics.demand.DemandModel`)
because demand-driven hydraulics would deliver full demand at negative pressure.

Results: a timeline at every report step — leak flow, cumulative volume lost
(integrated over EPANET's hydraulic steps), junctions below the service
pressure that were above it without the break, the people they serve, the share
of requested demand delivered — and the time × junction pressures for the scene.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.results import SERVICE_PRESSURE
from simulation.hydraulics.solver import DURATION, Solver, SolverError
from twin import atomic

BREAK_DEMAND_MODEL = DemandModel(pdd=True)
DISCHARGE_COEFFICIENT = 0.75


@dataclass
class Break:
    pipe: str
    at_h: float
    hole_mm: float
    isolate_after_h: float | None
    timeline: pd.DataFrame
    pressure: pd.DataFrame                  # time × junction, m (with the break)
    volume_lost_m3: float
    shutdown: dict | None
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        t = self.timeline
        return {"pipe": self.pipe, "break_at_h": self.at_h, "hole_mm": self.hole_mm,
                "isolated_after_h": self.isolate_after_h, "volume_lost_m3": round(self.volume_lost_m3, 2),
                "peak_leak_lps": round(float(t["leak_lps"].max()), 2),
                "max_junctions_below_service": int(t["junctions_below_service"].max()),
                "max_population_without_service": int(t["population_without_service"].max()),
                "population_hours_without_service": round(float(self._people_hours()), 1),
                "valves_closed": (self.shutdown or {}).get("valves_to_close", []),
                "settings": self.settings}

    def _people_hours(self) -> float:
        t = self.timeline
        if len(t) < 2:
            return 0.0
        dt = np.diff(t["time_h"].to_numpy())
        return float((t["population_without_service"].to_numpy()[:-1] * dt).sum())

    def write(self, out_dir) -> list[Path]:
        out = Path(out_dir)
        # the pressures as a tidy table with units in the header, as junctions.csv: time_s, id, pressure_m
        pressure = self.pressure.rename_axis(index="time_s", columns="id").stack().rename("pressure_m").reset_index()
        # every target checked before any is written: one refused leaves the folder as it was
        paths = atomic.write_many([(out / "break_timeline.csv", self.timeline.to_csv(index=False)),
                                   (out / "break_pressure.csv", pressure.to_csv(index=False)),
                                   (out / "break.json", json.dumps(self.summary(), indent=1)),
                                   (out / "break_timeline.png", _plot(self))])
        return paths


def _plot(result: Break) -> bytes:
    """The break's timeline (leak, volume lost, people without service) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    t = result.timeline
    fig, ax = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    ax[0].plot(t["time_h"], t["leak_lps"], color="tab:blue", drawstyle="steps-post")
    ax[0].set_ylabel("leak, L/s")
    ax[0].set_title(f"Break on pipe {result.pipe} at {result.at_h:g} h, hole {result.hole_mm:g} mm")
    ax[1].plot(t["time_h"], t["volume_lost_m3"], color="tab:purple")
    ax[1].set_ylabel("volume lost, m³")
    ax[2].plot(t["time_h"], t["population_without_service"], color="tab:red", drawstyle="steps-post")
    ax[2].set_ylabel("people without service")
    # people are whole: nobody without service draws on the axis of a 0-1 scale, not amid ±0.05
    ax[2].set_ylim(0, max(1.0, 1.1 * float(t["population_without_service"].max())))
    ax[2].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax[2].set_xlabel("time, h")
    for a in ax:
        a.axvline(result.at_h, color="grey", lw=0.8, ls="--")
        if result.isolate_after_h is not None:
            a.axvline(result.at_h + result.isolate_after_h, color="green", lw=0.8, ls=":")
        a.grid(alpha=0.3)
    fig.tight_layout()
    from io import BytesIO

    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def simulate_break(system, pipe: str, *, at_h: float = 0.0, hole_mm: float = 50.0,
                   discharge_coefficient: float = DISCHARGE_COEFFICIENT, isolate_after_h: float | None = None,
                   duration_h: float | None = None, demand_model: DemandModel = BREAK_DEMAND_MODEL,
                   service_pressure: float = SERVICE_PRESSURE, valves: pd.DataFrame | None = None,
                   inoperable: list[str] | None = None) -> Break:
    """Simulate a break on ``pipe`` at ``at_h`` with an equivalent round hole of ``hole_mm``."""
    wn0 = system.network
    if pipe not in set(wn0.pipe_name_list):
        raise KeyError(f"{system.source or system.name}: unknown pipe id {pipe!r}")
    if hole_mm <= 0:
        raise ValueError(f"hole size must be > 0 mm, not {hole_mm}")
    if isolate_after_h is not None and isolate_after_h < 0:
        # a negative delay would schedule the valve closures before the break (EPANET then refuses the file)
        raise ValueError(f"isolation delay must be >= 0 h after the break, not {isolate_after_h:g}")
    network = system.epanet
    with Solver(network, name=system.name) as probe:
        if duration_h is not None:
            probe.set_time(DURATION, int(round(duration_h * 3600)))
        duration = probe.time_param(DURATION)
    if duration == 0:
        raise ValueError("a break needs an extended-period network and this one is a steady-state snapshot "
                         "(duration 0): give a length in hours (duration_h; --duration on the command line)")
    if not 0 <= at_h * 3600 < duration:
        raise ValueError(f"break time {at_h:g} h is outside the simulation (0 to {duration / 3600:g} h)")
    shutdown = None
    if isolate_after_h is not None:
        from simulation.hydraulics.segments import segment

        shutdown = segment(system, valves=valves, inoperable=inoperable).shutdown(pipe)
    baseline = _solve(network, demand_model, system.name, duration)

    start = wn0.get_link(pipe).start_node_name
    brk, half = f"BREAK-{pipe}", f"{pipe}-B"
    with Solver(network, name=system.name) as s:
        s.set_time(DURATION, duration)
        hole = s.add_break(pipe, brk, half, "BREAK-OUTFALL", "BREAK-HOLE", hole_mm / 1000.0,
                           1.0 / discharge_coefficient ** 2)
        s.add_timer(hole, 1, at_h * 3600)
        if shutdown is not None:
            t_iso = (at_h + isolate_after_h) * 3600
            s.add_timer(hole, 0, t_iso)
            valves_df = (valves if valves is not None else
                         (system.valves if len(system.valves) else None))
            from simulation.hydraulics.segments import n_minus_one_valves

            valves_df = valves_df if valves_df is not None else n_minus_one_valves(wn0)
            by_id = valves_df.drop_duplicates("id").set_index(valves_df.drop_duplicates("id")["id"].astype(str))
            for vid in shutdown["valves_to_close"]:
                v = by_id.loc[vid]
                target = str(v["pipe_id"])  # the pipe it sits on, or the valve link itself
                if target == pipe:  # the broken pipe is now two halves: close the half at the valve's node
                    target = pipe if str(v["node_id"]) == start else half
                s.add_timer(s.link(target), 0, t_iso)
        demand_model.apply(s)
        run = s.run(("pressure", "demand"), (), step_link_props=("flow",))
        if run.unbalanced_at is not None:
            raise SolverError(f"{system.name}: EPANET did not converge at {run.unbalanced_at / 3600:.2f} h "
                              f"with the break on pipe {pipe}")
        hole_i = s.link("BREAK-HOLE")
        leak_steps = np.clip(run.step_links["flow"][:, hole_i], 0, None)
        cumulative = np.cumsum(leak_steps * run.step_lengths)
        junctions = [s.node_ids[i] for i in s.junctions if s.node_ids[i] != brk]
        jpos = [s.node(j) for j in junctions]
        p = pd.DataFrame(run.nodes["pressure"][:, jpos], index=pd.Index(run.times, name="time"), columns=junctions)
        d = run.nodes["demand"][:, jpos]
        leak_report = np.interp(run.times, run.step_times, leak_steps)
        lost_report = np.interp(run.times, np.concatenate([[0.0], run.step_times + run.step_lengths]),
                                np.concatenate([[0.0], cumulative]))
    base_p = baseline["pressure"].reindex(index=p.index, columns=junctions)
    base_d = baseline["demand"].reindex(index=p.index, columns=junctions).to_numpy()
    below = (p.to_numpy() < service_pressure) & (base_p.to_numpy() >= service_pressure)
    pop = system.population.reindex(junctions).fillna(0.0).to_numpy()
    delivered = d.sum(axis=1) / np.where(base_d.sum(axis=1) > 0, base_d.sum(axis=1), np.nan)
    timeline = pd.DataFrame({"time_h": p.index.to_numpy() / 3600.0, "leak_lps": leak_report * 1000.0,
                             "volume_lost_m3": lost_report,
                             "junctions_below_service": below.sum(axis=1),
                             "population_without_service": (below * pop).sum(axis=1),
                             "demand_delivered_ratio": np.round(delivered, 4)})
    return Break(pipe, at_h, hole_mm, isolate_after_h, timeline, p, float(cumulative[-1]) if len(cumulative) else 0.0,
                 shutdown, {"demand_model": demand_model.describe(), "service_pressure_m": service_pressure,
                            "discharge_coefficient": discharge_coefficient,
                            "population_source": system.population_source,
                            "population_note": system.population_note()})


def _solve(network, demand_model, name, duration) -> dict[str, pd.DataFrame]:
    with Solver(network, name=name) as s:
        s.set_time(DURATION, duration)
        demand_model.apply(s)
        run = s.run(("pressure", "demand"))
        if run.unbalanced_at is not None:
            raise SolverError(f"{name}: the network does not converge at {run.unbalanced_at / 3600:.2f} h")
        idx = pd.Index(run.times, name="time")
        return {q: pd.DataFrame(v, index=idx, columns=s.node_ids) for q, v in run.nodes.items()}
