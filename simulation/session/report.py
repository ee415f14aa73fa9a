"""What a run of a session tells: the chain of events, KPIs against targets, and one self-contained HTML page.

Everything here reads the session's event log and the water network's
timeline (people without water, leak flow), never another engine's internals.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np

from simulation.clock import iso

#: The main-break chain, in the order it must happen: (label, event kind, filter on the event).
CHAIN = [
    ("pipe broke", "pipe_broken"),
    ("first alarm", "alarm_raised"),
    ("incident opened", "incident_opened"),
    ("crew dispatched", "unit_dispatched"),
    ("crew on scene", "unit_arrived"),
    ("valves closed", "valve_closed"),
    ("leak stopped", "leak_stopped"),
    ("repair done", "repair_done"),
    ("valves reopened", "valve_opened"),
    ("incident closed", "incident_closed"),
]


def chain(session) -> list[dict]:
    """The first event of each step of the main-break chain after the break (None when it never happened)."""
    events = session.log.events
    broke = next((e for e in events if e.kind == "pipe_broken"), None)
    served = None
    rows = []
    for label, kind in CHAIN:
        after = broke.time if broke else session.start
        candidates = [e for e in events if e.kind == kind and e.time >= after]
        if kind == "alarm_raised":  # the break's own signature: a pressure sensor on the network
            candidates = [e for e in candidates if e.get("sensor_type") == "pressure"]
        if kind in ("unit_dispatched", "unit_arrived", "valve_closed", "valve_opened", "repair_done",
                    "incident_closed") and served is not None:
            candidates = [e for e in candidates if e.feature == served or e.get("incident") == served]
        if kind == "incident_opened":
            # the incident the crew isolated the break for
            isolated = next((e.get("incident") for e in events if e.kind == "valve_closed"), None)
            candidates = [e for e in candidates if e.feature == isolated] or candidates
            served = candidates[0].feature if candidates else None
        e = candidates[0] if candidates else None
        rows.append({"step": label, "kind": kind, "time": iso(e.time) if e else None,
                     "minutes_after_break": round((e.time - broke.time) / 60.0, 1) if e and broke else None,
                     "feature": e.feature if e else None, "message": e.message if e else ""})
    return rows


def summary(session, scenario=None) -> dict:
    water = session.water
    tl = water.timeline_frame()
    t = tl["time_s"].to_numpy()
    people = tl["people_without_water"].to_numpy()
    held = np.diff(np.append(t, session.end))
    people_hours = float((people * held).sum() / 3600.0)
    volume = float(sum(b["volume_m3"] for b in water.breaks.values()))
    steps = chain(session)
    by = {r["kind"]: r for r in steps}
    iso_min = by["valve_closed"]["minutes_after_break"]
    kpis = {"minutes_break_to_isolation": iso_min, "volume_lost_m3": round(volume, 1),
            "people_hours_without_water": round(people_hours, 1),
            "peak_people_without_water": float(people.max()) if len(people) else 0.0,
            "incidents": len(session.log.of("incident_opened")),
            "false_alarm_incidents": sum(1 for e in session.log.of("incident_closed") if e.get("false_alarm")),
            "alarms_raised": len(session.log.of("alarm_raised"))}
    targets = []
    if scenario is not None:
        for name, key in (("isolation_min", "minutes_break_to_isolation"),
                          ("people_hours_without_water", "people_hours_without_water"),
                          ("volume_lost_m3", "volume_lost_m3")):
            target = getattr(scenario.targets, name)
            if target is not None:
                value = kpis[key]
                targets.append({"kpi": key, "target": target, "value": value,
                                "met": value is not None and value <= target})
    in_order = [r["time"] for r in steps if r["time"]]
    return {"name": scenario.name if scenario else "session", "start": iso(session.start), "end": iso(session.end),
            "seed": session.seed, "events": len(session.log.events), "chain": steps,
            "chain_complete": all(r["time"] for r in steps), "chain_in_order": in_order == sorted(in_order),
            "kpis": kpis, "targets": targets}


def _plot(session) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = session.water.timeline_frame()
    hours = (tl["time_s"] - session.start) / 3600.0
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.step(hours, tl["people_without_water"], where="post", color="tab:red", label="people without water")
    ax.set_xlabel("hours since the start of the run")
    ax.set_ylabel("people without water")
    ax2 = ax.twinx()
    ax2.plot(hours, tl["leak_lps"], color="tab:blue", label="leak flow")
    ax2.set_ylabel("leak flow, L/s")
    for e in session.log.of("pipe_broken", "valve_closed", "repair_done"):
        ax.axvline((e.time - session.start) / 3600.0, color="grey", lw=0.7, ls="--")
    ax.set_title("People without water and leak flow (dashed: break, valves closed, repair)")
    fig.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def html_report(session, doc: dict) -> str:
    """One self-contained HTML page (inline CSS and PNG; no network access needed to view it)."""
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(r['step'])}</td><td>{esc(r['time'] or 'never')}</td>"
                   f"<td>{'' if r['minutes_after_break'] is None else r['minutes_after_break']}</td>"
                   f"<td>{esc(r['message'])}</td></tr>" for r in doc["chain"])
    kpis = "".join(f"<tr><td>{esc(k.replace('_', ' '))}</td><td>{v}</td></tr>" for k, v in doc["kpis"].items())
    targets = "".join(f"<tr class='{'met' if t['met'] else 'missed'}'><td>{esc(t['kpi'].replace('_', ' '))}</td>"
                      f"<td>{t['target']}</td><td>{t['value']}</td><td>{'met' if t['met'] else 'missed'}</td></tr>"
                      for t in doc["targets"]) or "<tr><td colspan=4>no targets in the scenario</td></tr>"
    log = session.log.frame()
    log = log[log["kind"] != "readings_arrived"]
    events = "".join(f"<tr><td>{esc(r.time)}</td><td>{esc(r.kind)}</td><td>{esc(str(r.feature or ''))}</td>"
                     f"<td>{esc(r.message)}</td></tr>" for r in log.head(400).itertuples())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(doc['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}}th{{background:#eee}}
tr.met td{{background:#e6f4e6}}tr.missed td{{background:#fbe3e3}}</style></head><body>
<h1>{esc(doc['name'])}</h1>
<p>Run {esc(doc['start'])} to {esc(doc['end'])}, seed {doc['seed']}, {doc['events']} events.
Chain complete: <b>{'yes' if doc['chain_complete'] else 'no'}</b>; in order: <b>{'yes' if doc['chain_in_order'] else 'no'}</b>.</p>
<h2>The chain</h2><table><tr><th>step</th><th>time (UTC)</th><th>minutes after the break</th><th>what</th></tr>{rows}</table>
<h2>Key figures</h2><table><tr><th>KPI</th><th>value</th></tr>{kpis}</table>
<h2>Against the targets</h2><table><tr><th>KPI</th><th>target</th><th>value</th><th></th></tr>{targets}</table>
<h2>People without water</h2><img alt="people without water and leak flow over the run" src="data:image/png;base64,{_plot(session)}">
<h2>Event log</h2><p>Every event but the per-frame reading counts (first 400; the full log is events.parquet / events.csv).</p>
<table><tr><th>time (UTC)</th><th>event</th><th>feature</th><th>what</th></tr>{events}</table>
</body></html>
"""


def write(session, scenario, out) -> list:
    from pathlib import Path

    from twin import atomic

    out = Path(out)
    doc = summary(session, scenario)
    paths = session.log.write(out)
    paths.append(atomic.write(out / "summary.json", json.dumps(doc, indent=1)))
    paths.append(atomic.write(out / "report.html", html_report(session, doc)))
    return paths
