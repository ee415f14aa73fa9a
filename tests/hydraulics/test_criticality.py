"""Criticality sweeps: scores, ranking, the --json document, failures, and a real Dask cluster."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import wntr

from simulation.hydraulics import DemandModel, simulate
from simulation.hydraulics.criticality import criticality
from simulation.hydraulics.system import from_network, load_system
from twin.network import read_network

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ky10(wntr_network_path):
    return load_system(wntr_network_path("ky10.inp"))


def test_scores_follow_from_the_closed_network(ky10):
    res = criticality(ky10, pipes=["P-100", "P-200", "P-1000"])
    row = res.table.set_index("id").loc["P-100"]
    # P-100 feeds a dead end: closing it starves exactly the junctions cut off from every source
    wn = read_network(ky10.source)
    wn.options.hydraulic.demand_model = "PDD"
    wn.options.hydraulic.minimum_pressure = 0.0
    wn.options.hydraulic.required_pressure = 20.0
    base = simulate(from_network(wn), demand_model=DemandModel(pdd=True)).junction_frame("pressure").min()
    wn.get_link("P-100").initial_status = wntr.network.LinkStatus.Closed
    closed = simulate(from_network(wn), demand_model=DemandModel(pdd=True)).junction_frame("pressure").min()
    expected = set(closed[(closed < 14.0) & (base >= 14.0)].index)
    assert row["junctions_below_min_pressure"] == len(expected) >= 1
    assert row["population_without_service"] == pytest.approx(ky10.population[list(expected)].sum())
    assert row["demand_not_delivered_m3"] > 0  # steady state: m³ per hour of closure
    assert list(res.table["rank"]) == [1, 2, 3]


def test_json_document_is_exactly_the_issue_format(ky10):
    res = criticality(ky10, sample=12, seed=3)
    doc = res.to_json()
    assert list(doc) == ["network", "scenarios", "failed", "seconds", "pipes"]
    assert doc["scenarios"] == 12 and doc["failed"] == 0 and doc["network"] == "ky10"
    assert all(list(p) == ["id", "junctions_below_min_pressure", "demand_not_delivered_m3",
                           "population_without_service"] for p in doc["pipes"])
    keys = [(p["population_without_service"], p["demand_not_delivered_m3"]) for p in doc["pipes"]]
    assert keys == sorted(keys, reverse=True)


def test_unknown_pipe_is_one_clear_error(ky10):
    with pytest.raises(KeyError, match="unknown pipe id.*'NOPE'"):
        criticality(ky10, pipes=["P-100", "NOPE"])


def test_a_failing_scenario_is_recorded_and_the_sweep_goes_on(ky10):
    # a closure window needs timer controls, which EPANET refuses on the check-valve pipe P-75
    res = criticality(ky10, pipes=["P-75", "P-100"], duration_h=2, start_h=0.5, hours=1)
    assert list(res.failures["id"]) == ["P-75"]
    assert "CV" in res.failures["reason"].iloc[0]
    # the closure that could not be solved heads the ranking, with its reason, not dropped
    assert list(res.table["id"]) == ["P-75", "P-100"] and list(res.table["rank"]) == [1, 2]
    assert list(res.table["solved"]) == [False, True]
    assert res.table["reason"].iloc[0] == res.failures["reason"].iloc[0] and res.table["reason"].iloc[1] == ""
    doc = res.to_json()
    assert doc["failed"] == 1
    assert doc["pipes"][0] == {"id": "P-75", "junctions_below_min_pressure": None, "demand_not_delivered_m3": None,
                               "population_without_service": None, "reason": res.failures["reason"].iloc[0]}


def test_the_cli_lists_an_unsolved_closure_first_and_says_how_people_were_counted(wntr_network_path, capsys,
                                                                                  tmp_path):
    from app.cli import main

    code = main(["hydraulics", "criticality", str(wntr_network_path("ky10.inp")), "--pipes", "P-75,P-100",
                 "--duration", "2", "--start", "0.5", "--hours", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "population estimated from average demand at 200 L/person/day" in out[0]
    assert "the network has no buildings" in out[0]
    assert out[2].split()[:4] == ["1", "P-75", "not", "solved:"]
    assert out[3].split()[:2] == ["2", "P-100"]


def test_window_limits_the_undelivered_volume(wntr_network_path):
    system = load_system(wntr_network_path("Net3.inp"))
    full = criticality(system, pipes=["175"], duration_h=24).table.iloc[0]
    part = criticality(system, pipes=["175"], duration_h=24, hours=12).table.iloc[0]
    later = criticality(system, pipes=["175"], duration_h=24, start_h=12, hours=6).table.iloc[0]
    assert 0 < part["demand_not_delivered_m3"] < full["demand_not_delivered_m3"]
    assert later["demand_not_delivered_m3"] == 0  # the tanks carry the town through a short afternoon closure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    """A real `dask scheduler` and `dask worker` on loopback, as separate processes."""
    bin_ = Path(sys.executable).parent
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([str(bin_ / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    address = f"tcp://127.0.0.1:{port}"
    procs.append(subprocess.Popen([str(bin_ / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "2",
                                   "--no-dashboard", "--local-directory", str(tmp_path)], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    deadline = time.time() + 90
    try:
        while True:
            try:
                with Client(address, timeout="5s") as c:
                    if len(c.scheduler_info()["workers"]) >= 2:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("the Dask scheduler/workers did not come up in 90 s")
            time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_sweep_through_a_real_scheduler_equals_in_process(ky10, dask_cluster):
    pipes = ["P-75", "P-100", "P-200", "P-300", "P-400", "P-500", "P-600", "P-700"]
    local = criticality(ky10, pipes=pipes, duration_h=2, start_h=0.5, hours=1)
    remote = criticality(ky10, pipes=pipes, duration_h=2, start_h=0.5, hours=1, scheduler=dask_cluster)
    assert remote.settings["workers"] == 2
    assert list(remote.failures["id"]) == ["P-75"]  # recorded on a worker, sweep went on
    a, b = local.table.set_index("id"), remote.table.set_index("id")
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(a[["junctions_below_min_pressure", "demand_not_delivered_m3",
                                  "population_without_service"]].to_numpy(dtype=float),
                               b[["junctions_below_min_pressure", "demand_not_delivered_m3",
                                  "population_without_service"]].to_numpy(dtype=float), rtol=1e-9, atol=1e-9)


def test_local_cluster_of_worker_processes(ky10):
    pipes = ["P-100", "P-200", "P-300"]
    res = criticality(ky10, pipes=pipes, workers=2)
    ref = criticality(ky10, pipes=pipes)
    assert res.settings["workers"] == 2
    assert res.to_json()["pipes"] == ref.to_json()["pipes"]


def test_small_sweeps_skip_the_cluster(ky10):
    pipes = ["P-100", "P-200", "P-300", "P-400"]
    quick = criticality(ky10, pipes=pipes, workers=2, cluster_threshold_s=60.0)
    assert quick.settings["workers"] == 1  # a first batch showed a cluster would not pay off
    assert quick.to_json()["pipes"] == criticality(ky10, pipes=pipes).to_json()["pipes"]


def test_ctrl_c_during_a_cluster_sweep_shuts_the_cluster(ky10, monkeypatch):
    import distributed
    import psutil

    real = distributed.as_completed

    def interrupted(futures, *a, **kw):
        for i, f in enumerate(real(futures, *a, **kw)):
            if i == 1:
                raise KeyboardInterrupt
            yield f

    monkeypatch.setattr(distributed, "as_completed", interrupted)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(KeyboardInterrupt):
        criticality(ky10, pipes=[f"P-{i}" for i in range(100, 160)], workers=2)
    deadline = time.time() + 30
    while time.time() < deadline:
        # multiprocessing's resource tracker lives as long as this process; workers must not
        left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline())]
        if not left:
            break
        time.sleep(0.5)
    assert not left, f"worker processes left running: {left}"
