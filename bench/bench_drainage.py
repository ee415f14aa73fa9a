"""SWMM on the session against SWMM straight through, and a design storm on the demo town, in one run.

    .venv/bin/python bench/bench_drainage.py [--repeat 3] [--models user4.inp,user1.inp]

1. **Stepping cost** (goal <= 1.2x): for each public model (read in place
   from ``../shared/data/swmm``), pyswmm straight through
   (``for step in Simulation(...)``) against the same model stepped by
   :class:`simulation.drainage.engine.Drainage` on a
   :class:`~simulation.session.Session` in 60 s frames (events, report
   values, SWMM's output read at the end).  Timed side by side in every round
   (a busy spell of a shared machine hits both); the best wall and CPU time
   of each, and their ratio.
2. **The demo town** : a 2-hour, 5-year Chicago storm (Beijing's formula,
   peak at 0.4, 1-minute steps) on the demo town's model
   (:mod:`simulation.drainage.build`, built once and not timed): pyswmm
   straight through against a 2-hour session in 60 s frames with the roads
   coupled (ratio, goal <= 1.2x), and the session's simulated seconds per
   wall second (goal >= 100x real time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulation.drainage.build import town_drainage  # noqa: E402
from simulation.drainage.engine import Drainage  # noqa: E402
from simulation.drainage.storm import BEIJING_I, chicago_storm  # noqa: E402
from simulation.session.session import Session  # noqa: E402
from twin.importers.swmm import SWMM_ENGINE, SwmmModel  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "swmm"
START = 1_782_892_800.0


def timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def straight(path: Path) -> None:
    from pyswmm import Simulation

    SWMM_ENGINE.vacate()
    with tempfile.TemporaryDirectory() as tmp:
        with Simulation(str(path), f"{tmp}/m.rpt", f"{tmp}/m.out") as sim:
            for _ in sim:
                pass


def stepped(model: SwmmModel) -> None:
    engine = Drainage(model)
    session = Session(None, START, START + 1e9, step_s=60.0)
    session.attach(engine)
    session.end = START + engine.duration
    session.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="Example1.inp,user1.inp,user4.inp",
                        help="comma-separated models of ../shared/data/swmm")
    args = parser.parse_args()
    print("1. SWMM stepped on a session (60 s frames) vs pyswmm straight through")
    for name in args.models.split(","):
        path = SHARED / name
        if not path.exists():
            print(f"  {name}: absent ({path})")
            continue
        model = SwmmModel(path.stem, path.read_text())
        best = {"straight": (1e9, 1e9), "session": (1e9, 1e9)}
        for _ in range(args.repeat):
            for what, fn in (("straight", lambda: straight(path)), ("session", lambda: stepped(model))):
                w, c = timed(fn)
                best[what] = (min(best[what][0], w), min(best[what][1], c))
        (sw, sc), (ew, ec) = best["straight"], best["session"]
        print(f"  {name:<22} straight {sw:7.3f} s wall {sc:7.3f} s CPU | session {ew:7.3f} s wall "
              f"{ec:7.3f} s CPU | ratio {ew / sw:5.2f}x wall {ec / sc:5.2f}x CPU (goal <= 1.2x)")

    from twin.demo import build_demo

    print("2. A 2-hour 5-year Chicago storm on the demo town (60 s frames, roads coupled)")
    twin = build_demo(seed=7)
    town = town_drainage(twin)
    storm = chicago_storm(BEIJING_I, 5, 120, 0.4, 1)
    model = town.inp(storm, START, START + 7200.0)
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "town.inp"
        inp.write_text(model.text)
        best = {"straight": (1e9, 1e9), "session": (1e9, 1e9)}
        for _ in range(args.repeat):
            w, c = timed(lambda: straight(inp))
            best["straight"] = (min(best["straight"][0], w), min(best["straight"][1], c))
            engine = Drainage(model, rain=storm, roads=twin["roads"], node_xy=town.node_xy())
            session = Session(twin, START, START + 7200.0, step_s=60.0)
            w, c = timed(lambda: (session.attach(engine), session.run()))
            best["session"] = (min(best["session"][0], w), min(best["session"][1], c))
    (sw, sc), (ew, ec) = best["straight"], best["session"]
    print(f"  {len(town.junctions)} junctions, {len(town.conduits)} conduits, {len(town.subcatchments)} "
          f"subcatchments; storm {storm.depth_mm:.1f} mm, peak {storm.peak_mm_h:.0f} mm/h")
    print(f"  straight {sw:.2f} s wall {sc:.2f} s CPU | session {ew:.2f} s wall {ec:.2f} s CPU | ratio "
          f"{ew / sw:.2f}x wall {ec / sc:.2f}x CPU (goal <= 1.2x)")
    print(f"  7200 s simulated in {ew:.2f} s wall ({ec:.2f} s CPU): {7200 / ew:.0f}x real time "
          f"wall, {7200 / ec:.0f}x CPU (goal >= 100x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
