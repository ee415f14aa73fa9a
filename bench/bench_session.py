"""The coupled main-burst day against the bare cost of its parts, measured side by side in one run.

    .venv/bin/python bench/bench_session.py [--repeat 3]

Coupled: ``build_session(scenarios/main-burst.yaml).run()`` on the demo city
(built once, not timed), timed two ways:

* **cold**: the shared baselines are cleared before every repeat, so each
  timed run also steps its baseline EPANET (the network without the session's
  events) through the whole day, as the first run of a scenario in a process
  does;
* **warm**: the baseline of an earlier run is reused, as every replication
  after a worker's first and every re-run after a seek back reuse it
  (:func:`simulation.session.water.baseline`).

Bare parts: EPANET stepped through the same hydraulic steps (60 s) with the
same changes (the break's orifice opening at its time, the valves closed and
reopened at the times the coupled run logged), reading pressures at every
step, plus a SimPy environment running the same incident's timeouts.  Cold,
warm and bare are timed side by side in every round (a busy spell of a shared
machine hits all three); prints the best of each, wall and CPU time (the
process's: what the run cost, without the spells other jobs held the core),
and the ratios.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402

from simulation.hydraulics.results import DemandModel  # noqa: E402
from simulation.hydraulics.solver import DURATION, HYDSTEP, PRESSURE, REPORTSTEP, Solver  # noqa: E402
from simulation.hydraulics.system import from_twin  # noqa: E402
from simulation.session.scenario import build_session, load_scenario  # noqa: E402
from simulation.session.water import clear_baselines  # noqa: E402


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()``: CPU time leaves out the spells other jobs held the core."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scenario, folder = load_scenario(ROOT / "scenarios" / "main-burst.yaml")
    from twin.demo import build_demo

    twin = build_demo(seed=scenario.twin.demo_seed)
    system = from_twin(twin)
    session = build_session(scenario, folder, twin=twin).run()  # untimed: the changes the bare run replays
    start = session.start
    changes = [(e.time - start, e.get("link"), 0 if e.kind == "valve_closed" else 1)
               for e in session.log.of("valve_closed", "valve_opened")]
    brk = scenario.breaks[0]
    incident = session.log.of("incident_opened")

    def bare():
        s = Solver(system.epanet, name="bare")
        DemandModel(pdd=True).apply(s)
        s.set_time(DURATION, int(scenario.duration_h * 3600))
        s.set_time(HYDSTEP, int(scenario.step_s))
        s.set_time(REPORTSTEP, int(scenario.step_s))
        hole = s.add_break(brk.pipe, "B", f"{brk.pipe}-B", "O", "H", brk.hole_mm / 1000.0, 1 / 0.75 ** 2)
        s.add_timer(hole, 1, scenario.break_time(brk) - start)
        for at, link, status in changes:
            s.add_timer(s.link(link), status, at)
        s.add_timer(hole, 0, changes[0][0] if changes else 0)
        s.open_hydraulics()
        lib, ph = s.lib, s.handle
        lib.EN_initH(ph, 10)
        t, step = ctypes.c_long(), ctypes.c_long()
        while True:
            lib.EN_runH(ph, ctypes.byref(t))
            lib.EN_getnodevalues(ph, PRESSURE, s.node_pointer)
            lib.EN_nextH(ph, ctypes.byref(step))
            if step.value <= 0:
                break
        s.close()
        env = simpy.Environment()

        def life():
            yield env.timeout(3000)

        for _ in incident:
            env.process(life())
        env.run()

    cold, warm, plain = [], [], []
    for _ in range(args.repeat):
        clear_baselines()  # untimed
        cold.append(timed(lambda: build_session(scenario, folder, twin=twin).run()))
        warm.append(timed(lambda: build_session(scenario, folder, twin=twin).run()))
        plain.append(timed(bare))
    (w_cold, c_cold), (w_warm, c_warm), (w_bare, c_bare) = (tuple(map(min, zip(*x))) for x in (cold, warm, plain))
    print(f"best of {args.repeat} each, wall (CPU) seconds:")
    print(f"coupled main-burst day, cold (2 EPANET runs: the city and its baseline; virtual sensors, alarms, "
          f"response): {w_cold:.2f} s ({c_cold:.2f} s), {len(session.log.events)} events")
    print(f"coupled main-burst day, warm (the city's EPANET; the baseline of an earlier run reused): "
          f"{w_warm:.2f} s ({c_warm:.2f} s)")
    print(f"bare parts (one EPANET run, same steps and changes; SimPy with the same incidents): "
          f"{w_bare:.2f} s ({c_bare:.2f} s)")
    print(f"ratio coupled / bare, wall: cold {w_cold / w_bare:.2f}, warm {w_warm / w_bare:.2f}; "
          f"CPU: cold {c_cold / c_bare:.2f}, warm {c_warm / c_bare:.2f}")

if __name__ == "__main__":
    main()
