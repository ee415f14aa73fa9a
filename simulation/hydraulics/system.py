"""The water system an analysis works on: the network plus who and what hangs on it.

:func:`load_system` accepts a project (``.gpkg``: the twin's network, buildings
with ``junction_id``/``population``, hydrants with ``node_id``, isolation valves
with ``pipe_id``/``node_id``) or a bare EPANET ``.inp``.  For a bare network
there are no buildings: the population served by each junction is then its
*population equivalent*, average demand divided by a per-capita consumption
(:data:`LITRES_PER_PERSON_DAY`), and there are no hydrants or valves (fire flow
tests every junction; segments place valves by the N-1 rule, see
:mod:`simulation.hydraulics.segments`).

Networks EPANET could solve but that make no sense for these analyses are
refused here with one message: junctions with no path to any reservoir or tank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import wntr

from twin.errors import SourceError
from twin.network import Network

#: Per-capita consumption used for the population equivalent of a bare network, L/(person·day).
LITRES_PER_PERSON_DAY = 200.0


@dataclass
class WaterSystem:
    """A network, the population each junction serves, and its hydrants and isolation valves.

    ``epanet`` is what every solve is given (the imported text and the
    project's edits); ``network`` is its WNTR helper model, for graphs and
    metrics only.
    """

    name: str
    epanet: Network
    people: pd.Series | None              # junction id -> people served; None: estimated when first asked
    population_source: str                # "buildings" or "demand-equivalent"
    hydrants: pd.DataFrame                # id, node_id
    valves: pd.DataFrame                  # id, pipe_id, node_id, operable
    source: str = ""
    twin: object | None = None
    pipe_attributes: pd.DataFrame = field(default_factory=pd.DataFrame)  # id -> material, install_year

    @property
    def population(self) -> pd.Series:
        """People each junction serves (junction id -> people).

        For a network without buildings this is the population equivalent of
        its demand, computed the first time an analysis that reports people
        asks for it (never by analyses that do not).
        """
        if self.people is None:
            self.people = demand_population(self.network)
        return self.people

    @population.setter
    def population(self, people: pd.Series) -> None:
        self.people = people

    def population_note(self) -> str:
        """How the people each junction serves were counted, in words for a report."""
        if self.population_source == "buildings":
            return f"population from the buildings layer ({int(self.population.sum()):,} people)"
        return (f"population estimated from average demand at {LITRES_PER_PERSON_DAY:g} L/person/day "
                f"({int(self.population.sum()):,} people; the network has no buildings)")

    @property
    def network(self) -> wntr.network.WaterNetworkModel:
        """The WNTR helper model of :attr:`epanet` (edits applied): graphs, lengths, names."""
        return self.epanet.model

    def edited(self, *edits) -> "WaterSystem":
        """A copy whose network carries ``edits`` (:class:`twin.network.Edit`) as well."""
        return WaterSystem(self.name, self.epanet.edited(*edits), self.people, self.population_source,
                           self.hydrants.copy(), self.valves.copy(), self.source, self.twin,
                           self.pipe_attributes.copy())


def load_system(path: str | Path, *, check_connected: bool = True) -> WaterSystem:
    """Read a project (.gpkg) or a bare EPANET network (.inp) into a :class:`WaterSystem`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".gpkg":
        from twin.project import load

        system = from_twin(load(path), source=str(path))
    else:
        from twin.network import load_network

        system = from_network(load_network(path), name=path.stem, source=str(path))
    if check_connected:
        problems = disconnected_junctions(system.network)
        if problems:
            raise SourceError(f"{path}: the network is disconnected: {len(problems)} junction(s) have no path "
                              f"to any reservoir or tank (e.g. {', '.join(problems[:5])})")
    return system


def from_network(net: Network, *, name: str = "network", source: str = "") -> WaterSystem:
    """A bare network: population equivalents from demand, no hydrants, no valves."""
    if not isinstance(net, Network):
        from twin.network import network_from_model

        net = network_from_model(net, name)
    return WaterSystem(name, net, None, "demand-equivalent",
                       pd.DataFrame({"id": pd.Series(dtype=object), "node_id": pd.Series(dtype=object)}),
                       _empty_valves(), source)


def from_twin(twin, *, source: str = "") -> WaterSystem:
    """The twin's network with its buildings, hydrants and isolation valves."""
    if twin.network is None:
        raise SourceError(f"{source or twin.name}: the project has no water network")
    wn = twin.network.model
    junctions = set(wn.junction_name_list)
    buildings = twin["buildings"]
    pop = None
    if len(buildings) and buildings["junction_id"].notna().any() and buildings["population"].notna().any():
        b = buildings[buildings["junction_id"].isin(junctions)]
        pop = b.groupby("junction_id")["population"].sum().astype(float)
        pop = pop.reindex(wn.junction_name_list, fill_value=0.0)
        population, how = pop, "buildings"
    else:
        population, how = None, "demand-equivalent"
    hydrants = twin["hydrants"][["id", "node_id"]].copy() if len(twin["hydrants"]) else \
        pd.DataFrame({"id": pd.Series(dtype=object), "node_id": pd.Series(dtype=object)})
    if len(hydrants):
        unknown = hydrants[~hydrants["node_id"].isin(set(wn.node_name_list))]
        if len(unknown):
            raise SourceError(f"{source}: layer 'hydrants' field node_id: {len(unknown)} hydrant(s) name "
                              f"nodes not in the network (e.g. hydrant {unknown['id'].iloc[0]!r} -> "
                              f"{unknown['node_id'].iloc[0]!r})")
    valves = isolation_valves(twin["water_valves"], wn)
    pipes = twin["water_pipes"]
    attrs = pipes[["id", "material", "install_year"]].set_index("id") if len(pipes) else pd.DataFrame()
    return WaterSystem(twin.name, twin.network, population, how, hydrants.reset_index(drop=True), valves,
                       source, twin, attrs)


#: EPANET valve links a crew closes to isolate: throttle valves (Micropolis models its gate valves
#: as TCVs) and general-purpose valves.  PRVs, PSVs, PBVs and FCVs regulate; they are not shut-offs.
ISOLATING_LINK_VALVES = {"TCV", "GPV"}


def isolation_valves(layer, wn) -> pd.DataFrame:
    """Isolation valves as (id, pipe_id, node_id, operable) rows.

    A valve on a pipe (``pipe_id`` + ``node_id``) is one row.  A valve modelled
    as an EPANET valve link (``link_id``; TCV or GPV, or any link valve whose
    ``valve_type`` is ``isolation``) separates both of its ends: two rows with
    the same id, one per end node, so the link forms a segment of its own.
    """
    if not len(layer):
        return _empty_valves()
    rows = []
    for r in layer.itertuples():
        operable = True if pd.isna(r.operable) else bool(r.operable)
        if isinstance(r.pipe_id, str) and r.pipe_id and isinstance(r.node_id, str) and r.node_id:
            rows.append((str(r.id), r.pipe_id, r.node_id, operable))
            continue
        link = r.link_id if isinstance(r.link_id, str) and r.link_id in wn.valve_name_list else None
        if link is None:
            continue
        v = wn.get_link(link)
        if str(r.valve_type).upper() in ISOLATING_LINK_VALVES | {"ISOLATION"} or \
                v.valve_type in ISOLATING_LINK_VALVES:
            rows.append((str(r.id), link, v.start_node_name, operable))
            rows.append((str(r.id), link, v.end_node_name, operable))
    if not rows:
        return _empty_valves()
    return pd.DataFrame(rows, columns=["id", "pipe_id", "node_id", "operable"])


def _empty_valves() -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series(dtype=object), "pipe_id": pd.Series(dtype=object),
                         "node_id": pd.Series(dtype=object), "operable": pd.Series(dtype=bool)})


