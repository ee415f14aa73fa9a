"""Hydraulics bench: WNTR's documented loop vs the bare toolkit floor vs our criticality sweep, side by side.

For each network, on the same random sample of pipes, in one run:

(a) WNTR's documented loop: close the pipe on the WaterNetworkModel, run
    ``EpanetSimulator`` (writes .inp/.rpt/.bin, reads them back), reopen;
(b) the floor: a bare EPANET 2.3 loop on one project opened once — close,
    ``EN_solveH``, reopen — reading nothing (the issue's definition); and
    (b') a stricter floor: the same with ``initH/runH/nextH`` in Python;
(c) our criticality sweep (close, solve step by step, read junction pressures and
    demand deficits in bulk, score, restore) with 1 and 2 Dask worker processes
    (and in this process, no Dask).

All three use the same demand model: pressure-driven (criticality's default)
and demand-driven, each a row.  Per-scenario times exclude
one-off setup (opening the network, starting the cluster, the baseline solve),
which is printed separately.  Then fire-flow pass/fail checks per second on ky10.
The machine is shared, so every row also measures what two plain processes get
from it at that moment (a CPU loop alone vs as one of two): read the parallel
efficiency against that.

    .venv/bin/python bench/bench_hydraulics.py                # Net3, L-Town 24 h, NJ1; fire flow on ky10
    .venv/bin/python bench/bench_hydraulics.py --quick        # smaller samples
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

SHARED = Path(os.environ.get("LIFELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def networks():
    import wntr

    lib = Path(wntr.__path__[0]) / "library" / "networks"
    return [("Net3", lib / "Net3.inp", None), ("L-Town", SHARED / "ltown" / "L-TOWN.inp", 24.0),
            ("NJ1", SHARED / "networks" / "NJ1.inp", 24.0)]


def wntr_loop(system, pipes, duration_h, model) -> float:
    import wntr

    wn = system.network
    wn.options.hydraulic.demand_model = "PDD" if model.pdd else "DDA"
    wn.options.hydraulic.minimum_pressure = model.min_pressure
    wn.options.hydraulic.required_pressure = model.required_pressure
    if duration_h is not None:
        wn.options.time.duration = int(duration_h * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, p in enumerate(pipes):
            link = wn.get_link(p)
            status = link.initial_status
            link.initial_status = wntr.network.LinkStatus.Closed
            res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=os.path.join(tmp, f"s{i}"))
            res.node["pressure"].min()
            link.initial_status = status
        return (time.perf_counter() - t0) / len(pipes)


def floor_loops(text, pipes, duration_h, model) -> tuple[float, float]:
    from simulation.hydraulics.solver import DURATION, INITSTATUS, Solver

    with Solver(text) as s:
        model.apply(s)
        if duration_h is not None:
            s.set_time(DURATION, int(duration_h * 3600))
            s.keep_changes()
        idx = [s.link(p) for p in pipes]
        lib, ph = s.lib, s.handle
        t0 = time.perf_counter()
        for i in idx:
            s.set_link(i, INITSTATUS, 0)
            lib.EN_solveH(ph)
            s.restore()
        solve_h = (time.perf_counter() - t0) / len(idx)
        s.open_hydraulics()
        t, step = ctypes.c_long(), ctypes.c_long()
        t0 = time.perf_counter()
        for i in idx:
            s.set_link(i, INITSTATUS, 0)
            lib.EN_initH(ph, 10)
            while True:
                lib.EN_runH(ph, ctypes.byref(t))
                lib.EN_nextH(ph, ctypes.byref(step))
                if step.value <= 0:
                    break
            s.restore()
        stepwise = (time.perf_counter() - t0) / len(idx)
    return solve_h, stepwise


def ours(system, pipes, duration_h, workers, model) -> tuple[float, float, int]:
    from simulation.hydraulics.criticality import criticality

    t0 = time.perf_counter()
    res = criticality(system, pipes=pipes, duration_h=duration_h, workers=workers, demand_model=model)
    wall = time.perf_counter() - t0
    setup = res.settings["setup_seconds"]
    return (res.seconds - setup) / len(pipes), wall, len(res.failures)


def machine_efficiency() -> float:
    """2-process efficiency of the machine right now: a CPU loop alone vs as one of two processes."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_spin, [10, 10])  # start both before timing
        one = pool.apply(_spin, (8_000_000,))
        two = max(pool.map(_spin, [8_000_000, 8_000_000]))
    return one / two


