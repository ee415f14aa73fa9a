"""The town plan: what every generator of the demo city needs to agree on.

It holds the (metric) water network, where its junctions are and what they
demand, the terrain once it exists, where the town centre is and which places
count as "town" (dense streets, sewered, piped gas) rather than countryside,
and one independent random stream per generator so that changing one part of
the city never reshuffles another.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import wntr
from pyproj import CRS
from scipy.spatial import cKDTree

from twin.terrain import Terrain

#: Litres per person per day the network's demand is sized on (household plus the
#: person's share of shops, schools and offices): a US small-town figure.
LITRES_PER_PERSON_DAY = 250.0
#: A place is "town" when at least this many junctions lie within TOWN_RADIUS of it.
TOWN_JUNCTIONS = 10
TOWN_RADIUS = 500.0
#: Radius of the town centre (taller blocks, shops, public buildings).
CENTRE_RADIUS = 650.0


@dataclass
class TownPlan:
    """Shared facts about the demo town, derived from the network."""

    crs: CRS
    network: wntr.network.WaterNetworkModel
    seed: int
    terrain: Terrain | None = None
    node_xy: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wn = self.network
        self.node_xy = {n: tuple(wn.get_node(n).coordinates) for n in wn.node_name_list}
        self.junction_ids = np.array(wn.junction_name_list, dtype=object)
        self.junction_xy = np.array([wn.get_node(n).coordinates for n in self.junction_ids], dtype=float)
        self.junction_elevation = np.array([wn.get_node(n).elevation for n in self.junction_ids])
        self.junction_demand = np.array([_mean_demand(wn, wn.get_node(n)) for n in self.junction_ids])
        self._tree = cKDTree(self.junction_xy)
        counts = self._tree.query_ball_point(self.junction_xy, TOWN_RADIUS, return_length=True)
        # The centre is the junction with the most junctions around it (the old street grid).
        self.centre = self.junction_xy[int(np.argmax(counts))].copy()

    # -------------------------------------------------------------- randomness
    def rng(self, part: str) -> np.random.Generator:
        """An independent, reproducible random stream for one part of the city."""
        return np.random.default_rng([self.seed, zlib.crc32(part.encode())])

    # -------------------------------------------------------------- zoning
    def density(self, xy) -> np.ndarray:
        """Junctions within TOWN_RADIUS of each point (a street-density proxy)."""
        return self._tree.query_ball_point(np.asarray(xy, dtype=float).reshape(-1, 2), TOWN_RADIUS,
                                           return_length=True)

    def in_town(self, xy) -> np.ndarray:
        return self.density(xy) >= TOWN_JUNCTIONS

    def centre_distance(self, xy) -> np.ndarray:
        return np.hypot(*(np.asarray(xy, dtype=float).reshape(-1, 2) - self.centre).T)

    def nearest_junction(self, xy, demand_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(indices into junction_ids, distances) of the nearest junction to each point."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if not demand_only:
            d, i = self._tree.query(xy)
            return i, d
        served = np.flatnonzero(self.junction_demand > 0)
        d, i = cKDTree(self.junction_xy[served]).query(xy)
        return served[i], d

    def ground(self, xy) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return self.terrain.sample(xy[:, 0], xy[:, 1])

    @property
    def population_per_junction(self) -> np.ndarray:
        """People each junction's average demand serves (float)."""
        return self.junction_demand * 86400.0 * 1000.0 / LITRES_PER_PERSON_DAY


def _mean_demand(wn, junction) -> float:
    """Average demand over the junction's patterns, m³/s."""
    total = 0.0
    for ts in junction.demand_timeseries_list:
        pattern = ts.pattern
        if pattern is None and wn.options.hydraulic.pattern in wn.pattern_name_list:
            pattern = wn.get_pattern(wn.options.hydraulic.pattern)
        mean = float(np.mean(pattern.multipliers)) if pattern is not None else 1.0
        total += ts.base_value * mean
    return total


def spread_out(xy: np.ndarray, k: int, rng: np.random.Generator, weight: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``k`` points of ``xy`` spread over the area (farthest-point sampling).

    ``weight`` (>= 0) favours some points: distance is multiplied by it, so heavy points
    (population, risk) are picked before light ones at the same distance.
    """
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=int)
    k = min(k, n)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=float)
    chosen = [int(rng.integers(n))]
    best = np.hypot(*(xy - xy[chosen[0]]).T)
    for _ in range(k - 1):
        nxt = int(np.argmax(best * w))
        if best[nxt] <= 0:
            break
        chosen.append(nxt)
        best = np.minimum(best, np.hypot(*(xy - xy[nxt]).T))
    return np.asarray(chosen, dtype=int)
