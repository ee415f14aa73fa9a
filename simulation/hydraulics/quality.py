"""Water quality: water age, and a contaminant injected at a node traced to the people exposed.

``water_age`` runs EPANET's age model (hours since the water left a source);
stale water is where chlorine decays and complaints start.  ``contaminant``
injects a mass rate (mg/min, EPANET's MASS source) at a node from ``start_h``
for ``hours``, traces the concentration through the network (mg/L), and reports
per junction the first arrival above ``threshold_mg_l`` (default 0.001 mg/L),
the peak concentration and the people exposed (buildings served by junctions
reached; population equivalents for a bare network).  Both return time ×
junction tables the scene can colour by.  Quality runs are single runs: their
hydraulics go through EPANET's scratch file, which is fine outside sweeps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.hydraulics.results import write_atomic
from simulation.hydraulics.solver import DURATION, PATTERNSTEP, Solver

DEFAULT_THRESHOLD_MG_L = 0.001


@dataclass
class QualityResult:
    kind: str                       # "age" or "contaminant"
    values: pd.DataFrame            # time × junction (hours, or mg/L)
    junctions: pd.DataFrame         # per-junction summary
    summary: dict = field(default_factory=dict)

    def write(self, out_dir) -> list[Path]:
        out = Path(out_dir)
        name = "water_age" if self.kind == "age" else "contaminant"
        return [write_atomic(out / f"{name}.csv", self.values.to_csv()),
                write_atomic(out / f"{name}_junctions.csv", self.junctions.to_csv(index=False)),
                write_atomic(out / f"{name}.json", json.dumps(self.summary, indent=1))]


def _solve(system, duration_h, setup=None):
    """Hydraulics then quality of the system's network; ``setup(solver)`` configures the quality run."""
    with Solver(system.epanet, name=system.name) as s:
        if duration_h is not None:
            s.set_time(DURATION, int(round(duration_h * 3600)))
        if s.time_param(DURATION) == 0:
            raise ValueError("water quality needs an extended-period network and this one is a steady-state "
                             "snapshot (duration 0): give a length in hours (duration_h; --duration on the "
                             "command line)")
        if setup is not None:
            setup(s)
        times, q = s.run_quality()
        cols = [s.node_ids[i] for i in s.junctions]
        return pd.DataFrame(q[:, s.junctions], index=pd.Index(times, name="time"), columns=cols)


def water_age(system, *, duration_h: float | None = None) -> QualityResult:
    """Age of the water at every junction over time (hours); summary over the last day."""
    age = _solve(system, duration_h, lambda s: s.set_quality("age"))
    last = age[age.index >= age.index[-1] - 86400]
    mean = last.mean()
    pop = system.population.reindex(age.columns).fillna(0.0)
    table = pd.DataFrame({"id": age.columns, "mean_age_h": mean.round(2).to_numpy(),
                          "max_age_h": last.max().round(2).to_numpy(), "population": pop.to_numpy()})
    table = table.sort_values("mean_age_h", ascending=False).reset_index(drop=True)
    over = table["mean_age_h"] > 48
    summary = {"network": system.name, "kind": "water age", "hours_simulated": float(age.index[-1] / 3600),
               "mean_age_h": round(float(mean.mean()), 2), "max_age_h": round(float(last.to_numpy().max()), 2),
               "junctions_over_48h": int(over.sum()), "population_over_48h": float(table.loc[over, "population"].sum())}
    return QualityResult("age", age, table, summary)


def contaminant(system, node: str, *, mass_mg_min: float, start_h: float = 0.0, hours: float = 1.0,
                duration_h: float | None = None, threshold_mg_l: float = DEFAULT_THRESHOLD_MG_L) -> QualityResult:
    """Inject ``mass_mg_min`` at ``node`` from ``start_h`` for ``hours``; trace it, count people exposed."""
    if node not in set(system.network.node_name_list):
        raise KeyError(f"{system.source or system.name}: unknown node id {node!r}")
    if mass_mg_min <= 0 or hours <= 0:
        raise ValueError("the injection needs a mass rate > 0 mg/min and a length > 0 h")

    def inject(s: Solver) -> None:
        duration = s.time_param(DURATION)
        if not 0 <= start_h * 3600 < duration:
            raise ValueError(f"injection time {start_h:g} h is outside the simulation (0 to {duration / 3600:g} h)")
        s.set_quality("chemical", "CONTAMINANT", "mg/L")
        step = s.time_param(PATTERNSTEP) or 3600
        # the source follows a pattern: 1 while injecting; finer steps than the pattern step need a finer pattern
        step = int(np.gcd.reduce([int(step), int(round(start_h * 3600)) or int(step), int(round(hours * 3600))]))
        if step != s.time_param(PATTERNSTEP):
            s.refine_patterns(step)
        n = int(np.ceil(duration / step)) + 1
        t = np.arange(n) * step
        values = ((t >= start_h * 3600) & (t < (start_h + hours) * 3600)).astype(float)
        # EPANET's MASS source strength is in mass per minute: mg/min with quality in mg/L
        s.add_mass_source(s.node(node), mass_mg_min, "INJECTION", values)

    conc = _solve(system, duration_h, inject)
    reached = conc >= threshold_mg_l
    first = reached.idxmax().where(reached.any())
    pop = system.population.reindex(conc.columns).fillna(0.0)
    table = pd.DataFrame({"id": conc.columns, "arrival_h": (first / 3600.0).round(3).to_numpy(),
                          "peak_mg_l": conc.max().round(6).to_numpy(), "population": pop.to_numpy(),
                          "exposed": reached.any().to_numpy()})
    table = table.sort_values(["exposed", "arrival_h"], ascending=[False, True]).reset_index(drop=True)
    exposed_over_time = (reached.to_numpy() * pop.to_numpy()).sum(axis=1)
    ever = np.maximum.accumulate(reached.to_numpy(), axis=0)
    summary = {"network": system.name, "kind": "contaminant", "node": node, "mass_mg_min": mass_mg_min,
               "start_h": start_h, "hours": hours, "threshold_mg_l": threshold_mg_l,
               "junctions_exposed": int(table["exposed"].sum()),
               "population_exposed": float(table.loc[table["exposed"], "population"].sum()),
               "population_source": system.population_source,
               "peak_population_exposed_at_once": float(exposed_over_time.max()) if len(exposed_over_time) else 0.0,
               "timeline": [{"time_h": round(float(tt) / 3600, 3),
                             "population_exposed_so_far": float((e * pop.to_numpy()).sum())}
                            for tt, e in zip(conc.index, ever)]}
    return QualityResult("contaminant", conc, table, summary)
