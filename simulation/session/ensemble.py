"""Seeded variations of a scenario, run on Dask: outcome distributions, failures recorded.

Replication ``k`` of a scenario keeps its twin and changes, from a generator
seeded with (scenario seed, k):

* the session seed (sensor noise and every draw of the engines) = seed + k;
* every break's time, moved by a uniform draw within ±``jitter_min`` (default
  30 min), on the session step;
* every break's hole, times a lognormal factor (sd of the log 0.3: hole sizes
  of real bursts spread over a factor of about two);
* the repair time, times a uniform factor in [0.75, 1.5] (crews, parts, ground).

Replication 0 is the scenario as written.  With ``plan`` (a retrofit plan,
:func:`simulation.hydraulics.retrofit.read_plan`), every replication runs on
the network with the plan applied, so the same seeded breaks compare the
network as it is with the plan by the emergency's own measures (break to
isolation, people-hours without water, volume lost), not only hydraulics.
Each replication runs a full
session (:func:`~simulation.session.scenario.build_session`) and reports its
KPIs (:func:`~simulation.session.report.summary`).  Runs go through
:func:`simulation.hydraulics.sweep.sweep`: in this process, on a local cluster
of ``workers`` processes, or on a running scheduler; a replication that fails
is recorded with its reason and the ensemble completes.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.hydraulics.sweep import Study, sweep

KPIS = ("minutes_break_to_isolation", "volume_lost_m3", "people_hours_without_water", "peak_people_without_water",
        "incidents", "false_alarm_incidents")


def vary(scenario, k: int, jitter_min: float = 30.0):
    """Replication ``k`` of ``scenario`` (0: as written)."""
    if k == 0:
        return scenario
    rng = np.random.default_rng([scenario.seed, k])
    start = scenario.start_s()
    end = start + scenario.duration_h * 3600.0
    breaks = []
    for b in scenario.breaks:
        t = scenario.break_time(b) + rng.uniform(-jitter_min, jitter_min) * 60.0
        t = start + round((t - start) / scenario.step_s) * scenario.step_s
        t = min(max(t, start), end - scenario.step_s)
        iso = pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        breaks.append(b.model_copy(update={"at": iso, "hole_mm": float(np.clip(
            b.hole_mm * rng.lognormal(0.0, 0.3), 10.0, 2000.0))}))
    response = scenario.response.model_copy(update={"repair_h": scenario.response.repair_h * rng.uniform(0.75, 1.5)})
    return scenario.model_copy(update={"seed": scenario.seed + k, "breaks": breaks, "response": response})


class ReplicationStudy(Study):
    """One scenario's replications: each worker builds the twin once, then runs sessions."""

    def __init__(self, scenario, folder, plan: str | None = None):
        super().__init__()
        self.scenario = scenario
        self.folder = str(folder)
        self.plan = plan

    def prepare(self):
        from simulation.hydraulics.system import from_twin

        s = self.scenario
        if s.twin.project:
            from twin.project import load

            twin = load(Path(self.folder) / s.twin.project)
        else:
            from twin.demo import build_demo

            twin = build_demo(seed=s.twin.demo_seed)
        system = from_twin(twin)
        if self.plan:
            import datetime

            from simulation.hydraulics.retrofit import apply_plan, read_plan

            plan = read_plan(Path(self.folder) / self.plan, system)
            system = apply_plan(system, plan, int(plan.year or datetime.date.today().year))
        return twin, system

    def evaluate(self, state, k: int) -> dict:
        from simulation.session import report
        from simulation.session.scenario import build_session

        twin, system = state
        variant = vary(self.scenario, int(k))
        session = build_session(variant, Path(self.folder), twin=twin, system=system).run()
        doc = report.summary(session, variant)
        out = {key: doc["kpis"][key] for key in KPIS}
        out["break_at"] = ";".join(b.at for b in variant.breaks)
        out["chain_complete"] = doc["chain_complete"]
        return out


