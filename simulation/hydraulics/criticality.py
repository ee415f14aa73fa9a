"""Pipe criticality: close each pipe in turn (N-1) and count who and what loses service.

For every pipe, over a chosen window of the simulation (default: all of it):

* ``junctions_below_min_pressure`` — junctions whose pressure drops below the
  service pressure (default 14 m) at some hydraulic step of the window, and did
  not in the baseline (pre-existing low spots are not the pipe's fault);
* ``demand_not_delivered_m3`` — water the customers asked for and did not get,
  integrated over the hydraulic steps of the window, minus the baseline's own
  shortfall.  Pressure-driven runs (the default here, as a closure lowers
  pressures and a demand-driven model would pretend every demand is still met)
  use EPANET's demand deficit; demand-driven runs count the demand of junctions
  while they are below the service pressure.  A steady-state network (duration
  0) reports m³ per hour of closure;
* ``population_without_service`` — people living in buildings served by those
  junctions (or their population equivalent for a bare network).

The pipe is held closed for the window (timer controls close and reopen it; for
the whole run its initial status is closed and controls acting on it are
disabled).  Pipes are ranked by population, then by undelivered demand.  A
closure EPANET could not solve (it did not converge, or refused the scenario)
heads the ranking with its reason: a network that cannot be solved without the
pipe is likely among the most critical, and dropping it would hide that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.results import SERVICE_PRESSURE, write_atomic
from simulation.hydraulics.solver import DURATION, Solver, SolverError
from simulation.hydraulics.sweep import Study, SweepReport, sweep

#: Pressure-driven by default: a closure lowers pressures and demand should follow.
DEFAULT_DEMAND_MODEL = DemandModel(pdd=True)


def check_window_start(name: str, start_s: float, duration_s: float, what: str = "window") -> None:
    """Refuse a window (closures, a fire) that starts after the simulation ends (``--start`` past ``--duration``).

    Past the end there is no baseline to compare with: the run would extrapolate
    the network's patterns and report numbers for a time nobody asked about.
    """
    if start_s > duration_s:
        raise ValueError(f"{name}: {what} starts at {start_s / 3600:g} h (--start), after the end of the "
                         f"simulation ({duration_s / 3600:g} h; --duration sets it)")


class ClosureStudy(Study):
    """Closing pipes one at a time against a baseline, in one worker's EPANET."""

    def __init__(self, network, name: str, population: np.ndarray | None, *,
                 demand_model: DemandModel = DEFAULT_DEMAND_MODEL, service_pressure: float = SERVICE_PRESSURE,
                 start_h: float = 0.0, hours: float | None = None, duration_h: float | None = None):
        super().__init__()
        # checked here, not per worker: a bad window would otherwise fail every scenario and the sweep
        # would report an empty ranking as if it had completed
        if start_h < 0:
            raise ValueError(f"closure window start must be >= 0 h, not {start_h:g}")
        if hours is not None and hours < 0:
            raise ValueError(f"closure window length must be >= 0 h, not {hours:g}")
        if service_pressure < 0:  # every junction would count as served, whatever the closure
            raise ValueError(f"service pressure must be >= 0 m, not {service_pressure:g}")
        self.network = network
        self.name = name
        self.population = population
        self.demand_model = demand_model
        self.service_pressure = float(service_pressure)
        self.start = float(start_h) * 3600
        self.hours = hours
        self.duration_h = duration_h

    # -------------------------------------------------------------- per worker
    def prepare(self):
        solver = Solver(self.network, name=self.name)
        self.demand_model.apply(solver)
        if self.duration_h is not None:
            solver.set_time(DURATION, int(round(self.duration_h * 3600)))
            solver.keep_changes()  # the study's duration is this worker's base, never restored away
            solver.duration = int(round(self.duration_h * 3600))
        end = solver.duration if self.hours is None else self.start + self.hours * 3600
        check_window_start(self.name, self.start, solver.duration)
        # derived per worker, kept on the solver (not on self: states are cached by study key)
        solver.window_end = min(end, solver.duration)
        min_p, shortfall, unbalanced = self._solve(solver)
        if unbalanced is not None:
            raise SolverError(f"{self.name}: the baseline does not converge at {unbalanced / 3600:.2f} h")
        return {"solver": solver, "base_min": min_p, "base_short": shortfall}

    def _solve(self, solver: Solver):
        """Junction minimum pressure (m) and undelivered volume (m³) over the window, and non-convergence."""
        from simulation.hydraulics.solver import DEMAND, DEMANDDEFICIT

        j = solver.junctions
        if self.demand_model.pdd:
            low, vol, bad = solver.run_window(self.start, solver.window_end, DEMANDDEFICIT)
        else:  # demand-driven: a junction below the service pressure counts its demand as not delivered
            low, vol, bad = solver.run_window(self.start, solver.window_end, DEMAND,
                                              mask_below=self.service_pressure / solver.pressure_factor)
        return (low[j] * solver.pressure_factor, np.clip(vol[j], 0, None) * solver.flow_factor, bad)

    def evaluate(self, state, pipe_index: int) -> dict:
        solver: Solver = state["solver"]
        try:
            if self.start <= 0 and solver.window_end >= solver.duration:
                solver.hold_closed(pipe_index)
            else:
                solver.add_timer(pipe_index, 0, self.start)
                solver.add_timer(pipe_index, 1, solver.window_end)
            min_p, shortfall, unbalanced = self._solve(solver)
        finally:
            solver.restore()
        if unbalanced is not None:
            raise SolverError(f"EPANET did not converge at {unbalanced / 3600:.2f} h with the pipe closed")
        below = (min_p < self.service_pressure) & (state["base_min"] >= self.service_pressure)
        lost = float(np.clip(shortfall - state["base_short"], 0, None).sum())
        people = float(self.population[below].sum()) if self.population is not None else 0.0
        return {"junctions_below_min_pressure": int(below.sum()), "demand_not_delivered_m3": lost,
                "population_without_service": people, "min_pressure_m": float(np.min(min_p)) if len(min_p) else 0.0}


