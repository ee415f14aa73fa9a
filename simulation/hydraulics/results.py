"""Run the network once (extended period or steady state, DDA or PDD) and hold the results as tidy tables.

``simulate(system, ...)`` returns :class:`Results`: one DataFrame per quantity,
indexed by time (seconds from the start) with element ids as columns —
``results.junction_frame("pressure")``, ``results.pipe_frame("flow")`` — the
shape WNTR uses, so they feed WNTR's metrics unchanged.  ``results.layer_values``
aligns a quantity with the rows of a twin layer (``water_junctions``,
``water_pipes``) so the 3D scene can colour features by it, time step by time step.

How junctions take their demand (DDA or PDD) is a
:class:`~simulation.hydraulics.demand.DemandModel`, also importable from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.solver import PUMP, TANK, VALVE_TYPES, Solver, SolverError
from twin import atomic

#: Pressure below which a junction counts as without adequate service (criticality, breaks), m.
SERVICE_PRESSURE = 14.0

NODE_QUANTITIES = ("pressure", "head", "demand")
LINK_QUANTITIES = ("flow", "velocity", "headloss", "status")


@dataclass
class Results:
    """Time × element tables of one simulation (SI units; time in seconds from the start)."""

    name: str
    node: dict[str, pd.DataFrame]
    link: dict[str, pd.DataFrame]
    junctions: list[str]
    pipes: list[str]
    demand_model: DemandModel = field(default_factory=DemandModel)
    warnings: list[str] = field(default_factory=list)
    tanks: list[str] = field(default_factory=list)
    pumps: list[str] = field(default_factory=list)
    valves: dict[str, str] = field(default_factory=dict)   # id -> PRV, PSV, PBV, FCV, TCV, GPV, PCV
    valve_settings: pd.DataFrame | None = None             # time × valve, SI (m for pressure valves, m³/s FCV)
    flow_units: str = "LPS"

    @property
    def times(self) -> pd.Index:
        return next(iter(self.node.values())).index

    def junction_frame(self, quantity: str) -> pd.DataFrame:
        """time × junction table of ``pressure``, ``head`` or ``demand`` (delivered demand, m³/s)."""
        return self._frame(self.node, quantity, self.junctions)

    def node_frame(self, quantity: str) -> pd.DataFrame:
        return self._frame(self.node, quantity, None)

    def pipe_frame(self, quantity: str) -> pd.DataFrame:
        """time × pipe table of ``flow`` (m³/s), ``velocity`` (m/s), ``headloss`` (m/m) or ``status`` (1 open)."""
        return self._frame(self.link, quantity, self.pipes)

    def link_frame(self, quantity: str) -> pd.DataFrame:
        return self._frame(self.link, quantity, None)

    @staticmethod
    def _frame(store, quantity, columns):
        if quantity not in store:
            raise KeyError(f"no result {quantity!r}; available: {', '.join(store)}")
        frame = store[quantity]
        return frame if columns is None else frame[columns]

    def layer_values(self, layer, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """(times, values[time, feature]) aligned with the rows of a twin layer by its ``id``.

        Features without a result (not in the network) get NaN, so the scene can
        grey them out.
        """
        ids = [str(i) for i in layer["id"]]
        store = self.node if quantity in self.node else self.link
        frame = self._frame(store, quantity, None)
        values = frame.reindex(columns=ids).to_numpy(dtype=float)
        return frame.index.to_numpy(dtype=float), values

    def tidy(self, kind: str = "junction") -> pd.DataFrame:
        """Long table: time, id, and one column per quantity (``kind`` junction or pipe)."""
        if kind == "junction":
            frames = {q: self.junction_frame(q) for q in self.node}
        elif kind == "pipe":
            frames = {q: self.pipe_frame(q) for q in self.link}
        else:
            raise ValueError(f"kind must be 'junction' or 'pipe', not {kind!r}")
        parts = [f.stack().rename(q) for q, f in frames.items()]
        out = pd.concat(parts, axis=1).reset_index()
        out.columns = ["time_s", "id", *frames]
        return out

    def negative_pressures(self) -> pd.DataFrame:
        """(time_s, id, pressure_m) where a demand-driven run gives a junction negative pressure.

        Demand-driven hydraulics deliver full demand whatever the pressure, so a
        negative pressure is not a physical state: EPANET warns of it, and these
        values are flagged wherever they are reported, never shown as plain results.
        """
        if self.demand_model.pdd or "pressure" not in self.node:
            return pd.DataFrame(columns=["time_s", "id", "pressure_m"])
        p = self.junction_frame("pressure")
        neg = p.where(p < 0).stack().dropna().rename("pressure_m").reset_index()
        neg.columns = ["time_s", "id", "pressure_m"]
        return neg

    def summary(self) -> dict:
        p = self.junction_frame("pressure")
        neg = self.negative_pressures()
        check = negative_pressure_check(p.min() if p.size else pd.Series(dtype=float), self.demand_model.pdd)
        doc = {"network": self.name, "demand_model": self.demand_model.describe(),
               "steps": int(len(p.index)), "junctions": len(self.junctions), "pipes": len(self.pipes),
               "tanks": len(self.tanks), "pumps": len(self.pumps), "valves": len(self.valves),
               "duration_h": float(p.index[-1] / 3600) if len(p.index) else 0.0,
               "min_pressure_m": round(float(np.nanmin(p.to_numpy())), 3) if p.size else None,
               "min_pressure_junction": str(p.min().idxmin()) if p.size else None,
               "junctions_below_service_pressure": int((p.min() < SERVICE_PRESSURE).sum()),
               "units": {"pressure": "m", "head": "m", "flow": "L/s", "demand": "L/s", "velocity": "m/s",
                         "headloss": "m/km (pipes), m (pumps, valves)", "tank_level": "m", "tank_volume": "m3",
                         "energy": "kW", "time": "s from the start"},
               "flow_units_in_file": self.flow_units,
               "negative_pressures": {"junctions": check["junctions"], "junction_steps": int(len(neg)),
                                      "valid": check["valid"]},
               "warnings": self.warnings}
        if self.flow_units in US_FLOW_UNITS:
            doc["note"] = (f"the network is in US units ({self.flow_units}); every value here is converted "
                           "to SI (m, L/s, m3)")
        return doc

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tidy tables ``hydraulics run`` writes, one per element kind, units in every header."""
        def tidy(store, ids, columns):
            # the same columns whatever the network holds (a quantity not computed is left empty)
            header = ["time_s", "id", *columns.values()]
            frames = {q: store[q][ids] for q in columns if q in store}
            if not ids or not frames:
                return pd.DataFrame(columns=header)
            parts = [f.stack().rename(columns[q]) for q, f in frames.items()]
            out = pd.concat(parts, axis=1).reset_index()
            out.columns = ["time_s", "id", *(columns[q] for q in frames)]
            return out.reindex(columns=header)

        lps = {"flow": 1000.0, "demand": 1000.0}
        node = {q: f * lps.get(q, 1.0) for q, f in self.node.items()}
        link = {q: f * lps.get(q, 1.0) for q, f in self.link.items()}
        if "headloss" in link:
            link["headloss"] = link["headloss"].copy()
            link["headloss"][self.pipes] = link["headloss"][self.pipes] * 1000.0  # gradient -> m/km
        if "status" in link:
            f = link["status"]
            link["status"] = pd.DataFrame(np.where(f.to_numpy() > 0, "OPEN", "CLOSED"), index=f.index,
                                          columns=f.columns)
        junctions = tidy(node, self.junctions, {"pressure": "pressure_m", "head": "head_m", "demand": "demand_lps"})
        if not self.demand_model.pdd and "pressure_m" in junctions:
            junctions["flag"] = np.where(junctions["pressure_m"] < 0,
                                         "negative pressure in a demand-driven run: not physical", "")
        else:  # the same columns for every run (pressure-driven pressures are physical: nothing to flag)
            junctions["flag"] = ""
        pipes = tidy(link, self.pipes, {"flow": "flow_lps", "velocity": "velocity_m_s",
                                        "headloss": "headloss_m_per_km", "status": "status"})
        tanks = tidy(node, self.tanks, {"tank_level": "level_m", "tank_volume": "volume_m3", "head": "head_m",
                                        "demand": "net_inflow_lps"})
        if len(tanks) and "net_inflow_lps" in tanks:
            tanks["net_inflow_lps"] = -tanks["net_inflow_lps"]  # EPANET's tank demand is outflow
        pumps = tidy(link, self.pumps, {"flow": "flow_lps", "status": "status", "headloss": "head_gain_m",
                                        "energy": "energy_kw"})
        if len(pumps) and "head_gain_m" in pumps:
            pumps["head_gain_m"] = -pumps["head_gain_m"]
        valve_ids = list(self.valves)
        valves = tidy(link, valve_ids, {"flow": "flow_lps", "status": "status", "headloss": "headloss_m"})
        # the same columns with or without valves (the setting's unit follows each valve's type)
        valves.insert(2, "type", valves["id"].map(self.valves) if len(valves) else pd.Series(dtype=object))
        if len(valves) and self.valve_settings is not None:
            setting = self.valve_settings.stack().rename("setting").reset_index()
            setting.columns = ["time_s", "id", "setting"]
            valves = valves.merge(setting, on=["time_s", "id"], how="left")
            fcv = valves["type"] == "FCV"
            valves.loc[fcv, "setting"] = valves.loc[fcv, "setting"] * 1000.0
        else:
            valves["setting"] = np.nan
        valves["setting_unit"] = valves["type"].map(VALVE_SETTING_UNITS) if len(valves) else pd.Series(dtype=object)
        return {"junctions": junctions, "pipes": pipes, "tanks": tanks, "pumps": pumps, "valves": valves}

    def write(self, out_dir: str | Path) -> list[Path]:
        """junctions.csv, pipes.csv, tanks.csv, pumps.csv, valves.csv (tidy) and summary.json, each atomic."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # every target checked before any is written: one refused leaves the folder as it was
        return atomic.write_many([*((out / f"{kind}.csv", table.to_csv(index=False))
                                    for kind, table in self.tables().items()),
                                  (out / "summary.json", json.dumps(self.summary(), indent=2))])


def negative_pressure_check(lowest: pd.Series, pdd: bool) -> dict:
    """Is a run valid?  ``lowest``: each junction's lowest pressure (m) over the run or window.

    A demand-driven run delivers full demand whatever the pressure, so a junction
    below 0 m is not a physical state (EPANET warns of it): such a run is *not
    valid*, and its pressures are flagged wherever they are reported (``hydraulics
    run``, the fire-flow baseline).  Returns valid, junctions (how many below 0 m),
    lowest_m and lowest_junction (None when there are no junctions).
    """
    lowest = lowest.dropna()
    neg = lowest[lowest < 0] if not pdd else lowest.iloc[:0]
    return {"valid": len(neg) == 0, "junctions": int(len(neg)),
            "lowest_m": round(float(lowest.min()), 3) if len(lowest) else None,
            "lowest_junction": str(lowest.idxmin()) if len(lowest) else None}


def not_valid_text(check: dict, when: str = "at some time") -> str:
    """The sentence every report gives a run :func:`negative_pressure_check` found not valid."""
    return (f"NOT VALID: {check['junctions']} junction(s) have negative pressure {when} "
            f"(lowest {check['lowest_m']} m at {check['lowest_junction']}); a demand-driven run delivers their "
            "demand anyway, so these pressures are not physical")


#: Units of a valve's setting as reported (SI): pressure valves m, FCV L/s, TCV a loss coefficient.
VALVE_SETTING_UNITS = {"PRV": "m", "PSV": "m", "PBV": "m", "FCV": "L/s", "TCV": "loss coefficient",
                       "GPV": "curve index", "PCV": "% open"}
US_FLOW_UNITS = {"CFS", "GPM", "MGD", "IMGD", "AFD"}


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path`` (:func:`twin.atomic.write`:
    the project's one atomic save, which also removes the temporary file when the write fails)."""
    from twin import atomic

    return atomic.write(path, data)


