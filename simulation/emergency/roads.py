"""The road graph emergency vehicles drive on, built from the twin's ``roads`` layer.

Every vertex of every road line is a node (coordinates closer than the node
tolerance are one node, so roads that share an end point connect); every
segment between consecutive vertices is an edge whose weight is its driving
time at the road's ``speed_kmh`` times the emergency-vehicle factor of its
``road_class`` (and a penalty for single-lane two-way roads).  One-way roads
(``oneway`` true) are edges in the digitised direction only.

Travel times come from ``scipy.sparse.csgraph.dijkstra`` for all stations at
once (one row per station, one column per node), outbound and back; points
are snapped to the nearest node with a KD-tree and the snapping distance is
kept, because a 400 m walk from the road is part of the response.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from twin.errors import LayerError


@dataclass(frozen=True)
class RoadPart:
    """A weakly connected part of the road graph."""

    nodes: int
    length_m: float
    road_ids: tuple[str, ...]


class RoadGraph:
    """Nodes (x, y), a sparse matrix of driving times in seconds, and its parts."""

    def __init__(self, xy: np.ndarray, times: csr_matrix, lengths: csr_matrix, road_of_node: np.ndarray,
                 road_ids: np.ndarray, edge_road: csr_matrix | None = None):
        self.xy = xy
        self.times = times
        #: index (in ``road_ids``) + 1 of the road each edge of ``times`` belongs to, same sparsity
        self.edge_road = edge_road
        self.lengths = lengths
        self._road_of_node = road_of_node
        self._road_ids = road_ids
        self._times_t = None
        n_parts, labels = connected_components(times, directed=True, connection="weak")
        self.part_of_node = labels
        self.n_parts = int(n_parts)
        self._tree = cKDTree(xy)

    @property
    def n_nodes(self) -> int:
        return len(self.xy)

    @property
    def n_edges(self) -> int:
        return int(self.times.nnz)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_roads(cls, roads: gpd.GeoDataFrame, speed_factor: dict[str, float] | None = None,
                   single_lane_factor: float = 0.85, node_tolerance_m: float = 0.5) -> "RoadGraph":
        """Build the graph from a ``roads`` layer (validated by twin.schema)."""
        if roads is None or len(roads) == 0:
            raise LayerError("layer 'roads' is empty: the emergency model needs a road network "
                             "(or use the straight-line travel model)")
        speed_factor = speed_factor or {}
        roads = roads[~roads.geometry.is_empty & roads.geometry.notna()]
        speed = roads["speed_kmh"].to_numpy(dtype=float)
        bad = ~np.isfinite(speed) | (speed <= 0)
        if bad.any():
            rid = roads["id"].iloc[int(np.flatnonzero(bad)[0])]
            raise LayerError(f"layer 'roads' column 'speed_kmh': road {rid!r} has speed "
                             f"{float(speed[bad][0])}; speeds must be positive km/h ({int(bad.sum())} roads)")
        factor = roads["road_class"].map(lambda c: speed_factor.get(str(c), 1.0)).to_numpy(dtype=float)
        oneway = roads["oneway"].fillna(False).to_numpy(dtype=bool) if "oneway" in roads else \
            np.zeros(len(roads), bool)
        if "lanes" in roads:
            lanes = pd.to_numeric(roads["lanes"], errors="coerce").to_numpy(dtype=float)
            factor = np.where((lanes == 1) & ~oneway, factor * single_lane_factor, factor)
        mps = speed * factor / 3.6

        parts = shapely.get_parts(roads.geometry.to_numpy(), return_index=True)
        lines, line_road = parts
        coords, vert_line = shapely.get_coordinates(lines, return_index=True)
        road_idx = line_road[vert_line]
        # Merge coordinates within the tolerance: roads sharing an end point become connected.
        keys = np.round(coords / node_tolerance_m).astype(np.int64)
        _, first, node_of_vertex = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        node_of_vertex = node_of_vertex.ravel()
        xy = coords[first]
        same_line = vert_line[1:] == vert_line[:-1]
        a = node_of_vertex[:-1][same_line]
        b = node_of_vertex[1:][same_line]
        seg_road = road_idx[:-1][same_line]
        length = np.hypot(*(coords[1:][same_line] - coords[:-1][same_line]).T)
        keep = a != b
        a, b, seg_road, length = a[keep], b[keep], seg_road[keep], length[keep]
        t = length / mps[seg_road]
        two_way = ~oneway[seg_road]
        src = np.concatenate([a, b[two_way]])
        dst = np.concatenate([b, a[two_way]])
        tt = np.concatenate([t, t[two_way]])
        ll = np.concatenate([length, length[two_way]])
        n = len(xy)
        # Parallel edges between the same pair of nodes: the fastest one counts.
        rr = np.concatenate([seg_road, seg_road[two_way]])
        order = np.lexsort((tt, dst, src))
        src, dst, tt, ll, rr = src[order], dst[order], tt[order], ll[order], rr[order]
        first_of_pair = np.ones(len(src), bool)
        first_of_pair[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        keep = first_of_pair
        src, dst, tt, ll, rr = src[keep], dst[keep], tt[keep], ll[keep], rr[keep]
        # csgraph treats an explicit 0 as "no edge"; a zero-time edge cannot occur (a != b, speed > 0).
        times = coo_matrix((tt, (src, dst)), shape=(n, n)).tocsr()
        lengths = coo_matrix((ll, (src, dst)), shape=(n, n)).tocsr()
        edge_road = coo_matrix((rr + 1.0, (src, dst)), shape=(n, n)).tocsr()
        road_of_node = np.empty(n, dtype=np.int64)
        road_of_node[node_of_vertex] = road_idx
        return cls(xy, times, lengths, road_of_node, roads["id"].to_numpy(), edge_road)

    def slowed(self, speed_factor: dict[str, float]) -> "RoadGraph":
        """The same roads with some driven slower: each edge of a road in ``speed_factor`` (road id ->
        factor of its speed, 0 < f <= 1) takes 1/f times as long; a factor of 0 closes the road (its edges
        are removed).  Roads not named keep their times.  Flooded streets (:mod:`simulation.drainage`) use it.
        """
        if self.edge_road is None:
            raise ValueError("this road graph does not know the road of each edge (built without from_roads)")
        index = {str(r): k for k, r in enumerate(self._road_ids)}
        factor = np.ones(len(self._road_ids) + 1)
        for rid, f in speed_factor.items():
            f = float(f)
            if not (0.0 <= f <= 1.0):
                raise ValueError(f"road {rid!r}: speed factor must be within 0..1, not {f!r}")
            if str(rid) in index:
                factor[index[str(rid)] + 1] = f
        times, lengths, edge_road = self.times.tocoo(), self.lengths.tocoo(), self.edge_road.tocoo()
        # the three matrices share their sparsity pattern and order (built from the same triplets)
        if not (np.array_equal(times.row, edge_road.row) and np.array_equal(times.col, edge_road.col)):
            raise ValueError("road graph: the edges' roads do not line up with the driving times")
        f = factor[edge_road.data.astype(np.int64)]
        open_ = f > 0
        n = self.n_nodes
        rows, cols = times.row[open_], times.col[open_]
        new_times = coo_matrix((times.data[open_] / f[open_], (rows, cols)), shape=(n, n)).tocsr()
        new_lengths = coo_matrix((lengths.data[open_], (rows, cols)), shape=(n, n)).tocsr()
        new_roads = coo_matrix((edge_road.data[open_], (rows, cols)), shape=(n, n)).tocsr()
        return RoadGraph(self.xy, new_times, new_lengths, self._road_of_node, self._road_ids, new_roads)

    # ------------------------------------------------------------------ queries
    def parts(self) -> list[RoadPart]:
        """The weakly connected parts, largest first."""
        out = []
        road_len = self._node_road_length()
        for label in range(self.n_parts):
            nodes = np.flatnonzero(self.part_of_node == label)
            ids = tuple(sorted(set(self._road_ids[self._road_of_node[nodes]].tolist())))
            out.append(RoadPart(len(nodes), float(road_len[nodes].sum()), ids))
        return sorted(out, key=lambda p: -p.nodes)

    def _node_road_length(self) -> np.ndarray:
        """Half the length of every road segment at each node (a one-way and a two-way segment
        count once each), so summing over nodes gives road length."""
        undirected = self.lengths.maximum(self.lengths.transpose())
        return np.asarray(undirected.sum(axis=1)).ravel() / 2.0

    @property
    def length_m(self) -> float:
        return float(self._node_road_length().sum())

    def snap(self, xy: np.ndarray, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of each point (restricted to ``candidates`` node indices) and the distance, m."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if candidates is None:
            dist, idx = self._tree.query(xy)
            return idx.astype(np.int64), dist
        candidates = np.asarray(candidates, dtype=np.int64)
        if len(candidates) == 0:
            raise LayerError("no road node is reachable from any station")
        tree = cKDTree(self.xy[candidates])
        dist, idx = tree.query(xy)
        return candidates[idx], dist

    def times_from(self, nodes: np.ndarray) -> np.ndarray:
        """Driving time (s) from each of ``nodes`` to every node: shape (len(nodes), n_nodes)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(nodes) == 0:
            return np.zeros((0, self.n_nodes))
        return dijkstra(self.times, directed=True, indices=nodes)

    def times_to(self, nodes: np.ndarray) -> np.ndarray:
        """Driving time (s) from every node to each of ``nodes``: shape (len(nodes), n_nodes)."""
        if self._times_t is None:
            self._times_t = self.times.transpose().tocsr()
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(nodes) == 0:
            return np.zeros((0, self.n_nodes))
        return dijkstra(self._times_t, directed=True, indices=nodes)

    def describe(self) -> str:
        return (f"{self.n_nodes} nodes, {self.n_edges} directed edges, {self.length_m / 1000:.1f} km of road, "
                f"{self.n_parts} part(s)")
