"""Isolation segments on a hand-built network (answers known) and on real networks (cross-checked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import wntr

from simulation.hydraulics.segments import n_minus_one_valves, read_valves, segment
from simulation.hydraulics.system import from_network, load_system
from twin.errors import LayerError, SourceError


def _line_network():
    """R - P1 - J1 - P2 - J2 - P3 - J3 - P4 - J4, and a loop J2 - P5 - J5 - P6 - J3."""
    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=50.0)
    for j in ("J1", "J2", "J3", "J4", "J5"):
        wn.add_junction(j, base_demand=0.001, elevation=0.0)
    for name, a, b in (("P1", "R", "J1"), ("P2", "J1", "J2"), ("P3", "J2", "J3"), ("P4", "J3", "J4"),
                       ("P5", "J2", "J5"), ("P6", "J5", "J3")):
        wn.add_pipe(name, a, b, length=100.0, diameter=0.2, roughness=100.0)
    system = from_network(wn, name="line")
    system.population = pd.Series({"J1": 10.0, "J2": 20.0, "J3": 30.0, "J4": 40.0, "J5": 50.0})
    return system


VALVES = pd.DataFrame([
    ("V1", "P2", "J1", True), ("V2", "P2", "J2", True), ("V3", "P3", "J3", True),
    ("V4", "P4", "J4", True), ("V5", "P5", "J2", True), ("V6", "P4", "J3", True)],
    columns=["id", "pipe_id", "node_id", "operable"])


def test_break_shutdown_and_unintended_isolation():
    # segments: {R,P1,J1} | {P2} | {J2,P3} | {P5,J5,P6,J3} | {P4} | {J4}
    system = _line_network()
    seg = segment(system, valves=VALVES)
    assert seg.count == 6
    sd = seg.shutdown("P2")
    assert sorted(sd["valves_to_close"]) == ["V1", "V2"]
    assert sd["pipes_in_segment"] == ["P2"] and sd["nodes_in_segment"] == []
    # P2 is the only way from R into the town: everything past it goes dry too
    assert set(sd["unintended_pipes"]) == {"P3", "P4", "P5", "P6"}
    assert set(sd["unintended_nodes"]) == {"J2", "J3", "J4", "J5"}
    assert sd["population_without_water"] == 140.0
    sd = seg.shutdown("P4")
    assert sorted(sd["valves_to_close"]) == ["V4", "V6"]
    assert sd["unintended_nodes"] == ["J4"] and sd["unintended_population"] == 40.0
    sd = seg.shutdown("P3")
    assert set(sd["nodes_in_segment"]) == {"J2"} and sd["pipes_in_segment"] == ["P3"]
    assert sorted(sd["valves_to_close"]) == ["V2", "V3", "V5"]
    assert set(sd["unintended_nodes"]) == {"J3", "J4", "J5"} and sd["unintended_population"] == 120.0
    table = seg.table().set_index("segment")
    assert table.loc[seg.segment_of("P3"), "population_without_water"] == 140.0
    assert table.loc[seg.segment_of("P1"), "has_source"]


def test_inoperable_valve_widens_the_shutdown():
    system = _line_network()
    sd = segment(system, valves=VALVES, inoperable=["V1"]).shutdown("P2")
    # V1 does not close: P2 merges with the reservoir's segment, so only V2 can be closed
    assert set(sd["pipes_in_segment"]) == {"P1", "P2"}
    assert set(sd["nodes_in_segment"]) == {"R", "J1"} and sd["valves_to_close"] == ["V2"]
    assert sd["population_in_segment"] == 10.0 and sd["inoperable_valves"] == ["V1"]
    with pytest.raises(KeyError, match="unknown valve id.*'V99'"):
        segment(system, valves=VALVES, inoperable=["V99"])


def test_valves_must_name_real_pipe_ends(tmp_path):
    system = _line_network()
    bad = VALVES.copy()
    bad.loc[0, "node_id"] = "J4"
    with pytest.raises(LayerError, match="valve 'V1'.*not an end of pipe 'P2'"):
        segment(system, valves=bad)
    csv = tmp_path / "valves.csv"
    csv.write_text("pipe_id,node\nP2,J1\n")
    with pytest.raises(SourceError, match="valves.csv: valves CSV has no column 'node_id'"):
        read_valves(csv)
    csv.write_text("id,pipe_id,node_id,operable\nA,P2,J1,false\nB,P2,J2,true\n")
    v = read_valves(csv)
    assert list(v["operable"]) == [False, True]
    csv.write_text("id,pipe_id,node_id\nA,P2,J1\nB,P9,J2\n")
    with pytest.raises(LayerError, match=r"valves.csv: line 3: valve 'B' field pipe_id: no pipe 'P9'"):
        segment(system, valves=read_valves(csv))  # the file and line, not the project's layer


def test_n_minus_one_placement(wntr_network_path):
    wn = wntr.network.WaterNetworkModel(str(wntr_network_path("Net3.inp")))
    v = n_minus_one_valves(wn)
    degree = {}
    for _, link in wn.links():
        for n in (link.start_node_name, link.end_node_name):
            degree[n] = degree.get(n, 0) + 1
    assert len(v) == sum(d - 1 for d in degree.values() if d >= 2)
    assert not v.duplicated(["pipe_id", "node_id"]).any()


@pytest.mark.parametrize("net", ["Net3.inp", "ky10.inp"])
def test_segment_table_matches_a_search_per_segment(net, wntr_network_path):
    system = load_system(wntr_network_path(net))
    seg = segment(system)
    table = seg.table().set_index("segment")
    rng = np.random.default_rng(1)
    check = set(table.sort_values("unintended_population").index[-10:]) | set(rng.choice(seg.count, 40).tolist())
    for s in check:
        cut = seg.cut_off(int(s))
        assert table.loc[s, "unintended_segments"] == len(cut)
        assert table.loc[s, "unintended_population"] == pytest.approx(seg.seg_population[cut].sum())
    assert table["pipes"].sum() == len(system.network.link_name_list)
    assert table["population"].sum() == pytest.approx(system.population.sum())