def results_from_run(solver: Solver, run, demand_model: DemandModel, name: str) -> Results:
    index = pd.Index(run.times, name="time")
    node = {q: pd.DataFrame(v, index=index, columns=solver.node_ids) for q, v in run.nodes.items()}
    link = {q: pd.DataFrame(v, index=index, columns=solver.link_ids) for q, v in run.links.items()}
    junctions = [solver.node_ids[i] for i in solver.junctions]
    pipes = [solver.link_ids[i] for i in solver.pipes]
    tanks = [solver.node_ids[i] for i in np.flatnonzero(solver.node_types == TANK)]
    pumps = [solver.link_ids[i] for i in np.flatnonzero(solver.link_types == PUMP)]
    valves = {solver.link_ids[i]: VALVE_TYPES.get(int(solver.link_types[i]), "valve")
              for i in np.flatnonzero(solver.link_types > PUMP)}
    if "tank_level" in node and "head" in node:
        # EPANET's EN_TANKLEVEL keeps the initial level; the level over time is head above the bottom
        elevation = solver._elevations() * solver.length_factor
        node["tank_level"] = node["head"] - elevation
    settings = None
    if valves and "setting" in link:
        raw = link["setting"][list(valves)].copy()
        for vid, kind in valves.items():
            if kind in ("PRV", "PSV", "PBV"):
                raw[vid] = raw[vid] * solver.pressure_factor
            elif kind == "FCV":
                raw[vid] = raw[vid] * solver.flow_factor
        settings = raw
    return Results(name, node, link, junctions, pipes, demand_model, list(run.warnings), tanks, pumps, valves,
                   settings, solver.flow_units)