def ensemble(scenario, folder, replications: int, *, workers: int = 0, scheduler: str | None = None,
             progress: bool = False, plan: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(one row per replication, the sweep's bookkeeping); ``plan``: run on the network with that plan."""
    if replications < 1:
        raise ValueError(f"replications must be at least 1, not {replications}")
    report = sweep(ReplicationStudy(scenario, folder, plan), list(range(replications)), workers=workers,
                   scheduler=scheduler, progress=progress, desc=f"replications ({plan or 'as is'})", batch_size=1)
    rows = []
    for o in report.outcomes:
        row = {"network": plan or "as is", "replication": o.scenario, "seconds": round(o.seconds, 3),
               "error": o.error or ""}
        row.update(o.value or {})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table, {"replications": replications, "failed": int((table["error"] != "").sum()),
                   "seconds": round(report.seconds, 3), "workers": report.workers}


def distribution(table: pd.DataFrame) -> dict:
    """KPI -> n, mean, p10, p50, p90 over the replications that ran (one network's table)."""
    ok = table[table["error"] == ""]
    out = {}
    for key in KPIS:
        if key in ok and ok[key].notna().any():
            v = pd.to_numeric(ok[key], errors="coerce").dropna().to_numpy(float)
            out[key] = {"n": int(len(v)), "mean": round(float(v.mean()), 2),
                        **{f"p{q}": round(float(np.percentile(v, q)), 2) for q in (10, 50, 90)}}
    return out


def write(table: pd.DataFrame, meta: dict, scenario, out) -> list:
    from twin import atomic

    out = Path(out)
    networks = list(dict.fromkeys(table["network"])) if "network" in table else ["as is"]
    dist = distribution(table[table["network"] == networks[0]]) if "network" in table else distribution(table)
    doc = {"scenario": scenario.name, **meta, "distribution": dist}
    if len(networks) > 1:
        doc["compared"] = {n: distribution(table[table["network"] == n]) for n in networks}
    paths = [atomic.write(out / "ensemble.csv", table.to_csv(index=False, float_format="%.3f")),
             atomic.write(out / "ensemble.json", json.dumps(doc, indent=1)),
             atomic.write(out / "ensemble.html", _page(table, doc))]
    return paths


def _page(table: pd.DataFrame, doc: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[table["error"] == ""]
    groups = list(dict.fromkeys(ok["network"])) if "network" in ok else [None]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (key, label) in zip(axes, (("minutes_break_to_isolation", "break to isolation, min"),
                                       ("people_hours_without_water", "people-hours without water"),
                                       ("volume_lost_m3", "volume lost, m³"))):
        for g in groups:
            part = ok if g is None else ok[ok["network"] == g]
            v = pd.to_numeric(part.get(key, pd.Series(dtype=float)), errors="coerce").dropna()
            ax.hist(v, bins=min(20, max(3, len(v) // 2)), alpha=0.6, label=g or "as is")
        ax.set_xlabel(label)
        ax.set_ylabel("replications")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{doc['scenario']}: {len(ok)} of {doc['replications']} replications")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    esc = html.escape
    compared = doc.get("compared", {"as is": doc["distribution"]})
    rows = "".join(f"<tr><td>{esc(n)}</td><td>{esc(k.replace('_', ' '))}</td><td>{d['n']}</td><td>{d['mean']}</td>"
                   f"<td>{d['p10']}</td><td>{d['p50']}</td><td>{d['p90']}</td></tr>"
                   for n, dist in compared.items() for k, d in dist.items())
    failed = "".join(f"<li>replication {r.replication}: {esc(r.error)}</li>"
                     for r in table[table["error"] != ""].itertuples()) or "<li>none</li>"
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(doc['scenario'])} ensemble</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}table{{border-collapse:collapse}}</style>
</head><body><h1>{esc(doc['scenario'])}: {doc['replications']} replications</h1>
<p>{doc['failed']} failed; {doc['seconds']} s on {doc['workers']} worker(s).</p>
<table><tr><th>network</th><th>KPI</th><th>n</th><th>mean</th><th>p10</th><th>p50</th><th>p90</th></tr>{rows}</table>
<img alt="distributions" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">
<h2>Failed replications</h2><ul>{failed}</ul></body></html>
"""
