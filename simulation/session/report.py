"""What a run of a session tells: the chain of events, KPIs against targets, and one self-contained HTML page.

Everything here reads the session's event log and the results tables of
the water network (people without water, leak flow), of the drainage
network (manholes flooding, roads under water) and of the gas network
(people without gas, leak flow), never another engine's internals.

Four chains are told apart (``summary()["chains"]``, each present when its
trigger happened): the **main break** (:data:`CHAIN`), the **fire**
(:data:`FIRE_CHAIN`: smoke alarm -> verification call -> micro fire station
and fire station on scene, with the 1-3-5 verdicts of :data:`PATTERN_1_3_5`)
and the **gas leak** (:data:`GAS_CHAIN`: leak -> methane alarm with its
gas-vs-biogas context -> gas crew and fire engine -> leak shut off) and the **drone conflict**
(:data:`DRONE_CHAIN`: airspace alert -> verification -> a unit to the entry
point -> drone out of the zones -> incident closed) and the **storm**
(:data:`STORM_CHAIN`: rain -> drains surcharged and flooding -> roads under
water and closed -> rain stopped -> roads clear, with every unit sent while
roads were under water set against the same trip on dry roads).  A gas leak
on the gas network adds :data:`GAS_SUPPLY_CHAIN` (customers without gas ->
main repaired -> gas restored).
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
#: The gas network's steps after the shut-off (simulation/gas: customers on the main lose gas until it is
#: repaired and opened again); only when the gas network ran.
GAS_SUPPLY_CHAIN = [
    ("customers without gas", "gas_supply_lost", None),
    ("main repaired", "gas_repair_done", None),
    ("gas restored", "gas_supply_restored", None),
]

#: The storm chain (simulation/drainage): rain, the drains surcharge and overflow, roads flood and close,
#: the rain stops, the roads clear.
STORM_CHAIN = [
    ("rain started", "rain_started"),
    ("first manhole surcharged", "surcharge_started"),
    ("first manhole flooding", "flooding_started"),
    ("first road flooded", "road_flooded"),
    ("first road closed", "road_closed"),
    ("rain stopped", "rain_stopped"),
    ("last road clear", "road_reopened"),
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
                      "units released": ("leak shut off", "fire engine on scene"),
                      "customers without gas": ("leak shut off",), "main repaired": ("leak shut off",)},
         "storm": {"first road closed": ("first road flooded",), "rain stopped": ("rain started",),
                   "last road clear": ("rain started",)},
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
    if itype == "gas_leak" and any(e.kind == "gas_supply_lost" for e in events):
        spec = GAS_CHAIN + GAS_SUPPLY_CHAIN
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
        elif kind in ("gas_supply_lost", "gas_supply_restored"):
            # the first after the shut-off: the customers it cut off (on that main, or fed through it)
            e = next((x for x in events if x.kind == kind and made_safe is not None and x.time >= made_safe.time),
                     None)
        elif kind == "gas_repair_done":
            e = next((x for x in events if x.kind == "repair_done" and x.layer == "gas_mains" and made_safe is not None
                      and x.feature == made_safe.feature), None)
        elif kind == "incident_opened":
            e = opened
        else:
            e = next((x for x in mine if x.kind == kind and (utype is None or x.get("unit_type") == utype)), None)
        found[label] = e
        shown = e.kind if e is not None and kind in ("fire_alarm", "made_safe") else \
            {"fire_alarm": "alarm_escalated", "made_safe": "valve_closed", "gas_repair_done": "repair_done"}.get(
                kind, kind)
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
        lost = found.get("customers without gas")
        if lost is not None:
            out["people_without_gas"] = float(lost.value)
            out["buildings_without_gas"] = lost.get("buildings")
            back = found.get("gas restored")
            out["hours_without_gas"] = None if back is None else round((back.time - lost.time) / 3600.0, 2)
    return out


def _storm_chain(session) -> dict | None:
    """The storm's steps, and every unit sent while roads were under water against the same trip dry."""
    events = session.log.events
    rain = next((e for e in events if e.kind == "rain_started"), None)
    if rain is None and not any(e.kind == "flooding_started" for e in events):
        return None
    t0 = rain.time if rain is not None else session.start
    last = {}   # road -> its last flooding event: still under water at the end unless road_reopened
    for x in events:
        if x.kind in ("road_flooded", "road_closed", "road_reopened"):
            last[x.feature] = x.kind
    wet_at_end = sorted(r for r, k in last.items() if k != "road_reopened")
    rows = []
    for label, kind in STORM_CHAIN:
        if kind == "road_reopened":   # the last road clear: never while some are still under water
            e = None if wet_at_end else next((x for x in reversed(events) if x.kind == kind), None)
        else:
            e = next((x for x in events if x.kind == kind), None)
        rows.append(_row(label, kind, e, t0))
    at = {r["step"]: r["time_s"] for r in rows}
    in_order = True
    for k, r in enumerate(rows[1:], start=1):
        before = [at[p] for p in AFTER["storm"].get(r["step"], (rows[k - 1]["step"],)) if at[p] is not None]
        if r["time_s"] is not None and before and r["time_s"] < max(before):
            in_order = False
    trips = [{"unit": e.get("unit"), "incident": e.get("incident"), "time": iso(e.time),
              "travel_s": None if e.value is None or not np.isfinite(e.value) else round(float(e.value), 1),
              "dry_travel_s": e.get("dry_travel_s"), "roads_flooded": e.get("roads_flooded")}
             for e in events if e.kind == "unit_dispatched" and e.get("roads_flooded") is not None]
    for t in trips:
        t["extra_s"] = (None if t["travel_s"] is None or t["dry_travel_s"] is None
                        else round(t["travel_s"] - float(t["dry_travel_s"]), 1))
    closed = {e.feature for e in events if e.kind == "road_closed"}
    flooded = {e.feature for e in events if e.kind == "road_flooded"}
    return {"steps": rows, "complete": all(r["time"] for r in rows[:4]), "in_order": in_order,
            "rain_mm": round(sum(float(e.value) for e in events if e.kind == "rain_stopped"), 1),
            "manholes_flooding": len({e.feature for e in events if e.kind == "flooding_started"}),
            "roads_flooded": len(flooded), "roads_closed": len(closed),
            "volume_flooded_m3": round(sum(float(e.value or 0.0) for e in events if e.kind == "flooding_stopped"), 1),
            "roads_under_water_at_end": len(wet_at_end), "trips": trips}


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
    """Every chain that happened in the run: ``main_break``, ``fire``, ``gas_leak``, ``storm``,
    ``drone_conflict``."""
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
    c = _storm_chain(session)
    if c is not None:
        out["storm"] = c
    c = _drone_chain(session)
    if c is not None:
        out["drone_conflict"] = c
    return out


