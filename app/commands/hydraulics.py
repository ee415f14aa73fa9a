"""``lifeline-twin hydraulics run|criticality|segments|fire-flow|break|quality|retrofit INPUT``.

INPUT is a project (.gpkg: network, buildings with population, hydrants,
valves) or a bare EPANET network (.inp).  Every command prints a short report
(or one JSON document with ``--json``) and, with ``--out DIR``, writes its
tables (CSV), a JSON summary and plots there — each file atomically, and only
once the analysis has completed.  Sweeps (criticality, fire-flow, retrofit) run
on Dask: ``--workers N`` local worker processes (0 = in this process),
``--scheduler tcp://HOST:PORT`` an existing cluster; a progress bar goes to
stderr and Ctrl-C stops cleanly without writing anything.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("hydraulics", help="water network analyses: run, criticality, segments, fire flow, "
                                          "breaks, water quality, retrofit plans")
    hs = p.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    def common(q, sweep=False, demand=True):
        q.add_argument("input", help="project .gpkg or EPANET .inp")
        q.add_argument("--json", action="store_true", help="print one JSON document")
        q.add_argument("--out", help="folder for CSV/JSON/PNG outputs")
        q.add_argument("--duration", type=float, help="simulation length, h (default: the network's)")
        if demand:
            q.add_argument("--pdd", action="store_true",
                           help="pressure-driven demand (PDA); default: the network's own demand model")
            q.add_argument("--min-pressure", type=float, default=0.0, help="PDA: no flow below, m (default 0)")
            q.add_argument("--required-pressure", type=float, default=20.0,
                           help="PDA: full demand from, m (default 20)")
        if sweep:
            q.add_argument("--workers", type=int,
                           help="local Dask worker processes (0: in this process).  Default: "
                                f"{min(2, os.cpu_count() or 1)}, unless a first batch shows the sweep takes "
                                f"under {CLUSTER_THRESHOLD_S:g} s in one process (then no cluster is started); "
                                "never more than one per scenario, nor 4 per CPU core")
            q.add_argument("--scheduler", help="tcp://HOST:PORT of an existing Dask scheduler")
            q.add_argument("--no-progress", action="store_true", help="no progress bar")
            q.add_argument("--sample", type=int, help="evaluate this many, picked at random (seeded)")
            q.add_argument("--seed", type=int, default=0)

    q = hs.add_parser("run", help="one simulation: pressures, flows, tidy tables")
    common(q)
    q.set_defaults(func=cmd_run)

    q = hs.add_parser("criticality", help="N-1 pipe closures ranked by people and water without service")
    common(q, sweep=True, demand=False)
    q.add_argument("--dda", action="store_true", help="demand-driven instead of the default pressure-driven")
    q.add_argument("--min-pressure", type=float, default=14.0, help="service pressure, m (default 14)")
    q.add_argument("--pipes", help="comma-separated pipe ids (default: every pipe)")
    q.add_argument("--start", type=float, default=0.0, help="closure window start, h")
    q.add_argument("--hours", type=float, help="closure window length, h (default: to the end)")
    q.add_argument("--top", type=int, default=20, help="rows of the printed ranking")
    q.set_defaults(func=cmd_criticality)

    q = hs.add_parser("segments", help="isolation segments from valves; what a break on a pipe shuts off")
    common(q, demand=False)
    q.add_argument("--valves", help="CSV of valves (pipe_id,node_id[,id][,operable]); default: the project's "
                                    "water_valves layer, else N-1 placement")
    q.add_argument("--pipe", help="a broken pipe: list the valves to close and what goes dry")
    q.add_argument("--inoperable", help="comma-separated valve ids that will not close")
    q.add_argument("--top", type=int, default=20)
    q.set_defaults(func=cmd_segments)

    q = hs.add_parser("fire-flow", help="hydrant fire flow: pass/fail and available flow at residual pressure")
    common(q, sweep=True, demand=False)
    q.add_argument("--flow", type=float, default=95.0, help="required fire flow, L/s (default 95)")
    q.add_argument("--fire-hours", type=float, default=2.0, help="for how long, h (default 2; 0: steady state)")
    q.add_argument("--residual", type=float, default=14.0, help="residual pressure, m (default 14)")
    q.add_argument("--start", type=float, help="hour the fire starts (default: peak demand hour)")
    q.add_argument("--nodes", help="comma-separated junction ids (default: the hydrants, else every junction)")
    q.add_argument("--no-available", action="store_true", help="pass/fail only, skip the available flow")
    q.set_defaults(func=cmd_fire_flow)

    q = hs.add_parser("break", help="a main break: leak, isolation, service and volume lost over time")
    common(q, demand=False)
    q.add_argument("--pipe", required=True)
    q.add_argument("--at", type=float, default=0.0, help="break time, h")
    q.add_argument("--hole-mm", type=float, default=50.0, help="equivalent round hole, mm (default 50)")
    q.add_argument("--isolate-after", type=float, help="close the segment's valves this many hours later")
    q.add_argument("--valves", help="valves CSV (as for segments)")
    q.add_argument("--inoperable", help="comma-separated valve ids that will not close")
    q.set_defaults(func=cmd_break)

    q = hs.add_parser("quality", help="water age, or a contaminant injection and the people exposed")
    common(q, demand=False)
    q.add_argument("--inject", metavar="NODE", help="inject a contaminant at NODE (default: water age)")
    q.add_argument("--mass", type=float, default=1000.0, help="mass rate, mg/min (default 1000)")
    q.add_argument("--start", type=float, default=0.0, help="injection start, h")
    q.add_argument("--hours", type=float, default=1.0, help="injection length, h")
    q.add_argument("--threshold", type=float, default=0.001, help="exposed above, mg/L (default 0.001)")
    q.set_defaults(func=cmd_quality)

    q = hs.add_parser("retrofit", help="a retrofit plan against the baseline: pressure, fire flow, criticality, cost")
    common(q, sweep=True, demand=False)
    q.add_argument("--plan", required=True, help="plan CSV or YAML (pipe ids -> diameter, material, roughness)")
    q.add_argument("--year", type=int, help="year of the evaluation (default: this year)")
    q.set_defaults(func=cmd_retrofit)


# ---------------------------------------------------------------------- helpers
def _system(args):
    from simulation.hydraulics.system import load_system

    return load_system(args.input)


def _demand(args):
    """--pdd chooses pressure-driven demand; without it the network's own .inp option holds."""
    from simulation.hydraulics.results import DemandModel

    if not getattr(args, "pdd", False):
        return None
    return DemandModel(pdd=bool(getattr(args, "pdd", False)), min_pressure=getattr(args, "min_pressure", 0.0),
                       required_pressure=getattr(args, "required_pressure", 20.0))


