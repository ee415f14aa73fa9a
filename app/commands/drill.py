"""``lifeline-twin drill run DRILL.yaml --actions ACTIONS.yaml --out DIR``: a drill played headless.

Plays the drill's injects on its scenario with the trainees' actions scripted in
the actions file (the response waits for them: :mod:`simulation.drill`), and writes
the event log (events.parquet, events.csv), scores.json and the after-action
report aar.html, with its PDF copy aar.pdf (:mod:`app.pdf`).
"""

from __future__ import annotations

import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("drill", help="play and score drills (injects, trainees' actions, after-action report)")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    r = verbs.add_parser("run", help="play a drill with scripted trainees' actions and write its after-action report")
    r.add_argument("drill", help="drill YAML (see scenarios/drills/)")
    r.add_argument("--actions", required=True, help="the trainees' actions and the evaluator's entries (YAML)")
    r.add_argument("--out", required=True,
                   help="folder for events.parquet, events.csv, scores.json, aar.html and aar.pdf")
    r.add_argument("--no-pictures", action="store_true",
                   help="leave the pictures of the 3D view at key moments out of the report (faster)")
    r.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from app.scene.snapshots import key_moments
    from simulation.drill import report
    from simulation.drill.controller import prepare, units_of
    from simulation.drill.model import check_features, load_actions, load_drill

    drill, scenario, folder = load_drill(args.drill)
    actions = load_actions(args.actions, drill)
    t0 = time.perf_counter()
    session, controller = prepare(drill, scenario, folder, actions)
    check_features(args.drill, drill, session.twin, units_of(session), args.actions, actions)
    session.run()
    shots = [] if args.no_pictures else key_moments(session)
    paths = report.write(session, controller, drill, scenario, actions, Path(args.out), shots)
    from app.pdf import write_pdf

    paths.append(write_pdf(Path(args.out, "aar.html").read_text(encoding="utf-8"), Path(args.out, "aar.pdf")))
    import json

    scores = json.loads(Path(args.out, "scores.json").read_text())
    c = scores["counts"]
    print(f"{drill.name}: {len(session.log.events)} events in {time.perf_counter() - t0:.1f} s; expected actions: "
          f"{c['met']} met, {c['late']} late, {c['missed']} missed, {c['not_played']} not played")
    for o in scores["objectives"]:
        print(f"  {o['id']} {o['rating'] or '-'}{' (evaluator)' if o['overridden'] else ''}  {o['text']}")
    for k in scores["kpis"]:
        verdict = "" if k["met"] is None else (" met" if k["met"] else " MISSED")
        print(f"  {k['kpi'].replace('_', ' ')}: {k['value']}" + (f" against {k['target']}:{verdict}"
                                                                 if k["target"] is not None else ""))
    print(f"wrote {len(paths)} file(s) to {args.out}")
    return 0
