"""Incidents: what happens, when and where — generated, replayed from history, or raised by alarms.

* ``generate``: one Poisson process per incident type (rate per day, optional
  hourly profile); places are drawn from the type's layers with spatial
  weights — buildings by population times the risk-level factor, pipes and
  mains by length (a long old main breaks more often than a short one).
* ``from_table``: a history table (time, type, x, y[, priority]).  Times with
  UTC offsets are converted to the instants they name (text without an offset
  is UTC; a table mixing both is refused, naming a line of each); a row
  repeating an earlier one is dropped and said in the notes with its line.
* ``from_alarms``: any iterable of alarm objects with ``time``, ``level``,
  ``sensor``, ``feature`` and ``message`` attributes (duck-typed, e.g. the
  sensors engine's Alarm stream): alarms at the scenario's levels become
  incidents at the sensor's position, typed by the sensor type; repeats of the
  same sensor within ``merge_s`` are one incident.
* ``read_history`` and ``read_alarm_log``: the same from files (a history CSV,
  an alarm log written as JSON), every refusal naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import shapely

from simulation.clock import to_seconds
from simulation.emergency.config import IncidentType, Scenario
from twin.errors import LayerError, SourceError, reading_problem


@dataclass
class Incidents:
    """A table of incidents in time order: time (s from the start), type, priority, position."""

    time: np.ndarray
    kind: np.ndarray
    type_names: list[str]
    priority: np.ndarray
    xy: np.ndarray
    ref: np.ndarray  # where it came from: feature id, alarm message, history row
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time)

    def sorted(self) -> "Incidents":
        order = np.argsort(self.time, kind="stable")
        return Incidents(self.time[order], self.kind[order], self.type_names, self.priority[order],
                         self.xy[order], self.ref[order], self.notes)

    def whole_days(self) -> float:
        """Whole days from time 0 to past the last incident (at least one): a run that serves them all."""
        return max(1.0, float(np.ceil((self.time.max(initial=0.0) + 1.0) / 86400.0)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"time_s": self.time, "type": np.asarray(self.type_names, dtype=object)[self.kind],
                             "priority": self.priority, "x": self.xy[:, 0], "y": self.xy[:, 1],
                             "ref": self.ref})


# ---------------------------------------------------------------------- places
def _places(twin, it: IncidentType, name: str):
    """Candidate geometries, their weights and the layer used for one incident type."""
    for layer in (*it.placement.layers, "roads"):
        frame = twin[layer]
        if len(frame) == 0:
            continue
        geoms = frame.geometry.to_numpy()
        kinds = set(frame.geometry.geom_type.unique())
        if kinds <= {"Polygon", "MultiPolygon"}:
            w = np.ones(len(frame))
            if it.placement.weight == "population" and "population" in frame:
                pop = pd.to_numeric(frame["population"], errors="coerce").fillna(0).to_numpy(float)
                w = pop + 1.0  # empty buildings still burn
            geoms = shapely.point_on_surface(geoms)
        elif kinds <= {"LineString", "MultiLineString"}:
            w = shapely.length(geoms) if it.placement.weight != "uniform" else np.ones(len(frame))
        else:
            w = np.ones(len(frame))
        if "risk_level" in frame:
            rf = it.placement.risk_factor
            w = w * frame["risk_level"].fillna("").map(lambda r: rf.get(r, 1.0)).to_numpy(float)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        if w.sum() <= 0:
            continue
        return geoms, w / w.sum(), frame["id"].to_numpy(), layer
    raise LayerError(f"incident type {name!r}: none of the layers {', '.join(it.placement.layers)} "
                     "(nor roads) has features to place incidents on")


def _draw_points(geoms, ids, probs, n, rng):
    pick = rng.choice(len(geoms), size=n, p=probs)
    g = geoms[pick]
    lines = shapely.get_type_id(g) != 0
    pts = np.empty(n, dtype=object)
    pts[~lines] = g[~lines]
    if lines.any():
        pts[lines] = shapely.line_interpolate_point(g[lines], rng.random(int(lines.sum())), normalized=True)
    xy = shapely.get_coordinates(shapely.centroid(pts))
    return xy, ids[pick]


def _times(it: IncidentType, days: float, n: int, rng) -> np.ndarray:
    if it.hourly_profile is None:
        return rng.uniform(0.0, days * 86400.0, n)
    # Hours of the horizon weighted by the profile; uniform within the hour.
    hours = int(np.ceil(days * 24))
    w = np.resize(np.asarray(it.hourly_profile, float), hours)
    h = rng.choice(hours, size=n, p=w / w.sum())
    return np.minimum(h * 3600.0 + rng.uniform(0, 3600.0, n), days * 86400.0 - 1e-6)


def generate(twin, scenario: Scenario, days: float, rng: np.random.Generator) -> Incidents:
    """Poisson incidents of every type over ``days`` days."""
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    names = list(scenario.incident_types)
    parts, notes = [], []
    for k, name in enumerate(names):
        it = scenario.incident_types[name]
        n = int(rng.poisson(it.rate_per_day * days))
        if n == 0:
            continue
        geoms, probs, ids, layer = _places(twin, it, name)
        if layer not in it.placement.layers:
            notes.append(f"{name}: none of {', '.join(it.placement.layers)} in the twin; placed along roads")
        xy, ref = _draw_points(geoms, ids, probs, n, rng)
        prios = np.array(list(it.priority), dtype=np.int64)
        pr = rng.choice(prios, size=n, p=np.array(list(it.priority.values()), float))
        parts.append((_times(it, days, n, rng), np.full(n, k, np.int64), pr, xy,
                      np.array([f"{layer}:{r}" for r in ref], dtype=object)))
    if not parts:
        return Incidents(np.zeros(0), np.zeros(0, np.int64), names, np.zeros(0, np.int64),
                         np.zeros((0, 2)), np.zeros(0, object), notes)
    t, kind, pr, xy, ref = (np.concatenate(c) for c in zip(*parts))
    return Incidents(t, kind, names, pr, xy, ref, notes).sorted()


# ---------------------------------------------------------------------- history
def from_table(frame: pd.DataFrame, scenario: Scenario, source: str = "<table>") -> Incidents:
    """Incidents from a table with columns time (timestamp or seconds), type, x, y[, priority]."""
    missing = [c for c in ("time", "type", "x", "y") if c not in frame.columns]
    if missing:
        raise SourceError(f"{source}: missing column(s) {', '.join(missing)} (need time, type, x, y)")
    names = list(scenario.incident_types)
    unknown = sorted(set(frame["type"].astype(str)) - set(names))
    if unknown:
        raise SourceError(f"{source}: unknown incident type(s) {', '.join(unknown)} "
                          f"(known: {', '.join(names)})")
    t = frame["time"]
    if pd.api.types.is_numeric_dtype(t):
        secs = t.to_numpy(float)
        bad = ~np.isfinite(secs)  # an empty cell: NaN would become every time once shifted to the first
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SourceError(f"{source}: line {row + 2} column 'time': empty or not a number")
    else:
        try:
            ts = pd.to_datetime(t, errors="coerce", utc=True, format="mixed")
        except (ValueError, TypeError):
            ts = pd.Series([pd.to_datetime(v, errors="coerce", utc=True) for v in t], index=t.index)
        bad = ts.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SourceError(f"{source}: line {row + 2} column 'time': cannot read {t.iloc[row]!r} as a time")
        text = t.astype("string").str.strip()
        offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).fillna(False).to_numpy(bool)
        if offset.any() and not offset.all():  # text without an offset would be read as UTC: a silent shift
            a, b = int(np.flatnonzero(offset)[0]), int(np.flatnonzero(~offset)[0])
            raise SourceError(f"{source}: column 'time': times with a UTC offset (line {a + 2}: {t.iloc[a]!r}) and "
                              f"without one (line {b + 2}: {t.iloc[b]!r}): the ones without cannot be placed in "
                              "time; give every time an offset or none")
        secs = (ts - ts.min()).dt.total_seconds().to_numpy()
    xy = frame[["x", "y"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if not np.isfinite(xy).all():
        row = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
        raise SourceError(f"{source}: line {row + 2}: x/y is not a number")
    kind = frame["type"].astype(str).map({n: i for i, n in enumerate(names)}).to_numpy(np.int64)
    if "priority" in frame:
        raw = pd.to_numeric(frame["priority"], errors="coerce")
        given = frame["priority"].notna() & frame["priority"].astype(str).str.strip().ne("")
        wrong = given & ~(np.isfinite(raw) & (raw == raw.round()) & (raw >= 1))
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            raise SourceError(f"{source}: line {row + 2} column 'priority': {frame['priority'].iloc[row]!r} is not a "
                              "whole number >= 1 (1 is the most urgent)")
        pr = raw.fillna(1).astype(int).to_numpy()
    else:
        pr = np.array([min(scenario.incident_types[names[k]].priority) for k in kind], np.int64)
    ref = np.array([f"{source}:{i + 2}" for i in range(len(frame))], dtype=object)
    notes = []
    key = pd.DataFrame({"t": secs, "k": kind, "p": pr, "x": xy[:, 0], "y": xy[:, 1]})
    dup = key.duplicated().to_numpy()
    if dup.any():  # one incident written twice would be served twice
        first = key.reset_index().groupby(["t", "k", "p", "x", "y"])["index"].transform("min").to_numpy()
        shown = ", ".join(f"line {i + 2} = line {first[i] + 2}" for i in np.flatnonzero(dup)[:5])
        notes.append(f"{source}: {int(dup.sum())} duplicated row(s) dropped, each incident counted once "
                     f"({shown}{', ...' if dup.sum() > 5 else ''})")
        keep = ~dup
        secs, kind, pr, xy, ref = secs[keep], kind[keep], pr[keep], xy[keep], ref[keep]
    return Incidents(secs - secs.min() if len(secs) else secs, kind, names, pr, xy, ref, notes).sorted()


def check_in_city(incidents: Incidents, station_xy: np.ndarray, max_m: float = 50_000.0,
                  what: str = "stations") -> None:
    """Refuse incidents further than ``max_m`` from every station (coordinates of another place, or in
    another CRS or unit), naming them; they would be "served" after drives of hundreds of kilometres."""
    if len(incidents) == 0 or len(station_xy) == 0:
        return
    xy = np.asarray(incidents.xy, float)
    st = np.asarray(station_xy, float)
    near = np.full(len(xy), np.inf)
    for k in range(0, len(st), 256):
        d = np.hypot(xy[:, None, 0] - st[None, k:k + 256, 0], xy[:, None, 1] - st[None, k:k + 256, 1])
        near = np.minimum(near, d.min(axis=1))
    far = np.flatnonzero(~(near <= max_m))
    if len(far):
        shown = ", ".join(f"{incidents.ref[i]} at ({xy[i, 0]:.0f}, {xy[i, 1]:.0f})" for i in far[:5])
        raise ValueError(f"{len(far)} incident(s) more than {max_m / 1000:.0f} km from every one of the "
                         f"{len(st)} {what} (the {what} span x {st[:, 0].min():.0f}..{st[:, 0].max():.0f}, "
                         f"y {st[:, 1].min():.0f}..{st[:, 1].max():.0f} m): {shown}"
                         f"{', ...' if len(far) > 5 else ''}; are the coordinates in the project's CRS?")


# ---------------------------------------------------------------------- alarms
def _field(alarm, *names, default=None):
    for name in names:
        value = getattr(alarm, name, None)
        if value is not None:
            return value
    return default


def from_alarms(alarms, twin, scenario: Scenario, merge_s: float = 1800.0) -> Incidents:
    """Incidents raised by sensor alarms.

    Duck-typed: an alarm needs ``time`` (POSIX seconds or a timestamp), ``level``
    and ``sensor`` (or ``sensor_id``); ``feature`` and ``message`` are kept as the
    incident's reference; ``sensor_type`` and ``x``/``y`` are used when present,
    else looked up in the twin's sensors layer; an alarm with ``opens_incident``
    false (lowered, cleared) opens nothing.  Time 0 is midnight (UTC) of the first
    alarm's day, so shifts line up with the clock.
    """
    sensors = twin["sensors"]
    by_id = {str(r.id): (str(r.sensor_type), r.geometry) for r in sensors.itertuples(index=False)}
    names = list(scenario.incident_types)
    levels = set(scenario.alarm_levels)
    rows = []
    counts = {"level": 0, "unknown": 0, "type": 0, "merged": 0, "closing": 0}
    last: dict[str, float] = {}
    opened: dict[str, int] = {}
    for n, alarm in enumerate(alarms):
        t, level, sensor = (getattr(alarm, "time", None), getattr(alarm, "level", None),
                            _field(alarm, "sensor", "sensor_id"))
        missing = [k for k, v in (("time", t), ("level", level), ("sensor", sensor)) if v is None]
        if missing:
            raise SourceError(f"alarm #{n + 1}: {type(alarm).__name__} has no attribute {missing[0]!r} "
                              "(an alarm needs time, level, sensor, feature, message)")
        sensor = str(sensor)
        if getattr(alarm, "opens_incident", True) is False:
            counts["closing"] += 1
            continue
        if str(level) not in levels:
            counts["level"] += 1
            continue
        known = by_id.get(sensor)
        stype = _field(alarm, "sensor_type", default=known[0] if known else None)
        x, y = _field(alarm, "x"), _field(alarm, "y")
        if x is None or y is None:
            if known is None:
                counts["unknown"] += 1
                continue
            p = known[1].representative_point()
            x, y = p.x, p.y
        itype = scenario.alarm_types.get(str(stype)) if stype is not None else None
        if itype is None:
            counts["type"] += 1
            continue
        try:
            secs = to_seconds(t)  # the one clock's reading of times: alarm logs are written by clock.iso
        except (ValueError, TypeError):
            raise SourceError(f"alarm #{n + 1} from sensor {sensor!r}: time {t!r} is not a time") from None
        prio = 1 if str(level) == scenario.alarm_levels[0] else 2
        if sensor in last and 0 <= secs - last[sensor] < merge_s:
            last[sensor] = secs
            counts["merged"] += 1
            row = rows[opened[sensor]]
            if prio < row[2]:  # escalated: the open incident becomes more urgent
                rows[opened[sensor]] = (row[0], row[1], prio, *row[3:])
            continue
        last[sensor] = secs
        opened[sensor] = len(rows)
        msg = _field(alarm, "message", default="")
        feature = _field(alarm, "feature", default="")
        rows.append((secs, names.index(itype), prio, float(x), float(y), f"alarm {sensor} {feature}: {msg}".strip()))
    notes = []
    if counts["closing"]:
        notes.append(f"{counts['closing']} alarm(s) lowering or clearing an alarm open no incident")
    if counts["level"]:
        notes.append(f"{counts['level']} alarm(s) below levels {', '.join(scenario.alarm_levels)} ignored")
    if counts["unknown"]:
        notes.append(f"{counts['unknown']} alarm(s) from sensors with no position (not in the twin's "
                     "sensors layer) skipped")
    if counts["type"]:
        notes.append(f"{counts['type']} alarm(s) from sensor types with no incident type "
                     f"(scenario alarm_types) skipped")
    if counts["merged"]:
        notes.append(f"{counts['merged']} repeated alarm(s) within {merge_s:.0f} s of the same sensor merged "
                     "into its open incident (escalations raise its priority)")
    if not rows:
        return Incidents(np.zeros(0), np.zeros(0, np.int64), names, np.zeros(0, np.int64),
                         np.zeros((0, 2)), np.zeros(0, object), notes)
    t, k, pr, x, y, ref = zip(*rows)
    t = np.array(t, float)
    t = t - np.floor(t.min() / 86400.0) * 86400.0
    return Incidents(t, np.array(k, np.int64), names, np.array(pr, np.int64),
                     np.column_stack([x, y]), np.array(ref, dtype=object), notes).sorted()


# ---------------------------------------------------------------------- files
def read_history(path: Path | str, scenario: Scenario) -> Incidents:
    """Incidents from a history CSV (columns time, type, x, y[, priority]); see :func:`from_table`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        table = pd.read_csv(path)
    except (UnicodeDecodeError, OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise SourceError(f"{path}: cannot read the incidents table: {reading_problem(exc)}") from None
    if table.empty:
        raise SourceError(f"{path}: the incidents table has a header and no incidents")
    return from_table(table, scenario, str(path))


def read_alarm_log(path: Path | str, twin, scenario: Scenario) -> Incidents:
    """Incidents from an alarm log written as JSON (a list, or an object with an 'alarms' list).

    An alarm's ``state`` (raised, escalated, lowered, cleared; raised when
    absent) says whether it opens an incident; see :func:`from_alarms`.  A log
    none of whose alarms opens an incident is refused, naming the levels that would.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except (UnicodeDecodeError, OSError, RecursionError) as exc:
        raise SourceError(f"{path}: cannot read the alarm log: {reading_problem(exc)}") from None
    items = data.get("alarms") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(a, dict) for a in items):
        raise SourceError(f"{path}: expected a list of alarm objects (or {{'alarms': [...]}})")
    alarms = []
    for n, a in enumerate(items, 1):
        # checked here so the message names the file and the JSON field, not the reader's internals
        missing = [k for k in ("time", "level") if a.get(k) is None]
        if a.get("sensor") is None and a.get("sensor_id") is None:
            missing.append("sensor_id")
        if missing:
            raise SourceError(f"{path}: alarm #{n}: missing field(s) {', '.join(repr(k) for k in missing)} "
                              "(an alarm needs time, level and sensor_id)")
        for k in ("x", "y"):
            if a.get(k) is not None and (isinstance(a[k], bool) or not isinstance(a[k], (int, float))):
                raise SourceError(f"{path}: alarm #{n}: field {k!r} is not a number: {a[k]!r}")
        feature = a.get("feature") or (f"{a['layer']}/{a['feature_id']}" if a.get("layer") and a.get("feature_id")
                                       else None)
        alarms.append(SimpleNamespace(**{**a, "feature": feature},
                                      opens_incident=a.get("state", "raised") in ("raised", "escalated")))
    try:
        incidents = from_alarms(alarms, twin, scenario)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    if len(incidents) == 0:
        raise SourceError(f"{path}: none of the {len(items)} alarms opens an incident "
                          f"(levels {', '.join(scenario.alarm_levels)}, raised or escalated)")
    return incidents