def _ids(text):
    if text is None:
        return None
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:  # '--pipes ""' or '--pipes ,' ran an empty sweep reported as complete
        raise ValueError(f"no ids in {text!r}: give comma-separated ids")
    return ids


CLUSTER_THRESHOLD_S = 15.0


def _sweep_kw(args) -> dict:
    from simulation.hydraulics.sweep import WORKERS_PER_CPU, worker_cap

    explicit = args.workers is not None
    if explicit and not args.scheduler and args.workers > worker_cap():
        print(f"note: --workers {args.workers} is more than {WORKERS_PER_CPU} per CPU core "
              f"({os.cpu_count() or 1} core(s)): using at most {worker_cap()}", file=sys.stderr)
    return {"workers": args.workers if explicit else min(2, os.cpu_count() or 1), "scheduler": args.scheduler,
            "cluster_threshold_s": None if explicit or args.scheduler else CLUSTER_THRESHOLD_S,
            "progress": not args.no_progress and sys.stderr.isatty() or bool(os.environ.get("LIFELINE_PROGRESS"))}


def _emit(args, doc: dict, lines: list[str], writer=None) -> int:
    if args.out and writer is not None:
        paths = writer(Path(args.out))
        if not args.json:
            lines.append(f"wrote {len(paths)} file(s) to {args.out}")
    if args.json:
        print(json.dumps(doc))
    else:
        print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------- commands