def bench_network(name, path, duration_h, n, out, model):
    import numpy as np

    from simulation.hydraulics.system import load_system

    system = load_system(path)
    rng = np.random.default_rng(0)
    names = system.network.pipe_name_list
    pipes = sorted(rng.choice(names, size=min(n, len(names)), replace=False).tolist())
    text = system.epanet
    a = wntr_loop(load_system(path), pipes, duration_h, model)
    b, b2 = floor_loops(text, pipes, duration_h, model)
    c0, _, f0 = ours(system, pipes, duration_h, 0, model)
    c1, w1, f1 = ours(system, pipes, duration_h, 1, model)
    machine = machine_efficiency()
    c2, w2, f2 = ours(system, pipes, duration_h, 2, model)
    eff = c1 / (2 * c2)
    label = f"{name} {'PDD' if model.pdd else 'DDA'}{f' {duration_h:g} h' if duration_h else ''}"
    row = (f"| {label} | {len(pipes)} | {a * 1e3:.1f} | {b * 1e3:.1f} | {b2 * 1e3:.1f} | {c0 * 1e3:.1f} | "
           f"{c1 * 1e3:.1f} | {c2 * 1e3:.1f} | {c0 / b:.2f} | {c1 / b:.2f} | {a / c1:.1f} | {a / c2:.1f} | "
           f"{100 * eff:.0f} % | {100 * machine:.0f} % | {f0 + f1 + f2} |")
    out.append(row)
    print(row, flush=True)


def bench_fire(n, out):
    import wntr

    from simulation.hydraulics.fire_flow import fire_flow
    from simulation.hydraulics.system import load_system

    system = load_system(Path(wntr.__path__[0]) / "library" / "networks" / "ky10.inp")
    for hours in (0.0, 2.0):
        for workers in (0, 2):
            res = fire_flow(system, sample=n, duration_h=hours, available=False, workers=workers)
            setup = res.settings["setup_seconds"]
            per_s = len(res.table) / (res.seconds - setup)
            row = (f"| ky10 | {len(res.table)} | {hours:g} h | {workers or 'in-process'} | {res.seconds:.2f} | "
                   f"{setup:.2f} | {per_s:.0f} | {100 * res.pass_rate:.0f} % |")
            out.append(row)
            print(row, flush=True)


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def bench_machine(out) -> None:
    """Control: a CPU-bound loop (no EPANET, no Dask) in 1 and then 2 plain processes."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        one = pool.map(_spin, [20_000_000])[0]
    with ctx.Pool(2) as pool:
        two = max(pool.map(_spin, [20_000_000, 20_000_000]))
    row = (f"machine control: a pure-Python loop takes {one:.2f} s alone and {two:.2f} s as one of two "
           f"processes: 2-process efficiency of the machine itself {100 * one / two:.0f} % "
           f"(load average {os.getloadavg()[0]:.1f})")
    out.append(row)
    print(row, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller samples")
    ap.add_argument("--only", help="comma-separated network names (Net3, L-Town, NJ1)")
    ap.add_argument("--models", choices=["pdd", "dda", "both"], default="both",
                    help="demand model of the closures (criticality's default is pdd)")
    ap.add_argument("--no-fire", action="store_true", help="skip the fire-flow part")
    args = ap.parse_args()
    # enough work per sweep (seconds, not tenths) that Dask's per-task overhead does not decide efficiency
    sizes = {"Net3": 117, "L-Town": 100, "NJ1": 24} if not args.quick else {"Net3": 20, "L-Town": 12, "NJ1": 4}
    out = ["| network | pipes | (a) WNTR ms | (b) floor solveH ms | (b') floor runH ms | (c) ours in-process ms | "
           "(c) 1 worker ms | (c) 2 workers ms | ours/floor (in-process) | ours/floor (1 worker) | "
           "WNTR/ours (1 w) | WNTR/ours (2 w) | parallel efficiency | machine 2-process efficiency | failed |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(out), flush=True)
    only = set(args.only.split(",")) if args.only else None
    from simulation.hydraulics.criticality import DEFAULT_DEMAND_MODEL
    from simulation.hydraulics.demand import DemandModel

    models = {"pdd": [DEFAULT_DEMAND_MODEL], "dda": [DemandModel()],
              "both": [DEFAULT_DEMAND_MODEL, DemandModel()]}[args.models]
    for name, path, hours in networks():
        if only and name not in only:
            continue
        if not Path(path).exists():
            print(f"| {name} | skipped: {path} absent |")
            continue
        for model in models:
            bench_network(name, path, hours, sizes[name], out, model)
    out += ["", "| network | hydrants | fire window | workers | sweep s | of which setup s | checks/s (after setup) | pass |",
            "|---|---|---|---|---|---|---|---|"]
    print("\n".join(out[-3:]), flush=True)
    if not args.no_fire:
        bench_fire(300 if args.quick else 935, out)
    bench_machine(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
