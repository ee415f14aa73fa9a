"""The reviewer's defects in the hydraulics commands: each reproduced with its command, and the fix's exact output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import wntr

from app.cli import main
from shared_data import shared_path

POPULATION_NET3 = ("population estimated from average demand at 200 L/person/day (298,379 people; the network has "
                   "no buildings)")


def _run(capsys, *argv):
    code = main(["hydraulics", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------- 5: fire flow on a network that already fails
@pytest.mark.shared_data
def test_fire_flow_flags_a_baseline_that_is_not_valid(capsys):
    exn = shared_path("networks", "EXN.inp")
    args = ("fire-flow", exn, "--sample", 30, "--duration", 24, "--workers", 0)
    code, text, err = _run(capsys, *args)
    assert code == 0, err
    assert ("baseline without a fire over the fire window: NOT VALID: 112 junction(s) have negative pressure "
            "before any fire is drawn (lowest -9.795 m at 1698); a demand-driven run delivers their demand anyway, "
            "so these pressures are not physical; 4 hydrant(s) at such junctions are not assessed, and the other "
            "results rest on this baseline") in text
    assert "0 pass (0 %), 4 not assessed, 0 could not be solved" in text
    assert ("  2011 (node 2011): not assessed: the network without a fire already fails here (negative pressure "
            "in a demand-driven run, not physical)") in text
    # no unphysical residual presented as a number (was "residual at the hydrant -2013.0 m")
    assert not re.search(r": -\d|hydrant -\d", text)
    assert "fails: 322 (node 322) available 0.74 L/s — residual at the hydrant below 0 m" in text

    code, out, err = _run(capsys, *args, "--json")
    doc = json.loads(out)
    assert doc["baseline"] == {"valid": False, "junctions": 112, "lowest_m": -9.795, "lowest_junction": "1698"}
    skipped = [h for h in doc["hydrants"] if not h["assessed"]]
    assert sorted(h["id"] for h in skipped) == ["1253", "2011", "2012", "749"]
    assert all(h["passes"] is None and h["available_flow_lps"] is None for h in skipped)


def test_fire_flow_never_prints_a_negative_residual(capsys, wntr_network_path):
    code, text, err = _run(capsys, "fire-flow", wntr_network_path("Net2.inp"), "--nodes", "29,30,31", "--workers", 0)
    assert code == 0, err
    assert "-123468740" not in text and not re.search(r"hydrant -\d", text)
    assert ("fails: 29 (node 29) available 16.7 L/s — residual at the hydrant below 0 m (the flow cannot be "
            "delivered; the demand-driven pressure is not physical)") in text
    assert "fails: 30 (node 30) available 16.7 L/s — residual at the hydrant 6.5 m" in text
    code, out, err = _run(capsys, "fire-flow", wntr_network_path("Net2.inp"), "--nodes", "29", "--workers", 0,
                          "--json")
    assert json.loads(out)["baseline"]["valid"] is True


# ------------------------------------------------------------- 6: the fire window
def test_fire_flow_refuses_a_start_after_the_end_like_criticality(capsys, wntr_network_path, tmp_path):
    net1 = wntr_network_path("Net1.inp")
    out = tmp_path / "out"
    code, text, err = _run(capsys, "fire-flow", net1, "--start", 500, "--duration", 24, "--workers", 0,
                           "--out", out)
    assert code != 0 and text == "" and not out.exists()
    assert err.strip() == ("lifeline-twin hydraulics: error: Net1: fire window starts at 500 h (--start), after the "
                           "end of the simulation (24 h; --duration sets it)")
    code, text, err = _run(capsys, "criticality", net1, "--start", 500, "--duration", 24, "--workers", 0)
    assert code != 0
    assert err.strip() == ("lifeline-twin hydraulics: error: Net1: window starts at 500 h (--start), after the end "
                           "of the simulation (24 h; --duration sets it)")


def test_fire_flow_states_its_window(capsys, wntr_network_path):
    net1 = wntr_network_path("Net1.inp")
    code, text, err = _run(capsys, "fire-flow", net1, "--workers", 0)
    assert code == 0, err
    assert text.splitlines()[1] == "fire window: 6 h to 8 h of the simulation (the peak demand hour)"
    code, text, err = _run(capsys, "fire-flow", net1, "--start", 20, "--fire-hours", 0, "--workers", 0, "--json")
    assert json.loads(text)["window"] == {"start_h": 20.0, "end_h": 20.0, "chosen": "--start"}
    code, text, err = _run(capsys, "fire-flow", net1, "--start", 20, "--fire-hours", 0, "--workers", 0)
    assert text.splitlines()[1] == "fire window: steady state at 20 h of the simulation (from --start)"


# ------------------------------------------------------------- 7: how population was estimated
def test_segments_and_break_say_how_population_was_estimated(capsys, wntr_network_path):
    net3 = wntr_network_path("Net3.inp")
    code, text, err = _run(capsys, "segments", net3, "--top", 3)
    assert code == 0, err
    assert text.splitlines()[0] == ("Net3: 119 segment(s) from 141 valve(s) (N-1 placement) in "
                                    f"{text.split(' in ')[1].split(' s ')[0]} s ({POPULATION_NET3})")
    code, text, err = _run(capsys, "break", net3, "--pipe", 101, "--duration", 6, "--isolate-after", 1)
    assert code == 0, err
    assert text.splitlines()[0] == ("break on 101 at 0 h (50 mm): peak leak 24.84 L/s, 89.43 m³ lost; up to 5537 "
                                    "people below service pressure (27685.0 people-hours; "
                                    f"{POPULATION_NET3})")
    code, text, err = _run(capsys, "break", net3, "--pipe", 101, "--duration", 6, "--json")
    doc = json.loads(text)
    assert doc["population_source"] == "demand-equivalent" and doc["population_note"] == POPULATION_NET3


# ------------------------------------------------------------- 11: a network without junctions
def test_run_without_junctions_says_so(capsys):
    path = Path(wntr.__path__[0]) / "tests" / "networks_for_testing" / "cv_controls.inp"
    code, text, err = _run(capsys, "run", path)
    assert code == 0, err
    assert text.splitlines()[1] == "no junctions: no junction pressures to report"
    assert "None" not in text


# ------------------------------------------------------------- 12: the same columns whatever the network holds
def test_run_tables_have_fixed_columns(capsys, wntr_network_path, tmp_path):
    assert main(["hydraulics", "run", str(wntr_network_path("Net1.inp")), "--out", str(tmp_path / "a")]) == 0
    assert main(["hydraulics", "run", str(wntr_network_path("Net1.inp")), "--pdd", "--out", str(tmp_path / "b")]) == 0
    for d in ("a", "b"):
        head = {f: pd.read_csv(tmp_path / d / f"{f}.csv", nrows=0).columns.tolist()
                for f in ("valves", "tanks", "pumps", "junctions")}
        assert head["valves"] == ["time_s", "id", "type", "flow_lps", "status", "headloss_m", "setting",
                                  "setting_unit"]  # Net1 has no valves
        assert head["tanks"] == ["time_s", "id", "level_m", "volume_m3", "head_m", "net_inflow_lps"]
        assert head["pumps"] == ["time_s", "id", "flow_lps", "status", "head_gain_m", "energy_kw"]
        assert head["junctions"] == ["time_s", "id", "pressure_m", "head_m", "demand_lps", "flag"]


# ------------------------------------------------------------- 10: never more workers than jobs or CPUs allow
def test_sweep_starts_no_more_workers_than_scenarios(monkeypatch):
    import distributed

    from simulation.hydraulics import sweep as sw

    started = []

    class Refused(Exception):
        pass

    def fake_cluster(n_workers, **kw):
        started.append(n_workers)
        raise Refused

    monkeypatch.setattr(distributed, "LocalCluster", fake_cluster)
    with pytest.raises(Refused):
        sw.sweep(sw.Study(), range(3), workers=256)
    monkeypatch.setattr(sw.os, "cpu_count", lambda: 2)
    with pytest.raises(Refused):
        sw.sweep(sw.Study(), range(100), workers=256)
    assert started == [3, 8]


def test_workers_above_the_cap_get_a_one_line_note(capsys, wntr_network_path, monkeypatch):
    from simulation.hydraulics import sweep as sw

    monkeypatch.setattr(sw.os, "cpu_count", lambda: 2)
    code, text, err = _run(capsys, "criticality", wntr_network_path("Net1.inp"), "--pipes", "10", "--workers", 256,
                           "--no-progress")
    assert code == 0, err
    assert err.splitlines() == ["note: --workers 256 is more than 4 per CPU core (2 core(s)): using at most 8"]
    assert text.startswith("Net1: 1 pipe closure(s), 0 failed")
