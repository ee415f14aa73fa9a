"""Scoring a drill: each expected action met, late or missed; each objective rated P / S / M / U.

An expected action is **met** when a matching action (:func:`simulation.drill.controller.matches`)
was taken by its deadline, **late** when after it (before the end of the exercise),
**missed** when never; ``minutes`` counts from the inject's delivery.  An expected
action whose inject was never delivered (its trigger never came, or the controller
cancelled it) is **not_played** and does not count.

Each objective is rated from the expected actions that serve it (HSEEP's ratings):

* **P**, performed without challenges: every action met;
* **S**, performed with some challenges: none missed, at least one late;
* **M**, performed with major challenges: at least one missed, at least one met or late;
* **U**, unable to be performed: every action missed;

an objective with no action played is not rated (None).  An evaluator's ``rating``
entry overrides the rule (the rule's rating is kept beside it, with the note).
"""

from __future__ import annotations

from simulation.clock import iso

RATINGS = {"P": "performed without challenges", "S": "performed with some challenges",
           "M": "performed with major challenges", "U": "unable to be performed"}


def rate(statuses: list[str]) -> str | None:
    """The P / S / M / U rating of an objective from its actions' statuses (module docstring)."""
    played = [s for s in statuses if s != "not_played"]
    if not played:
        return None
    missed = played.count("missed")
    if missed == len(played):
        return "U"
    if missed:
        return "M"
    return "S" if "late" in played else "P"


def score(controller, actions=None) -> dict:
    """Expected actions, objectives and the evaluator's entries of a played drill, as plain data."""
    drill, session = controller.drill, controller.session
    by_seq = {e.seq: e for e in controller.actions}
    rows = []
    for n, inj in sorted(controller.injects.items()):
        for k, ex in enumerate(inj.expect):
            rec = controller.expected.get((n, k))
            row = {"inject": n, "index": k, "action": ex.action, "parameters": ex.parameters, "role": ex.role,
                   "objective": ex.objective, "deadline_min": ex.deadline_min, "delivered": None, "due": None,
                   "taken": None, "minutes": None, "status": "not_played", "by": None, "contingency_released": []}
            if rec is not None:
                delivered = controller.delivered[n]
                row.update(delivered=iso(delivered), due=iso(rec["due"]), contingency_released=rec["released"])
                if rec["met_at"] is None:
                    row["status"] = "missed"
                else:
                    row.update(taken=iso(rec["met_at"]), minutes=round((rec["met_at"] - delivered) / 60.0, 2),
                               status="met" if rec["met_at"] <= rec["due"] else "late",
                               by=by_seq[rec["action_seq"]].get("role"))
            rows.append(row)
    overrides = {}
    for e in (actions.evaluator if actions is not None else []):
        if e.kind == "rating":
            overrides[e.objective] = e
    objectives = []
    for o in drill.objectives:
        statuses = [r["status"] for r in rows if r["objective"] == o.id]
        by_rule = rate(statuses)
        ov = overrides.get(o.id)
        objectives.append({"id": o.id, "text": o.text, "rule": by_rule, "rating": ov.rating if ov else by_rule,
                           "overridden": ov is not None, "note": ov.text if ov else "",
                           "actions": {s: statuses.count(s) for s in ("met", "late", "missed", "not_played")}})
    evaluator = [e.model_dump(exclude_none=True) for e in (actions.evaluator if actions is not None else [])]
    return {"drill": drill.name, "date": drill.date, "start": iso(session.start), "end": iso(session.end),
            "seed": session.seed,
            "injects": [{"number": n, "state": controller.state[n],
                         "delivered": iso(controller.delivered[n]) if n in controller.delivered else None,
                         "history": [(iso(t), s) for t, s in controller.history[n]]}
                        for n in sorted(controller.injects)],
            "expected": rows, "objectives": objectives, "evaluator": evaluator,
            "counts": {s: sum(1 for r in rows if r["status"] == s) for s in ("met", "late", "missed", "not_played")}}


def people_hours(log, end: float) -> float:
    """People-hours without water from the event log's service_lost / service_restored events."""
    lost, total = {}, 0.0
    for e in log.events:
        if e.kind == "service_lost":
            lost[e.feature] = (e.time, e.value or 0.0)
        elif e.kind == "service_restored" and e.feature in lost:
            t, people = lost.pop(e.feature)
            total += people * (e.time - t) / 3600.0
    return total + sum(people * (end - t) / 3600.0 for t, people in lost.values())


def kpis(session, scenario) -> list[dict]:
    """KPIs of the drill from the event log, against the scenario's targets where it has them.

    One block per chain the drill played (:func:`simulation.session.report.chains`):

    * a **main break**: break to the first valve closed and to isolation — the leak stopped
      (``leak_stopped``), not the first valve closed: closing a wrong valve does not isolate —, people-hours
      without water (:func:`people_hours`) and the volume lost, against the scenario's targets;
    * a **fire** (the first one): the 1-3-5 minutes from the red alarm to verified, micro fire station and
      fire station on scene, against 1, 3 and 5 minutes;
    * a **gas leak** (the first one): minutes from the leak to the first methane alarm, to the gas crew on
      scene and to the leak stopped, and the methane released (no standard target).
    """
    from simulation.session.report import chains

    log = session.log
    rows = []
    breaks = log.of("pipe_broken")
    if breaks:
        closed = log.of("valve_closed")
        stopped = [e for e in log.of("leak_stopped") if e.layer == "water_pipes"] or log.of("leak_stopped")
        t0 = breaks[0].time
        rows += [
            ("minutes_break_to_valves_closed", round((closed[0].time - t0) / 60.0, 1) if closed else None, None),
            ("minutes_break_to_isolation", round((stopped[0].time - t0) / 60.0, 1) if stopped else None,
             scenario.targets.isolation_min),
            ("people_hours_without_water", round(people_hours(log, session.end), 1),
             scenario.targets.people_hours_without_water),
            ("volume_lost_m3", round(sum(b["volume_m3"] for b in session.water.breaks.values()), 1),
             scenario.targets.volume_lost_m3),
        ]
    every = chains(session)
    if "fire" in every:
        rows += [(v["kpi"], v["minutes"], v["limit_min"]) for v in every["fire"]["pattern_1_3_5"]]
    if "gas_leak" in every:
        gas = every["gas_leak"]
        at = {r["step"]: r["minutes_after_break"] for r in gas["steps"]}
        rows += [("minutes_leak_to_methane_alarm", at.get("first methane alarm"), None),
                 ("minutes_leak_to_gas_crew_on_scene", at.get("gas crew on scene"), None),
                 ("minutes_leak_to_leak_stopped", at.get("leak stopped"), None),
                 ("methane_released_m3", gas.get("volume_released_m3"), None)]
    return [{"kpi": k, "value": v, "target": t, "met": None if t is None else (v is not None and v <= t)}
            for k, v, t in rows]
