"""Real dispatch records: read them, calibrate the model on part, validate it on the rest.

The reader takes the San Francisco Fire Department "calls for service"
format: one row per unit response with ``Received``, ``Entry``, ``Dispatch``,
``Response`` (unit rolling), ``On Scene`` and ``Available`` timestamps written
``MM/DD/YYYY hh:mm:ss AM`` (local time), the unit id and type, and
``Location`` as "(lat, lon)".  Rows with a malformed timestamp or location are
skipped and reported with their line number; an empty timestamp is a step
that did not happen (a unit cancelled before arriving), not an error.

Calibration and validation (``validate``):

1. incidents whose first dispatch falls in the calibration dates (both
   included; default: the first seven days of the file) are the calibration
   part, every other incident the validation part;
2. on the calibration part, engine travel times (``Response`` -> ``On Scene``)
   are fitted as t = a + b · (d / 1 km)^c with a lognormal spread, d being the
   straight-line distance from the engine's home station (the number in its
   unit id, e.g. E32 -> station 32) to the incident; turnout
   (``Dispatch`` -> ``Response``) and time on scene (``On Scene`` ->
   ``Available``) are taken as the empirical distributions;
3. the whole fortnight is replayed through the closed loop: every incident at
   its dispatch time asks for as many engines as it got, the dispatch board
   sends the closest available ones; the simulated first-arriving engine's
   dispatch -> on-scene time is compared with the observed one on the
   validation incidents (median and 90th percentile).

A road graph can replace the straight-line model (``road_graph=``, e.g. a
project's roads) when one exists.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from simulation.emergency.config import Duration, Scenario
from simulation.emergency.fleet import Fleet
from simulation.emergency.incidents import Incidents
from simulation.emergency.response import Draws, ResponseSimulation
from simulation.emergency.roads import RoadGraph
from simulation.emergency.travel import RoadTravel, StraightLineTravel, TravelFit, fit_straight_line
from twin.crs import metric_crs_for
from twin.errors import SourceError

TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
TIME_COLUMNS = {"received": "Received DtTm", "entry": "Entry DtTm", "dispatch": "Dispatch DtTm",
                "response": "Response DtTm", "on_scene": "On Scene DtTm", "available": "Available DtTm"}
OTHER_COLUMNS = {"incident": "Incident Number", "unit": "Unit ID", "unit_type": "Unit Type",
                 "call_type": "Call Type", "priority": "Priority", "location": "Location"}
_LOCATION = re.compile(r"^\s*\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*$")
_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} [AP]M$")


@dataclass
class CallRecords:
    """Unit responses (one row each) and the rows that had to be skipped."""

    responses: pd.DataFrame
    skipped: list[tuple[int, str]]
    source: str
    rows: int

    def skipped_summary(self, limit: int = 5) -> str:
        if not self.skipped:
            return ""
        shown = "; ".join(f"line {n}: {why}" for n, why in self.skipped[:limit])
        more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"{self.source}: skipped {len(self.skipped)} of {self.rows} rows with malformed fields ({shown}{more})"


def read_calls(path: str | Path) -> CallRecords:
    """Read a calls-for-service CSV (SF format); malformed rows are counted and skipped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    need = {**TIME_COLUMNS, **OTHER_COLUMNS}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError(f"{path}: empty file") from None
        except csv.Error as exc:
            raise SourceError(f"{path}: line 1: not CSV ({exc})") from None
        col = {name: i for i, name in enumerate(h.strip() for h in header)}
        missing = [c for c in need.values() if c not in col and c != TIME_COLUMNS["entry"]]
        if missing:
            raise SourceError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
                              "(expected the SF Fire 'calls for service' format)")
        idx = {k: col.get(v) for k, v in need.items()}
        rows, lines, skipped = [], [], []
        n = 0
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise SourceError(f"{path}: line {reader.line_num}: not CSV ({exc})") from None
            n += 1
            line = reader.line_num
            if len(rec) < len(header):
                skipped.append((line, f"{len(rec)} fields instead of {len(header)}"))
                continue
            values = {k: (rec[i].strip() if i is not None else "") for k, i in idx.items()}
            bad = next((k for k in TIME_COLUMNS if values[k] and not _TIME.match(values[k])), None)
            if bad is None and not values["dispatch"]:
                bad = "dispatch"
            if bad is not None:
                skipped.append((line, f"{TIME_COLUMNS[bad]} {values[bad]!r} is not MM/DD/YYYY hh:mm:ss AM"))
                continue
            m = _LOCATION.match(values["location"])
            lat, lon = (float(m.group(1)), float(m.group(2))) if m else (np.nan, np.nan)
            if not m or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
                skipped.append((line, f"Location {values['location']!r} is not '(lat, lon)'"))
                continue
            values["lat"], values["lon"] = lat, lon
            rows.append(values)
            lines.append(line)
    frame = pd.DataFrame(rows, columns=[*need, "lat", "lon"])
    frame["line"] = lines
    keep = np.ones(len(frame), bool)
    for k in TIME_COLUMNS:
        text = frame[k].replace("", None)
        parsed = pd.to_datetime(text, format=TIME_FORMAT, errors="coerce")
        impossible = parsed.isna() & text.notna()  # e.g. 02/31/2020 or hour 13 PM
        for j in np.flatnonzero(impossible.to_numpy() & keep):
            skipped.append((int(frame["line"].iloc[j]), f"{TIME_COLUMNS[k]} {frame[k].iloc[j]!r} is not a valid time"))
        keep &= ~impossible.to_numpy()
        frame[k] = parsed
    frame = frame[keep].reset_index(drop=True)
    skipped.sort()
    return CallRecords(frame, skipped, str(path), n)


