"""Response-time statistics, standards, utilisation and confidence intervals from the run tables.

Everything here reads the two tables a run observed (incidents × steps and
crews) and nothing else.  Response time is split into call processing
(report -> request: verification and dispatch), queue (request -> first unit
assigned), turnout (assigned -> first-arriving crew rolls) and travel
(rolling -> on scene); response = report -> first unit on scene.

The run tables are in seconds from the start of the run (what the engine
counts in); :func:`incident_table` and :func:`crew_table` are the same in the
units a planner reads (day, clock time, minutes), for CSV files written with
:func:`to_csv`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from simulation.emergency.config import Scenario, Standard
from simulation.emergency.response import Run

COMPONENTS = ("call_processing_s", "queue_s", "turnout_s", "travel_s", "response_s")


def incident_times(run: Run) -> pd.DataFrame:
    """The incident table with the response-time components as columns."""
    inc = run.incidents.copy()
    inc["call_processing_s"] = inc["request"] - inc["report"]
    inc["queue_s"] = inc["assign"] - inc["request"]
    inc["turnout_s"] = inc["turnout"] - inc["assign"]
    inc["travel_s"] = inc["on_scene"] - inc["turnout"]
    inc["response_s"] = inc["on_scene"] - inc["report"]
    return inc


def _stats(values: pd.Series) -> dict:
    v = values.dropna().to_numpy(float)
    if len(v) == 0:
        return {"n": 0, "mean": None, "median": None, "p90": None}
    return {"n": int(len(v)), "mean": float(v.mean()), "median": float(np.median(v)),
            "p90": float(np.percentile(v, 90))}


def _group(inc: pd.DataFrame) -> dict:
    real = inc[~inc["false_alarm"]]
    served = real[real["on_scene"].notna()]
    out = {"incidents": int(len(inc)), "false_alarms": int(inc["false_alarm"].sum()),
           "served": int(len(served)), "unserved": int(len(real) - len(served)),
           "queued": int((served["queue_s"] > 0).sum()),
           "response_s": _stats(served["response_s"])}
    for comp in COMPONENTS[:-1]:
        out[comp] = float(served[comp].mean()) if len(served) else None
    return out


def crew_times(run: Run) -> pd.DataFrame:
    """Every crew sent, with its measures and the incident's type and report time
    (``arrived`` false: turned round before reaching the scene)."""
    crews = run.crews.copy()
    crews["arrived"] = crews["arrived"].astype(bool)
    inc = run.incidents.set_index("incident")
    crews["type"] = inc["type"].reindex(crews["incident"]).to_numpy()
    crews["turnout"] = crews["rolling"] - crews["dispatched"]
    crews["travel"] = crews["on_scene"] - crews["rolling"]
    crews["dispatch_to_scene"] = crews["on_scene"] - crews["dispatched"]
    crews["report_to_scene"] = crews["on_scene"] - inc["report"].reindex(crews["incident"]).to_numpy()
    crews["unfilled_slots"] = inc["unfilled_slots"].reindex(crews["incident"]).to_numpy()
    return crews


def standard_share(crews: pd.DataFrame, st: Standard) -> dict:
    sel = crews
    if st.units:
        sel = sel[sel["unit_type"].isin(st.units)]
    if st.stations:
        sel = sel[sel["station_kind"].isin(st.stations)]
    if st.incident_types:
        sel = sel[sel["type"].isin(st.incident_types)]
    if st.scope == "full_alarm":
        # The whole assignment on scene: an incident where a unit never came (still queued, or
        # turned round because the first crews had finished) fails the standard.
        incomplete = (~sel["arrived"] | (sel["unfilled_slots"] > 0)).groupby(sel["incident"]).transform("any")
        sel = sel.assign(**{st.measure: np.where(incomplete, np.inf, sel[st.measure])})
        sel = sel.sort_values("on_scene").drop_duplicates("incident", keep="last")
    else:
        sel = sel[sel["arrived"]]
        if st.scope == "first":
            sel = sel.sort_values("on_scene").drop_duplicates("incident", keep="first")
    v = sel[st.measure].to_numpy(float)
    share = float((v <= st.limit_s).mean()) if len(v) else None
    return {"name": st.name, "n": int(len(v)), "limit_s": st.limit_s, "target": st.target,
            "share": share, "met": None if share is None else bool(share >= st.target),
            "p90_s": _p90_or_none(v)}


def _p90_or_none(v: np.ndarray) -> float | None:
    """90th percentile, None when empty or when it is a unit that never came (inf)."""
    if len(v) == 0:
        return None
    p = np.percentile(v, 90, method="linear" if np.isfinite(v).all() else "higher")
    return float(p) if np.isfinite(p) else None


def utilisation(run: Run) -> pd.DataFrame:
    """Busy share of each unit: dispatched -> back at station, over its on-duty time in the horizon."""
    h = run.horizon_s
    crews = run.crews
    busy = (np.minimum(crews["back"], h) - np.minimum(crews["dispatched"], h)).clip(lower=0)
    per_unit = busy.groupby(crews["unit"]).sum()
    rows = []
    for u in run.fleet.units:
        if u.off_duty == "off" and not u.always_on:
            a, b = u.duty_start_s, u.duty_end_s
            per_day = (b - a) if a < b else (86400.0 - a + b)
            duty = h / 86400.0 * per_day
        else:
            duty = h
        rows.append((u.name, u.type, run.fleet.stations[u.station].id,
                     run.fleet.stations[u.station].kind, float(per_unit.get(u.index, 0.0)) / duty,
                     int((crews["unit"] == u.index).sum())))
    return pd.DataFrame(rows, columns=["unit", "unit_type", "station", "station_kind", "utilisation", "responses"])


def summarise(run: Run, scenario: Scenario) -> dict:
    """The KPIs of one replication, as plain JSON-ready values."""
    inc = incident_times(run)
    crews = crew_times(run)
    by_type = {}
    for name, grp in inc.groupby("type", sort=True):
        entry = _group(grp)
        entry["by_priority"] = {str(p): _group(g) for p, g in grp.groupby("priority", sort=True)}
        by_type[name] = entry
    util = utilisation(run)
    util_type = {t: {"mean": float(g["utilisation"].mean()), "max": float(g["utilisation"].max())}
                 for t, g in util.groupby("unit_type")}
    queued_crews = run.crews[run.crews["queued_s"] > 0]
    return {
        "overall": _group(inc),
        "by_type": by_type,
        "standards": [standard_share(crews, st) for st in scenario.standards],
        "utilisation": {"mean": float(util["utilisation"].mean()), "max": float(util["utilisation"].max()),
                        "by_unit_type": util_type},
        "queued_calls": {"incidents": int((inc["queue_s"] > 0).sum()),
                         "crews": int(len(queued_crews)),
                         "mean_wait_s": float(queued_crews["queued_s"].mean()) if len(queued_crews) else 0.0},
        "mutual_aid_share": float(crews.loc[crews["arrived"], "mutual_aid"].mean()) if crews["arrived"].any() else 0.0,
        "far_incidents": int((inc["snap_m"] > scenario.roads.max_snap_m).sum()),
    }


# ---------------------------------------------------------------------- tables for people
#: Decimals of every number in a CSV written for people: plain digits, never ``1.2e+04``.
CSV_FLOAT_FORMAT = "%.2f"


def _clock(seconds: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Seconds from the start of the run -> (day number from 1, clock time HH:MM:SS); empty when NaN."""
    s = pd.to_numeric(seconds, errors="coerce")
    day = (s // 86400 + 1).astype("Int64")
    rem = (s % 86400).round()
    text = [f"{int(v // 3600):02d}:{int(v % 3600 // 60):02d}:{int(v % 60):02d}" if pd.notna(v) else ""
            for v in rem]
    return day, pd.Series(text, index=s.index, dtype=object)


def _minutes(seconds) -> pd.Series:
    return pd.to_numeric(seconds, errors="coerce") / 60.0


def incident_table(run: Run) -> pd.DataFrame:
    """The incidents of a run as a planner reads them: when (day, clock time), what, and each part
    of the response in minutes; every header names its unit (``_min``, ``_m``)."""
    inc = incident_times(run)
    day, clock = _clock(inc["report"])
    out = pd.DataFrame({"incident": inc["incident"], "ref": inc.get("ref", ""), "type": inc["type"],
                        "priority": inc["priority"], "false_alarm": inc["false_alarm"].astype(bool),
                        "report_day": day, "report_time": clock})
    for col in COMPONENTS:
        out[col.replace("_s", "_min")] = _minutes(inc[col])
    out["on_scene_to_handled_min"] = _minutes(inc["handled"] - inc["on_scene"])
    out["report_to_close_min"] = _minutes(inc["close"] - inc["report"])
    out["unfilled_slots"] = inc["unfilled_slots"]
    out["x_m"], out["y_m"], out["snap_to_road_m"] = inc["x"], inc["y"], inc["snap_m"]
    return out


def crew_table(run: Run) -> pd.DataFrame:
    """Every crew sent, in minutes: turnout, travel, dispatch -> on scene, time busy; when sent (day, clock)."""
    crews = crew_times(run)
    day, clock = _clock(crews["dispatched"])
    return pd.DataFrame({
        "incident": crews["incident"], "type": crews["type"], "unit": crews["unit_name"],
        "unit_type": crews["unit_type"], "station_kind": crews["station_kind"],
        "dispatched_day": day, "dispatched_time": clock,
        "turnout_min": _minutes(crews["turnout"]), "travel_min": _minutes(crews["travel"]),
        "dispatch_to_scene_min": _minutes(crews["dispatch_to_scene"]),
        "report_to_scene_min": _minutes(crews["report_to_scene"]),
        "busy_min": _minutes(crews["back"] - crews["dispatched"]),
        "queued_min": _minutes(crews["queued_s"]),
        "arrived": crews["arrived"], "initial": crews["initial"].astype(bool),
        "mutual_aid": crews["mutual_aid"].astype(bool), "en_route": crews["en_route"].astype(bool)})


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text for people: numbers with two decimals (no scientific notation), no index."""
    return frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)


# ---------------------------------------------------------------------- replications
def _flatten(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, prefix + (str(k),))
    elif isinstance(d, list):
        for item in d:
            key = item.get("name") if isinstance(item, dict) else None
            yield from _flatten(item, prefix + (str(key),))
    else:
        yield prefix, d


def _interval(values: list, share: bool = False) -> dict | None:
    """Mean and Student-t 95 % interval, kept within what the quantity can be (>= 0; <= 1 for shares)."""
    v = np.array([x for x in values if x is not None and not isinstance(x, (bool, str))], dtype=float)
    if len(v) == 0:
        return None
    mean = float(v.mean())
    if len(v) < 2 or np.all(v == v[0]):
        return {"mean": mean, "ci95": [mean, mean]}
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    lo, hi = mean - half, mean + half
    if v.min() >= 0:
        lo = max(lo, 0.0)
    if share:
        hi = min(hi, 1.0)
    return {"mean": mean, "ci95": [lo, hi]}


def combine(summaries: list[dict]) -> dict:
    """Replications -> the same structure with every number as {mean, ci95: [low, high]}
    (Student-t 95 % interval over replications); text and flags from the first one."""
    flat = [dict(_flatten(s)) for s in summaries]
    keys = list(flat[0])
    for f in flat[1:]:
        keys += [k for k in f if k not in flat[0]]
    combined = {}
    for key in keys:
        vals = [f.get(key) for f in flat]
        first = next((v for v in vals if v is not None), None)
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            share = key[-1].endswith("share") or (key[-1] in ("mean", "max") and "utilisation" in key)
            combined[key] = _interval(vals, share=share)
        else:
            combined[key] = first
    return _unflatten(_union(summaries), combined)


def _union(items: list):
    """One template holding every key any replication has (a rare type may miss in one)."""
    first = items[0]
    if isinstance(first, dict):
        keys = list(first)
        for d in items[1:]:
            keys += [k for k in d if k not in keys]
        return {k: _union([d[k] for d in items if k in d]) for k in keys}
    return first


def _unflatten(template, combined, prefix=()):
    if isinstance(template, dict):
        return {k: _unflatten(v, combined, prefix + (str(k),)) for k, v in template.items()}
    if isinstance(template, list):
        return [_unflatten(item, combined, prefix + (str(item.get("name") if isinstance(item, dict) else None),))
                for item in template]
    return combined.get(prefix)
