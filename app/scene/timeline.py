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

#: What the water network's hydraulics can give, per layer: field -> WNTR result table.
HYDRAULIC_FIELDS = {
    "water_junctions": {"pressure": "pressure", "head": "head", "demand": "demand"},
    "water_pipes": {"flowrate": "flowrate", "velocity": "velocity", "headloss": "headloss",
                    "pressure": None},
}


#: Colour maps per result: pressure and head red when low (the failure a planner looks for).
CMAPS = {"pressure": "RdYlBu", "head": "RdYlBu"}


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
        return (float(lo), float(hi)) if hi > lo else (float(lo) - 0.5, float(hi) + 0.5)

    def label(self, step: int) -> str:
        seconds = float(self.values.index[step])
        h, rem = divmod(int(round(seconds)), 3600)
        return f"{self.name} at {h:02d}:{rem // 60:02d}"

    def attach(self, scene, cmap: str | None = None) -> None:
        """Create the result array on the layer and colour the layer by it."""
        scene.set_result(self.layer, self.name, self.values.iloc[0])
        scene.color_by(self.layer, self.name, cmap=cmap or CMAPS.get(self.name, "viridis"), clim=self.clim)

    def show(self, scene, step: int) -> None:
        scene.set_result(self.layer, self.name, self.values.iloc[step])


def hydraulic_series(twin, layer: str, field: str) -> ResultSeries:
    """Run the twin's EPANET model and return ``field`` of ``layer`` at every report step.

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
    import os
    import tempfile

    import wntr

    wn = twin.network
    if wn.options.time.duration <= 0:
        # A steady-state model still has demand patterns: play one day of them, hourly,
        # on a copy (the twin's model keeps its own settings).
        import copy

        wn = copy.deepcopy(wn)
        wn.options.time.duration = 24 * 3600
        wn.options.time.report_timestep = 3600
        wn.options.time.hydraulic_timestep = min(wn.options.time.hydraulic_timestep or 3600, 3600)
    with tempfile.TemporaryDirectory(prefix="lifeline-scene-") as tmp:
        sim = wntr.sim.EpanetSimulator(wn)
        results = sim.run_sim(file_prefix=os.path.join(tmp, "run"))
    if layer == "water_junctions":
        table = getattr(results.node, fields[field]) if hasattr(results.node, fields[field]) \
            else results.node[fields[field]]
        unit = {"pressure": "m", "head": "m", "demand": "m³/s"}[field]
        # Node results include tanks and reservoirs; keep the layer's junctions, in its order,
        # so the colour range is the junctions' own.
        ids = [i for i in twin[layer]["id"] if i in table.columns]
        return ResultSeries(layer, field, table[ids], unit)
    if field == "pressure":
        pressure = results.node["pressure"]
        pipes = twin["water_pipes"]
        start = pressure.reindex(columns=pipes["start_node"]).to_numpy()
        end = pressure.reindex(columns=pipes["end_node"]).to_numpy()
        table = pd.DataFrame(np.nanmean(np.stack([start, end]), axis=0), index=pressure.index,
                             columns=pipes["id"].to_numpy())
        return ResultSeries(layer, field, table, "m")
    table = results.link[fields[field]]
    unit = {"flowrate": "m³/s", "velocity": "m/s", "headloss": "m/km"}[field]
    return ResultSeries(layer, field, table.abs() if field == "flowrate" else table, unit)
