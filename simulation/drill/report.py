"""The after-action report of a drill: one self-contained HTML page (inline CSS and PNG, no network access).

Overview (name, date, scope, objectives, participants), the timeline of
injects against the trainees' actions, KPIs against the scenario's targets, a
plot (people without water over the exercise when a main broke, else the
units committed and on scene, with the injects and actions marked), the expected actions met / late / missed, the objectives with their
ratings, strengths, areas for improvement and the improvement plan (action,
owner, due date) from the evaluator's entries.  It reads the scores
(:func:`simulation.drill.scoring.score`), the KPIs and the event log only.
"""

from __future__ import annotations

import html
import json

from simulation.clock import iso
from simulation.drill.scoring import RATINGS
from simulation.session.report import pictures_html, png_base64, water_axes

_TIMELINE = ("pipe_broken", "leak_started", "incident_opened", "inject_delivered", "action_taken",
             "alarm_acknowledged", "unit_dispatched", "unit_arrived", "valve_closed", "leak_stopped", "repair_done",
             "valve_opened", "notified", "evacuation_ordered", "mutual_aid_requested", "unit_released",
             "incident_closed")


def _plot(session) -> str:
    """People without water and the leak flow when a main broke; else the units on scene and committed
    (dispatched, not yet released) over the exercise.  Injects dashed (I#), actions as triangles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if session.log.of("pipe_broken"):
        fig, ax, _, tl = water_axes(session, 9.0)
        top = max(float(tl["people_without_water"].max()), 1.0)
        title = "People without water and leak flow"
    else:
        fig, ax = plt.subplots(figsize=(9.0, 3.2), dpi=100)
        changes = {"unit_dispatched": (1, 0), "unit_arrived": (0, 1), "unit_released": (-1, -1)}
        t, committed, on_scene = [0.0], [0], [0]
        for e in session.log.of(*changes):
            d_committed, d_scene = changes[e.kind]
            t.append((e.time - session.start) / 3600.0)
            committed.append(committed[-1] + d_committed)
            on_scene.append(on_scene[-1] + d_scene)
        end = (session.end - session.start) / 3600.0
        t.append(end)
        committed.append(committed[-1])
        on_scene.append(on_scene[-1])
        ax.step(t, committed, where="post", color="tab:blue", label="units committed")
        ax.step(t, on_scene, where="post", color="tab:red", label="units on scene")
        ax.set_xlim(0, end)
        ax.set_ylabel("units")
        ax.set_xlabel(f"hours since {iso(session.start)}")
        ax.yaxis.get_major_locator().set_params(integer=True)
        top = float(max(max(committed), 1))
        title = "Units committed and on scene"
        ax.legend(loc="upper right", fontsize=8)
    for e in session.log.of("inject_delivered"):
        x = (e.time - session.start) / 3600.0
        ax.axvline(x, color="tab:orange", lw=0.8, ls="--")
        ax.text(x, top * 1.02, f"I{int(e.value)}", color="tab:orange", fontsize=8, ha="center")
    for e in session.log.of("action_taken"):
        ax.plot([(e.time - session.start) / 3600.0], [0], marker="^", color="tab:green", ms=7, clip_on=False)
    ax.set_ylim(0, top * 1.12)
    ax.set_title(f"{title}; injects (dashed, I#) and trainees' actions (triangles)", fontsize=9)
    if session.log.of("pipe_broken"):
        fig.legend(loc="center right", bbox_to_anchor=(0.86, 0.55), fontsize=8)
    return png_base64(fig)


def html_report(session, drill, scores: dict, kpis: list[dict], pictures=()) -> str:
    """The after-action report; ``pictures``: (caption, PNG bytes) of the 3D view at key moments."""

    esc = html.escape
    objectives = "".join(f"<li><b>{esc(o.id)}</b> {esc(o.text)}</li>" for o in drill.objectives)
    participants = "".join(f"<tr><td>{esc(p.role)}</td><td>{esc(p.name)}</td></tr>" for p in drill.participants)
    rows = []
    for e in session.log.events:
        if e.kind not in _TIMELINE:
            continue
        cls = {"inject_delivered": "inject", "action_taken": "action"}.get(e.kind, "city")
        who = e.get("role") or (f"{e.get('from_role')} → {e.get('to_role')}" if e.kind == "inject_delivered" else
                                e.source)
        rows.append(f"<tr class='{cls}'><td>{esc(e.row()['time'][11:19])}</td><td>{esc(e.kind.replace('_', ' '))}"
                    f"</td><td>{esc(str(who))}</td><td>{esc(e.message)}</td></tr>")
    timeline = "".join(rows)
    expected = "".join(
        f"<tr class='{r['status']}'><td>{r['inject']}</td><td>{esc(r['action'])} "
        f"{esc(json.dumps(r['parameters'])) if r['parameters'] else ''}</td><td>{esc(r['objective'])}</td>"
        f"<td>{esc((r['delivered'] or '')[11:19])}</td><td>{r['deadline_min']:g}</td>"
        f"<td>{esc((r['taken'] or '')[11:19])}</td><td>{'' if r['minutes'] is None else r['minutes']}</td>"
        f"<td><b>{esc(r['status'].replace('_', ' '))}</b></td><td>"
        f"{esc(', '.join(f'inject {c}' for c in r['contingency_released']))}</td></tr>" for r in scores["expected"])
    kpi_rows = "".join(
        f"<tr class='{'' if k['met'] is None else ('met' if k['met'] else 'missed')}'><td>"
        f"{esc(k['kpi'].replace('_', ' '))}</td><td>{'—' if k['value'] is None else k['value']}</td>"
        f"<td>{'' if k['target'] is None else k['target']}</td><td>"
        f"{'' if k['met'] is None else ('met' if k['met'] else 'missed')}</td></tr>" for k in kpis)
    ratings = "".join(
        f"<tr><td><b>{esc(o['id'])}</b></td><td>{esc(o['text'])}</td><td class='rating r{o['rating'] or 'none'}'>"
        f"{o['rating'] or 'not rated'}</td><td>{esc(RATINGS.get(o['rating'], ''))}"
        f"{' (evaluator; rule: ' + str(o['rule']) + ')' if o['overridden'] else ''}</td>"
        f"<td>{o['actions']['met']} met, {o['actions']['late']} late, {o['actions']['missed']} missed</td>"
        f"<td>{esc(o['note'])}</td></tr>" for o in scores["objectives"])
    ev = scores["evaluator"]

    def items(kind):
        found = [e for e in ev if e["kind"] == kind]
        return ("<ul>" + "".join(f"<li>{esc(e.get('objective', ''))} {esc(e.get('text', ''))}"
                                 f"{' <i>(' + esc(e['at']) + ')</i>' if e.get('at') else ''}</li>" for e in found)
                + "</ul>") if found else "<p>None recorded.</p>"
    # areas for improvement: the evaluator's, then every expected action missed or late
    def missed_or_late(r) -> str:
        when = "" if r["minutes"] is None else f" ({r['minutes']} min after the inject, deadline {r['deadline_min']:g})"
        return f"<li>{esc(r['objective'])}: {esc(r['action'])} (inject {r['inject']}) was {esc(r['status'])}{when}</li>"
    auto = "".join(missed_or_late(r) for r in scores["expected"] if r["status"] in ("late", "missed"))
    plan = "".join(f"<tr><td>{esc(e.get('objective', ''))}</td><td>{esc(e['action'])}</td><td>{esc(e['owner'])}</td>"
                   f"<td>{esc(e['due'])}</td></tr>" for e in ev if e["kind"] == "improvement") \
        or "<tr><td colspan=4>No improvement actions recorded.</td></tr>"
    injects = "".join(f"<tr><td>{i['number']}</td><td>{esc(i['state'].replace('_', ' '))}</td>"
                      f"<td>{esc((i['delivered'] or '')[11:19])}</td></tr>" for i in scores["injects"])
    c = scores["counts"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>After-action report: {esc(drill.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left;vertical-align:top}}th{{background:#eee}}
tr.met td{{background:#e6f4e6}}tr.late td{{background:#fff3d6}}tr.missed td{{background:#fbe3e3}}
tr.inject td{{background:#eef3fb}}tr.action td{{background:#e9f6ec}}tr.city td{{color:#555}}
td.rating{{font-weight:bold;text-align:center;font-size:16px}}td.rP{{background:#c8e6c9}}td.rS{{background:#fff59d}}
td.rM{{background:#ffcc80}}td.rU{{background:#ef9a9a}}</style></head><body>
<h1>After-action report: {esc(drill.name)}</h1>
<h2>Overview</h2>
<p><b>Date:</b> {esc(drill.date)}. <b>Exercise:</b> {esc(scores['start'])} to {esc(scores['end'])}
(seed {scores['seed']}).</p>
<p><b>Scope:</b> {esc(drill.scope)}</p>
<h3>Objectives</h3><ul>{objectives}</ul>
<h3>Participants</h3><table><tr><th>role</th><th>name</th></tr>{participants}</table>
<h2>Objectives and ratings</h2>
<p>Rule: P every expected action met; S none missed, some late; M some missed; U all missed. {c['met']} met,
{c['late']} late, {c['missed']} missed, {c['not_played']} not played.</p>
<table><tr><th>id</th><th>objective</th><th>rating</th><th></th><th>actions</th><th>evaluator's note</th></tr>
{ratings}</table>
<h2>Key figures against the targets</h2>
<table><tr><th>KPI</th><th>value</th><th>target</th><th></th></tr>{kpi_rows}</table>
<img alt="people without water over the exercise" src="data:image/png;base64,{_plot(session)}">
<h2>Expected actions</h2>
<table><tr><th>inject</th><th>expected action</th><th>objective</th><th>delivered</th><th>deadline, min</th>
<th>taken</th><th>minutes</th><th>status</th><th>contingency released</th></tr>{expected}</table>
<h2>Strengths</h2>{items('strength')}
<h2>Areas for improvement</h2>{items('improvement')}<ul>{auto}</ul>
<h2>Evaluator's notes</h2>{items('note')}
<h2>Improvement plan</h2>
<table><tr><th>objective</th><th>action</th><th>owner</th><th>due</th></tr>{plan}</table>
{pictures_html(pictures)}
<h2>Timeline: injects against actions</h2>
<table><tr><th>time (UTC)</th><th>what</th><th>who</th><th></th></tr>{timeline}</table>
<h2>Injects</h2><table><tr><th>inject</th><th>final state</th><th>delivered</th></tr>{injects}</table>
</body></html>
"""


def write(session, controller, drill, scenario, actions, out, pictures=()) -> list:
    """events.parquet, events.csv, scores.json and aar.html (with ``pictures``) in ``out``."""
    from pathlib import Path

    from simulation.drill.scoring import kpis as drill_kpis, score
    from twin import atomic

    out = Path(out)
    scores = score(controller, actions)
    figures = drill_kpis(session, scenario)
    scores["kpis"] = figures
    paths = session.log.write(out)
    paths.append(atomic.write(out / "scores.json", json.dumps(scores, indent=1)))
    paths.append(atomic.write(out / "aar.html", html_report(session, drill, scores, figures, pictures)))
    return paths
