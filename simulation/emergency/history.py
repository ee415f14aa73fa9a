"""Real dispatch records: read them, calibrate the model on part, validate it on the rest.

The reader takes the San Francisco Fire Department "calls for service"
format: one row per unit response with ``Received``, ``Entry``, ``Dispatch``,
``Response`` (unit rolling), ``On Scene`` and ``Available`` timestamps written
``MM/DD/YYYY hh:mm:ss AM`` (local time), the unit id and type, and
``Location`` as "(lat, lon)".  Rows with a malformed timestamp or location are
skipped and reported with their line number; an empty timestamp is a step
that did not happen (a unit cancelled before arriving), not an error.  A row
repeating an earlier one (same incident, unit, timestamps and location) is
reported with both line numbers and dropped, never counted twice.  A response whose
``On Scene`` is before its ``Dispatch``, or more than :data:`MAX_RESPONSE_S`
(2 hours) after it, has impossible times (a clock or keying error, not a slow
drive: the longest of the 10,410 San Francisco responses of April 2020 is
1 h 55 min): it is left out of every fit, replay and measure, and counted
by kind with its first line (``CallRecords.left_out``; printed by
``emergency history``, in text and JSON).  Timestamps
may carry a UTC offset (``... 11:55:56 PM -07:00``, ``Z``): they are converted
to the instant they name, written in the offset of the file's first such
timestamp (so durations across a clock change stay exact; a note says so); a
file mixing timestamps with and without offsets is refused, naming a line of
each.

Stations must be in the records' city: when no station is within
:data:`FAR_M` (50 km) of any call the fit is refused, naming both extents;
calls further than that from every station are reported with their lines and
left out, and so are stations further than that from every call.

Calibration and validation (``validate``):

1. incidents whose first dispatch falls in the calibration dates (both
   included; default: the first seven days of the file) are the calibration
   part, every other incident the validation part;
2. on the calibration part, each engine response is classed as sent *from
   quarters* or *on the road*: on the road when the same engine had reported
   available after an earlier calibration incident less than the drive home
   before, or not yet (still committed to it);
3. travel times (``Response`` -> ``On Scene``) of the responses from quarters
   are fitted as t = a + b · (d / 1 km)^c, d being the straight-line distance
   from the engine's home station (the number in its unit id, e.g. E32 ->
   station 32) to the incident; the travel-time factor of each hour of the
   day is the median ratio of observed to fitted time in that hour (and its
   neighbours); the spread around curve and hour is the observed ratios
   themselves (``travel.fit_hour_factor``, ``travel.travel_spread``);
4. turnout (``Dispatch`` -> ``Response``) is the observed sample of the
   hour of day for crews in quarters and of all crews on the road
   (``turnout.HourlyTurnout``); time on scene (``On Scene`` ->
   ``Available``) the observed sample;
5. the whole fortnight is replayed through the closed loop with simulation
   time 0 at midnight of the first day: every incident at its dispatch time
   asks for as many engines as it got; the dispatch board sends the closest
   available ones — the first-due station's engine when free, else the next
   station's; engines are back in service when their incident is handled
   and are sent from where they are on their way home; the simulated
   first-arriving engine's dispatch -> on-scene time is compared with the
   observed one on the validation incidents (median and 90th percentile).

``mechanisms`` switches steps 2-5 apart for comparison: without
``en_route`` the curve and spread are fitted on every response and engines
serve again only once back at their station; without ``hourly_speed`` the
travel-time factor is 1 at every hour; without ``travel_spread`` the spread
is lognormal (sigma from the median absolute deviation of the log
residuals); without ``hourly_turnout`` turnout is one sample of every
calibration response.  With none of them the model is the one validated
before these mechanisms existed.

A road graph can replace the straight-line model (``road_graph=``, e.g. a
project's roads) when one exists.
"""

from __future__ import annotations

import csv
import io
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
from simulation.emergency.travel import (RoadTravel, StraightLineTravel, TravelFit, fit_hour_factor,
                                         fit_straight_line, travel_spread)
