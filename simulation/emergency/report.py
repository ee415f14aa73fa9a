"""An emergency run reported: replications, KPIs with 95% CIs, the planner's tables and plots.

:func:`simulate_to` runs the replications and returns the report (the KPIs
combined over replications, the fleet, the road graph, the notes); with a
folder it also writes ``kpis.json``, ``incidents.csv``, ``crews.csv`` and the
PNG plots there.  :func:`drill_response` says who answered each alarm of the
sensors drill day, and :func:`showcase` is the ``lifeline-twin start`` step
that does both on the demo city.  The tables and plots are views of the runs
(:mod:`.results`, :mod:`.plots`); nothing here is computed a second time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from simulation.emergency import plots
from simulation.emergency import results as tables
from simulation.emergency.config import load_scenario
from simulation.emergency.incidents import read_alarm_log
from simulation.emergency.model import EmergencyModel
from twin import atomic


def simulate_to(model, days: float, replications: int, out: Path | None, seed=None, incidents=None,
                progress=None) -> dict:
    """Run the replications; write the tables, KPIs and plots into ``out``; return the report.

    ``progress(done, total, text)`` hears of every simulated day (see ``EmergencyModel.simulate``).
    """
    if days <= 0:
        raise ValueError(f"--days must be positive, got {days}")
    runs = model.simulate(days, replications, seed=seed, incidents=incidents, progress=progress)
    report = report_of(model, runs, days)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # what a planner reads: day and clock time, minutes, units in every header, no scientific notation
        atomic.write(out / "incidents.csv", tables.to_csv(tables.incident_table(runs[0])))
        atomic.write(out / "crews.csv", tables.to_csv(tables.crew_table(runs[0])))
        util = tables.utilisation(runs[0])
        for r in runs[1:]:
            util["utilisation"] += tables.utilisation(r)["utilisation"].to_numpy()
        util["utilisation"] /= len(runs)
        files = [plots.response_ecdf(runs[0].incidents, out / "response_ecdf.png", response_limits(model.scenario),
                                     f"{model.twin.name}: response time, {days:g} days"),
                 plots.utilisation_chart(util, out / "utilisation.png",
                                         f"{model.twin.name}: unit utilisation (mean of {replications} replications)")]
        cov = model.coverage(5.0)
        files.append(plots.coverage_map(model, cov, out / "coverage.png"))
        report["coverage_5min"] = cov.as_dict()
        atomic.write(out / "kpis.json", json.dumps(report, indent=1))
        report["files"] = [str(p) for p in [out / "kpis.json", out / "incidents.csv", out / "crews.csv", *files]]
    return report


def report_of(model, runs, days: float) -> dict:
    """The report of replications already run: KPIs combined over them (95 % CIs), fleet, roads, notes."""
    summaries = [tables.summarise(r, model.scenario) for r in runs]
    return {"project": model.twin.name, "days": days, "replications": len(runs),
            "fleet": model.fleet.describe(),
            "road_graph": model.graph.describe() if model.graph is not None else None,
            "events": sum(r.events for r in runs),
            "kpis": tables.combine(summaries), "notes": runs[0].notes}


def response_limits(scenario) -> list[float]:
    """Response-time limits (s) drawn over report -> first unit on scene: the scenario's own
    report-to-scene standards, and 5 and 8 minutes (the usual first-unit and full-alarm marks)."""
    return sorted({st.limit_s for st in scenario.standards if st.measure == "report_to_scene"} | {300.0, 480.0})


def drill_response(model, alarms_path: Path, path: Path) -> Path:
    """Who answers the drill day's alarms, and when: one row per alarm-raised incident."""
    incidents = read_alarm_log(alarms_path, model.twin, model.scenario)
    run = model.simulate(1.0 + float(np.floor(incidents.time.max() / 86400.0)), 1, incidents=incidents)[0]
    inc = tables.incident_times(run)
    crews = run.crews[run.crews["arrived"]].sort_values("on_scene").drop_duplicates("incident")
    first = crews.set_index("incident")
    rows = []
    for r in inc.itertuples():
        unit = first.loc[r.incident] if r.incident in first.index else None
        rows.append({"alarm": r.ref, "type": r.type, "priority": int(r.priority),
                     "reported_s": float(r.report),
                     "false_alarm": bool(r.false_alarm),
                     "first_unit": None if unit is None else unit["unit_name"],
                     "first_unit_station_kind": None if unit is None else unit["station_kind"],
                     "response_s": _seconds(r.response_s),
                     "call_processing_s": _seconds(r.call_processing_s),
                     "turnout_s": _seconds(r.turnout_s),
                     "travel_s": _seconds(r.travel_s)})
    atomic.write(path, json.dumps({"source": str(alarms_path), "incidents": rows, "notes": run.notes}, indent=1))
    return path


def _seconds(v) -> float | None:
    return None if np.isnan(v) else round(float(v), 1)


def showcase(twin, project_path, out_dir) -> list[Path]:
    """``lifeline-twin start`` step: a year of incidents on the demo city, KPIs and plots."""
    model = EmergencyModel.from_twin(twin, load_scenario())
    out = Path(out_dir) / "emergency"
    report = simulate_to(model, 365.0, 3, out)
    files = [Path(f) for f in report["files"] if not f.endswith(".csv")]
    alarms = Path(out_dir) / "sensor_alarms.json"  # the sensors drill's alarm log, when that step ran
    if alarms.exists():
        files.append(drill_response(model, alarms, out / "drill_response.json"))
    return files