def read_stations(path: str | Path) -> pd.DataFrame:
    """Stations CSV: station, longitude, latitude."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype={"station": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not a CSV file ({exc})") from None
    missing = [c for c in ("station", "longitude", "latitude") if c not in frame.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)} (need station, longitude, latitude)")
    for c in ("longitude", "latitude"):
        vals = pd.to_numeric(frame[c], errors="coerce")
        if vals.isna().any():
            row = int(np.flatnonzero(vals.isna().to_numpy())[0])
            raise SourceError(f"{path}: line {row + 2} column {c!r}: {frame[c].iloc[row]!r} is not a number")
        frame[c] = vals
    frame["station"] = frame["station"].astype(str).str.strip().str.lstrip("0").replace("", "0")
    if frame["station"].duplicated().any():
        raise SourceError(f"{path}: station {frame['station'][frame['station'].duplicated()].iloc[0]!r} is listed twice")
    return frame


def parse_dates(text: str | None) -> tuple[date, date] | None:
    """'2020-04-07:2020-04-13' -> (from, to), both included."""
    if not text:
        return None
    try:
        a, b = text.split(":")
        lo, hi = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
    except ValueError:
        raise ValueError(f"--calibrate-on {text!r}: expected FROM:TO as YYYY-MM-DD:YYYY-MM-DD") from None
    if hi < lo:
        raise ValueError(f"--calibrate-on {text!r}: TO is before FROM")
    return lo, hi


@dataclass
class Validation:
    """Observed and simulated first-arriving engine dispatch -> on-scene times (validation part)."""

    incidents: int
    observed: dict
    simulated: dict
    fit: TravelFit | None
    calibration: tuple[date, date]
    calibration_incidents: int
    replications: int
    observed_values: np.ndarray = field(repr=False)
    simulated_values: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Exactly what ``emergency history --json`` prints."""
        return {"incidents": self.incidents, "observed": self.observed, "simulated": self.simulated}

    def errors(self) -> dict:
        out = {}
        for k in ("median_s", "p90_s"):
            o, s = self.observed[k], self.simulated[k]
            out[k] = {"error_s": s - o, "error_pct": 100.0 * (s - o) / o if o else None}
        return out


