"""Replications of the main-burst scenario on a local Dask cluster against one replication in this process.

    .venv/bin/python bench/bench_ensemble.py [--replications 20] [--workers 2]

Prints the time of one replication here (the twin already built), cold (its
baseline EPANET run stepped too, as a worker's first replication does) and
warm (the baseline shared from an earlier run, as a worker's later
replications find it: :func:`simulation.session.water.baseline`), the
ensemble's wall time, its time per replication, and the ratio of the
ensemble's time to (one replication x replications / workers), against the
cold and the warm replication — the goal is at most 2.  The ensemble's time
includes each worker building the demo city once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulation.session import ensemble  # noqa: E402
from simulation.session.scenario import load_scenario  # noqa: E402
from simulation.session.water import clear_baselines  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    scenario, folder = load_scenario(ROOT / "scenarios" / "main-burst.yaml")
    study = ensemble.ReplicationStudy(scenario, folder)
    state = study.prepare()
    clear_baselines()
    t0 = time.perf_counter()
    study.evaluate(state, 1)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    study.evaluate(state, 2)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    table, meta = ensemble.ensemble(scenario, folder, args.replications, workers=args.workers)
    wall = time.perf_counter() - t0
    print(f"one replication here: cold {cold:.2f} s, warm {warm:.2f} s")
    print(f"{args.replications} replications on {args.workers} workers: {wall:.1f} s "
          f"({wall / args.replications:.2f} s per replication, {meta['failed']} failed)")
    failed = table[table["error"] != ""]
    for reason, n in failed["error"].str[:200].value_counts().head(5).items():
        print(f"  {n} failed: {reason}")
    print(f"ratio to one replication x {args.replications} / {args.workers}: "
          f"{wall / (cold * args.replications / args.workers):.2f} (cold), "
          f"{wall / (warm * args.replications / args.workers):.2f} (warm)")


if __name__ == "__main__":
    main()
