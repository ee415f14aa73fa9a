"""A break splits the pipe it is on without moving its ends: pipes leaving a tank or a reservoir too.

EN_addnode puts a new junction before the tanks and reservoirs, so their indices move up by one; a
break on a pipe leaving a tank used to join the pipe's first half to the node before the tank (Net3's
pipe 40 ran from the lake instead of tank 1, and the run reported a leak out of the wrong water) and a
pipe leaving a reservoir could end where it started (Net3's pipe 60: EPANET error 222).  The check is
independent of the break model: until the hole opens, the split network is the same network, so every
original node's head equals the unbroken run's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wntr

from simulation.hydraulics.solver import DURATION, Solver

NET3 = Path(wntr.__file__).parent / "library" / "networks" / "Net3.inp"


def _heads(solver, nodes):
    run = solver.run(("head",))
    return run.times, run.nodes["head"][:, [solver.node(n) for n in nodes]]


@pytest.mark.parametrize("pipe, start, end", [("40", "1", "40"), ("60", "River", "60"), ("101", "10", "101")])
def test_a_break_keeps_the_pipe_ends_and_the_network_until_the_hole_opens(pipe, start, end):
    text = NET3.read_text()
    with Solver(text, name="Net3") as plain:
        plain.set_time(DURATION, 3 * 3600)
        nodes = list(plain.node_ids)
        times, before = _heads(plain, nodes)
    with Solver(text, name="Net3") as s:
        s.set_time(DURATION, 3 * 3600)
        hole = s.add_break(pipe, f"BREAK-{pipe}", f"{pipe}-B", "BREAK-OUTFALL", "BREAK-HOLE", 0.05, 1.0 / 0.6 ** 2)
        a, b = s.link_nodes[s.link(pipe)]
        assert (s.node_ids[a], s.node_ids[b]) == (start, f"BREAK-{pipe}")
        a, b = s.link_nodes[s.link(f"{pipe}-B")]
        assert (s.node_ids[a], s.node_ids[b]) == (f"BREAK-{pipe}", end)
        s.add_timer(hole, 1, 4 * 3600)  # after the run: the hole stays closed
        t2, after = _heads(s, nodes)
    assert np.array_equal(times, t2) and len(times) == 4
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_break_outputs_have_units_say_how_people_were_counted_and_never_replace_someone_elses(tmp_path, capsys):
    import json

    import pandas as pd

    from app.cli import main

    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "break_timeline.csv"
    theirs.write_text("my,notes\n")
    argv = ["hydraulics", "break", str(NET3), "--pipe", "101", "--at", "6", "--duration", "12", "--out", str(out)]
    assert main(argv) == 2
    assert "break_timeline.csv: exists and is a CSV table this program did not write" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["break_timeline.csv"]  # nothing else written either
    assert theirs.read_text() == "my,notes\n"
    theirs.unlink()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "population estimated from average demand at 200 L/person/day" in text
    pressure = pd.read_csv(out / "break_pressure.csv")
    assert list(pressure.columns) == ["time_s", "id", "pressure_m"]
    assert len(pressure) == 13 * 92 and pressure["time_s"].max() == 12 * 3600  # 13 report times x 92 junctions
    doc = json.loads((out / "break.json").read_text())
    assert doc["settings"]["population_source"] == "demand-equivalent"
    assert main(argv) == 0  # our own outputs are replaced
