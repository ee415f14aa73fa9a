"""One twin's emergency response: its fleet, its travel model, and the questions planners ask.

``EmergencyModel.from_twin(twin, scenario)`` builds the fleet from
``fire_stations`` and the travel model from ``roads`` (straight-line travel
when the twin has no roads, said in the notes), then answers:

* ``simulate(days, replications)``: seeded replications of the closed loop;
* ``coverage(minutes)``: the share of buildings and population a station
  reaches within T minutes of driving, by station kind;
* ``site_stations(k, minutes)``: where K new stations cover the most
  population within T minutes (maximal covering location problem, spopt),
  existing stations kept;
* ``with_stations(rows)``: the same city with stations added where a planner
  proposes them (a siting what-if), on the same road graph.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import shapely

from simulation.emergency import incidents as incident_source
from simulation.emergency.config import Scenario
from simulation.emergency.fleet import Fleet
from simulation.emergency.incidents import Incidents
from simulation.emergency.response import ResponseSimulation, Run
from simulation.emergency.roads import RoadGraph
from simulation.emergency.travel import RoadTravel, StraightLineTravel
from twin.errors import LayerError
from twin.schema import SCHEMAS


@dataclass
class Coverage:
    minutes: float
    kinds: tuple[str, ...]
    buildings: int
    buildings_covered: int
    population: float
    population_covered: float
    by_kind: dict
    best_s: np.ndarray = field(repr=False)
    xy: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)

    @property
    def building_share(self) -> float:
        return self.buildings_covered / self.buildings if self.buildings else 0.0

    @property
    def population_share(self) -> float:
        return self.population_covered / self.population if self.population else 0.0

    def as_dict(self) -> dict:
        return {"minutes": self.minutes, "station_kinds": list(self.kinds), "buildings": self.buildings,
                "buildings_covered": self.buildings_covered, "building_share": self.building_share,
                "population": self.population, "population_covered": self.population_covered,
                "population_share": self.population_share, "by_kind": self.by_kind}


@dataclass
class Siting:
    minutes: float
    added: pd.DataFrame  # x, y, node, population_gained
    before: float        # population share covered before
    after: float
    existing: int
    candidates: int

    def as_dict(self) -> dict:
        return {"minutes": self.minutes, "existing_stations": self.existing, "candidates": self.candidates,
                "population_share_before": self.before, "population_share_after": self.after,
                "new_stations": [{"x": float(r.x), "y": float(r.y), "node": int(r.node),
                                  "population_gained": float(r.population_gained)}
                                 for r in self.added.itertuples()]}


class EmergencyModel:
    def __init__(self, twin, scenario: Scenario, fleet: Fleet, travel, graph: RoadGraph | None, notes):
        self.twin = twin
        self.scenario = scenario
        self.fleet = fleet
        self.travel = travel
        self.graph = graph
        self.notes = notes

    @classmethod
    def from_twin(cls, twin, scenario: Scenario) -> "EmergencyModel":
        return cls._build(twin, scenario, Fleet.from_twin(twin, scenario))

    def with_stations(self, added) -> "EmergencyModel":
        """This city with more stations: a siting what-if.  The twin is not changed.

        ``added``: rows ``(id, name, kind, x, y, units)`` as :meth:`Fleet.from_rows` reads them
        (units None: the kind's default complement).  The road graph is shared; the travel
        tables are computed again with the new stations snapped to it, as the existing ones are.
        """
        rows = Fleet.station_rows(self.twin) + [tuple(r) for r in added]
        fleet = Fleet.from_rows(rows, self.scenario, source="layer 'fire_stations' with the added stations")
        return self._build(self.twin, self.scenario, fleet, self.graph)

    @classmethod
    def _build(cls, twin, scenario: Scenario, fleet: Fleet, graph: RoadGraph | None = None) -> "EmergencyModel":
        notes = list(fleet.notes)
        roads = twin["roads"]
        if len(roads):
            if graph is None:
                graph = RoadGraph.from_roads(roads, scenario.roads.speed_factor, scenario.roads.single_lane_factor,
                                             scenario.roads.node_tolerance_m)
            travel = RoadTravel(graph, fleet.station_xy, scenario.roads, [s.id for s in fleet.stations])
            if graph.n_parts > 1:
                parts = graph.parts()
                small = parts[1:]
                notes.append(f"road graph has {graph.n_parts} disconnected parts: the largest has "
                             f"{parts[0].nodes} nodes; {sum(p.nodes for p in small)} nodes "
                             f"({sum(p.length_m for p in small) / 1000:.2f} km of road) are apart from it, "
                             f"e.g. roads {', '.join(small[0].road_ids[:5])}")
        else:
            graph = None
            travel = StraightLineTravel(fleet.station_xy, scenario.straight_line, scenario.roads.max_snap_m)
            sl = scenario.straight_line
            notes.append(f"the twin has no roads: travel time is t = {sl.a:.0f} + {sl.b:.0f}·(d/km)^{sl.c:.2f} s "
                         "of straight-line distance")
        notes += travel.notes
        return cls(twin, scenario, fleet, travel, graph, notes)

    # ------------------------------------------------------------------ simulation
    def incidents(self, days: float, seed: int) -> Incidents:
        return incident_source.generate(self.twin, self.scenario, days, np.random.default_rng(seed))

    def simulate(self, days: float, replications: int = 1, seed: int | None = None,
                 incidents: Incidents | None = None, progress: Callable | None = None) -> list[Run]:
        """Seeded replications: replication r uses seed + 1000·r for incidents and every draw.

        ``progress(done, total, text)``, when given, hears of every simulated day (``total``:
        replications × days); an exception it raises (the user's Cancel) stops the runs there.
        """
        if replications < 1:
            raise ValueError(f"replications must be at least 1, got {replications}")
        seed = self.scenario.seed if seed is None else seed
        if incidents is not None:  # given ones (history, alarms) must lie in the city the fleet serves
            incident_source.check_in_city(incidents, self.fleet.station_xy)
        n_days = max(1, int(np.ceil(days)))
        total = replications * n_days
        runs = []
        for r in range(replications):
            on_day = None
            if progress is not None:
                def on_day(day: int, r: int = r) -> None:
                    day = min(day, n_days)  # days after the period only close its last incidents
                    progress(r * n_days + day, total, f"replication {r + 1} of {replications}, "
                                                      f"day {day} of {n_days}")

                on_day(0)
            inc = incidents if incidents is not None else self.incidents(days, seed + 1000 * r)
            sim = ResponseSimulation(self.scenario, self.fleet, self.travel, inc, seed=seed + 1000 * r + 1)
            run = sim.run(horizon_s=days * 86400.0, on_day=on_day)
            if on_day is not None:
                on_day(n_days)
            run.notes = list(dict.fromkeys(self.notes + inc.notes + run.notes))
            runs.append(run)
        if progress is not None:
            progress(total, total, f"{replications} replication(s) of {days:g} day(s) done")
        return runs

    # ------------------------------------------------------------------ coverage
    def _demand(self):
        b = self.twin["buildings"]
        if len(b) == 0:
            raise LayerError(f"twin {self.twin.name!r}: layer 'buildings' is empty: coverage is measured on buildings")
        xy = shapely.get_coordinates(shapely.point_on_surface(b.geometry.to_numpy()))
        pop = pd.to_numeric(b["population"], errors="coerce").fillna(0).to_numpy(float)
        return xy, pop

    def coverage(self, minutes: float, kinds: tuple[str, ...] | None = None) -> Coverage:
        """Buildings and population within ``minutes`` of driving from a station of ``kinds``."""
        if minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        xy, pop = self._demand()
        sites = self.travel.locate(xy)
        table = self.travel.table(sites)
        station_kind = np.array([s.kind for s in self.fleet.stations])
        has_units = np.zeros(len(self.fleet.stations), bool)
        has_units[self.fleet.unit_station] = True
        all_kinds = tuple(sorted(set(station_kind[has_units])))
        kinds = tuple(kinds) if kinds else tuple(k for k in ("station", "micro_station") if k in all_kinds) or all_kinds
        unknown = set(kinds) - set(station_kind)
        if unknown:
            raise ValueError(f"no station of kind {', '.join(sorted(unknown))} in the twin "
                             f"(kinds present: {', '.join(sorted(set(station_kind)))})")
        limit = minutes * 60.0

        def best_of(mask):
            if not mask.any():
                return np.full(len(xy), np.inf)
            return table[:, mask].min(axis=1)

        by_kind = {}
        for k in sorted(set(station_kind)):
            best_k = best_of((station_kind == k) & has_units)
            cov = best_k <= limit
            by_kind[str(k)] = {"building_share": float(cov.mean()),
                          "population_share": float(pop[cov].sum() / pop.sum()) if pop.sum() else 0.0}
        best = best_of(np.isin(station_kind, kinds) & has_units)
        covered = best <= limit
        return Coverage(minutes, kinds, len(xy), int(covered.sum()), float(pop.sum()), float(pop[covered].sum()),
                        by_kind, best, xy, pop)

    # ------------------------------------------------------------------ siting
    def site_stations(self, add: int, minutes: float, kind: str = "station", candidates: int = 400,
                      time_limit_s: float = 60.0) -> Siting:
        """Where ``add`` new stations of ``kind`` cover the most population within ``minutes``."""
        import pulp
        from spopt.locate import MCLP

        if add < 1:
            raise ValueError(f"--add must be at least 1, got {add}")
        if minutes <= 0:
            raise ValueError(f"minutes must be positive, got {minutes}")
        if candidates < add:  # MCLP cannot open more sites than it is offered (PuLP: 'Infeasible')
            raise ValueError(f"--candidates must be at least --add ({add}), got {candidates}")
        kinds = SCHEMAS["fire_stations"].columns["kind"].choices
        if kind not in kinds:  # a kind outside the schema would be siting stations no layer can hold
            raise ValueError(f"unknown station kind {kind!r} (kinds: {', '.join(kinds)})")
        if self.graph is None:
            raise LayerError(f"twin {self.twin.name!r} has no roads: station siting needs the road graph")
        xy, pop = self._demand()
        sites = self.travel.locate(xy)
        weight = pop if pop.sum() > 0 else np.ones(len(pop))
        # Demand aggregated on road nodes (the off-road leg kept as a weighted mean).
        frame = pd.DataFrame({"node": sites.node, "w": weight, "leg": sites.leg_s * weight})
        agg = frame.groupby("node").sum()
        d_nodes = agg.index.to_numpy(np.int64)
        d_w = agg["w"].to_numpy(float)
        d_leg = np.where(d_w > 0, agg["leg"].to_numpy() / np.maximum(d_w, 1e-12), 0.0)
        existing = [s.index for s in self.fleet.stations if s.kind == kind]
        cand = self._candidates(candidates)
        if len(cand) < add:
            raise ValueError(f"only {len(cand)} reachable road node(s) to site {add} new {kind}(s) on")
        cost_new = self.graph.times_from(cand)[:, d_nodes].T + d_leg[:, None]
        cost_old = self.travel.out[d_nodes][:, existing] + d_leg[:, None] if existing else np.zeros((len(d_nodes), 0))
        cost = np.hstack([cost_old, cost_new])
        cost = np.where(np.isfinite(cost), cost, 1e12)
        radius = minutes * 60.0
        before = float(d_w[(cost_old <= radius).any(axis=1)].sum() / d_w.sum()) if existing else 0.0
        predefined = np.r_[np.ones(len(existing)), np.zeros(len(cand))].astype(int)
        with warnings.catch_warnings():  # PuLP 3 deprecations raised inside spopt, not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            mclp = MCLP.from_cost_matrix(cost, d_w, radius, p_facilities=len(existing) + add,
                                         predefined_facilities_arr=predefined if existing else None)
            mclp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
        chosen = [j for j, v in enumerate(mclp.fac_vars) if v.value() and v.value() > 0.5 and j >= len(existing)]
        covered = (cost[:, list(range(len(existing))) + chosen] <= radius).any(axis=1)
        after = float(d_w[covered].sum() / d_w.sum())
        old_cov = (cost_old <= radius).any(axis=1) if existing else np.zeros(len(d_nodes), bool)
        rows = []
        for j in chosen:
            node = int(cand[j - len(existing)])
            gain = float(d_w[(cost[:, j] <= radius) & ~old_cov].sum())
            rows.append((self.graph.xy[node, 0], self.graph.xy[node, 1], node, gain))
        added = pd.DataFrame(rows, columns=["x", "y", "node", "population_gained"])
        return Siting(minutes, added.sort_values("population_gained", ascending=False).reset_index(drop=True),
                      before, after, len(existing), len(cand))

    def _candidates(self, n: int) -> np.ndarray:
        """About ``n`` reachable road nodes spread over the city: the node nearest the centre of
        each occupied cell of a grid refined until ``n`` cells hold roads."""
        nodes = self.travel.reachable
        if len(nodes) <= n:
            return nodes
        xy = self.graph.xy[nodes]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        cells = max(2, int(np.ceil(np.sqrt(n))))
        while True:
            ij = np.minimum(np.floor((xy - lo) / span * cells).astype(np.int64), cells - 1)
            key = ij[:, 0] * cells + ij[:, 1]
            if len(np.unique(key)) >= n or cells > 4 * n:
                break
            cells = int(np.ceil(cells * 1.25))
        centre = lo + (ij + 0.5) * span / cells
        d = np.hypot(*(xy - centre).T)
        order = np.lexsort((d, key))
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        picked = nodes[order[first]]
        if len(picked) > n:  # an even thinning keeps the spread
            picked = picked[np.linspace(0, len(picked) - 1, n).round().astype(int)]
        return picked
