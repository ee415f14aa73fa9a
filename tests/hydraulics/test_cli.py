"""The ``lifeline-twin hydraulics`` commands: JSON documents, outputs, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path


from app.cli import main


def _run(capsys, *argv):
    code = main(["hydraulics", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_criticality_json_and_outputs(capsys, wntr_network_path, tmp_path):
    net = wntr_network_path("Net3.inp")
    code, out, err = _run(capsys, "criticality", net, "--pipes", "125,175,20", "--duration", 24, "--workers", 0,
                          "--json", "--out", tmp_path)
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == ["network", "scenarios", "failed", "seconds", "pipes"]
    assert [p["id"] for p in doc["pipes"]][:2] == ["125", "175"]
    # the exact per-pipe fields, sorted by people then undelivered water, most critical first
    assert all(list(p) == ["id", "junctions_below_min_pressure", "demand_not_delivered_m3",
                           "population_without_service"] for p in doc["pipes"])
    keys = [(p["population_without_service"], p["demand_not_delivered_m3"]) for p in doc["pipes"]]
    assert keys == sorted(keys, reverse=True) and keys[0][0] > 0
    assert {"criticality.csv", "criticality.json", "failures.csv"} <= {p.name for p in tmp_path.iterdir()}


def test_fire_flow_json(capsys, wntr_network_path):
    code, out, err = _run(capsys, "fire-flow", wntr_network_path("ky10.inp"), "--nodes", "J-10,J-103",
                          "--fire-hours", 0, "--workers", 0, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == ["hydrants", "window", "baseline", "seconds"]
    assert [h["node"] for h in doc["hydrants"]] == ["J-10", "J-103"]
    assert all(list(h) == ["id", "node", "assessed", "passes", "available_flow_lps"] for h in doc["hydrants"])
    assert all(isinstance(h["passes"], bool) and h["available_flow_lps"] > 0 for h in doc["hydrants"])


def test_run_segments_quality_break_text(capsys, wntr_network_path, tmp_path):
    net = wntr_network_path("Net3.inp")
    code, out, _ = _run(capsys, "run", net, "--duration", 24, "--out", tmp_path / "run")
    assert code == 0 and "NOT VALID: 1 junction(s) have negative pressure at some time" in out
    assert (tmp_path / "run" / "junctions.csv").read_text().startswith("time_s,id,pressure_m,head_m,demand_lps,flag")
    code, out, _ = _run(capsys, "segments", net, "--pipe", "125", "--json")
    assert code == 0 and json.loads(out)["shutdown"]["pipe"] == "125"
    code, out, _ = _run(capsys, "quality", net, "--duration", 24, "--inject", "121", "--start", 1)
    assert code == 0 and "people exposed" in out
    code, out, _ = _run(capsys, "break", net, "--pipe", "125", "--at", 1, "--duration", 4, "--json")
    assert code == 0 and json.loads(out)["volume_lost_m3"] > 0


def test_bad_inputs_are_one_line(capsys, wntr_network_path, tmp_path):
    net = wntr_network_path("Net3.inp")
    code, out, err = _run(capsys, "criticality", net, "--pipes", "NOPE", "--workers", 0, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and "unknown pipe id(s) 'NOPE'" in err
    assert not (tmp_path / "o").exists()  # nothing written
    # a junction with no path to any source
    text = Path(net).read_text().replace("[PIPES]", "[PIPES]\n ISOLATED-P  ISO-A  ISO-B  100  8  100  0  Open ;")
    text = text.replace("[JUNCTIONS]", "[JUNCTIONS]\n ISO-A  10  1 ;\n ISO-B  10  1 ;")
    bad = tmp_path / "islands.inp"
    bad.write_text(text)
    code, _, err = _run(capsys, "run", bad)
    assert code == 2 and "disconnected: 2 junction(s)" in err and "ISO-A" in err
    plan = tmp_path / "plan.csv"
    plan.write_text("pipe_id,diameter_mm\nMISSING,300\n")
    code, _, err = _run(capsys, "retrofit", net, "--plan", plan, "--workers", 0)
    assert code == 2 and "line 2: no pipe 'MISSING'" in err
    garbage = tmp_path / "garbage.inp"
    garbage.write_text("[JUNCTIONS]\n J1 not-a-number\n")
    code, _, err = _run(capsys, "run", garbage)
    assert code == 2 and "garbage.inp" in err and err.count("\n") == 1


def test_unsolvable_network_is_refused(capsys, wntr_network_path, tmp_path):
    text = Path(wntr_network_path("Net3.inp")).read_text()
    text = re.sub(r"(?m)^ *Trials.*$", " Trials 2", text)
    text = re.sub(r"(?m)^ *Unbalanced.*$", " Unbalanced STOP", text)
    bad = tmp_path / "stiff.inp"
    bad.write_text(text)
    code, _, err = _run(capsys, "run", bad, "--out", tmp_path / "o")
    assert code == 2 and "did not converge" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_bad_time_ranges_and_settings_are_one_line(capsys, wntr_network_path, tmp_path):
    """Negative windows, delays and pressures are refused up front, not run into empty or EPANET errors."""
    net = wntr_network_path("Net3.inp")
    cases = [(("criticality", net, "--pipes", "125", "--hours", -2, "--workers", 0, "--json"),
              "argument --hours: -2 is outside (0, 8784]"),
             (("criticality", net, "--pipes", "125", "--start", -1, "--workers", 0, "--json"),
              "argument --start: -1 is outside [0, 8784]"),
             (("criticality", net, "--pipes", "125", "--min-pressure", -5, "--workers", 0, "--json"),
              "argument --min-pressure: -5 is outside [0, 300]"),
             (("fire-flow", net, "--nodes", "121", "--residual", -1, "--workers", 0, "--json"),
              "argument --residual: -1 is outside [0, 300]"),
             (("fire-flow", net, "--nodes", "121", "--start", -5, "--workers", 0, "--json"),
              "argument --start: -5 is outside [0, 8784]"),
             (("break", net, "--pipe", "125", "--at", 1, "--duration", 4, "--isolate-after", -1, "--json"),
              "argument --isolate-after: -1 is outside [0, 8784]"),
             (("quality", net, "--duration", 0, "--json"),
              "steady-state snapshot (duration 0): give a length in hours (duration_h; --duration on the"),
             (("break", net, "--pipe", "125", "--duration", 0, "--json"),
              "steady-state snapshot (duration 0): give a length in hours (duration_h; --duration on the"),
             (("run", net, "--pdd", "--min-pressure", 30, "--required-pressure", 20, "--json"),
              "pressure-driven demand: required pressure (20 m) must be above the minimum pressure (30 m)")]
    for argv, message in cases:
        code, out, err = _run(capsys, *argv, "--out", tmp_path / "o")
        assert (code, out) == (2, ""), argv
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_a_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    """Result files go through the project's atomic save: a write that fails half-way (here text that
    cannot be encoded) leaves the previous version and no hidden temporary beside it."""
    from simulation.hydraulics.results import write_atomic

    target = tmp_path / "criticality.csv"
    write_atomic(target, "id,rank\nP1,1\n")
    try:
        write_atomic(target, "id,rank\n\ud800,1\n")  # a lone surrogate: UTF-8 refuses it mid-write
    except UnicodeEncodeError:
        pass
    else:
        raise AssertionError("the unencodable text was written")
    assert target.read_text() == "id,rank\nP1,1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["criticality.csv"]


def test_empty_samples_and_an_unreachable_scheduler_are_user_errors(capsys, wntr_network_path, monkeypatch):
    """--sample 0 ran an empty sweep reported as complete, --sample -3 crashed in numpy, and a scheduler
    address nobody answers on was an 'internal error' with exit 1."""
    import socket

    import simulation.hydraulics.sweep as sweep_module

    net = wntr_network_path("Net3.inp")
    for analysis in ("criticality", "fire-flow"):
        for n in (0, -3):
            code, out, err = _run(capsys, analysis, net, "--sample", n, "--workers", 0, "--json")
            assert (code, out) == (2, "") and err.count("\n") == 1 and f"argument --sample: {n} is outside [1, 1e+07]" in err
    for analysis, option in (("criticality", "--pipes"), ("fire-flow", "--nodes")):
        code, out, err = _run(capsys, analysis, net, option, " , ", "--workers", 0, "--json")
        assert (code, out) == (2, "") and "no ids in ' , ': give comma-separated ids" in err
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(sweep_module, "SCHEDULER_TIMEOUT_S", 1.0)
    code, out, err = _run(capsys, "criticality", net, "--pipes", "125", "--scheduler", f"tcp://127.0.0.1:{port}",
                          "--json")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert f"error: cannot reach the Dask scheduler tcp://127.0.0.1:{port}: " in err


def test_an_error_inside_dask_workers_is_one_line_on_stderr(wntr_network_path):
    import subprocess
    import sys

    net = wntr_network_path("Net3.inp")
    done = subprocess.run([sys.executable, "-m", "app.cli", "hydraulics", "criticality", str(net), "--start", "500",
                           "--workers", "2", "--duration", "24"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["lifeline-twin hydraulics: error: Net3: window starts at 500 h (--start), "
                                        "after the end of the simulation (24 h; --duration sets it)"]
