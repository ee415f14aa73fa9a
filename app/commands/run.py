"""``lifeline-twin run SCENARIO.yaml --out DIR``: a coupled scenario on the session clock, headless.

Writes the event log (events.parquet, events.csv), summary.json and one
self-contained report.html (see :mod:`simulation.session.report`).  A scenario
with rain is also run without it, on the same twin: the report sets the
incidents during the storm against the same dry day.
"""

from __future__ import annotations

import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("run", help="run a coupled scenario (water, sensors, alarms, response) on one clock")
    p.add_argument("scenario", help="scenario YAML (see scenarios/)")
    p.add_argument("--out", required=True, help="folder for events.parquet, events.csv, summary.json, report.html")
    p.add_argument("--replications", type=int, default=1,
                   help="seeded variations (break time and hole, repair time; see simulation/session/ensemble.py)")
    p.add_argument("--workers", type=int, default=0, help="Dask worker processes for replications (0: here)")
    p.add_argument("--scheduler", help="tcp://HOST:PORT of an existing Dask scheduler")
    p.add_argument("--no-pictures", action="store_true",
                   help="leave the 3D views at key moments out of report.html (faster)")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from app.scene.snapshots import key_moments
    from simulation.session import report
    from simulation.session.scenario import build_session, load_scenario

    scenario, folder = load_scenario(args.scenario)
    if args.replications > 1:
        return _ensemble(args, scenario, folder)
    t0 = time.perf_counter()
    session = build_session(scenario, folder)
    session.run()
    dry = None
    if scenario.rain is not None:   # the same day without the rain: what the storm cost the response
        dry = build_session(scenario.model_copy(update={"rain": None, "drainage": None}), folder, twin=session.twin)
        dry.run()
    shots = [] if args.no_pictures else key_moments(session)
    paths = report.write(session, scenario, Path(args.out), shots, dry)
    doc = report.summary(session, scenario, dry)
    print(f"{scenario.name}: {doc['events']} events in {time.perf_counter() - t0:.1f} s; chain complete: "
          f"{'yes' if doc['chain_complete'] else 'no'}, in order: {'yes' if doc['chain_in_order'] else 'no'}")
    for r in doc["chain"]:
        after = "" if r["minutes_after_break"] is None else f" (+{r['minutes_after_break']:g} min)"
        print(f"  {r['step']:<16} {r['time'] or 'never'}{after}")
    k = doc["kpis"]
    print(f"  break to isolation {k['minutes_break_to_isolation']} min; {k['volume_lost_m3']:g} m³ lost; "
          f"{k['people_hours_without_water']:g} people-hours without water (peak {k['peak_people_without_water']:g})")
    for t in doc["targets"]:
        print(f"  target {t['kpi']}: {t['value']} against {t['target']}: {'met' if t['met'] else 'MISSED'}")
    for r in doc.get("dry_day", []):
        if r["extra_min"]:
            print(f"  storm vs dry day, {r['chain'].replace('_', ' ')}, {r['step']}: {r['storm_min']} against "
                  f"{r['dry_min']} min (+{r['extra_min']:g})")
    print(f"wrote {len(paths)} file(s) to {args.out}")
    return 0


def _ensemble(args, scenario, folder) -> int:
    from simulation.session import ensemble

    import pandas as pd

    tables = []
    meta = {}
    for plan in [None, *scenario.retrofit_plans]:
        table, meta = ensemble.ensemble(scenario, folder, args.replications, workers=args.workers,
                                        scheduler=args.scheduler, progress=True, plan=plan)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    meta = {**meta, "failed": int((table["error"] != "").sum()),
            "networks": ["as is", *scenario.retrofit_plans]}
    paths = ensemble.write(table, meta, scenario, Path(args.out))
    print(f"{scenario.name}: {meta['replications']} replications, {meta['failed']} failed, {meta['seconds']:.1f} s "
          f"on {meta['workers']} worker(s)")
    for network in meta["networks"]:
        print(f"  {network}:")
        for key, d in ensemble.distribution(table[table["network"] == network]).items():
            print(f"    {key.replace('_', ' ')}: median {d['p50']:g}, p10 {d['p10']:g}, p90 {d['p90']:g}")
    for r in table[table["error"] != ""].head(5).itertuples():
        print(f"  failed: replication {r.replication}: {r.error}")
    print(f"wrote {len(paths)} file(s) to {args.out}")
    return 0


#: The scenario ``lifeline-twin start`` shows headless on the demo city.
DEMO_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "main-burst.yaml"


def demo_step(twin, project, out) -> list:
    """``start``'s coupled step: the main-burst scenario on the demo city already built, into ``out/main-burst``."""
    from simulation.session import report
    from simulation.session.scenario import build_session, load_scenario

    scenario, folder = load_scenario(DEMO_SCENARIO)
    session = build_session(scenario, folder, twin=twin).run()
    return report.write(session, scenario, Path(out) / "main-burst")