def _first_engine_observed(eng: pd.DataFrame) -> pd.Series:
    arrived = eng[eng["on_scene"].notna()].copy()
    arrived["d2s"] = (arrived["on_scene"] - arrived["dispatch"]).dt.total_seconds()
    arrived = arrived[arrived["d2s"] >= 0]
    first = arrived.sort_values(["on_scene", "line"]).drop_duplicates("incident", keep="first")
    return first.set_index("incident")["d2s"]


def validate(calls: CallRecords, stations: pd.DataFrame, scenario: Scenario, calibrate_on=None,
             replications: int = 5, seed: int = 1, road_graph: RoadGraph | None = None, crs=None,
             unit_type: str = "ENGINE") -> Validation:
    """Calibrate on ``calibrate_on`` (dates), replay the records, compare on the other incidents.

    With ``road_graph`` (in ``crs``) units drive over it instead of the fitted
    straight-line curve; turnout and time on scene are still calibrated.
    """
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    notes = []  # the skipped rows are the reader's report (CallRecords.skipped_summary)
    resp = calls.responses
    eng = resp[resp["unit_type"].str.upper() == unit_type].copy()
    if eng.empty:
        raise SourceError(f"{calls.source}: no {unit_type} responses to calibrate on")
    first_dispatch = eng.groupby("incident")["dispatch"].min()
    days = first_dispatch.dt.date
    if calibrate_on is None:
        lo = days.min()
        calibrate_on = (lo, lo + pd.Timedelta(days=6).to_pytimedelta())
    lo, hi = calibrate_on
    in_cal = (days >= lo) & (days <= hi)
    cal_ids = set(first_dispatch.index[in_cal])
    if not cal_ids:
        raise ValueError(f"--calibrate-on {lo}:{hi}: no {unit_type} incident was dispatched in that range "
                         f"(records run {days.min()} to {days.max()})")
    if len(cal_ids) == len(first_dispatch):
        raise ValueError(f"--calibrate-on {lo}:{hi} covers every incident: nothing is left to validate on")

    # Metric coordinates for incidents and stations.
    lon0, lat0 = float(eng["lon"].median()), float(eng["lat"].median())
    crs = CRS.from_user_input(crs) if crs is not None else metric_crs_for(CRS.from_epsg(4326), lon_lat=(lon0, lat0))
    to_m = Transformer.from_crs(4326, crs, always_xy=True)
    eng["x"], eng["y"] = to_m.transform(eng["lon"].to_numpy(), eng["lat"].to_numpy())
    sx, sy = to_m.transform(stations["longitude"].to_numpy(), stations["latitude"].to_numpy())
    st_xy = dict(zip(stations["station"], zip(sx, sy)))

    # Home station of each engine: the number in its id (E32 -> 32).
    eng["home"] = eng["unit"].str.extract(r"(\d+)\s*$")[0].str.lstrip("0")
    homeless = sorted(set(eng.loc[~eng["home"].isin(st_xy.keys()), "unit"]))
    if homeless:
        notes.append(f"{len(homeless)} {unit_type.lower()}(s) with no home station in the stations file "
                     f"({', '.join(homeless[:8])}): left out of the simulated fleet")
    cal = eng[eng["incident"].isin(cal_ids)]
    fleet_units = cal[cal["home"].isin(st_xy.keys())].groupby("home")["unit"].nunique()
    if fleet_units.empty:
        raise SourceError(f"{calls.source}: no calibration {unit_type.lower()} has a home station in the stations file")
    rows = [(h, f"Station {h}", "station", st_xy[h][0], st_xy[h][1], {"engine": int(n)})
            for h, n in fleet_units.items()]
    fleet = Fleet.from_rows(rows, scenario, source="stations")
    station_xy = fleet.station_xy

    # Calibration: travel-time curve, turnout and time on scene.
    fit = None
    if road_graph is not None:
        travel = RoadTravel(road_graph, station_xy, scenario.roads, [s.id for s in fleet.stations])
        if (travel.station_snap_m > scenario.roads.max_snap_m).all():
            # a project of another city: replaying would "validate" drives of thousands of kilometres
            raise ValueError(f"none of the {len(fleet.stations)} stations is within {scenario.roads.max_snap_m:.0f} m "
                             f"of the project's roads (nearest {travel.station_snap_m.min():.0f} m): the project "
                             f"does not cover the records' city")
        notes += travel.notes
    else:
        moving = cal[cal["home"].isin(st_xy.keys()) & cal["response"].notna() & cal["on_scene"].notna()]
        hx = np.array([st_xy[h][0] for h in moving["home"]])
        hy = np.array([st_xy[h][1] for h in moving["home"]])
        dist = np.hypot(moving["x"].to_numpy() - hx, moving["y"].to_numpy() - hy)
        secs = (moving["on_scene"] - moving["response"]).dt.total_seconds().to_numpy()
        fit = fit_straight_line(dist, secs)
        travel = StraightLineTravel(station_xy, fit.params)
    turnout = (cal["response"] - cal["dispatch"]).dt.total_seconds().dropna()
    turnout = turnout[(turnout >= 0) & (turnout < 3600)]
    on_scene = (cal["available"] - cal["on_scene"]).dt.total_seconds().dropna()
    on_scene = on_scene[(on_scene >= 0) & (on_scene < 24 * 3600)]
    if len(turnout) < 10 or len(on_scene) < 10:
        raise SourceError(f"{calls.source}: too few calibration responses with turnout and on-scene times")

    # Replay: every incident with engines, at its first dispatch, asking for as many engines.
    per_inc = eng.groupby("incident").agg(t=("dispatch", "min"), engines=("unit", "nunique"),
                                          x=("x", "first"), y=("y", "first"))
    per_inc = per_inc.sort_values("t")
    t0 = per_inc["t"].min()
    secs = (per_inc["t"] - t0).dt.total_seconds().to_numpy()
    k_max = int(per_inc["engines"].max())
    names = [f"engines_{k}" for k in range(1, k_max + 1)]
    kind = per_inc["engines"].to_numpy(np.int64) - 1
    incidents = Incidents(secs, kind, names, np.ones(len(per_inc), np.int64),
                          per_inc[["x", "y"]].to_numpy(float), per_inc.index.to_numpy(dtype=object))
    assignments = {name: ["engine"] * (k + 1) for k, name in enumerate(names)}
    observed = _first_engine_observed(eng)
    val_ids = observed.index[~observed.index.isin(cal_ids)]
    obs = observed.loc[val_ids].to_numpy(float)
    turnout_d = {"engine": Duration(empirical=tuple(turnout.to_numpy(float)))}
    on_scene_d = Duration(empirical=tuple(on_scene.to_numpy(float)))
    n = len(incidents)
    zeros = np.zeros(n)
    sims = []
    pos = pd.Index(per_inc.index)
    for r in range(replications):
        rng = np.random.default_rng(seed + 1000 * r)
        draws = Draws(zeros, zeros, on_scene_d.sample(rng, n), zeros, np.zeros(n, bool))
        sim = ResponseSimulation(scenario, fleet, travel, incidents, seed=seed + 1000 * r + 1, draws=draws,
                                 turnout=turnout_d, assignments=assignments)
        run = sim.run()
        crews = run.crews[run.crews["arrived"]]
        first = crews.sort_values("on_scene").drop_duplicates("incident", keep="first")
        d2s = pd.Series((first["on_scene"] - first["dispatched"]).to_numpy(),
                        index=pos[first["incident"].to_numpy()])
        sims.append(d2s.reindex(val_ids).dropna().to_numpy(float))
    sim_all = np.concatenate(sims) if sims else np.zeros(0)
    if len(obs) == 0:
        raise ValueError("no validation incident has an observed first-arriving engine")

    def q(v):
        return {"median_s": round(float(np.median(v)), 1), "p90_s": round(float(np.percentile(v, 90)), 1)}

    sim_stats = {"median_s": round(float(np.mean([np.median(s) for s in sims])), 1),
                 "p90_s": round(float(np.mean([np.percentile(s, 90) for s in sims])), 1)}
    return Validation(int(len(obs)), q(obs), sim_stats, fit, (lo, hi), len(cal_ids), replications,
                      obs, sim_all, notes + fleet.notes)
