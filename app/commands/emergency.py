"""``lifeline-twin emergency run|coverage|site-stations|history``: emergency response on a project.

    lifeline-twin emergency run city.gpkg --days 365 --replications 5 --out results/
    lifeline-twin emergency coverage city.gpkg --minutes 5
    lifeline-twin emergency site-stations city.gpkg --add 2 --minutes 5
    lifeline-twin emergency history calls.csv --stations stations.csv --calibrate-on 2020-04-07:2020-04-13 --json

Parsing and printing only: the runs, reports and plots are made in
:mod:`simulation.emergency` (the report of a run in :mod:`simulation.emergency.report`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("emergency", help="emergency response: simulate incidents and units, coverage, "
                                         "station siting, validation on dispatch records")
    kinds = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = kinds.add_parser("run", help="simulate incidents, dispatch and the closed loop for D days")
    run.add_argument("project", help="project GeoPackage (roads, fire_stations, buildings)")
    run.add_argument("--days", type=float, default=365.0, help="simulated days (default 365)")
    run.add_argument("--replications", type=int, default=5, help="seeded replications for 95%% CIs (default 5)")
    run.add_argument("--seed", type=int, help="base seed (default: the scenario's)")
    run.add_argument("--incidents", help="replay a history CSV (columns time, type, x, y[, priority]) "
                                         "instead of Poisson incidents")
    run.add_argument("--alarms", help="sensor alarms as incidents: a JSON list of alarms (or an object with "
                                      "'alarms', as the sensors drill writes); red/orange raised alarms open incidents")
    run.add_argument("--out", help="folder for kpis.json, incidents.csv, crews.csv and PNG plots")
    _common(run)

    cov = kinds.add_parser("coverage", help="share of buildings and population within T minutes of a station")
    cov.add_argument("project")
    cov.add_argument("--minutes", type=float, required=True, help="drive-time limit, minutes")
    cov.add_argument("--kind", action="append", help="station kind(s) to count (default: station and micro_station)")
    cov.add_argument("--out", help="folder for coverage.png")
    _common(cov)

    site = kinds.add_parser("site-stations", help="where K new stations cover the most population (MCLP)")
    site.add_argument("project")
    site.add_argument("--add", type=int, required=True, help="number of new stations")
    site.add_argument("--minutes", type=float, default=5.0, help="coverage drive time, minutes (default 5)")
    site.add_argument("--kind", default="station", help="kind of the new stations (default station)")
    site.add_argument("--candidates", type=int, default=400, help="candidate road nodes (default 400)")
    site.add_argument("--out", help="folder for siting.png")
    _common(site)

    hist = kinds.add_parser("history", help="calibrate on dispatch records (SF format) and validate")
    hist.add_argument("calls", help="calls-for-service CSV (one row per unit response)")
    hist.add_argument("--stations", required=True, help="stations CSV: station, longitude, latitude")
    hist.add_argument("--calibrate-on", help="FROM:TO dates (both included) to fit on; default: the first week")
    hist.add_argument("--replications", type=int, default=5, help="replays of the records (default 5)")
    hist.add_argument("--project", help="drive over this project's roads instead of the fitted "
                                        "straight-line curve (the project must cover the records' city)")
    hist.add_argument("--without", action="append", default=[], metavar="MECHANISM",
                      # simulation.emergency.history.MECHANISMS, not imported here: pandas is slow to load
                      choices=["en_route", "hourly_speed", "travel_spread", "hourly_turnout"],
                      help="leave a response-tail mechanism out, for comparison (repeatable): en_route, "
                           "hourly_speed, travel_spread, hourly_turnout")
    hist.add_argument("--out", help="folder for validation.png")
    _common(hist)
    p.set_defaults(func=run_command)


def _common(p) -> None:
    p.add_argument("--scenario", help="scenario YAML (default scenarios/emergency-default.yaml)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    return {"run": _run, "coverage": _coverage, "site-stations": _site, "history": _history}[args.action](args)


def _model(args):
    from simulation.emergency.config import load_scenario
    from simulation.emergency.model import EmergencyModel
    from twin.project import load

    scenario = load_scenario(args.scenario)
    return EmergencyModel.from_twin(load(args.project), scenario)


def _warn(notes) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _fmt(v, unit="s") -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        v = v.get("mean")
        if v is None:
            return "-"
    return f"{v:.0f}{unit}" if unit == "s" else f"{v:.1%}"


# ---------------------------------------------------------------------- run
def _run(args) -> int:
    from simulation.emergency.incidents import read_alarm_log, read_history
    from simulation.emergency.report import simulate_to

    model = _model(args)
    incidents = None
    if args.incidents:
        incidents = read_history(args.incidents, model.scenario)
        last_day = float(incidents.time.max(initial=0.0)) / 86400.0
        if last_day >= args.days:  # they would be served, but outside the window utilisation is measured on
            raise ValueError(f"{Path(args.incidents)}: incidents run to day {last_day:.2f}, beyond --days "
                             f"{args.days:g}: give --days {int(np.floor(last_day)) + 1} or more")
    days = args.days
    if args.alarms:
        if incidents is not None:
            raise ValueError("give --incidents or --alarms, not both")
        incidents = read_alarm_log(args.alarms, model.twin, model.scenario)
        days = incidents.whole_days()
    report = simulate_to(model, days, args.replications, Path(args.out) if args.out else None,
                         args.seed, incidents)
    if args.json:
        print(json.dumps(report))
        return 0
    _warn(report["notes"])
    k = report["kpis"]
    print(f"{report['project']}: {report['days']:g} day(s) × {report['replications']} replication(s); "
          f"{report['fleet']}")
    if report["road_graph"]:
        print(f"road graph: {report['road_graph']}")
    o = k["overall"]
    print(f"incidents {o['incidents']['mean']:.0f}/replication, false alarms {o['false_alarms']['mean']:.0f}, "
          f"served {o['served']['mean']:.0f}, unserved {o['unserved']['mean']:.0f}, "
          f"queued {o['queued']['mean']:.0f}")
    print(f"{'type':<20}{'prio':>5}{'n':>7}{'mean':>8}{'median':>8}{'p90':>8}   call  queue turnout travel")
    for name, t in k["by_type"].items():
        rows = [("all", t)] + list(t["by_priority"].items())
        for prio, g in rows:
            r = g["response_s"]
            print(f"{name if prio == 'all' else '':<20}{prio:>5}{_fmt(g['served']).rstrip('s'):>7}"
                  f"{_fmt(r['mean']):>8}{_fmt(r['median']):>8}{_fmt(r['p90']):>8}   "
                  f"{_fmt(g['call_processing_s']):>5}{_fmt(g['queue_s']):>6}{_fmt(g['turnout_s']):>7}"
                  f"{_fmt(g['travel_s']):>7}")
    print("standards (share meeting the limit, 95% CI over replications):")
    for st in k["standards"]:
        share = st["share"]
        if share is None:
            print(f"  {st['name']}: no responses")
            continue
        lo, hi = share["ci95"]
        target = st["target"]["mean"]
        met = "met" if share["mean"] >= target else "NOT met"
        print(f"  {st['name']}: {share['mean']:.1%} [{lo:.1%}, {hi:.1%}] of {st['n']['mean']:.0f} "
              f"(target {target:.0%}: {met})")
    u = k["utilisation"]
    print(f"utilisation: mean {u['mean']['mean']:.1%}, busiest unit {u['max']['mean']:.1%}; "
          + ", ".join(f"{t} {v['mean']['mean']:.1%}" for t, v in u["by_unit_type"].items()))
    q = k["queued_calls"]
    print(f"queued calls: {q['incidents']['mean']:.1f} incidents, {q['crews']['mean']:.1f} crews waited "
          f"(mean wait {q['mean_wait_s']['mean']:.0f} s); mutual aid {k['mutual_aid_share']['mean']:.1%} of crews")
    for f in report.get("files", []):
        print(f"wrote {f}")
    return 0


# ---------------------------------------------------------------------- coverage
def _coverage(args) -> int:
    from simulation.emergency import plots

    model = _model(args)
    cov = model.coverage(args.minutes, tuple(args.kind) if args.kind else None)
    result = cov.as_dict()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result["files"] = [str(plots.coverage_map(model, cov, out / "coverage.png"))]
    if args.json:
        print(json.dumps(result))
        return 0
    _warn(model.notes)
    print(f"within {cov.minutes:g} min of a {' or '.join(cov.kinds)}: {cov.buildings_covered} of {cov.buildings} "
          f"buildings ({cov.building_share:.1%}), {cov.population_covered:.0f} of {cov.population:.0f} people "
          f"({cov.population_share:.1%})")
    for kind, v in cov.by_kind.items():
        print(f"  {kind:<15} buildings {v['building_share']:.1%}  population {v['population_share']:.1%}")
    for f in result.get("files", []):
        print(f"wrote {f}")
    return 0


# ---------------------------------------------------------------------- siting
def _site(args) -> int:
    from simulation.emergency import plots

    model = _model(args)
    siting = model.site_stations(args.add, args.minutes, args.kind, args.candidates)
    result = siting.as_dict()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        cov = model.coverage(args.minutes)
        result["files"] = [str(plots.coverage_map(
            model, cov, out / "siting.png", siting.added,
            f"{args.add} new {args.kind}(s): population within {args.minutes:g} min "
            f"{siting.before:.0%} -> {siting.after:.0%}"))]
    if args.json:
        print(json.dumps(result))
        return 0
    _warn(model.notes)
    print(f"{args.kind}s: population within {args.minutes:g} min {siting.before:.1%} with the "
          f"{siting.existing} existing, {siting.after:.1%} with {args.add} more "
          f"(best of {siting.candidates} candidate road nodes, MCLP)")
    for r in siting.added.itertuples():
        print(f"  new {args.kind} at x={r.x:.1f} y={r.y:.1f} (road node {r.node}): +{r.population_gained:.0f} people")
    for f in result.get("files", []):
        print(f"wrote {f}")
    return 0


# ---------------------------------------------------------------------- history
def _history(args) -> int:
    from simulation.emergency import plots
    from simulation.emergency.config import load_scenario
    from simulation.emergency.history import MECHANISMS, parse_dates, read_calls, read_stations, validate

    scenario = load_scenario(args.scenario)
    calls = read_calls(args.calls)
    if calls.skipped:
        _warn([calls.skipped_summary()])
    stations = read_stations(args.stations)
    graph = crs = None
    if args.project:
        from simulation.emergency.roads import RoadGraph
        from twin.project import load

        twin = load(args.project)
        r = scenario.roads
        graph = RoadGraph.from_roads(twin["roads"], r.speed_factor, r.single_lane_factor, r.node_tolerance_m)
        crs = twin.crs
    v = validate(calls, stations, scenario, parse_dates(args.calibrate_on), replications=args.replications,
                 road_graph=graph, crs=crs, mechanisms=[m for m in MECHANISMS if m not in args.without])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plots.history_ecdf(v, out / "validation.png")
    if args.json:
        _warn(v.notes)
        print(json.dumps(v.summary()))
        return 0
    _warn(v.notes)
    if calls.left_out:  # impossible times: left out of everything below, counted here (JSON: "left_out")
        print(calls.left_out_text())
    print(f"calibrated on {v.calibration_incidents} incidents {v.calibration_text()}")
    if v.fit is None:
        print(f"travel over the road graph of {args.project}")
    else:
        p = v.fit.params
        spread = "observed spread" if "travel_spread" in v.mechanisms else "lognormal spread"
        print(f"travel time t = {p.a:.1f} + {p.b:.1f}·(d/km)^{p.c:.3f} s, {spread} (log sigma {p.sigma:.3f}) "
              f"(fitted on {v.fit.n} engine responses; median absolute error {v.fit.median_abs_error_s:.0f} s)")
    if "en_route" in v.mechanisms:
        print(f"sent on the road (returning or committed): {v.en_route_share:.1%} of calibration responses, "
              f"{v.simulated_en_route_share:.1%} of simulated first-arriving engines")
    if "hourly_speed" in v.mechanisms:
        hf = v.hour_factor
        print(f"travel time by hour of day: slowest {int(hf.argmax()):02d}h ×{hf.max():.2f}, "
              f"fastest {int(hf.argmin()):02d}h ×{hf.min():.2f}")
    if v.turnout is not None:
        m = v.turnout.medians()
        by_hour = m["in_quarters_by_hour"]
        road = f"{m['on_road']:.0f} s" if m["on_road"] is not None else "as in quarters"
        print(f"turnout median in quarters {min(by_hour):.0f}-{max(by_hour):.0f} s by hour "
              f"(longest {int(np.argmax(by_hour)):02d}h), on the road {road}")
    print(f"validated on {v.incidents} other incidents: first-arriving engine, dispatch -> on scene")
    err = v.errors()
    for k, label in (("median_s", "median"), ("p90_s", "90th percentile")):
        print(f"  {label:<16} observed {v.observed[k]:6.1f} s  simulated {v.simulated[k]:6.1f} s  "
              f"error {err[k]['error_s']:+.1f} s ({err[k]['error_pct']:+.1f}%)")
    if args.out:
        print(f"wrote {Path(args.out) / 'validation.png'}")
    return 0