@dataclass
class Criticality:
    """Ranked criticality of pipes, with the sweep's bookkeeping."""

    network: str
    table: pd.DataFrame            # one row per evaluated pipe, ranked
    failures: pd.DataFrame         # pipe id, reason
    seconds: float
    scenarios: int
    settings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``criticality --json`` document (closures not solved first, with their reason)."""
        pipes = []
        for r in self.table.itertuples():
            if not r.solved:
                pipes.append({"id": str(r.id), "junctions_below_min_pressure": None, "demand_not_delivered_m3": None,
                              "population_without_service": None, "reason": r.reason})
                continue
            pipes.append({"id": str(r.id), "junctions_below_min_pressure": int(r.junctions_below_min_pressure),
                          "demand_not_delivered_m3": round(float(r.demand_not_delivered_m3), 3),
                          "population_without_service": int(round(r.population_without_service))})
        return {"network": self.network, "scenarios": self.scenarios, "failed": int(len(self.failures)),
                "seconds": round(self.seconds, 3), "pipes": pipes}

    def write(self, out_dir: str | Path, twin=None) -> list[Path]:
        """criticality.csv, criticality.json, failures.csv and, for a project, the scored pipes layer."""
        out = Path(out_dir)
        paths = [write_atomic(out / "criticality.csv", self.table.to_csv(index=False)),
                 write_atomic(out / "failures.csv", self.failures.to_csv(index=False)),
                 write_atomic(out / "criticality.json", json.dumps({**self.to_json(), "settings": self.settings},
                                                                    indent=1))]
        if twin is not None and len(twin["water_pipes"]):
            paths.append(write_layer(pipes_with_scores(twin["water_pipes"], self.table),
                                     out / "criticality_pipes.gpkg", "water_pipes"))
        return paths


def pipes_with_scores(pipes, table: pd.DataFrame):
    """The pipes layer with the criticality columns (and rank) joined by pipe id."""
    scores = table.set_index("id")[["rank", "solved", "junctions_below_min_pressure", "demand_not_delivered_m3",
                                     "population_without_service"]]
    return pipes.join(scores, on="id")


def write_layer(frame, path: Path, layer: str) -> Path:
    """Write a GeoDataFrame as a one-layer GeoPackage, atomically."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    if tmp.exists():
        tmp.unlink()
    frame.to_file(tmp, layer=layer, driver="GPKG")
    os.replace(tmp, path)
    return path


