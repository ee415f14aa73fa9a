"""Results over time shown on a layer: one value per feature per step, written in place.

A :class:`ResultSeries` is a table (steps × feature ids).  ``show(scene, i)``
writes step ``i`` into the layer's cell array without rebuilding anything, so a
clock (or a movie writer) can call it every frame; its colour range is fixed
over the whole series so colours mean the same value in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: What the water network's hydraulics can give, per layer: field -> result table.
HYDRAULIC_FIELDS = {
    "water_junctions": {"pressure": "pressure", "head": "head", "demand": "demand"},
    "water_pipes": {"flowrate": "flow", "velocity": "velocity", "headloss": "headloss",
                    "pressure": None},
}


#: Colour maps per result: pressure and head red when low (the failure a planner looks for).
CMAPS = {"pressure": "RdYlBu", "head": "RdYlBu"}
#: Results whose colour range starts at 0 (negative pressure is "no water", not a finer shade of it).
FLOOR_ZERO = ("pressure",)


@dataclass
class ResultSeries:
    """``values``: rows are steps (index: seconds from the start), columns are feature ids."""

    layer: str
    name: str
    values: pd.DataFrame
    unit: str = ""

    @property
    def steps(self) -> int:
        return len(self.values)

    @property
    def clim(self) -> tuple[float, float]:
        data = self.values.to_numpy(dtype=float)
        finite = data[np.isfinite(data)]
        if not len(finite):
            return (0.0, 1.0)
        lo, hi = np.percentile(finite, [1, 99])
        if self.name in FLOOR_ZERO and hi > 0:
            # below 0 m a junction is dry whatever the number: all of them the lowest (red) colour,
            # and the range left to the pressures a planner reads
            lo = max(float(lo), 0.0)
        return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)

    @property
    def title(self) -> str:
        """What is shown, with its unit: ``pressure (m)``."""
        return f"{self.name}{f' ({self.unit})' if self.unit else ''}"

    def clock(self, step: int) -> str:
        """The clock time of ``step``: ``06:00``, or ``day 2 06:00`` past the first day."""
        seconds = int(round(float(self.values.index[step])))
        day, rem = divmod(seconds, 86400)
        h, rem = divmod(rem, 3600)
        return f"{'' if day == 0 else f'day {day + 1} '}{h:02d}:{rem // 60:02d}"

    def label(self, step: int) -> str:
        """The caption of a frame: what, in which unit, at what time (``pressure (m) at 06:00``)."""
        return f"{self.title} at {self.clock(step)}"

    def attach(self, scene, cmap: str | None = None) -> None:
        """Create the result array on the layer, show the layer, and colour it by the result with a
        colour bar in the result's unit (through the scene's view model when it has one)."""
        self._cmap = cmap or CMAPS.get(self.name, "viridis")
        self._clim = self.clim
        scene.show(self.layer)  # a detail layer the overview hid is what the series is about
        if scene.model is not None:
            self.show(scene, 0)
            return
        scene.set_result(self.layer, self.name, self.values.iloc[0])
        scene.color_by(self.layer, self.name, cmap=self._cmap, clim=self._clim, unit=self.unit)

    def show(self, scene, step: int) -> None:
        """Step ``step`` on the layer, written in place (the model's ``values_changed`` on a bound scene)."""
        if scene.model is not None:
            scene.model.show_values(self.layer, self.name, self.values.iloc[step], unit=self.unit,
                                    cmap=getattr(self, "_cmap", None) or CMAPS.get(self.name, "viridis"),
                                    clim=getattr(self, "_clim", None) or self.clim)
            return
        scene.set_result(self.layer, self.name, self.values.iloc[step])


def hydraulic_series(twin, layer: str, field: str) -> ResultSeries:
    """Solve the twin's network in EPANET and return ``field`` of ``layer`` at every report step.

    A steady-state model (duration 0) is run over one day, hourly, so its demand
    patterns show.

    Pipe pressure is the mean of its end junctions' pressures (what a planner
    means by "pressure along the main").
    """
    fields = HYDRAULIC_FIELDS.get(layer)
    if fields is None or field not in fields:
        known = ", ".join(f"{lay}:{f}" for lay, fs in HYDRAULIC_FIELDS.items() for f in fs)
        raise KeyError(f"no time series {layer}:{field} (hydraulic series: {known})")
    if twin.network is None:
        raise ValueError(f"the twin has no water network to compute {layer}:{field}")
    from simulation.hydraulics.results import results_from_run
    from simulation.hydraulics.solver import DURATION, HYDSTEP, REPORTSTEP, Solver, SolverError

    # EPANET solves the twin's network as imported, with the project's edits
    with Solver(twin.network) as solver:
        if solver.time_param(DURATION) <= 0:
            # A steady-state model still has demand patterns: play one day of them, hourly.
            solver.set_time(DURATION, 24 * 3600)
            solver.set_time(REPORTSTEP, 3600)
            solver.set_time(HYDSTEP, min(solver.time_param(HYDSTEP) or 3600, 3600))
        run = solver.run(("pressure", "head", "demand"), ("flow", "velocity", "headloss"))
        if run.unbalanced_at is not None:
            raise SolverError(f"{twin.name}: EPANET did not converge at {run.unbalanced_at / 3600:.2f} h; "
                              "no results to show")
        results = results_from_run(solver, run, solver.demand_model(), twin.name)
    if layer == "water_junctions":
        table = results.node_frame(fields[field])
        unit = {"pressure": "m", "head": "m", "demand": "m³/s"}[field]
        # Node results include tanks and reservoirs; keep the layer's junctions, in its order,
        # so the colour range is the junctions' own.
        ids = [i for i in twin[layer]["id"] if i in table.columns]
        return ResultSeries(layer, field, table[ids], unit)
    if field == "pressure":
        pressure = results.node_frame("pressure")
        pipes = twin["water_pipes"]
        start = pressure.reindex(columns=pipes["start_node"]).to_numpy()
        end = pressure.reindex(columns=pipes["end_node"]).to_numpy()
        table = pd.DataFrame(np.nanmean(np.stack([start, end]), axis=0), index=pressure.index,
                             columns=pipes["id"].to_numpy())
        return ResultSeries(layer, field, table, "m")
    table = results.link_frame(fields[field])
    unit = {"flowrate": "m³/s", "velocity": "m/s", "headloss": "m/km"}[field]
    if field == "headloss":
        table = table * 1000.0  # EPANET's pipe head loss is a gradient (m/m)
    return ResultSeries(layer, field, table.abs() if field == "flowrate" else table, unit)