def cmd_run(args) -> int:
    from simulation.hydraulics.results import LINK_QUANTITIES, NODE_QUANTITIES, not_valid_text, simulate

    system = _system(args)
    t0 = time.perf_counter()
    res = simulate(system, demand_model=_demand(args), duration_h=args.duration,
                   node_quantities=NODE_QUANTITIES + ("tank_level", "tank_volume"),
                   link_quantities=LINK_QUANTITIES + ("setting", "energy"))
    summary = {**res.summary(), "seconds": round(time.perf_counter() - t0, 3)}
    neg = summary["negative_pressures"]
    lowest = f"lowest pressure {summary['min_pressure_m']} m at junction {summary['min_pressure_junction']}"
    if not summary["junctions"]:
        lowest = "no junctions: no junction pressures to report"
    elif not neg["valid"]:
        lowest = not_valid_text({**neg, "lowest_m": summary["min_pressure_m"],
                                 "lowest_junction": summary["min_pressure_junction"]}) + \
            " (flagged in junctions.csv; --pdd gives a pressure-driven run)"
    lines = [f"{summary['network']}: {summary['demand_model']}, {summary['steps']} report step(s) over "
             f"{summary['duration_h']:g} h; {summary['junctions']} junctions, {summary['pipes']} pipes, "
             f"{summary['tanks']} tanks, {summary['pumps']} pumps, {summary['valves']} valves",
             lowest + (f"; {summary['junctions_below_service_pressure']} junction(s) below 14 m at some time"
                       if summary["junctions"] else "")]
    if "note" in summary:
        lines.append(f"note: {summary['note']}")
    lines += [f"warning: {w}" for w in summary["warnings"][:5]]
    return _emit(args, summary, lines, res.write)


def cmd_criticality(args) -> int:
    from simulation.hydraulics.criticality import criticality
    from simulation.hydraulics.results import DemandModel

    system = _system(args)
    res = criticality(system, pipes=_ids(args.pipes), sample=args.sample, seed=args.seed,
                      demand_model=DemandModel(pdd=not args.dda), service_pressure=args.min_pressure,
                      start_h=args.start, hours=args.hours, duration_h=args.duration, **_sweep_kw(args))
    doc = res.to_json()
    lines = [f"{res.network}: {res.scenarios} pipe closure(s), {doc['failed']} failed, {res.seconds:.1f} s "
             f"({res.settings['demand_model']}; service pressure {args.min_pressure:g} m; "
             f"{system.population_note()})",
             f"{'rank':>4}  {'pipe':<12} {'junctions<min':>13} {'undelivered m3':>14} {'people':>8}"]
    for r in res.table.head(args.top).itertuples():
        if not r.solved:
            lines.append(f"{r.rank:>4}  {r.id:<12} not solved: {r.reason}")
            continue
        lines.append(f"{r.rank:>4}  {r.id:<12} {int(r.junctions_below_min_pressure):>13} "
                     f"{r.demand_not_delivered_m3:>14.1f} {int(round(r.population_without_service)):>8}")
    return _emit(args, doc, lines, lambda out: res.write(out, system.twin))