def simulate(system_or_text, *, demand_model: DemandModel | None = None, duration_h: float | None = None,
             name: str | None = None, node_quantities=NODE_QUANTITIES,
             link_quantities=LINK_QUANTITIES) -> Results:
    """Solve the network once, extended period (or steady state when the duration is 0).

    ``system_or_text`` is a :class:`~simulation.hydraulics.system.WaterSystem`,
    a :class:`twin.network.Network` or .inp text.  ``demand_model`` None keeps the network's own (its .inp
    options).  ``duration_h`` overrides the network's duration.  A run that
    does not converge raises :class:`SolverError` (no results that look valid).
    """
    from twin.network import Network

    if isinstance(system_or_text, str):
        text, label = system_or_text, name or "network"
    elif isinstance(system_or_text, Network):
        text, label = system_or_text, name or system_or_text.name
    else:
        text, label = system_or_text.epanet, name or system_or_text.name
    with Solver(text, name=label) as solver:
        if demand_model is not None:
            demand_model.apply(solver)
        else:
            demand_model = solver.demand_model()
        if duration_h is not None:
            if duration_h < 0:
                raise ValueError(f"duration must be >= 0 h, not {duration_h}")
            from simulation.hydraulics.solver import DURATION

            solver.set_time(DURATION, int(round(duration_h * 3600)))
        run = solver.run(node_quantities, link_quantities)
        if run.unbalanced_at is not None:
            raise SolverError(f"{label}: EPANET did not converge at {run.unbalanced_at / 3600:.2f} h "
                              f"(system unbalanced); results would not be valid")
        return results_from_run(solver, run, demand_model, label)
