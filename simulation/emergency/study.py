"""An emergency study as a planner runs it from the window: replications against the standards,
response-time curves, drive-time coverage of the buildings, and station-siting what-ifs.

Every number comes from the engine — :meth:`EmergencyModel.simulate
<simulation.emergency.model.EmergencyModel.simulate>` and
:func:`~simulation.emergency.report.report_of` for the KPIs,
:meth:`~simulation.emergency.model.EmergencyModel.coverage` for drive times,
:meth:`~simulation.emergency.model.EmergencyModel.with_stations` for a city
with proposed stations — and this module arranges the answers as the tables
and curves the Emergency panel shows:

* :func:`replicate` -> :class:`Replications`: the report of seeded
  replications, its standards and its response times by incident type as
  tables, and the response times themselves (for an ECDF) by incident type or
  by unit type, with the limits to draw over them;
* :func:`coverage_map` -> :class:`CoverageMap`: the share of buildings and
  people within T minutes, and each building's drive time from the nearest
  counted station, by building id — what the 3D view colours;
* :class:`Candidate` and :func:`what_if` -> :class:`WhatIf`: coverage (and,
  after a run, the KPIs of the same seeded replications) now and with the
  candidate stations, side by side.

No Qt here: the panel hands these functions plain values and shows what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from simulation.emergency import results as tables
from simulation.emergency.model import Coverage, EmergencyModel
from simulation.emergency.report import report_of, response_limits
from simulation.emergency.response import Run

#: How response-time curves can be grouped: what each measures.
GROUPINGS = {
    "incident type": "call received -> first unit on scene",
    "unit type": "unit dispatched -> on scene (every unit that arrived)",
}
ALL = "all incidents"
#: Kinds a candidate station can be (the kinds coverage counts by default).
CANDIDATE_KINDS = ("station", "micro_station")
#: NFPA 1710 judges response times at the 90th percentile: a group meets a time when 90 % do.
FRACTILE = 0.9


def _mean(value):
    """The mean of a combined KPI ({mean, ci95}), the value itself when it is plain, None when absent."""
    if isinstance(value, dict):
        return value.get("mean")
    return value


# ---------------------------------------------------------------------- replications
@dataclass
class Replications:
    """Seeded replications of one period and their report (KPIs combined over replications)."""

    model: EmergencyModel
    days: float
    seed: int
    runs: list[Run]
    report: dict

    @property
    def replications(self) -> int:
        return len(self.runs)

    @property
    def kpis(self) -> dict:
        return self.report["kpis"]

    def standards(self) -> pd.DataFrame:
        """One row per standard of the scenario: the share meeting its limit (mean over
        replications, 95 % CI), its target, and whether the mean share meets the target."""
        rows = []
        for st in self.kpis["standards"]:
            share = st["share"]
            target = _mean(st["target"])
            mean = _mean(share)
            lo, hi = share["ci95"] if share else (None, None)
            rows.append({"standard": st["name"], "limit_s": _mean(st["limit_s"]), "responses": _mean(st["n"]),
                         "share": mean, "ci_low": lo, "ci_high": hi, "target": target,
                         "met": None if mean is None else bool(mean >= target)})
        return pd.DataFrame(rows, columns=["standard", "limit_s", "responses", "share", "ci_low", "ci_high",
                                           "target", "met"])

    def limits(self, by: str = "incident type") -> list[tuple[float, str]]:
        """The limits (s, label) drawn over the response times grouped ``by``."""
        scenario = self.model.scenario
        if by == "incident type":
            return [(s, f"{s / 60:g} min") for s in response_limits(scenario)]
        if by == "unit type":
            marks: dict[float, str] = {}
            for st in scenario.standards:
                if st.measure == "dispatch_to_scene":
                    marks.setdefault(st.limit_s, st.name)
            return sorted(marks.items())
        raise ValueError(f"response times are grouped by {' or '.join(GROUPINGS)}, not {by!r}")

    def by_type(self) -> pd.DataFrame:
        """Response (call received -> first unit on scene) by incident type and for all incidents:
        incidents and those served per replication, mean, median and 90th percentile response,
        and the share reached within each limit of :meth:`limits` — means over replications."""
        limits = [s for s, _ in self.limits("incident type")]
        within = self._within(limits)
        labels = {name: it.label for name, it in self.model.scenario.incident_types.items()}
        groups = [(ALL, ALL, self.kpis["overall"])] + [(name, labels.get(name, name), g)
                                                      for name, g in self.kpis["by_type"].items()]
        rows = []
        for key, label, g in groups:
            r = g["response_s"]
            row = {"type": key, "label": label, "incidents": _mean(g["incidents"]), "served": _mean(g["served"]),
                   "mean_s": _mean(r["mean"]), "median_s": _mean(r["median"]), "p90_s": _mean(r["p90"])}
            for s in limits:
                row[f"within_{s:g}_s"] = within.get((key, s))
            rows.append(row)
        return pd.DataFrame(rows)

    def _within(self, limits) -> dict:
        """(type, limit) -> mean over replications of the share of served incidents reached within it."""
        shares: dict[tuple[str, float], list[float]] = {}
        for run in self.runs:
            inc = tables.incident_times(run)
            served = inc[~inc["false_alarm"] & inc["on_scene"].notna()]
            for key, grp in [(ALL, served)] + list(served.groupby("type", sort=True)):
                if len(grp) == 0:
                    continue
                for s in limits:
                    shares.setdefault((key, s), []).append(float((grp["response_s"] <= s).mean()))
        return {k: float(np.mean(v)) for k, v in shares.items()}

    def response_times(self, by: str = "incident type") -> dict[str, np.ndarray]:
        """Sorted response times (s) of every replication pooled, per group (and all incidents first
        when grouped by incident type): what an ECDF is drawn from."""
        if by == "incident type":
            frames = [tables.incident_times(r) for r in self.runs]
            inc = pd.concat(frames, ignore_index=True)
            served = inc[~inc["false_alarm"] & inc["on_scene"].notna()]
            out = {ALL: np.sort(served["response_s"].to_numpy(float))}
            for name, grp in served.groupby("type", sort=True):
                out[str(name)] = np.sort(grp["response_s"].to_numpy(float))
            return out
        if by == "unit type":
            crews = pd.concat([tables.crew_times(r) for r in self.runs], ignore_index=True)
            arrived = crews[crews["arrived"]]
            return {str(t): np.sort(g["dispatch_to_scene"].to_numpy(float))
                    for t, g in arrived.groupby("unit_type", sort=True)}
        raise ValueError(f"response times are grouped by {' or '.join(GROUPINGS)}, not {by!r}")


def replicate(model: EmergencyModel, days: float, replications: int, seed: int | None = None,
              progress: Callable | None = None) -> Replications:
    """Seeded replications of ``days`` (``progress(done, total, text)`` hears of every simulated day)."""
    if days <= 0:
        raise ValueError(f"the period must be positive, got {days} day(s)")
    seed = model.scenario.seed if seed is None else int(seed)
    runs = model.simulate(days, replications, seed=seed, progress=progress)
    return Replications(model, float(days), seed, runs, report_of(model, runs, days))


# ---------------------------------------------------------------------- coverage
def building_minutes(model: EmergencyModel, coverage: Coverage) -> pd.Series:
    """Each building's drive time (min) from the nearest counted station, by building id (NaN: none reaches it)."""
    minutes = np.asarray(coverage.best_s, float) / 60.0
    minutes = np.where(np.isfinite(minutes), minutes, np.nan)
    ids = model.twin["buildings"]["id"].astype(str).to_numpy()
    return pd.Series(minutes, index=ids, name="response time")


