"""The coupled main-burst day against the bare cost of its parts, measured side by side in one run.

    .venv/bin/python bench/bench_session.py [--repeat 3]

Coupled: ``build_session(scenarios/main-burst.yaml).run()`` on the demo city
(built once, not timed).  Bare parts: EPANET stepped through the same
hydraulic steps (60 s) with the same changes (the break's orifice opening at
its time, the valves closed and reopened at the times the coupled run logged),
reading pressures at every step, plus a SimPy environment running the same
incident's timeouts.  Prints best-of times and the ratio.
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


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scenario, folder = load_scenario(ROOT / "scenarios" / "main-burst.yaml")
    from twin.demo import build_demo

    twin = build_demo(seed=scenario.twin.demo_seed)
    system = from_twin(twin)
    t_coupled, session = best(lambda: build_session(scenario, folder, twin=twin).run(), args.repeat)
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

    t_bare, _ = best(bare, args.repeat)
    print(f"coupled main-burst day (2 EPANET runs: the city and its baseline; virtual sensors, alarms, response): "
          f"{t_coupled:.2f} s, {len(session.log.events)} events")
    print(f"bare parts (one EPANET run, same steps and changes; SimPy with the same incidents): {t_bare:.2f} s")
    print(f"ratio coupled / bare: {t_coupled / t_bare:.2f}")


if __name__ == "__main__":
    main()
