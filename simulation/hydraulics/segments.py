"""Isolation segments: what closing the valves around a broken pipe shuts off, and what it cuts off by accident.

An isolation valve sits on a pipe next to a node (``pipe_id`` + ``node_id`` in
the ``water_valves`` layer) and, closed, separates that pipe from that node.  A
*segment* is what stays connected when every valve is closed: a set of pipes
and nodes.  Segments come from one union-find pass over pipes and nodes — a
pipe is joined to each of its end nodes unless a valve sits between them — so
a city of 100,000 pipes is segmented in well under a second (WNTR's
``valve_segments`` builds and searches a graph per segment).

For a break on pipe P, the crew closes the valves bounding P's segment.  Other
segments left without any path to a reservoir or tank are the *unintended
isolation*: they lose water too, though nothing in them is broken.  A valve
that does not close (``operable`` false in the layer, or named in
``inoperable``) does not bound anything: the segments on both sides merge and
the shutdown widens to the next valves out.

A valve modelled as an EPANET valve link (Micropolis' gate valves are TCVs)
comes as two rows with one id, one per end node: the link is a segment of its
own, and closing it closes both sides.

Valves for a bare network: a CSV (``pipe_id,node_id[,id][,operable]``), or the
N-1 rule — at every node with k pipes, valves on k-1 of them, leaving out the
largest pipe (ties: the first id), a common design rule and WNTR's "strategic
N-1" placement made deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from simulation.hydraulics.results import write_atomic
from twin.errors import LayerError, SourceError, reading_problem


def n_minus_one_valves(wn) -> pd.DataFrame:
    """Valves by the N-1 rule: every node with k links gets valves on all but its largest pipe."""
    by_node: dict[str, list[tuple[float, str]]] = {}
    for name, link in wn.links():
        size = float(getattr(link, "diameter", 0.0) or 0.0)
        for n in (link.start_node_name, link.end_node_name):
            by_node.setdefault(n, []).append((size, name))
    rows = []
    for node, items in by_node.items():
        if len(items) < 2:
            continue
        keep = sorted(items, key=lambda t: (-t[0], t[1]))[0][1]
        for _, link in sorted(items, key=lambda t: t[1]):
            if link != keep:
                rows.append({"id": f"V-{link}-{node}", "pipe_id": link, "node_id": node, "operable": True})
    return pd.DataFrame(rows, columns=["id", "pipe_id", "node_id", "operable"])


def read_valves(path: str | Path) -> pd.DataFrame:
    """Isolation valves from a CSV with pipe_id, node_id and optional id, operable columns."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such valves file") from None
    except Exception as exc:
        raise SourceError(f"{path}: cannot read the valves CSV: {reading_problem(exc)}") from None
    missing = [c for c in ("pipe_id", "node_id") if c not in frame.columns]
    if missing:
        raise SourceError(f"{path}: valves CSV has no column {missing[0]!r} (needs pipe_id, node_id)")
    if "id" not in frame.columns:
        frame["id"] = [f"V{i + 1}" for i in range(len(frame))]
    if "operable" not in frame.columns:
        frame["operable"] = True
    else:
        frame["operable"] = ~frame["operable"].fillna("true").str.strip().str.lower().isin(["false", "0", "no", "n"])
    frame = frame[["id", "pipe_id", "node_id", "operable"]].reset_index(drop=True)
    frame.attrs["source"] = str(path)  # errors about a valve then name this file and line, not a layer
    return frame