from simulation.emergency.turnout import HourlyTurnout
from twin.crs import metric_crs_for
from twin.errors import SourceError, reading_problem

TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
TIME_COLUMNS = {"received": "Received DtTm", "entry": "Entry DtTm", "dispatch": "Dispatch DtTm",
                "response": "Response DtTm", "on_scene": "On Scene DtTm", "available": "Available DtTm"}
OTHER_COLUMNS = {"incident": "Incident Number", "unit": "Unit ID", "unit_type": "Unit Type",
                 "call_type": "Call Type", "priority": "Priority", "location": "Location"}
_LOCATION = re.compile(r"^\s*\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*$")
_TIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2} [AP]M(?:\s*(?:Z|UTC|[+-]\d{2}:?\d{2}))?$")
_OFFSET = r"\s*(Z|UTC|[+-]\d{2}:?\d{2})$"
#: Calls further than this from every station, and stations further from every call, are not of the city, m.
FAR_M = 50_000.0
#: A unit on scene more than this after its dispatch is a keying error, not a response, s (2 hours).
MAX_RESPONSE_S = 7_200.0
#: Kinds of impossible response times (see ``CallRecords.left_out``): key -> why, in words.
IMPOSSIBLE = {"on_scene_before_dispatch": "on scene before dispatch",
              "on_scene_after_bound": f"on scene more than {MAX_RESPONSE_S / 3600:g} hours after dispatch"}
#: What makes the tail of the response times, each fitted on the calibration part (see ``validate``).
MECHANISMS = ("en_route", "hourly_speed", "travel_spread", "hourly_turnout")


@dataclass
class CallRecords:
    """Unit responses (one row each) and the rows that had to be skipped."""

    responses: pd.DataFrame
    skipped: list[tuple[int, str]]
    source: str
    rows: int
    #: (line, earlier line) of rows repeating an earlier row: dropped, and in ``skipped`` too.
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    #: What was converted on reading (UTC offsets).
    notes: list[str] = field(default_factory=list)
    #: Responses with impossible times, left out: kind (a key of ``IMPOSSIBLE``) -> their lines.
    left_out: dict[str, list[int]] = field(default_factory=dict)

    def left_out_summary(self) -> dict:
        """``{kind: {"rows", "why", "first_line"}}`` of the responses left out (empty: none)."""
        return {k: {"rows": len(lines), "why": IMPOSSIBLE[k], "first_line": min(lines)}
                for k, lines in self.left_out.items() if lines}

    def left_out_text(self) -> str:
        """One line saying what was left out and why ('' when nothing was)."""
        parts = [f"{v['rows']} {v['why']} (first line {v['first_line']})" for v in self.left_out_summary().values()]
        if not parts:
            return ""
        total = sum(v["rows"] for v in self.left_out_summary().values())
        return (f"{self.source}: left out {total} {'response' if total == 1 else 'responses'} with impossible "
                f"times: {'; '.join(parts)}")

    def skipped_summary(self, limit: int = 5) -> str:
        if not self.skipped:
            return ""
        shown = "; ".join(f"line {n}: {why}" for n, why in self.skipped[:limit])
        more = f"; and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        dup = len(self.duplicates)
        bad = len(self.skipped) - dup
        kinds = " and ".join(k for k in (f"{bad} with malformed fields" if bad else "",
                                         f"{dup} duplicated" if dup else "") if k)
        return f"{self.source}: skipped {len(self.skipped)} of {self.rows} rows, {kinds} ({shown}{more})"