@dataclass
class CoverageMap:
    """Coverage within T minutes, and each building's drive time (min, by id) the 3D view colours."""

    coverage: Coverage
    buildings: pd.Series

    @property
    def minutes(self) -> float:
        return self.coverage.minutes


def coverage_map(model: EmergencyModel, minutes: float) -> CoverageMap:
    """Buildings and people within ``minutes`` of a station or micro station, and every building's
    drive time from the nearest one."""
    cov = model.coverage(minutes)
    return CoverageMap(cov, building_minutes(model, cov))


def drive_time_stats(coverage: Coverage) -> dict:
    """Mean and 90th percentile drive time (s) to the buildings some counted station reaches."""
    best = np.asarray(coverage.best_s, float)
    best = best[np.isfinite(best)]
    if len(best) == 0:
        return {"mean_s": None, "p90_s": None}
    return {"mean_s": float(best.mean()), "p90_s": float(np.percentile(best, 90))}


# ---------------------------------------------------------------------- siting what-if
@dataclass(frozen=True)
class Candidate:
    """A proposed station where the planner clicked (its units: the kind's default complement)."""

    number: int
    x: float
    y: float
    kind: str = "station"
    where: str = ""   #: what was clicked there, e.g. "roads R0123"

    def __post_init__(self):
        if self.kind not in CANDIDATE_KINDS:
            raise ValueError(f"a candidate is a {' or '.join(CANDIDATE_KINDS)}, not {self.kind!r}")

    @property
    def id(self) -> str:
        return f"candidate-{self.number}"

    @property
    def name(self) -> str:
        return f"candidate {self.number}"

    def row(self) -> tuple:
        """The station row :meth:`EmergencyModel.with_stations` takes."""
        return (self.id, self.name, self.kind, float(self.x), float(self.y), None)

    def describe(self) -> str:
        at = f" on {self.where}" if self.where else ""
        return f"{self.name}: {self.kind.replace('_', ' ')} at x={self.x:.0f}, y={self.y:.0f}{at}"