@dataclass
class Segmentation:
    """Segments of a network for a set of valves (closing operable ones only)."""

    nodes: list[str]
    links: list[str]
    node_segment: np.ndarray           # segment of each node
    link_segment: np.ndarray           # segment of each link
    valves: pd.DataFrame               # id, pipe_id, node_id, operable, seg_a (pipe side), seg_b (node side)
    sources: set[int]                  # segments holding a reservoir or tank
    count: int
    node_population: np.ndarray
    node_demand: np.ndarray            # m³/s average
    link_length: np.ndarray
    inoperable: list[str] = field(default_factory=list)

    def segment_of(self, pipe: str) -> int:
        try:
            return int(self.link_segment[self._link_pos[pipe]])
        except KeyError:
            raise KeyError(f"no pipe {pipe!r} in the network") from None

    def __post_init__(self):
        self._link_pos = {n: i for i, n in enumerate(self.links)}
        v = self.valves
        closing = v["operable"].to_numpy(bool) & (v["seg_a"].to_numpy() != v["seg_b"].to_numpy())
        self._edges = v.loc[closing, ["seg_a", "seg_b"]].to_numpy(dtype=np.int64)
        self._closing = v[closing]
        self.seg_population = np.bincount(self.node_segment, self.node_population, minlength=self.count)
        self.seg_demand = np.bincount(self.node_segment, self.node_demand, minlength=self.count)
        self.seg_length = np.bincount(self.link_segment, self.link_length, minlength=self.count)
        self.seg_pipes = np.bincount(self.link_segment, minlength=self.count)
        self.seg_nodes = np.bincount(self.node_segment, minlength=self.count)

    def cut_off(self, segment: int) -> np.ndarray:
        """Segments (other than ``segment``) left with no path to a source once it is shut."""
        e = self._edges
        keep = (e[:, 0] != segment) & (e[:, 1] != segment)
        e = e[keep]
        graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(self.count, self.count))
        _, label = connected_components(graph, directed=False)
        fed = {label[s] for s in self.sources if s != segment}
        out = np.array([s for s in range(self.count) if s != segment and label[s] not in fed], dtype=np.int64)
        return out

    def shutdown(self, pipe: str) -> dict:
        """What a break on ``pipe`` shuts: valves to close, pipes, junctions, people, unintended isolation."""
        seg = self.segment_of(pipe)
        v = self._closing
        bounding = v[(v["seg_a"] == seg) | (v["seg_b"] == seg)]
        isolated = self.cut_off(seg)
        seg_links = [self.links[i] for i in np.flatnonzero(self.link_segment == seg)]
        seg_nodes = [self.nodes[i] for i in np.flatnonzero(self.node_segment == seg)]
        iso_mask_n = np.isin(self.node_segment, isolated)
        iso_mask_l = np.isin(self.link_segment, isolated)
        return {
            "pipe": pipe, "segment": seg, "valves_to_close": list(dict.fromkeys(bounding["id"].astype(str))),
            "pipes_in_segment": seg_links, "nodes_in_segment": seg_nodes,
            "population_in_segment": float(self.seg_population[seg]),
            "demand_in_segment_m3s": float(self.seg_demand[seg]),
            "unintended_segments": isolated.tolist(),
            "unintended_pipes": [self.links[i] for i in np.flatnonzero(iso_mask_l)],
            "unintended_nodes": [self.nodes[i] for i in np.flatnonzero(iso_mask_n)],
            "unintended_population": float(self.seg_population[isolated].sum()),
            "population_without_water": float(self.seg_population[seg] + self.seg_population[isolated].sum()),
            "inoperable_valves": list(self.inoperable),
        }

    def _cut_totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every segment: how many segments, people and m³/s its shutdown cuts off unintentionally.

        One depth-first search from a super-source joined to every source segment
        (Tarjan's articulation points): shutting v cuts off the DFS subtree of each
        child c with low[c] >= disc[v], so the totals are sums of subtree totals.
        """
        n = self.count
        root = n
        e = self._edges
        src = np.array(sorted(self.sources), dtype=np.int64)
        a = np.concatenate([e[:, 0], np.full(len(src), root)])
        b = np.concatenate([e[:, 1], src])
        m = len(a)
        # adjacency as CSR over both directions, with edge ids (parallel valves are distinct edges)
        heads = np.concatenate([a, b])
        tails = np.concatenate([b, a])
        eid = np.concatenate([np.arange(m), np.arange(m)])
        order = np.argsort(heads, kind="stable")
        tails, eid = tails[order], eid[order]
        start = np.searchsorted(heads[order], np.arange(n + 2))
        disc = np.full(n + 1, -1, dtype=np.int64)
        low = np.zeros(n + 1, dtype=np.int64)
        cnt = np.zeros(n + 1)
        pop = np.zeros(n + 1)
        dem = np.zeros(n + 1)
        cut_cnt, cut_pop, cut_dem = np.zeros(n), np.zeros(n), np.zeros(n)
        seg_pop, seg_dem = self.seg_population, self.seg_demand
        timer = 0
        disc[root] = low[root] = timer
        stack = [(root, -1, int(start[root]))]
        while stack:
            v, pe, i = stack[-1]
            if i < start[v + 1]:
                stack[-1] = (v, pe, i + 1)
                w, ed = int(tails[i]), int(eid[i])
                if ed == pe:
                    continue
                if disc[w] < 0:
                    timer += 1
                    disc[w] = low[w] = timer
                    cnt[w], pop[w], dem[w] = 1, seg_pop[w], seg_dem[w]
                    stack.append((w, ed, int(start[w])))
                else:
                    low[v] = min(low[v], disc[w])
                continue
            stack.pop()
            if stack:
                u = stack[-1][0]
                low[u] = min(low[u], low[v])
                cnt[u] += cnt[v]
                pop[u] += pop[v]
                dem[u] += dem[v]
                if u != root and low[v] >= disc[u]:
                    cut_cnt[u] += cnt[v]
                    cut_pop[u] += pop[v]
                    cut_dem[u] += dem[v]
        return cut_cnt, cut_pop, cut_dem

    def table(self) -> pd.DataFrame:
        """One row per segment: size, people, demand, and the consequence of shutting it (ranked)."""
        cut_cnt, cut_pop, cut_dem = self._cut_totals()
        v = self._closing
        # a valve counts once per segment it bounds (a link valve has a row per end)
        ends = pd.concat([v[["id", "seg_a"]].rename(columns={"seg_a": "seg"}),
                          v[["id", "seg_b"]].rename(columns={"seg_b": "seg"})]).drop_duplicates()
        valves = np.bincount(ends["seg"].to_numpy(np.int64), minlength=self.count)
        t = pd.DataFrame({"segment": np.arange(self.count), "pipes": self.seg_pipes, "nodes": self.seg_nodes,
                          "length_m": np.round(self.seg_length, 1), "valves": valves[:self.count],
                          "population": self.seg_population, "demand_m3s": self.seg_demand,
                          "unintended_segments": cut_cnt.astype(int), "unintended_population": cut_pop,
                          "population_without_water": self.seg_population + cut_pop,
                          "demand_without_water_m3s": self.seg_demand + cut_dem,
                          "has_source": np.isin(np.arange(self.count), list(self.sources))})
        t = t.sort_values(["population_without_water", "demand_without_water_m3s", "segment"],
                          ascending=[False, False, True], kind="mergesort").reset_index(drop=True)
        t.insert(0, "rank", np.arange(1, len(t) + 1))
        return t

    def pipe_table(self) -> pd.DataFrame:
        return pd.DataFrame({"id": self.links, "segment": self.link_segment})


def segment(system, *, valves: pd.DataFrame | None = None, inoperable: list[str] | None = None) -> Segmentation:
    """Segment ``system``'s network by its valves (the project's, ``valves``, or N-1 ones)."""
    wn = system.network
    if valves is None:
        valves = system.valves if len(system.valves) else n_minus_one_valves(wn)
    valves = valves.copy()
    valves["id"] = valves["id"].astype(str)
    inoperable = [str(v) for v in (inoperable or [])]
    unknown = sorted(set(inoperable) - set(valves["id"]))
    if unknown:
        raise KeyError(f"unknown valve id(s) {', '.join(map(repr, unknown[:5]))}")
    valves.loc[valves["id"].isin(inoperable), "operable"] = False
    valves["operable"] = valves["operable"].fillna(True).astype(bool)
    nodes = list(wn.node_name_list)
    links = list(wn.link_name_list)
    npos = {n: i for i, n in enumerate(nodes)}
    lpos = {n: i for i, n in enumerate(links)}
    ends = np.array([(npos[wn.get_link(l).start_node_name], npos[wn.get_link(l).end_node_name]) for l in links],
                    dtype=np.int64).reshape(-1, 2)
    nn, nl = len(nodes), len(links)
    blocked = set()
    source = valves.attrs.get("source")
    for row, v in enumerate(valves.itertuples()):
        where = f"{source}: line {row + 2}: valve {v.id!r}" if source else f"water_valves: valve {v.id!r}"
        li, ni = lpos.get(str(v.pipe_id)), npos.get(str(v.node_id))
        if li is None:
            raise LayerError(f"{where} field pipe_id: no pipe {v.pipe_id!r} in the network")
        if ni is None:
            raise LayerError(f"{where} field node_id: no node {v.node_id!r} in the network")
        if ni not in ends[li]:
            raise LayerError(f"{where}: node {v.node_id!r} is not an end of pipe {v.pipe_id!r}")
        if v.operable:
            blocked.add((li, ni))
    # union-find over nodes [0, nn) and links [nn, nn + nl)
    parent = np.arange(nn + nl)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    for li in range(nl):
        for ni in ends[li]:
            if (li, int(ni)) not in blocked:
                a, b = find(nn + li), find(int(ni))
                if a != b:
                    parent[a] = b
    roots = np.array([find(i) for i in range(nn + nl)])
    _, label = np.unique(roots, return_inverse=True)
    node_seg, link_seg = label[:nn], label[nn:]
    valves["seg_a"] = [int(link_seg[lpos[str(p)]]) for p in valves["pipe_id"]]
    valves["seg_b"] = [int(node_seg[npos[str(n)]]) for n in valves["node_id"]]
    sources = {int(node_seg[npos[n]]) for n in wn.reservoir_name_list + wn.tank_name_list}
    pop = system.population.reindex(nodes).fillna(0.0).to_numpy(float)
    try:
        import wntr

        dem = wntr.metrics.average_expected_demand(wn).reindex(nodes).fillna(0.0).clip(lower=0).to_numpy(float)
    except Exception:
        dem = np.array([getattr(wn.get_node(n), "base_demand", 0.0) or 0.0 for n in nodes])
    length = np.array([float(getattr(wn.get_link(l), "length", 0.0) or 0.0) for l in links])
    return Segmentation(nodes, links, node_seg, link_seg, valves, sources, int(label.max()) + 1 if len(label) else 0,
                        pop, dem, length, inoperable)


def write_segments(seg: Segmentation, out_dir, shutdown: dict | None = None) -> list[Path]:
    out = Path(out_dir)
    paths = [write_atomic(out / "segments.csv", seg.table().to_csv(index=False)),
             write_atomic(out / "pipe_segments.csv", seg.pipe_table().to_csv(index=False))]
    if shutdown is not None:
        paths.append(write_atomic(out / f"shutdown_{shutdown['pipe']}.json", json.dumps(shutdown, indent=1)))
    return paths