def demand_population(wn) -> pd.Series:
    """Population equivalent of each junction: average demand / LITRES_PER_PERSON_DAY.

    A junction's average demand is the sum over its demand categories of base
    demand times the mean of the category's pattern (patterns repeat, so the
    mean over one cycle is the mean over any whole number of days), times the
    network's demand multiplier.  One mean per pattern, however fine its step.
    """
    names = wn.junction_name_list
    if not names:
        return pd.Series(dtype=float)
    means: dict[str | None, float] = {}
    default = wn.options.hydraulic.pattern
    multiplier = wn.options.hydraulic.demand_multiplier or 1.0
    demand = np.zeros(len(names))
    for k, name in enumerate(names):
        for d in wn.get_node(name).demand_timeseries_list:
            pat = d.pattern_name if d.pattern_name is not None else default
            if pat not in means:
                p = wn.get_pattern(pat) if pat is not None and pat in wn.pattern_name_list else None
                means[pat] = float(np.mean(p.multipliers)) if p is not None and len(p.multipliers) else 1.0
            demand[k] += (d.base_value or 0.0) * means[pat]
    people = pd.Series(np.clip(demand * multiplier, 0.0, None), index=names) * 86400.0 * 1000.0 / LITRES_PER_PERSON_DAY
    return people.round().astype(float)


def disconnected_junctions(wn) -> list[str]:
    """Junctions with no path, through any link whatever its status, to a reservoir or tank."""
    names = wn.node_name_list
    index = {n: i for i, n in enumerate(names)}
    parent = np.arange(len(names))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for _, link in wn.links():
        a, b = find(index[link.start_node_name]), find(index[link.end_node_name])
        if a != b:
            parent[a] = b
    fed = {find(index[n]) for n in wn.reservoir_name_list + wn.tank_name_list}
    return [n for n in wn.junction_name_list if find(index[n]) not in fed]