def cmd_segments(args) -> int:
    from simulation.hydraulics.segments import read_valves, segment, write_segments

    system = _system(args)
    t0 = time.perf_counter()
    valves = read_valves(args.valves) if args.valves else None
    how = ("file " + args.valves) if args.valves else ("project layer water_valves" if len(system.valves)
                                                       else "N-1 placement")
    seg = segment(system, valves=valves, inoperable=_ids(args.inoperable))
    table = seg.table()
    shutdown = seg.shutdown(args.pipe) if args.pipe else None
    seconds = round(time.perf_counter() - t0, 3)
    doc = {"network": system.name, "valves": int(seg.valves["id"].nunique()), "valve_source": how, "segments": seg.count,
           "seconds": seconds, "top": json.loads(table.head(args.top).to_json(orient="records")),
           "shutdown": shutdown, "population_source": system.population_source,
           "population_note": system.population_note()}
    lines = [f"{system.name}: {seg.count} segment(s) from {seg.valves['id'].nunique()} valve(s) ({how}) in {seconds} s "
             f"({system.population_note()})",
             f"{'rank':>4} {'segment':>7} {'pipes':>5} {'people':>8} {'cut off':>8} {'without water':>13}"]
    for r in table.head(args.top).itertuples():
        lines.append(f"{r.rank:>4} {r.segment:>7} {r.pipes:>5} {int(r.population):>8} "
                     f"{int(r.unintended_population):>8} {int(r.population_without_water):>13}")
    if shutdown:
        lines.append(f"break on pipe {shutdown['pipe']}: close {len(shutdown['valves_to_close'])} valve(s) "
                     f"{', '.join(shutdown['valves_to_close'])}; {len(shutdown['pipes_in_segment'])} pipe(s) and "
                     f"{int(shutdown['population_in_segment'])} people in the segment; unintended isolation: "
                     f"{len(shutdown['unintended_pipes'])} pipe(s), {int(shutdown['unintended_population'])} people")
    return _emit(args, doc, lines, lambda out: write_segments(seg, out, shutdown))


def cmd_fire_flow(args) -> int:
    from simulation.hydraulics.fire_flow import fire_flow
    from simulation.hydraulics.results import not_valid_text

    system = _system(args)
    res = fire_flow(system, nodes=_ids(args.nodes), sample=args.sample, seed=args.seed, flow_lps=args.flow,
                    duration_h=args.fire_hours, residual_m=args.residual, start_h=args.start,
                    available=not args.no_available, sim_duration_h=args.duration, **_sweep_kw(args))
    t = res.table
    w, base = res.window, res.baseline
    assessed = res.assessed
    skipped = len(t) - len(assessed)
    rate = f"{100 * res.pass_rate:.0f} %" if len(t) else "none tested"
    lines = [f"{system.name}: {len(t)} hydrant(s) tested at {args.flow:g} L/s for {args.fire_hours:g} h, residual "
             f"{args.residual:g} m: {int(assessed['passes'].astype(bool).sum())} pass ({rate}), "
             + (f"{skipped} not assessed, " if skipped else "")
             + f"{len(res.failures)} could not be solved, {res.seconds:.1f} s",
             (f"fire window: {w['start_h']:g} h to {w['end_h']:g} h of the simulation" if w["end_h"] > w["start_h"]
              else f"fire window: steady state at {w['start_h']:g} h of the simulation")
             + f" ({'the peak demand hour' if w['chosen'] == 'peak demand hour' else 'from --start'})"]
    if not base["valid"]:
        lines.append("baseline without a fire over the fire window: "
                     + not_valid_text(base, when="before any fire is drawn")
                     + (f"; {skipped} hydrant(s) at such junctions are not assessed, and the other results "
                        "rest on this baseline" if skipped else "; the results below rest on this baseline"))
    for r in t[t["assessed"].astype(bool) & ~t["passes"].astype(bool)].head(10).itertuples():
        lines.append(f"  fails: {r.id} (node {r.node}) available {r.available_flow_lps} L/s — {r.limited_by}")
    for r in t[~t["assessed"].astype(bool)].head(5).itertuples():
        lines.append(f"  {r.id} (node {r.node}): {r.limited_by}")
    return _emit(args, res.to_json(), lines, res.write)