def dry_day(storm: dict, dry: dict) -> list[dict]:
    """Each incident chain's steps during the storm against the same scenario on a dry day (``chains`` of
    both runs): minutes from the chain's first step, and the difference."""
    rows = []
    for name in ("fire", "gas_leak", "main_break", "drone_conflict"):
        if name not in storm or name not in dry:
            continue
        wet = {r["step"]: r["minutes_after_break"] for r in storm[name]["steps"]}
        for r in dry[name]["steps"]:
            a, b = wet.get(r["step"]), r["minutes_after_break"]
            rows.append({"chain": name, "step": r["step"], "storm_min": a, "dry_min": b,
                         "extra_min": None if a is None or b is None else round(a - b, 2)})
    return rows


def summary(session, scenario=None, dry=None) -> dict:
    """The run's chains, KPIs and targets; ``dry``: the same scenario's session without its rain (a storm
    run's incidents are then set against the dry day's, ``dry_day``)."""
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
    lead = next((c for c in ("main_break", "storm") if c in every), next(iter(every), "main_break"))
    complete = all(r["time"] for r in steps)
    in_order = [r["time"] for r in steps if r["time"]] == sorted(r["time"] for r in steps if r["time"])
    if lead != "main_break":
        steps = [{k: v for k, v in r.items() if k != "time_s"} for r in every[lead]["steps"]]
        complete, in_order = every[lead]["complete"], every[lead]["in_order"]
    if "fire" in every:
        for v in every["fire"]["pattern_1_3_5"]:
            targets.append({"kpi": v["kpi"], "target": v["limit_min"], "value": v["minutes"], "met": v["met"]})
    doc = {"name": scenario.name if scenario else "session", "start": iso(session.start), "end": iso(session.end),
           "seed": session.seed, "events": len(session.log.events), "lead_chain": lead, "chain": steps,
           "chain_complete": complete, "chain_in_order": in_order, "chains": every,
           "kpis": kpis, "targets": targets}
    if dry is not None:
        doc["dry_day"] = dry_day(every, chains(dry))
    return doc


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