def criticality(system, *, pipes: list[str] | None = None, sample: int | None = None, seed: int = 0,
                demand_model: DemandModel = DEFAULT_DEMAND_MODEL, service_pressure: float = SERVICE_PRESSURE,
                start_h: float = 0.0, hours: float | None = None, duration_h: float | None = None,
                workers: int = 0, scheduler: str | None = None, progress: bool | Callable[[int, int], None] = False,
                cluster_threshold_s: float | None = None) -> Criticality:
    """N-1 closure of ``pipes`` (default: every pipe; ``sample`` picks that many at random).

    ``progress``: True for a bar on stderr, or ``progress(done, total)`` told as closures complete
    (see :func:`~simulation.hydraulics.sweep.sweep`; what it raises stops the sweep).
    """
    wn = system.network
    names = list(wn.pipe_name_list)
    if pipes is not None:
        known = set(names)
        unknown = [p for p in pipes if p not in known]
        if unknown:
            raise KeyError(f"{system.source or system.name}: unknown pipe id(s) {', '.join(map(repr, unknown[:5]))}"
                           f"{' ...' if len(unknown) > 5 else ''}")
        names = list(dict.fromkeys(pipes))
    if sample is not None and sample < 1:  # 0 ran an empty sweep reported as complete; < 0 crashed in numpy
        raise ValueError(f"sample must be at least 1, got {sample}")
    if sample is not None and sample < len(names):
        rng = np.random.default_rng(seed)
        names = sorted(rng.choice(names, size=sample, replace=False).tolist(), key=names.index)
    network = system.epanet
    # the population array follows EPANET's junction order, which the .inp text fixes
    with Solver(network, name=system.name) as probe:
        order = [probe.node_ids[i] for i in probe.junctions]
        link_index = {p: probe.link(p) for p in names}
    population = system.population.reindex(order).fillna(0.0).to_numpy(dtype=float)
    study = ClosureStudy(network, system.name, population, demand_model=demand_model,
                         service_pressure=service_pressure, start_h=start_h, hours=hours, duration_h=duration_h)
    report: SweepReport = sweep(study, [link_index[p] for p in names], workers=workers, scheduler=scheduler,
                                progress=progress, desc="pipe closures",
                                cluster_threshold_s=cluster_threshold_s)
    by_index = {v: k for k, v in link_index.items()}
    rows, failures = [], []
    for o in report.outcomes:
        if o.ok:
            rows.append({"id": by_index[o.scenario], **o.value})
        else:
            failures.append({"id": by_index[o.scenario], "reason": o.error})
    table = pd.DataFrame(rows, columns=["id", "junctions_below_min_pressure", "demand_not_delivered_m3",
                                        "population_without_service", "min_pressure_m"])
    failed = pd.DataFrame(failures, columns=["id", "reason"])
    table = rank(table, failed)
    return Criticality(system.name, table, failed, report.seconds,
                       len(names), {"demand_model": demand_model.describe(), "service_pressure_m": service_pressure,
                                    "window_start_h": start_h, "window_hours": hours,
                                    "population_source": system.population_source, "workers": report.workers,
                                    "setup_seconds": round(report.setup_seconds, 3)})


def rank(table: pd.DataFrame, failed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Closures not solved first (with their reason), then by population without service, then undelivered demand."""
    table = table.sort_values(["population_without_service", "demand_not_delivered_m3", "id"],
                              ascending=[False, False, True], kind="mergesort").reset_index(drop=True)
    table["solved"] = True
    table["reason"] = ""
    if failed is not None and len(failed):
        head = failed.sort_values("id").assign(solved=False)
        table = pd.concat([head.reindex(columns=table.columns), table], ignore_index=True)
        table["solved"] = table["solved"].astype(bool)
    table.insert(1, "rank", np.arange(1, len(table) + 1))
    return table