@dataclass
class WhatIf:
    """Coverage (and KPIs, after a run) now and with the candidate stations."""

    candidates: tuple[Candidate, ...]
    minutes: float
    model: EmergencyModel          # the city with the candidates
    before: CoverageMap
    after: CoverageMap
    before_run: Replications | None = None
    after_run: Replications | None = None

    def table(self) -> pd.DataFrame:
        """Side by side: measure, unit, now, with the candidates, change, and whether the change is better."""
        t = self.minutes
        now, new = self.before.coverage, self.after.coverage
        rows = [(f"buildings within {t:g} min", "share", now.building_share, new.building_share, 1),
                (f"people within {t:g} min", "share", now.population_share, new.population_share, 1)]
        b, a = drive_time_stats(now), drive_time_stats(new)
        rows += [("mean drive time to a building", "min", _min(b["mean_s"]), _min(a["mean_s"]), -1),
                 ("90th percentile drive time", "min", _min(b["p90_s"]), _min(a["p90_s"]), -1)]
        if self.before_run is not None and self.after_run is not None:
            old = self.before_run.kpis["overall"]["response_s"]
            new = self.after_run.kpis["overall"]["response_s"]
            rows += [("mean response, all incidents", "min", _min(_mean(old["mean"])), _min(_mean(new["mean"])), -1),
                     ("90th percentile response", "min", _min(_mean(old["p90"])), _min(_mean(new["p90"])), -1)]
            now = self.before_run.standards().set_index("standard")["share"]
            after = self.after_run.standards().set_index("standard")["share"]
            for name in now.index:
                rows.append((name, "share", _none(now.get(name)), _none(after.get(name)), 1))
        out = []
        for measure, unit, before, after, sign in rows:
            change = None if before is None or after is None else after - before
            better = None if change is None or abs(change) < 1e-12 else bool(change * sign > 0)
            out.append({"measure": measure, "unit": unit, "now": before, "with_candidates": after,
                        "change": change, "better": better})
        return pd.DataFrame(out)


def _min(seconds):
    return None if seconds is None else seconds / 60.0


def _none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def what_if(model: EmergencyModel, candidates, minutes: float, run: Replications | None = None,
            progress: Callable | None = None) -> WhatIf:
    """Coverage within ``minutes`` now and with ``candidates``; after a ``run``, the same seeded
    replications again with them (``progress`` hears of every simulated day)."""
    candidates = tuple(candidates)
    if not candidates:
        raise ValueError("a siting what-if needs at least one candidate station")
    if progress is not None:
        progress(0, 0, "drive times with the candidates")
    after_model = model.with_stations([c.row() for c in candidates])
    before, after = coverage_map(model, minutes), coverage_map(after_model, minutes)
    after_run = None
    if run is not None:
        after_run = replicate(after_model, run.days, run.replications, run.seed, progress)
    return WhatIf(candidates, float(minutes), after_model, before, after, run, after_run)