def _storm_plot(session) -> str | None:
    """Rain over the run, manholes flooding and roads under water (the drainage network's timeline)."""
    drainage = getattr(session, "drainage", None)
    if drainage is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = drainage.timeline_frame()
    if not len(tl):
        return None
    hours = (tl["time_s"] - session.start) / 3600.0
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    ax.step(hours, tl["flooding_junctions"], where="post", color="tab:blue", label="manholes flooding")
    ax.step(hours, tl["flooded_roads"], where="post", color="tab:cyan", label="roads under water")
    ax.set_xlabel(f"hours since {iso(session.start)}")
    ax.set_ylabel("count")
    rain = drainage.rain
    if rain is not None:
        ax2 = ax.twinx()
        t = (rain.start_s + np.arange(len(rain.values)) * rain.step_s) / 3600.0
        ax2.bar(t, rain.values, width=rain.step_s / 3600.0, align="edge", color="tab:grey", alpha=0.35,
                label="rain, mm/h")
        ax2.set_ylabel("rain, mm/h")
        ax2.invert_yaxis()
    for e in session.log.of("unit_dispatched"):
        if e.get("roads_flooded") is not None:
            ax.axvline((e.time - session.start) / 3600.0, color="tab:red", lw=0.8, ls="--")
    ax.set_title("Manholes flooding, roads under water, rain (bars, from the top); dashed: units sent", fontsize=9)
    fig.legend(loc="upper right", bbox_to_anchor=(0.86, 0.84), fontsize=8)
    return png_base64(fig)


