"""A retrofit plan kept in the project: its diameters as the network's edits, and those edits read back as a plan.

A planner changes pipe diameters in the window, or loads a plan file; the new
diameters (and the roughness of the new pipe) become the project's network
edits (:class:`twin.network.Edit`), so saving the project keeps them.  To judge
them, the edits are read back as a :class:`~simulation.hydraulics.retrofit.Plan`
and evaluated (:func:`~simulation.hydraulics.retrofit.evaluate_plan`) against
the *baseline*: the same network without those pipes' diameter and roughness
edits — the network as imported, with the project's other edits (a valve held
closed) kept on both sides.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from simulation.hydraulics.retrofit import Plan, apply_plan
from twin.network import Edit, Network

#: The link fields a retrofit changes: a new pipe has a new diameter and the roughness of its material.
PLAN_FIELDS = ("diameter", "roughness")


def plan_edits(system, plan: Plan, year: int | None = None) -> tuple[Edit, ...]:
    """The edits ``plan`` makes to ``system``'s network (as :func:`~simulation.hydraulics.retrofit.apply_plan`
    makes them: diameters, and roughness from the plan or from its material)."""
    planned = apply_plan(system, plan, int(year or plan.year or _dt.date.today().year))
    before = set(system.epanet.edits)
    return tuple(e for e in planned.epanet.edits if e not in before)


def planned_pipes(network: Network) -> list[str]:
    """Ids of the pipes whose diameter the project changes, in the order of their edits."""
    return list(dict.fromkeys(e.id for e in network.edits if e.field == "diameter"))


def plan_from_edits(network: Network, like: Plan | None = None, name: str = "edited in the window") -> Plan | None:
    """The project's diameter edits as a plan (None when there are none).

    ``like``: a plan whose name, costs, currency, year and repair hours the
    result keeps, and whose materials it gives the pipes they share (a plan
    file loaded, then edited).
    """
    pipes = planned_pipes(network)
    if not pipes:
        return None
    by = {(e.id, e.field): e.value for e in network.edits}
    materials = {}
    if like is not None and "material" in like.pipes.columns:
        materials = dict(zip(like.pipes["id"].astype(str), like.pipes["material"]))
    rows = [{"id": p, "diameter_mm": float(by[(p, "diameter")]) * 1000.0,
             "material": materials.get(p, np.nan), "roughness": by.get((p, "roughness"), np.nan)}
            for p in pipes]
    frame = pd.DataFrame(rows, columns=["id", "diameter_mm", "material", "roughness"])
    frame["roughness"] = frame["roughness"].astype(float)
    if like is None:
        return Plan(name, frame)
    return Plan(like.name, frame, dict(like.unit_costs), like.year, like.repair_hours, like.source, like.currency)


def baseline(network: Network, pipes=None) -> Network:
    """``network`` without the diameter and roughness edits of ``pipes`` (default: every planned pipe)."""
    pipes = set(planned_pipes(network) if pipes is None else map(str, pipes))
    kept = [e for e in network.edits if not (e.id in pipes and e.field in PLAN_FIELDS)]
    if len(kept) == len(network.edits):
        return network
    out = Network(network.text, name=network.name, edits=kept, layout=network.layout, source=network.source)
    out.notes = list(network.notes)
    return out