def read_calls(path: str | Path) -> CallRecords:
    """Read a calls-for-service CSV (SF format); malformed rows are counted and skipped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    need = {**TIME_COLUMNS, **OTHER_COLUMNS}
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise SourceError(f"{path}: cannot read the calls file: {reading_problem(exc)}") from None
    with io.StringIO(text, newline="") as fh:
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
        seen: dict[tuple, int] = {}
        duplicates: list[tuple[int, int]] = []
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
                skipped.append((line, f"{TIME_COLUMNS[bad]} {values[bad]!r} is not MM/DD/YYYY hh:mm:ss AM "
                                      "(optionally followed by a UTC offset such as -07:00)"))
                continue
            m = _LOCATION.match(values["location"])
            lat, lon = (float(m.group(1)), float(m.group(2))) if m else (np.nan, np.nan)
            if not m or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
                skipped.append((line, f"Location {values['location']!r} is not '(lat, lon)'"))
                continue
            values["lat"], values["lon"] = lat, lon
            key = tuple(values[k] for k in need)
            if key in seen:  # the same unit response twice: it would double in every sample
                duplicates.append((line, seen[key]))
                skipped.append((line, f"duplicate of line {seen[key]}"))
                continue
            seen[key] = line
            rows.append(values)
            lines.append(line)
    frame = pd.DataFrame(rows, columns=[*need, "lat", "lon"])
    frame["line"] = lines
    keep = np.ones(len(frame), bool)
    notes = []
    offsets = {k: frame[k].str.extract(_OFFSET, expand=False) for k in TIME_COLUMNS}
    with_offset = pd.concat([o.notna() for o in offsets.values()], axis=1).any(axis=1).to_numpy()
    naive = pd.concat([frame[k].ne("") & offsets[k].isna() for k in TIME_COLUMNS], axis=1).any(axis=1).to_numpy()
    if with_offset.any() and naive.any():
        a = int(frame["line"].iloc[np.flatnonzero(with_offset)[0]])
        b = int(frame["line"].iloc[np.flatnonzero(naive)[0]])
        raise SourceError(f"{path}: timestamps with a UTC offset (line {a}) and without one (line {b}) in one file: "
                          "the ones without cannot be placed in time; give every timestamp an offset or none")
    ref = None
    if with_offset.any():
        first = offsets["dispatch"].dropna()
        ref = _offset_minutes(first.iloc[0] if len(first) else
                              next(o.dropna().iloc[0] for o in offsets.values() if o.notna().any()))
        used = sorted({v for o in offsets.values() for v in o.dropna().unique()})
        notes.append(f"{path}: timestamps carry UTC offsets ({', '.join(used)}): converted to the instants they "
                     f"name, written in UTC{ref // 60:+03d}:{abs(ref) % 60:02d} (the first dispatch's offset)")
    for k in TIME_COLUMNS:
        text = frame[k].replace("", None)
        if ref is not None:
            text = text.str.replace(_OFFSET, "", regex=True)
        parsed = pd.to_datetime(text, format=TIME_FORMAT, errors="coerce")
        if ref is not None:
            minutes = offsets[k].map(lambda o: _offset_minutes(o) if isinstance(o, str) else 0).astype(float)
            parsed = parsed + pd.to_timedelta(ref - minutes, unit="min")
        impossible = parsed.isna() & text.notna()  # e.g. 02/31/2020 or hour 13 PM
        for j in np.flatnonzero(impossible.to_numpy() & keep):
            skipped.append((int(frame["line"].iloc[j]), f"{TIME_COLUMNS[k]} {frame[k].iloc[j]!r} is not a valid time"))
        keep &= ~impossible.to_numpy()
        frame[k] = parsed
    frame = frame[keep].reset_index(drop=True)
    # impossible response times: left out and counted (never kept, never dropped silently)
    d2s = (frame["on_scene"] - frame["dispatch"]).dt.total_seconds()
    kinds = {"on_scene_before_dispatch": d2s < 0, "on_scene_after_bound": d2s > MAX_RESPONSE_S}
    left_out = {k: [int(n) for n in frame.loc[m.to_numpy(), "line"]] for k, m in kinds.items() if m.any()}
    if left_out:
        frame = frame[~(kinds["on_scene_before_dispatch"] | kinds["on_scene_after_bound"]).to_numpy()]
        frame = frame.reset_index(drop=True)
    skipped.sort()
    return CallRecords(frame, skipped, str(path), n, sorted(duplicates), notes, left_out)


def _offset_minutes(text: str) -> int:
    """'-07:00' / '+0530' / 'Z' -> minutes east of UTC."""
    text = text.strip()
    if text in ("Z", "UTC"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:]))


def read_stations(path: str | Path) -> pd.DataFrame:
    """Stations CSV: station, longitude, latitude; every error names this file, and the line and field."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise SourceError(f"{path}: cannot read the stations file: {reading_problem(exc)}") from None
    need = ("station", "longitude", "latitude")
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
            records = []
            for rec in reader:
                if rec and any(v.strip() for v in rec):  # blank lines are no stations
                    records.append((reader.line_num, rec))
        except StopIteration:
            raise SourceError(f"{path}: empty file: expected the header station,longitude,latitude "
                              "and one station a line") from None
        except csv.Error as exc:
            raise SourceError(f"{path}: line {reader.line_num}: not CSV ({exc})") from None
    missing = [c for c in need if c not in header]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)} (need station, longitude, latitude)")
    if not records:
        raise SourceError(f"{path}: the stations file has a header and no stations")
    col = {c: header.index(c) for c in need}
    rows = []
    for line, rec in records:
        if len(rec) != len(header):
            raise SourceError(f"{path}: line {line}: {len(rec)} fields instead of {len(header)}")
        row = dict(zip(header, (v.strip() for v in rec)))
        for c in need:
            if not rec[col[c]].strip():
                raise SourceError(f"{path}: line {line} column {c!r}: empty")
        for c, limit in (("longitude", 180.0), ("latitude", 90.0)):
            try:
                v = float(row[c])
            except ValueError:
                v = None
            if v is None or np.isnan(v):  # 'NaN' is not a number either
                raise SourceError(f"{path}: line {line} column {c!r}: {row[c]!r} is not a number")
            if not abs(v) <= limit:  # also inf
                raise SourceError(f"{path}: line {line} column {c!r}: {v:g} is not a {c} "
                                  f"(-{limit:g}..{limit:g} degrees)")
            row[c] = v
        row["station"] = row["station"].lstrip("0") or "0"
        rows.append((line, row))
    seen: dict[str, int] = {}
    for line, row in rows:
        if row["station"] in seen:
            raise SourceError(f"{path}: line {line}: station {row['station']!r} is listed twice "
                              f"(first on line {seen[row['station']]})")
        seen[row["station"]] = line
    return pd.DataFrame([r for _, r in rows], columns=header)