def cmd_break(args) -> int:
    from simulation.hydraulics.breaks import simulate_break
    from simulation.hydraulics.segments import read_valves

    system = _system(args)
    valves = read_valves(args.valves) if args.valves else None
    res = simulate_break(system, args.pipe, at_h=args.at, hole_mm=args.hole_mm, isolate_after_h=args.isolate_after,
                         duration_h=args.duration, valves=valves, inoperable=_ids(args.inoperable))
    s = {**res.summary(), "population_source": system.population_source,
         "population_note": system.population_note()}
    lines = [f"break on {s['pipe']} at {s['break_at_h']:g} h ({s['hole_mm']:g} mm): peak leak {s['peak_leak_lps']} L/s, "
             f"{s['volume_lost_m3']} m³ lost; up to {s['max_population_without_service']} people below service "
             f"pressure ({s['population_hours_without_service']} people-hours; {system.population_note()})"]
    if s["valves_closed"]:
        lines.append(f"isolated after {s['isolated_after_h']:g} h by closing {', '.join(s['valves_closed'])}")
    return _emit(args, s, lines, res.write)


def cmd_quality(args) -> int:
    from simulation.hydraulics.quality import contaminant, water_age

    system = _system(args)
    if args.inject:
        res = contaminant(system, args.inject, mass_mg_min=args.mass, start_h=args.start, hours=args.hours,
                          duration_h=args.duration, threshold_mg_l=args.threshold)
        s = res.summary
        lines = [f"{args.mass:g} mg/min at {args.inject} from {args.start:g} h for {args.hours:g} h: "
                 f"{s['junctions_exposed']} junction(s), {int(s['population_exposed'])} people exposed "
                 f"above {args.threshold:g} mg/L (population from {s['population_source']})"]
    else:
        res = water_age(system, duration_h=args.duration)
        s = res.summary
        lines = [f"water age over {s['hours_simulated']:g} h: mean {s['mean_age_h']} h, max {s['max_age_h']} h; "
                 f"{s['junctions_over_48h']} junction(s) over 48 h serving {int(s['population_over_48h'])} people"]
    return _emit(args, s, lines, res.write)


def cmd_retrofit(args) -> int:
    from simulation.hydraulics.retrofit import evaluate_plan, read_plan

    system = _system(args)
    plan = read_plan(args.plan, system)
    t0 = time.perf_counter()

    def stage(text: str) -> None:
        # one line per stage on stderr, even where no progress bar is drawn (a log, a pipe):
        # a week of a large network is tens of minutes, most of them in the pipe closures
        elapsed = int(time.perf_counter() - t0)
        print(f"retrofit {text} ({elapsed // 60}:{elapsed % 60:02d} elapsed)", file=sys.stderr, flush=True)

    res = evaluate_plan(system, plan, year=args.year, sample=args.sample, seed=args.seed,
                        duration_h=args.duration, stages=None if args.no_progress else stage, **_sweep_kw(args))
    # plain decimals (a change of -5.5e-10 m is 0.0000 m), each metric with its unit
    table = res.comparison_table().to_string(index=False, float_format=lambda v: f"{round(v, 4) + 0.0:,.4f}")
    lines = [f"{system.name}: plan {plan.name!r} ({len(plan.pipes)} pipe(s), cost {res.cost:,.0f} {plan.currency}; "
             f"{time.perf_counter() - t0:.0f} s)", table]
    return _emit(args, res.to_json(), lines, res.write)


# ---------------------------------------------------------------------- the start job's step
def demo_step(twin, project_path, out_dir) -> list[Path]:
    """Showcase on the demo city: criticality top 20 and a fire-flow summary, in ``out_dir/hydraulics``."""
    from simulation.hydraulics.criticality import criticality
    from simulation.hydraulics.fire_flow import fire_flow
    from simulation.hydraulics.system import from_twin

    out = Path(out_dir) / "hydraulics"
    system = from_twin(twin, source=str(project_path))
    crit = criticality(system, workers=0)
    crit.table = crit.table.head(20)
    paths = crit.write(out, twin)
    fire = fire_flow(system, workers=0, sample=None if len(system.hydrants) <= 150 else 150)
    paths += fire.write(out)
    return paths
