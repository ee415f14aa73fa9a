"""What a run of a session tells: the chain of events, KPIs against targets, and one self-contained HTML page.

Everything here reads the session's event log and the water network's
timeline (people without water, leak flow), never another engine's internals.

Four chains are told apart (``summary()["chains"]``, each present when its
trigger happened): the **main break** (:data:`CHAIN`), the **fire**
(:data:`FIRE_CHAIN`: smoke alarm -> verification call -> micro fire station
and fire station on scene, with the 1-3-5 verdicts of :data:`PATTERN_1_3_5`)
and the **gas leak** (:data:`GAS_CHAIN`: leak -> methane alarm with its
gas-vs-biogas context -> gas crew and fire engine -> leak shut off) and the **drone conflict**
(:data:`DRONE_CHAIN`: airspace alert -> verification -> a unit to the entry
point -> drone out of the zones -> incident closed).
``summary()["chain"]`` is the lead chain of the run (the main break when a
pipe broke, else the fire, else the gas leak, else the drone); in its rows
``minutes_after_break`` counts from the chain's first step (the break, the
first smoke alarm, the leak, the drone's alert), the name the run command reads.  The 1-3-5
verdicts are also listed with the scenario's targets.
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


#: The micro fire stations' 1-3-5 minute pattern, counted from the red smoke alarm: (step, kind, limit s).
#: China's micro fire station rules (Fire Bureau of the Ministry of Public Security, micro fire station
#: construction standards, 2015: respond within 1 min, on scene within 3, joint operations within 5), as
#: issue 11 reads them: verified within 1 min, micro station on scene within 3, fire station within 5.
PATTERN_1_3_5 = [("verified", "minutes_alarm_to_verified", 60.0),
                 ("micro fire station on scene", "minutes_alarm_to_micro_on_scene", 180.0),
                 ("fire station on scene", "minutes_alarm_to_fire_station_on_scene", 300.0)]

#: The fire chain: (label, event kind, unit type or None).
FIRE_CHAIN = [
    ("first smoke alarm", "alarm_raised", None),
    ("red fire alarm", "fire_alarm", None),
    ("incident opened", "incident_opened", None),
    ("verified by call", "alarm_acknowledged", None),
    ("micro station sent", "unit_dispatched", "micro"),
    ("fire station sent", "unit_dispatched", "engine"),
    ("micro on scene", "unit_arrived", "micro"),
    ("fire station on scene", "unit_arrived", "engine"),
    ("units released", "unit_released", None),
    ("incident closed", "incident_closed", None),
]

#: The gas-leak chain: (label, event kind, unit type or None).
GAS_CHAIN = [
    ("leak started", "leak_started", None),
    ("first methane alarm", "alarm_raised", None),
    ("incident opened", "incident_opened", None),
    ("verified by call", "alarm_acknowledged", None),
    ("gas crew sent", "unit_dispatched", "gas_crew"),
    ("fire engine sent", "unit_dispatched", "engine"),
    ("gas crew on scene", "unit_arrived", "gas_crew"),
    ("fire engine on scene", "unit_arrived", "engine"),
    ("leak shut off", "made_safe", None),
    ("leak stopped", "leak_stopped", None),
    ("units released", "unit_released", None),
    ("incident closed", "incident_closed", None),
]

#: The drone chain (airspace): (label, event kind).
DRONE_CHAIN = [
    ("drone entered zone", "alarm_raised"),
    ("incident opened", "incident_opened"),
    ("verified by call", "alarm_acknowledged"),
    ("unit sent", "unit_dispatched"),
    ("unit on scene", "unit_arrived"),
    ("drone left zone", "alarm_cleared"),
    ("unit released", "unit_released"),
    ("incident closed", "incident_closed"),
]

#: Steps that follow another than the row above them (units travel in parallel): label -> labels it follows.
AFTER = {"fire": {"fire station on scene": ("fire station sent",),
                  "units released": ("micro on scene", "fire station on scene")},
         "gas_leak": {"fire engine on scene": ("fire engine sent",), "leak shut off": ("gas crew on scene",),
                      "units released": ("leak stopped", "fire engine on scene")},
         "drone_conflict": {"drone left zone": ("drone entered zone",),
                            "unit released": ("unit on scene",)}}

WATER_LAYERS = {"valve_closed": "water_valves", "valve_opened": "water_valves", "leak_stopped": "water_pipes",
                "repair_done": "water_pipes", "leak_started": "water_pipes"}


def chain(session) -> list[dict]:
    """The first event of each step of the main-break chain after the break (None when it never happened)."""
    events = session.log.events
    broke = next((e for e in events if e.kind == "pipe_broken"), None)
    served = None
    rows = []
    for label, kind in CHAIN:
        after = broke.time if broke else session.start
        candidates = [e for e in events if e.kind == kind and e.time >= after]
        if kind in WATER_LAYERS:  # not the gas crew's valve or a methane leak
            candidates = [e for e in candidates if e.layer == WATER_LAYERS[kind]]
        if kind == "alarm_raised":  # the break's own signature: a pressure sensor on the network
            candidates = [e for e in candidates if e.get("sensor_type") == "pressure"]
        if kind in ("unit_dispatched", "unit_arrived", "valve_closed", "valve_opened", "repair_done",
                    "incident_closed") and served is not None:
            candidates = [e for e in candidates if e.feature == served or e.get("incident") == served]
        if kind == "incident_opened":
            candidates = [e for e in candidates if e.get("type") in (None, "water_main_break")]
            # the incident the crew isolated the break for
            isolated = next((e.get("incident") for e in events if e.kind == "valve_closed"), None)
            candidates = [e for e in candidates if e.feature == isolated] or candidates
            served = candidates[0].feature if candidates else None
        e = candidates[0] if candidates else None
        rows.append({"step": label, "kind": kind, "time": iso(e.time) if e else None,
                     "minutes_after_break": round((e.time - broke.time) / 60.0, 1) if e and broke else None,
                     "feature": e.feature if e else None, "message": e.message if e else ""})
    return rows


def _row(label: str, kind: str, e, t0) -> dict:
    return {"step": label, "kind": kind, "time": iso(e.time) if e else None, "time_s": e.time if e else None,
            "minutes_after_break": round((e.time - t0) / 60.0, 2) if e is not None and t0 is not None else None,
            "feature": e.feature if e else None, "message": e.message if e else ""}


def _incident_chain(session, itype: str) -> dict | None:
    """The first incident of ``itype``: its chain rows, in order, and what it was about."""
    events = session.log.events
    opened = next((e for e in events if e.kind == "incident_opened" and e.get("type") == itype), None)
    if opened is None:
        return None
    inc = opened.feature
    sensor = opened.get("sensor")
    mine = [e for e in events if e.feature == inc or e.get("incident") == inc]
    spec = FIRE_CHAIN if itype == "fire" else GAS_CHAIN
    sensor_type = "smoke" if itype == "fire" else "methane"
    made_safe = next((e for e in mine if e.kind in ("valve_closed", "repair_done") and e.source == "emergency"
                      and e.layer in ("gas_mains", "septic_tanks")), None)
    leak = None
    if itype == "gas_leak":
        ref = made_safe.feature if made_safe else None
        leaks = [e for e in events if e.kind == "leak_started" and e.layer in ("gas_mains", "septic_tanks")]
        leak = next((e for e in leaks if e.feature == ref), leaks[0] if leaks else None)
    first_alarm = next((e for e in events if e.kind == "alarm_raised" and e.get("sensor_type") == sensor_type
                        and (leak is None or e.time >= leak.time)
                        and (itype != "fire" or e.feature == opened.get("ref", "").split("/")[-1])), None)
    t0 = leak.time if leak is not None else (first_alarm.time if first_alarm else opened.time)
    rows, found = [], {}
    for label, kind, utype in spec:
        if kind == "fire_alarm":
            e = next((x for x in events if x.kind in ("alarm_raised", "alarm_escalated") and x.time <= opened.time
                      and x.get("sensor") == sensor and x.get("level") == "red"), None)
        elif kind == "alarm_raised":
            e = first_alarm
        elif kind == "leak_started":
            e = leak
        elif kind == "leak_stopped":
            e = next((x for x in events if x.kind == "leak_stopped" and leak is not None and x.feature == leak.feature
                      and x.layer == leak.layer), None)
        elif kind == "made_safe":
            e = made_safe
        elif kind == "incident_opened":
            e = opened
        else:
            e = next((x for x in mine if x.kind == kind and (utype is None or x.get("unit_type") == utype)), None)
        found[label] = e
        shown = e.kind if e is not None and kind in ("fire_alarm", "made_safe") else \
            {"fire_alarm": "alarm_escalated", "made_safe": "valve_closed"}.get(kind, kind)
        rows.append(_row(label, shown, e, t0))
    at = {r["step"]: r["time_s"] for r in rows}
    in_order = True
    for k, r in enumerate(rows[1:], start=1):
        before = [at[p] for p in AFTER[itype].get(r["step"], (rows[k - 1]["step"],)) if at[p] is not None]
        if r["time_s"] is not None and before and r["time_s"] < max(before):
            in_order = False
    out = {"incident": inc, "type": itype, "where": opened.get("ref"), "steps": rows,
           "complete": all(r["time"] for r in rows), "in_order": in_order}
    if itype == "fire":
        red = rows[1]["time_s"] if rows[1]["time_s"] is not None else opened.time
        by = {r["step"]: r["time_s"] for r in rows}
        reached = {"verified": by["verified by call"], "micro fire station on scene": by["micro on scene"],
                   "fire station on scene": by["fire station on scene"]}
        out["pattern_1_3_5"] = [{"step": step, "kpi": kpi, "limit_min": limit / 60.0,
                                 "minutes": None if reached[step] is None else round((reached[step] - red) / 60.0, 2),
                                 "met": reached[step] is not None and reached[step] - red <= limit + 1e-6}
                                for step, kpi, limit in PATTERN_1_3_5]
        out["pattern_met"] = all(v["met"] for v in out["pattern_1_3_5"])
    else:
        out["context"] = opened.get("context")
        out["reason"] = opened.get("reason")
        out["alarm_level"] = opened.get("alarm_level")
        stopped = found["leak stopped"]
        out["volume_released_m3"] = None if stopped is None else round(float(stopped.value), 2)
    return out


def _drone_chain(session) -> dict | None:
    """The first drone-conflict incident: alert -> verification -> unit on scene -> drone out -> closed.

    "drone left zone" is the first time after the opening alert the drone's
    track is out of every red zone it was seen in (from the airspace alerts).
    """
    events = session.log.events
    opened = next((e for e in events if e.kind == "incident_opened" and e.get("type") == "drone_conflict"), None)
    if opened is None:
        return None
    inc, track = opened.feature, opened.get("track")
    alert = next((e for e in events if e.kind == "alarm_raised" and e.source == "airspace"
                  and e.get("track") == track and e.time == opened.time and e.get("level") == "red"), None)
    inside, left = set(), None
    for e in events:
        if e.source != "airspace" or e.get("track") != track or e.time < opened.time or e.get("level") != "red":
            continue
        if e.kind == "alarm_raised":
            inside.add(e.feature)
        elif e.kind == "alarm_cleared" and e.feature in inside:
            inside.discard(e.feature)
            if not inside:
                left = e
                break
    mine = [e for e in events if e.feature == inc or e.get("incident") == inc]
    t0 = alert.time if alert is not None else opened.time
    rows, found = [], {}
    for label, kind in DRONE_CHAIN:
        if label == "drone entered zone":
            e = alert
        elif label == "drone left zone":
            e = left
        elif kind == "incident_opened":
            e = opened
        else:
            e = next((x for x in mine if x.kind == kind), None)
        found[label] = e
        rows.append(_row(label, kind, e, t0))
    at = {r["step"]: r["time_s"] for r in rows}
    in_order = True
    for k, r in enumerate(rows[1:], start=1):
        before = [at[p] for p in AFTER["drone_conflict"].get(r["step"], (rows[k - 1]["step"],)) if at[p] is not None]
        if r["time_s"] is not None and before and r["time_s"] < max(before):
            in_order = False
    closed = found["incident closed"]
    needed = [t for t in (at["unit on scene"], at["drone left zone"] if closed is not None and closed.get("drone_left")
                          else None) if t is not None]
    if closed is not None and needed and closed.time < max(needed):
        in_order = False  # closed before the unit was there (or, when it says so, before the drone was out)
    on_scene, sent = found["unit on scene"], found["unit sent"]
    return {"incident": inc, "type": "drone_conflict", "where": opened.get("ref"), "steps": rows,
            "complete": all(r["time"] for r in rows), "in_order": in_order, "track": track,
            "zone": alert.feature if alert is not None else None, "zone_kind": opened.get("zone_kind"),
            "unit_type": sent.get("unit_type") if sent is not None else None,
            "minutes_alert_to_on_scene": None if on_scene is None else round((on_scene.time - t0) / 60.0, 2),
            "minutes_in_zones": None if left is None else round((left.time - t0) / 60.0, 2),
            "drone_left_before_close": bool(closed.get("drone_left")) if closed is not None else None}


def chains(session) -> dict:
    """Every chain that happened in the run: ``main_break``, ``fire``, ``gas_leak``, ``drone_conflict``."""
    out = {}
    if session.log.of("pipe_broken"):
        steps = chain(session)
        done = [r["time"] for r in steps if r["time"]]
        out["main_break"] = {"steps": steps, "complete": all(r["time"] for r in steps),
                             "in_order": done == sorted(done)}
    for itype in ("fire", "gas_leak"):
        c = _incident_chain(session, itype)
        if c is not None:
            out[itype] = c
    c = _drone_chain(session)
    if c is not None:
        out["drone_conflict"] = c
    return out


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
    every = chains(session)
    lead = "main_break" if "main_break" in every else next(iter(every), "main_break")
    complete = all(r["time"] for r in steps)
    in_order = [r["time"] for r in steps if r["time"]] == sorted(r["time"] for r in steps if r["time"])
    if lead != "main_break":
        steps = [{k: v for k, v in r.items() if k != "time_s"} for r in every[lead]["steps"]]
        complete, in_order = every[lead]["complete"], every[lead]["in_order"]
    if "fire" in every:
        for v in every["fire"]["pattern_1_3_5"]:
            targets.append({"kpi": v["kpi"], "target": v["limit_min"], "value": v["minutes"], "met": v["met"]})
    return {"name": scenario.name if scenario else "session", "start": iso(session.start), "end": iso(session.end),
            "seed": session.seed, "events": len(session.log.events), "lead_chain": lead, "chain": steps,
            "chain_complete": complete, "chain_in_order": in_order, "chains": every,
            "kpis": kpis, "targets": targets}


def water_axes(session, width: float = 8.0):
    """A figure of the run's people without water (left axis) and leak flow (right axis), over hours.

    Returns (figure, left axis, right axis, the water network's timeline table); the run and drill
    reports add their own marks and close it with :func:`png_base64`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = session.water.timeline_frame()
    hours = (tl["time_s"] - session.start) / 3600.0
    fig, ax = plt.subplots(figsize=(width, 3.6))
    ax.step(hours, tl["people_without_water"], where="post", color="tab:red", label="people without water")
    ax.set_xlabel(f"hours since {iso(session.start)}")
    ax.set_ylabel("people without water")
    ax2 = ax.twinx()
    ax2.plot(hours, tl["leak_lps"], color="tab:blue", lw=1, label="leak flow, L/s")
    ax2.set_ylabel("leak flow, L/s")
    return fig, ax, ax2, tl


def png_base64(fig) -> str:
    """The figure as a base64 PNG (for an inline data URI), and closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plot(session) -> str:
    fig, ax, _, _ = water_axes(session, 8.0)
    for e in session.log.of("pipe_broken", "valve_closed", "repair_done"):
        ax.axvline((e.time - session.start) / 3600.0, color="grey", lw=0.7, ls="--")
    ax.set_title("People without water and leak flow (dashed: break, valves closed, repair)", fontsize=10)
    fig.legend(loc="upper right", bbox_to_anchor=(0.86, 0.84), fontsize=8)   # inside the axes, clear of the title
    return png_base64(fig)


def html_report(session, doc: dict, pictures=()) -> str:
    """One self-contained HTML page (inline CSS and PNG; no network access needed to view it).

    ``pictures``: (caption, PNG bytes) of the 3D view at key moments, made by the caller (the scene
    lives in ``app/``).
    """
    esc = html.escape
    def table(steps) -> str:
        rows = "".join(f"<tr><td>{esc(r['step'])}</td><td>{esc(r['time'] or 'never')}</td>"
                       f"<td>{'' if r['minutes_after_break'] is None else r['minutes_after_break']}</td>"
                       f"<td>{esc(r['message'])}</td></tr>" for r in steps)
        return ("<table><tr><th>step</th><th>time (UTC)</th><th>minutes after the first step</th><th>what</th></tr>"
                f"{rows}</table>")

    titles = {"main_break": "The main-break chain", "fire": "The fire chain: smoke alarm, micro fire station, "
              "fire station", "gas_leak": "The gas-leak chain: methane alarm, gas crew, fire engine",
              "drone_conflict": "The drone chain: airspace alert, verification, unit to the entry point"}
    sections = []
    for name, c in (doc.get("chains") or {"main_break": {"steps": doc["chain"], "complete": doc["chain_complete"],
                                                         "in_order": doc["chain_in_order"]}}).items():
        part = (f"<h2>{esc(titles[name])}</h2><p>Complete: <b>{'yes' if c['complete'] else 'no'}</b>; in order: "
                f"<b>{'yes' if c['in_order'] else 'no'}</b>.</p>{table(c['steps'])}")
        if name == "fire":
            part += ("<h3>The 1-3-5 minute pattern (from the red fire alarm)</h3><table><tr><th>step</th>"
                     "<th>limit, min</th><th>minutes</th><th></th></tr>" + "".join(
                         f"<tr class='{'met' if v['met'] else 'missed'}'><td>{esc(v['step'])}</td>"
                         f"<td>{v['limit_min']:g}</td><td>{'never' if v['minutes'] is None else v['minutes']}</td>"
                         f"<td>{'met' if v['met'] else 'missed'}</td></tr>" for v in c["pattern_1_3_5"]) + "</table>")
        if name == "gas_leak":
            part += (f"<p>Methane source: <b>{esc(str(c.get('context') or 'not attributed'))}</b> "
                     f"({esc(str(c.get('reason') or ''))}); alarm level that opened the incident: "
                     f"{esc(str(c.get('alarm_level')))}; methane released: {c.get('volume_released_m3')} m³.</p>")
        if name == "drone_conflict":
            part += (f"<p>Drone <b>{esc(str(c.get('track')))}</b> entered {esc(str(c.get('zone_kind') or ''))} "
                     f"{esc(str(c.get('zone')))}; unit sent: {esc(str(c.get('unit_type')))}, on scene "
                     f"{c.get('minutes_alert_to_on_scene')} min after the alert; out of the red zones "
                     f"{c.get('minutes_in_zones')} min after it.</p>")
        sections.append(part)
    chains_html = "\n".join(sections)
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
{chains_html}
<h2>Key figures</h2><table><tr><th>KPI</th><th>value</th></tr>{kpis}</table>
<h2>Against the targets</h2><table><tr><th>KPI</th><th>target</th><th>value</th><th></th></tr>{targets}</table>
<h2>People without water</h2><img alt="people without water and leak flow over the run" src="data:image/png;base64,{_plot(session)}">
{pictures_html(pictures)}
<h2>Event log</h2><p>Every event but the per-frame reading counts (first 400; the full log is events.parquet / events.csv).</p>
<table><tr><th>time (UTC)</th><th>event</th><th>feature</th><th>what</th></tr>{events}</table>
</body></html>
"""


def pictures_html(pictures) -> str:
    """The report section of (caption, PNG bytes) pictures, inline (empty when there are none)."""
    if not pictures:
        return ""
    figures = "".join(f"<figure><img alt=\"{html.escape(caption)}\" src=\"data:image/png;base64,"
                      f"{base64.b64encode(png).decode()}\"><figcaption>{html.escape(caption)}</figcaption></figure>"
                      for caption, png in pictures)
    return f"<h2>The 3D view at key moments</h2>{figures}"


def write(session, scenario, out, pictures=()) -> list:
    """events.parquet, events.csv, summary.json and report.html (with ``pictures``) in ``out``."""
    from pathlib import Path

    from twin import atomic

    out = Path(out)
    doc = summary(session, scenario)
    paths = session.log.write(out)
    paths.append(atomic.write(out / "summary.json", json.dumps(doc, indent=1)))
    paths.append(atomic.write(out / "report.html", html_report(session, doc, pictures)))
    return paths