def parse_dates(text: str | None) -> tuple[date, date] | None:
    """'2020-04-07:2020-04-13' -> (from, to), both included; None (not given) -> None."""
    if text is None:
        return None
    if not text.strip():
        raise ValueError(f"--calibrate-on {text!r}: empty; expected FROM:TO as YYYY-MM-DD:YYYY-MM-DD "
                         "(leave the option out to calibrate on the first week)")
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
    mechanisms: tuple[str, ...] = ()
    #: Travel-time factor by hour of day (ones without ``hourly_speed``).
    hour_factor: np.ndarray = field(default_factory=lambda: np.ones(24), repr=False)
    turnout: HourlyTurnout | None = field(default=None, repr=False)
    #: Observed ratios of actual to expected travel the replay drew from (None: lognormal).
    travel_spread: np.ndarray | None = field(default=None, repr=False)
    #: Share of calibration responses sent on the road, and of simulated first-arriving engines.
    en_route_share: float = 0.0
    simulated_en_route_share: float = 0.0
    #: Responses with impossible times left out on reading (``CallRecords.left_out_summary``; empty: none).
    left_out: dict = field(default_factory=dict)
    #: First and last day with a calibration incident (``calibration`` is the range asked for).
    calibration_covered: tuple[date, date] | None = None
    #: First and last day of the records' incidents.
    records_span: tuple[date, date] | None = None

    def summary(self) -> dict:
        """Exactly what ``emergency history --json`` prints (``left_out`` only when responses were)."""
        out = {"incidents": self.incidents, "observed": self.observed, "simulated": self.simulated}
        if self.left_out:
            out["left_out"] = self.left_out
        return out

    def calibration_text(self) -> str:
        """'dispatched A..B', A and B the days actually covered, with what the range asked reached beyond."""
        lo, hi = self.calibration
        a, b = self.calibration_covered or (lo, hi)
        text = f"dispatched {a}..{b}"
        beyond = []
        if self.records_span is not None:
            first, last = self.records_span
            if lo < first:
                beyond.append(f"the records start on {first}")
            if hi > last:
                beyond.append(f"the records end on {last}")
        if beyond:
            text += f" (--calibrate-on asked {lo}..{hi}; {' and '.join(beyond)})"
        return text

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