def _gas_plot(session) -> str | None:
    """People without gas and the leak's flow over the run (the gas network's timeline)."""
    gas = getattr(session, "gas", None)
    if gas is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = gas.timeline_frame()
    if not len(tl):
        return None
    hours = np.append((tl["time_s"] - session.start) / 3600.0, (session.now - session.start) / 3600.0)
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    people = np.append(tl["people_without_gas"].to_numpy(), tl["people_without_gas"].iloc[-1])
    leak = np.append(tl["leak_lps"].to_numpy(), tl["leak_lps"].iloc[-1])
    ax.step(hours, people, where="post", color="tab:purple", label="people without gas")
    ax.set_xlabel(f"hours since {iso(session.start)}")
    ax.set_ylabel("people without gas")
    ax2 = ax.twinx()
    ax2.step(hours, leak, where="post", color="tab:orange", label="leak flow, L/s")
    ax2.set_ylabel("leak flow, L/s")
    ax.set_title("People without gas and the leak's flow (from the gas network's steady states)", fontsize=9)
    fig.legend(loc="upper right", bbox_to_anchor=(0.86, 0.84), fontsize=8)
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
              "drone_conflict": "The drone chain: airspace alert, verification, unit to the entry point",
              "storm": "The storm chain: rain, drains surcharged and flooding, roads under water"}
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
            if "people_without_gas" in c:
                part += (f"<p>Without gas while the main was shut: <b>{c['people_without_gas']:.0f} people</b> in "
                         f"{c.get('buildings_without_gas')} buildings, for "
                         f"{'the rest of the run' if c['hours_without_gas'] is None else str(c['hours_without_gas']) + ' h'}.</p>")
        if name == "storm":
            part += (f"<p>Rain: {c['rain_mm']} mm; manholes that flooded: {c['manholes_flooding']} "
                     f"({c['volume_flooded_m3']} m³ on the streets); roads under water: {c['roads_flooded']}, "
                     f"closed (30 cm or more): {c['roads_closed']}; still under water at the end of the run: "
                     f"{c['roads_under_water_at_end']}.</p>")
            if c["trips"]:
                part += ("<h3>Units sent while the streets were under water, against the same trip on dry roads</h3>"
                         "<table><tr><th>sent (UTC)</th><th>unit</th><th>incident</th><th>travel, s</th>"
                         "<th>dry roads, s</th><th>extra, s</th><th>roads under water</th></tr>" + "".join(
                             f"<tr><td>{esc(t['time'])}</td><td>{esc(str(t['unit']))}</td>"
                             f"<td>{esc(str(t['incident']))}</td><td>{'no way' if t['travel_s'] is None else t['travel_s']}"
                             f"</td><td>{t['dry_travel_s']}</td><td>{'' if t['extra_s'] is None else t['extra_s']}</td>"
                             f"<td>{t['roads_flooded']}</td></tr>" for t in c["trips"]) + "</table>")
        if name == "drone_conflict":
            part += (f"<p>Drone <b>{esc(str(c.get('track')))}</b> entered {esc(str(c.get('zone_kind') or ''))} "
                     f"{esc(str(c.get('zone')))}; unit sent: {esc(str(c.get('unit_type')))}, on scene "
                     f"{c.get('minutes_alert_to_on_scene')} min after the alert; out of the red zones "
                     f"{c.get('minutes_in_zones')} min after it.</p>")
        sections.append(part)
    if doc.get("dry_day"):
        sections.append("<h2>During the storm against a dry day</h2><p>The same scenario run again without its "
                        "rain: minutes from each chain's first step.</p><table><tr><th>chain</th><th>step</th>"
                        "<th>storm, min</th><th>dry day, min</th><th>extra, min</th></tr>" + "".join(
                            f"<tr><td>{esc(r['chain'].replace('_', ' '))}</td><td>{esc(r['step'])}</td>"
                            f"<td>{'never' if r['storm_min'] is None else r['storm_min']}</td>"
                            f"<td>{'never' if r['dry_min'] is None else r['dry_min']}</td>"
                            f"<td>{'' if r['extra_min'] is None else r['extra_min']}</td></tr>"
                            for r in doc["dry_day"]) + "</table>")
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
{_section("The storm", "manholes flooding, roads under water and rain over the run", _storm_plot(session))}
{_section("People without gas", "people without gas and the leak's flow over the run", _gas_plot(session))}
{pictures_html(pictures)}
<h2>Event log</h2><p>Every event but the per-frame reading counts (first 400; the full log is events.parquet / events.csv).</p>
<table><tr><th>time (UTC)</th><th>event</th><th>feature</th><th>what</th></tr>{events}</table>
</body></html>
"""


def _section(title: str, alt: str, png: str | None) -> str:
    return "" if png is None else f'<h2>{html.escape(title)}</h2><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


def pictures_html(pictures) -> str:
    """The report section of (caption, PNG bytes) pictures, inline (empty when there are none)."""
    if not pictures:
        return ""
    figures = "".join(f"<figure><img alt=\"{html.escape(caption)}\" src=\"data:image/png;base64,"
                      f"{base64.b64encode(png).decode()}\"><figcaption>{html.escape(caption)}</figcaption></figure>"
                      for caption, png in pictures)
    return f"<h2>The 3D view at key moments</h2>{figures}"


def write(session, scenario, out, pictures=(), dry=None) -> list:
    """events.parquet, events.csv, summary.json and report.html (with ``pictures``) in ``out``; ``dry``: the
    scenario's run without its rain, for a storm run."""
    from pathlib import Path

    from twin import atomic

    out = Path(out)
    doc = summary(session, scenario, dry)
    paths = session.log.write(out)
    paths.append(atomic.write(out / "summary.json", json.dumps(doc, indent=1)))
    paths.append(atomic.write(out / "report.html", html_report(session, doc, pictures)))
    return paths
