"""Emergency response tail on San Francisco records: calibrate on one week, validate on the other.

    .venv/bin/python bench/bench_response_tail.py [--replications 5] [--seeds 1,2,3]

Reads ``../shared/data/sf-fire-2020`` in place (two weeks, 2020-04-07..13 and
2020-04-14..20) and, each way round (calibrate on week 1 and test on week 2,
calibrate on week 2 and test on week 1), compares the first-arriving engine's
dispatch -> on-scene time, median and 90th percentile, observed against
simulated by ``simulation.emergency.history.validate``:

* "before": none of the tail mechanisms (the model as validated before them);
* each mechanism alone (``en_route``, ``hourly_speed``, ``travel_spread``,
  ``hourly_turnout``);
* all of them (the default of ``lifeline-twin emergency history``), with the
  spread over the base seeds given by ``--seeds``.

Prints one Markdown table per direction.  Accuracy, not speed, is the goal
here; the wall time of each validation is printed for reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulation.emergency.config import load_scenario  # noqa: E402
from simulation.emergency.history import MECHANISMS, parse_dates, read_calls, read_stations, validate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "sf-fire-2020"
WEEKS = {"week 1": "2020-04-07:2020-04-13", "week 2": "2020-04-14:2020-04-20"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=5, help="replays per validation (default 5)")
    ap.add_argument("--seeds", default="1,2,3", help="base seeds for the full model (default 1,2,3)")
    args = ap.parse_args(argv)
    calls_path, stations_path = DATA / "calls_2020-04-07_2020-04-20.csv", DATA / "stations.csv"
    for p in (calls_path, stations_path):
        if not p.exists():
            print(f"real data {p} is absent", file=sys.stderr)
            return 2
    calls, stations = read_calls(calls_path), read_stations(stations_path)
    scenario = load_scenario()
    seeds = [int(s) for s in args.seeds.split(",")]
    cases = [("before (no tail mechanism)", ())] + [(f"{m} only", (m,)) for m in MECHANISMS] \
        + [("all four (default)", MECHANISMS)]
    for cal_week, test_week in (("week 1", "week 2"), ("week 2", "week 1")):
        print(f"\n### Calibrated on {cal_week} ({WEEKS[cal_week]}), tested on {test_week}\n")
        print("| model | seed | observed median s | simulated median s | error | observed p90 s "
              "| simulated p90 s | error | sent on the road (cal. / sim. first) | wall s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for label, mech in cases:
            for seed in (seeds if mech == MECHANISMS else seeds[:1]):
                t = time.perf_counter()
                v = validate(calls, stations, scenario, parse_dates(WEEKS[cal_week]),
                             replications=args.replications, seed=seed, mechanisms=mech)
                wall = time.perf_counter() - t
                e = v.errors()
                road = (f"{v.en_route_share:.1%} / {v.simulated_en_route_share:.1%}"
                        if "en_route" in mech else "-")
                print(f"| {label} | {seed} | {v.observed['median_s']:.1f} | {v.simulated['median_s']:.1f} | "
                      f"{e['median_s']['error_pct']:+.1f} % | {v.observed['p90_s']:.1f} | "
                      f"{v.simulated['p90_s']:.1f} | {e['p90_s']['error_pct']:+.1f} % | {road} | {wall:.1f} |")
        v = validate(calls, stations, scenario, parse_dates(WEEKS[cal_week]), replications=1)
        hf, m = v.hour_factor, v.turnout.medians()
        print(f"\nFitted on {cal_week}: travel t = {v.fit.params.a:.1f} + {v.fit.params.b:.1f}·(d/km)^"
              f"{v.fit.params.c:.3f} s on {v.fit.n} responses from quarters; travel-time factor by hour "
              f"{hf.min():.2f} ({int(hf.argmin()):02d}h) to {hf.max():.2f} ({int(hf.argmax()):02d}h); "
              f"median turnout in quarters {min(m['in_quarters_by_hour']):.0f}-{max(m['in_quarters_by_hour']):.0f} s "
              f"by hour, on the road {m['on_road']:.0f} s; observed / expected travel p90 "
              f"{np.percentile(v.travel_spread, 90):.2f} (lognormal of the same log sigma: "
              f"{np.exp(1.2816 * v.fit.params.sigma):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