def _fitted(calls: CallRecords, dates, fit, *args):
    """``fit(*args)``; too little calibration data is one error naming the file and the dates."""
    try:
        return fit(*args)
    except ValueError as exc:
        raise SourceError(f"{calls.source}: calibrating on {dates[0]}..{dates[1]}: {exc}") from None


def _on_the_road(cal: pd.DataFrame, expected_home: np.ndarray) -> np.ndarray:
    """Calibration responses sent while the engine was on the road: it had reported available after
    its previous calibration incident less than the drive home before (``expected_home``: the drive
    from each response's incident to the engine's station), or not yet (still committed to it, or no
    available time recorded)."""
    order = np.lexsort((cal["dispatch"].to_numpy(), cal["unit"].to_numpy()))
    unit = cal["unit"].to_numpy()[order]
    dispatch = cal["dispatch"].to_numpy()[order]
    available = cal["available"].to_numpy()[order]
    home_s = np.asarray(expected_home, dtype=float)[order]
    same = np.r_[False, unit[1:] == unit[:-1]]
    prev_avail = np.r_[np.datetime64("NaT"), available[:-1]]
    prev_home = np.r_[np.nan, home_s[:-1]]
    gap = (dispatch - prev_avail) / np.timedelta64(1, "s")
    # no "available" after the previous incident: still committed to it when sent again
    road = same & (np.isnat(prev_avail) | (gap < prev_home))
    out = np.zeros(len(cal), bool)
    out[order] = road
    return out


def _haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _extent(lon, lat) -> str:
    return f"lon {np.min(lon):.3f}..{np.max(lon):.3f}, lat {np.min(lat):.3f}..{np.max(lat):.3f}"


def _same_city(calls: CallRecords, eng: pd.DataFrame, stations: pd.DataFrame, notes: list):
    """Calls and stations of one city: refuse when none meet, leave out the far ones of either (noted)."""
    if stations.empty:  # read_stations refuses a file without stations; this is a frame built in code
        raise ValueError("the stations table has no stations")
    places, back = np.unique(eng[["lon", "lat"]].to_numpy(float), axis=0, return_inverse=True)
    d = _haversine_m(places[:, :1], places[:, 1:], stations["longitude"].to_numpy()[None, :],
                     stations["latitude"].to_numpy()[None, :])[np.ravel(back)]
    near_call = d.min(axis=1) <= FAR_M
    if not near_call.any():
        # stations of another city (or continent): a fit over such drives would "validate" nothing
        raise SourceError(f"{calls.source}: no station is within {FAR_M / 1000:.0f} km of any call: the calls span "
                          f"{_extent(eng['lon'], eng['lat'])}, the stations "
                          f"{_extent(stations['longitude'], stations['latitude'])} (nearest "
                          f"{d.min() / 1000:,.0f} km): not the same city, nothing is validated")
    if not near_call.all():
        far = eng[~near_call]
        lines = ", ".join(str(n) for n in far["line"].head(8))
        notes.append(f"{calls.source}: {len(far)} {'call' if len(far) == 1 else 'calls'} more than "
                     f"{FAR_M / 1000:.0f} km from every station left out (line(s) {lines}"
                     f"{', ...' if len(far) > 8 else ''}; nearest station "
                     f"{d.min(axis=1)[~near_call].min() / 1000:,.0f} km)")
        eng = eng[near_call].copy()
    near_station = d[near_call].min(axis=0) <= FAR_M
    if not near_station.all():
        far = stations.loc[~near_station, "station"]
        notes.append(f"{len(far)} station(s) more than {FAR_M / 1000:.0f} km from every call left out "
                     f"({', '.join(far.head(8))})")
        stations = stations[near_station]
    return eng, stations


def validate(calls: CallRecords, stations: pd.DataFrame, scenario: Scenario, calibrate_on=None,
             replications: int = 5, seed: int = 1, road_graph: RoadGraph | None = None, crs=None,
             unit_type: str = "ENGINE", mechanisms=MECHANISMS) -> Validation:
    """Calibrate on ``calibrate_on`` (dates), replay the records, compare on the other incidents.

    With ``road_graph`` (in ``crs``) units drive over it instead of the fitted
    straight-line curve (the hour factors and the spread are then ratios to
    the graph's times); turnout and time on scene are calibrated either way.
    ``mechanisms``: a subset of ``MECHANISMS`` (see the module docstring).
    """
    if replications < 1:
        raise ValueError(f"replications must be at least 1, got {replications}")
    mechanisms = tuple(mechanisms)
    unknown = sorted(set(mechanisms) - set(MECHANISMS))
    if unknown:
        raise ValueError(f"unknown mechanism(s) {', '.join(unknown)} (known: {', '.join(MECHANISMS)})")
    # the skipped rows, duplicates among them, are the reader's report (CallRecords.skipped_summary)
    notes = list(calls.notes)
    resp = calls.responses
    eng = resp[resp["unit_type"].str.upper() == unit_type].copy()
    if eng.empty:
        raise SourceError(f"{calls.source}: no {unit_type} responses to calibrate on")
    eng, stations = _same_city(calls, eng, stations, notes)
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
    covered = (days[in_cal].min(), days[in_cal].max())
    span = (days.min(), days.max())

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
    station_index = {s.id: s.index for s in fleet.stations}

    # Calibration responses of engines with a home station: where from, how long.
    housed = cal[cal["home"].isin(station_index.keys())]
    moving = housed[housed["response"].notna() & housed["on_scene"].notna()]
    travel_s = (moving["on_scene"] - moving["response"]).dt.total_seconds().to_numpy()
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
        hx = np.array([st_xy[h][0] for h in moving["home"]])
        hy = np.array([st_xy[h][1] for h in moving["home"]])
        dist = np.hypot(moving["x"].to_numpy() - hx, moving["y"].to_numpy() - hy)
        fit = _fitted(calls, (lo, hi), fit_straight_line, dist, travel_s)
        travel = StraightLineTravel(station_xy, fit.params)

    def from_home(frame, model):
        """Expected drive from each row's engine's station to its incident."""
        if frame.empty:
            return np.zeros(0)
        table = model.table(model.locate(frame[["x", "y"]].to_numpy(float)))
        return table[np.arange(len(frame)), frame["home"].map(station_index).to_numpy(np.int64)]

    road = _on_the_road(housed, from_home(housed, travel)) if "en_route" in mechanisms else np.zeros(len(housed), bool)
    road = pd.Series(road, index=housed.index)
    en_route_share = float(road.mean()) if len(road) else 0.0
    if "en_route" in mechanisms and road_graph is None:
        # the curve is the drive from the station: fitted on the crews that left from it
        quarters = ~road.loc[moving.index].to_numpy()
        fit = _fitted(calls, (lo, hi), fit_straight_line, dist[quarters], travel_s[quarters])
        travel = StraightLineTravel(station_xy, fit.params)
    from_quarters = moving[~road.loc[moving.index].to_numpy()]
    ratio = (from_quarters["on_scene"] - from_quarters["response"]).dt.total_seconds().to_numpy() \
        / from_home(from_quarters, travel)
    hours = from_quarters["dispatch"].dt.hour.to_numpy()
    hour_factor = fit_hour_factor(hours, ratio) if "hourly_speed" in mechanisms else np.ones(24)
    spread = _fitted(calls, (lo, hi), travel_spread, ratio, hours, hour_factor) \
        if "travel_spread" in mechanisms else None
    travel.calibrate(hour_factor, spread)

    base = housed if mechanisms else cal  # the earlier model took every calibration response
    turnout = (base["response"] - base["dispatch"]).dt.total_seconds()
    ok = turnout.notna() & (turnout >= 0) & (turnout < 3600)
    turnout = turnout[ok]
    on_scene = (cal["available"] - cal["on_scene"]).dt.total_seconds().dropna()
    on_scene = on_scene[(on_scene >= 0) & (on_scene < 24 * 3600)]
    if len(turnout) < 10 or len(on_scene) < 10:
        raise SourceError(f"{calls.source}: too few calibration responses with turnout and on-scene times")
    hourly = None
    if "hourly_turnout" in mechanisms:
        sent = base.loc[turnout.index]
        hourly = _fitted(calls, (lo, hi), HourlyTurnout.fit, sent["dispatch"].dt.hour.to_numpy(),
                         turnout.to_numpy(float), road.loc[turnout.index].to_numpy())
        turnout_d = {"engine": hourly}
    else:
        turnout_d = {"engine": Duration(empirical=tuple(turnout.to_numpy(float)))}

    # Replay: every incident with engines, at its first dispatch, asking for as many engines.
    per_inc = eng.groupby("incident").agg(t=("dispatch", "min"), engines=("unit", "nunique"),
                                          x=("x", "first"), y=("y", "first"))
    per_inc = per_inc.sort_values("t")
    # simulation time 0 is midnight of the first day: the clock's hour is the records' local hour
    t0 = per_inc["t"].min().normalize() if mechanisms else per_inc["t"].min()
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
    on_scene_d = Duration(empirical=tuple(on_scene.to_numpy(float)))
    n = len(incidents)
    zeros = np.zeros(n)
    sims, sent_en_route = [], []
    pos = pd.Index(per_inc.index)
    for r in range(replications):
        rng = np.random.default_rng(seed + 1000 * r)
        draws = Draws(zeros, zeros, on_scene_d.sample(rng, n), zeros, np.zeros(n, bool))
        sim = ResponseSimulation(scenario, fleet, travel, incidents, seed=seed + 1000 * r + 1, draws=draws,
                                 turnout=turnout_d, assignments=assignments,
                                 available_en_route="en_route" in mechanisms)
        run = sim.run()
        crews = run.crews[run.crews["arrived"]]
        first = crews.sort_values("on_scene").drop_duplicates("incident", keep="first")
        d2s = pd.Series((first["on_scene"] - first["dispatched"]).to_numpy(),
                        index=pos[first["incident"].to_numpy()])
        sims.append(d2s.reindex(val_ids).dropna().to_numpy(float))
        on_road = pd.Series(first["en_route"].to_numpy(), index=pos[first["incident"].to_numpy()])
        sent_en_route.append(float(on_road.reindex(val_ids).dropna().mean()))
    sim_all = np.concatenate(sims) if sims else np.zeros(0)
    if len(obs) == 0:
        raise ValueError("no validation incident has an observed first-arriving engine")

    def q(v):
        return {"median_s": round(float(np.median(v)), 1), "p90_s": round(float(np.percentile(v, 90)), 1)}

    sim_stats = {"median_s": round(float(np.mean([np.median(s) for s in sims])), 1),
                 "p90_s": round(float(np.mean([np.percentile(s, 90) for s in sims])), 1)}
    return Validation(int(len(obs)), q(obs), sim_stats, fit, (lo, hi), len(cal_ids), replications,
                      obs, sim_all, notes + fleet.notes, mechanisms, hour_factor, hourly, spread,
                      en_route_share, float(np.mean(sent_en_route)), calls.left_out_summary(), covered, span)
