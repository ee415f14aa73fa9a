"""Graded alarms from sensor readings: thresholds, rate of change, stuck values, missing data.

Every alarm is an :class:`Alarm` event on one stream (:meth:`AlarmEngine.subscribe`):
raised, escalated, lowered, cleared.  The emergency engine consumes that stream
and opens an incident when an alarm is raised or escalated (see
:attr:`Alarm.opens_incident`).

Warning levels, least to most severe: blue, yellow, orange, red
(``twin.schema.RISK_LEVELS``).  Defaults per sensor type (:data:`DEFAULT_RULES`),
overridden per sensor by the ``thresholds`` JSON of the twin's sensors layer:

============  ======  =================================================================
type          unit    default rules
============  ======  =================================================================
methane       %LEL    high: blue 10, yellow 25 (GB/T 50493-2019 level 1), orange 50
                      (GB/T 50493-2019 level 2), red 75 (project choice: three quarters
                      of the explosive limit); hysteresis 2 %LEL; rise of 10 %LEL within
                      60 s -> orange
pressure      m       low: blue 20, yellow 14 (0.14 MPa minimum service head, CJJ 207),
                      orange 10, red 5 (intrusion risk); high: yellow 60, orange 70,
                      red 80; fall of 10 m within 300 s -> orange (burst); stuck 6 h
                      -> blue; debounce 2 samples
flow          m3/h    stuck 6 h -> blue (no level thresholds without per-sensor values)
level         m       stuck 12 h -> blue (tank levels: give low/high per tank)
water_level   m       high: blue 0.5, yellow 1.0, orange 1.5, red 2.0 (water in a well or
                      drain above its invert); rise of 0.5 m within 600 s -> yellow
smoke         %obs/m  high: yellow 2 (pre-alarm), red 4 (fire alarm, EN 54-7 range)
strain        µε      high: yellow 500, orange 1000, red 1500
============  ======  =================================================================

Every type with a sampling period gets a **missing data** alarm (blue) when no
reading arrived for 3 periods (at least 60 s); it clears on the next reading.

``thresholds`` JSON (every key optional)::

    {"yellow": 25, "orange": 50}                       levels of the type's main direction
    {"direction": "below", "yellow": 20, "red": 7}       ...or of the direction given
    {"high": {"yellow": 60}, "low": {"red": 5}}          both directions explicitly
    {"hysteresis": 2, "debounce": 3,                     absolute hysteresis, samples
     "rate": {"delta": 10, "window_s": 60, "direction": "rise", "level": "orange"},
     "stuck_s": 3600, "missing_s": 900}

Levels given for a sensor replace all of its type's default levels (both
directions); hysteresis, debounce, rate, stuck and missing rules keep the type's
defaults unless given.

Hysteresis: a level is left only when the value is back past threshold ∓
hysteresis (default 5 % of the threshold).  Debounce: a level changes only after
``debounce`` consecutive readings agree (the mildest level seen over them is
raised).  Readings flagged BAD are ignored (they count as missing).

Many sensors read at the same instants (the session's virtual sensors, every
minute) are fed an instant at a time through a :class:`SensorBank`
(:meth:`AlarmEngine.bank`): the same alarms as feeding each sensor's reading in
turn, with the readings that cannot fire anything checked as arrays.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from simulation.clock import iso
from simulation.sensors.registry import Sensor, SensorRegistry
from simulation.sensors.store import BAD
from twin import atomic
from twin.errors import LayerError
from twin.schema import RISK_LEVELS

LEVELS = RISK_LEVELS[::-1]  # mildest first; index + 1 = severity
SEVERITY = {lvl: i + 1 for i, lvl in enumerate(LEVELS)}
STATES = ("raised", "escalated", "lowered", "cleared")


@dataclass(frozen=True)
class Alarm:
    """One change of an alarm: what, where, when, how severe, and why.

    ``time`` is the clock time (UTC POSIX seconds) of the reading that caused
    the change (for ``missing``, the instant the data became overdue).  ``level``
    is the level now in force (for ``cleared``, the level that was cleared).
    ``layer``/``feature_id`` name the twin feature the sensor sits on; ``x``/``y``
    its position in the twin's CRS.  ``context`` and ``reason`` carry the
    methane source attribution (see :mod:`simulation.sensors.methane`).
    """

    time: float
    level: str
    state: str
    kind: str  # "high", "low", "rate", "stuck", "missing"
    sensor_id: str
    sensor_type: str
    layer: str | None
    feature_id: str | None
    value: float | None
    threshold: float | None
    unit: str
    message: str
    x: float | None = None
    y: float | None = None
    context: str | None = None
    reason: str | None = None

    @property
    def severity(self) -> int:
        return SEVERITY[self.level]

    @property
    def active(self) -> bool:
        return self.state != "cleared"

    @property
    def opens_incident(self) -> bool:
        """Raised or escalated: the emergency engine should open (or upgrade) an incident."""
        return self.state in ("raised", "escalated")

    @property
    def feature(self) -> str:
        return f"{self.layer}/{self.feature_id}" if self.layer and self.feature_id else f"sensors/{self.sensor_id}"

    @property
    def iso_time(self) -> str:
        return iso(self.time)

    def as_dict(self) -> dict:
        return asdict(self) | {"time": self.iso_time}

    def line(self) -> str:
        """One human line: ``2019-03-01T02:05:00Z RED raised  PT-3 (water_junctions/J12): ...``."""
        ctx = f" [{self.context}: {self.reason}]" if self.context else ""
        return f"{self.iso_time} {self.level.upper():6s} {self.state:9s} {self.sensor_id} ({self.feature}): {self.message}{ctx}"


# ------------------------------------------------------------------- rules
@dataclass(frozen=True)
class ThresholdRule:
    """Levels crossed above (``direction="high"``) or below (``"low"``) fixed values."""

    direction: str
    levels: dict  # level -> threshold
    hysteresis: float | None = None  # absolute; None = 5 % of each threshold
    debounce: int = 1

    def crossed(self, v: float, with_hysteresis: bool = False) -> int:
        """Severity of the most severe level crossed by ``v`` (0 = none)."""
        best = 0
        for lvl, thr in self.levels.items():
            h = (self.hysteresis if self.hysteresis is not None else 0.05 * abs(thr)) if with_hysteresis else 0.0
            hit = v >= thr - h if self.direction == "high" else v <= thr + h
            if hit:
                best = max(best, SEVERITY[lvl])
        return best


@dataclass(frozen=True)
class RateRule:
    """A change of at least ``delta`` within ``window_s`` (rise, fall or either)."""

    delta: float
    window_s: float
    direction: str = "either"
    level: str = "orange"


@dataclass(frozen=True)
class SensorRules:
    thresholds: tuple[ThresholdRule, ...] = ()
    rate: RateRule | None = None
    stuck_s: float | None = None
    stuck_tolerance: float = 0.0
    missing_s: float | None = None  # None = 3 sampling periods (>= 60 s) when the period is known


def _high(levels, **kw):
    return ThresholdRule("high", levels, **kw)


def _low(levels, **kw):
    return ThresholdRule("low", levels, **kw)


DEFAULT_RULES: dict[str, SensorRules] = {
    "methane": SensorRules((_high({"blue": 10, "yellow": 25, "orange": 50, "red": 75}, hysteresis=2.0),),
                           rate=RateRule(10.0, 60.0, "rise", "orange")),
    "pressure": SensorRules((_low({"blue": 20, "yellow": 14, "orange": 10, "red": 5}, debounce=2),
                             _high({"yellow": 60, "orange": 70, "red": 80}, debounce=2)),
                            rate=RateRule(10.0, 300.0, "fall", "orange"), stuck_s=6 * 3600),
    "flow": SensorRules(stuck_s=6 * 3600),
    "level": SensorRules(stuck_s=12 * 3600),
    "water_level": SensorRules((_high({"blue": 0.5, "yellow": 1.0, "orange": 1.5, "red": 2.0}, hysteresis=0.05),),
                               rate=RateRule(0.5, 600.0, "rise", "yellow")),
    "smoke": SensorRules((_high({"yellow": 2.0, "red": 4.0}, hysteresis=0.5),)),
    "strain": SensorRules((_high({"yellow": 500, "orange": 1000, "red": 1500}, debounce=2),)),
}

#: The direction a flat ``{"yellow": 25}`` thresholds object means, per type.
MAIN_DIRECTION = {"pressure": "low", "level": "low"}


def rules_for(sensor: Sensor) -> SensorRules:
    """The type's default rules with the sensor's ``thresholds`` JSON applied."""
    base = DEFAULT_RULES.get(sensor.sensor_type, SensorRules())
    spec = dict(sensor.thresholds or {})
    if not spec:
        return base
    where = f"sensor {sensor.id!r} thresholds"
    hyst = spec.pop("hysteresis", None)
    debounce = spec.pop("debounce", None)
    rate = spec.pop("rate", None)
    stuck = spec.pop("stuck_s", None)
    missing = spec.pop("missing_s", None)
    spec.pop("ethane_sensor", None)  # read by the methane context
    direction = spec.pop("direction", None)
    if direction is not None:
        main = {"above": "high", "high": "high", "below": "low", "low": "low"}.get(str(direction).lower())
        if main is None:
            raise LayerError(f"{where}: direction must be 'above' or 'below', found {direction!r}")
    else:
        main = MAIN_DIRECTION.get(sensor.sensor_type, "high")
    by_dir: dict[str, dict] = {}
    for key, value in spec.items():
        if key in ("high", "low"):
            if not isinstance(value, dict):
                raise LayerError(f"{where}: {key!r} must be an object of level -> value")
            by_dir[key] = _levels(value, f"{where} {key!r}")
        elif key in SEVERITY:
            by_dir.setdefault(main, {})[key] = _number(value, f"{where} {key!r}")
        else:
            known = [*LEVELS, "direction", "high", "low", "hysteresis", "debounce", "rate", "stuck_s", "missing_s",
                     "ethane_sensor"]
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LayerError(f"{where}: unknown key {key!r} ({hint}levels {', '.join(LEVELS)}, direction, high, "
                             "low, hysteresis, debounce, rate, stuck_s, missing_s)")
    rules = []
    defaults = {r.direction: r for r in base.thresholds}
    for direction in ("low", "high"):
        d = defaults.get(direction)
        # levels given for the sensor replace the type's levels in both directions: a
        # sensor configured for low pressure only must not keep the generic high alarm
        levels = by_dir.get(direction) if by_dir else (d.levels if d else None)
        if not levels:
            continue
        rules.append(ThresholdRule(direction, levels,
                                   hysteresis=_number(hyst, f"{where} 'hysteresis'") if hyst is not None
                                   else (d.hysteresis if d else None),
                                   debounce=int(debounce) if debounce is not None else (d.debounce if d else 1)))
    rate_rule = base.rate
    if rate is not None:
        rate_keys = ("delta", "window_s", "level", "direction")
        extra = [k for k in (rate if isinstance(rate, dict) else ()) if k not in rate_keys]
        if extra:
            close = difflib.get_close_matches(str(extra[0]), rate_keys, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LayerError(f"{where}: 'rate': unknown key {extra[0]!r} ({hint}known: delta, window_s, level, "
                             "direction)")
        if not isinstance(rate, dict) or "delta" not in rate or "window_s" not in rate:
            raise LayerError(f"{where}: 'rate' must be an object with delta and window_s")
        level = rate.get("level", "orange")
        if level not in SEVERITY:
            raise LayerError(f"{where}: rate level {level!r} is not one of {', '.join(LEVELS)}")
        rate_rule = RateRule(_number(rate["delta"], where), _number(rate["window_s"], where),
                             rate.get("direction", "either"), level)
    return replace(base, thresholds=tuple(rules), rate=rate_rule,
                   stuck_s=_number(stuck, where) if stuck is not None else base.stuck_s,
                   missing_s=_number(missing, where) if missing is not None else base.missing_s)


def _levels(obj: dict, where: str) -> dict:
    out = {}
    for k, v in obj.items():
        if k not in SEVERITY:
            raise LayerError(f"{where}: {k!r} is not a warning level ({', '.join(LEVELS)})")
        out[k] = _number(v, f"{where} {k!r}")
    return out


def _number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise LayerError(f"{where}: expected a number, found {v!r}")
    try:
        out = float(v)
    except OverflowError:
        out = float("inf")
    if not math.isfinite(out):  # JSON's NaN / Infinity: a threshold nothing ever crosses
        raise LayerError(f"{where}: expected a finite number, found {v!r}")
    return out


# ------------------------------------------------------------------- state
@dataclass
class _ThresholdState:
    level: int = 0
    pending: int = 0       # +1 counting up, -1 counting down
    count: int = 0
    candidate: int = 0     # mildest (up) / most severe (down) target seen in the run


@dataclass
class _SensorState:
    sensor: Sensor
    rules: SensorRules
    thresholds: list[_ThresholdState] = field(default_factory=list)
    recent: deque = field(default_factory=deque)  # (t, v) within the rate window
    rate_level: int = 0
    stuck_since: float | None = None
    stuck_value: float | None = None
    stuck_on: bool = False
    last_t: float | None = None
    last_v: float | None = None
    missing_on: bool = False
    missing_lvl: str = "blue"
    missing_s: float | None = None


class AlarmEngine:
    """Turns readings into alarm events; one state machine per sensor and rule."""

    def __init__(self, registry: SensorRegistry, *, context=None):
        self.registry = registry
        self.context = context  # a MethaneContext (or anything with .classify(sensor, value, engine))
        self._subscribers: list[Callable[[Alarm], None]] = []
        self.log: list[Alarm] = []
        self.unknown: dict[str, int] = {}
        self._states: dict[str, _SensorState] = {}
        self._banks: list[SensorBank] = []

    def subscribe(self, callback: Callable[[Alarm], None]) -> None:
        self._subscribers.append(callback)

    def reset(self) -> None:
        """Forget all state (after seeking backwards); the log is kept."""
        self._states.clear()
        for bank in self._banks:
            bank._forget()

    def bank(self, sensor_ids) -> "SensorBank":
        """A :class:`SensorBank` of these sensors, to feed their readings an instant at a time."""
        return SensorBank(self, sensor_ids)

    def latest(self, sensor_id: str) -> tuple[float, float] | None:
        self._claim(sensor_id)
        st = self._states.get(sensor_id)
        return None if st is None or st.last_t is None else (st.last_t, st.last_v)

    def _claim(self, sensor_id: str) -> None:
        """Take a sensor's state back from a bank holding newer state in its arrays."""
        for bank in self._banks:
            row = bank.row.get(sensor_id)
            if row is not None and bank.held[row]:
                bank._release(row)

    def _state(self, sensor_id: str) -> _SensorState | None:
        if self._banks:
            self._claim(sensor_id)
        return self._own_state(sensor_id)

    def _own_state(self, sensor_id: str) -> _SensorState | None:
        st = self._states.get(sensor_id)
        if st is None:
            sensor = self.registry.get(sensor_id)
            if sensor is None:
                return None
            rules, missing = _rules_and_missing(sensor)
            st = _SensorState(sensor, rules, [_ThresholdState() for _ in rules.thresholds], missing_s=missing)
            self._states[sensor_id] = st
        return st

    def active(self) -> list[Alarm]:
        """The alarms in force now: the latest non-cleared event per sensor and kind."""
        last: dict[tuple[str, str], Alarm] = {}
        for a in self.log:
            last[(a.sensor_id, a.kind)] = a
        return [a for a in last.values() if a.active]

    # ------------------------------------------------------------- feeding
    def feed(self, sensor_id: str, times, values, quality=None, *, publish: bool = True) -> list[Alarm]:
        """Process one sensor's readings (in time order); returns the alarms fired.

        With ``publish=False`` the caller publishes them itself (:meth:`publish`),
        e.g. after merging several sensors' alarms into time order.
        """
        st = self._state(sensor_id)
        times = np.atleast_1d(np.asarray(times, dtype="float64"))
        values = np.atleast_1d(np.asarray(values, dtype="float64"))
        if st is None:
            self.unknown[sensor_id] = self.unknown.get(sensor_id, 0) + len(times)
            return []
        fired: list[Alarm] = []
        q = None if quality is None else np.atleast_1d(np.asarray(quality))
        for i in range(len(times)):
            t, v = float(times[i]), float(values[i])
            if v != v or (q is not None and q[i] == BAD):
                continue
            if (not st.missing_on and st.missing_s and st.last_t is not None
                    and t - st.last_t > st.missing_s):
                # a gap that opened and closed between two checks (one replay frame can span
                # many sampling periods): report it all the same, at the instant it became overdue
                st.missing_on = True
                fired.append(self._make(st, st.last_t + st.missing_s, "blue", "raised", "missing", None,
                                        st.missing_s, f"no reading for {st.missing_s / 60:g} min "
                                        f"(last at {iso(st.last_t)})"))
            if st.missing_on:
                fired.append(self._make(st, t, st.missing_lvl, "cleared", "missing", v, None,
                                        f"readings resumed after {(t - st.last_t) / 60:.0f} min"))
                st.missing_on = False
            self._thresholds(st, t, v, fired)
            if st.rules.rate is not None:
                self._rate(st, t, v, fired)
            if st.rules.stuck_s:
                self._stuck(st, t, v, fired)
            st.last_t, st.last_v = t, v
        if publish:
            self.publish(fired)
        return fired

    # ------------------------------------------------ replay fast path
    def calm(self, sensor_id: str, t: np.ndarray, v: np.ndarray, q=None) -> tuple[np.ndarray, np.ndarray] | None:
        """For a whole recorded series: which readings cannot fire anything if the sensor is at rest.

        A reading is calm when it is valid, crosses no level, does not follow a gap
        longer than the missing-data delay, shows no rate-of-change excursion over
        the rate window ending at it, and does not extend a stuck run to the stuck
        delay.  Returns (calm mask, start time of the constant run each reading is
        in), or None for a sensor the engine does not know.  :class:`Replay` uses
        it to hand whole calm stretches to :meth:`rest` instead of the exact loop:
        at x10,000 a frame holds thousands of readings and almost all are calm.
        """
        st = self._state(sensor_id)
        if st is None:
            return None
        rules = st.rules
        calm = ~np.isnan(v)
        if q is not None:
            calm &= q != BAD
        for rule in rules.thresholds:
            if rule.direction == "high":
                calm &= v < min(rule.levels.values())
            else:
                calm &= v > max(rule.levels.values())
        if st.missing_s and len(t) > 1:
            calm[1:] &= np.diff(t) <= st.missing_s
        if rules.rate is not None and len(t):
            import pandas as pd

            series = pd.Series(v, index=pd.to_datetime(t, unit="s"))
            window = series.rolling(pd.Timedelta(seconds=rules.rate.window_s), closed="both")
            calm &= (window.max() - window.min()).to_numpy() < rules.rate.delta
        change = np.ones(len(v), bool)
        change[1:] = v[1:] != v[:-1]
        run_start = np.maximum.accumulate(np.where(change, np.arange(len(v)), 0))
        run_start_t = t[run_start] if len(t) else t
        if rules.stuck_s:
            if rules.stuck_tolerance:
                calm[:] = False
            else:
                calm &= t - run_start_t < rules.stuck_s
        return calm, run_start_t

    def rate_window(self, sensor_id: str) -> float | None:
        """Seconds of history the sensor's rate-of-change rule looks back over (None: no such rule)."""
        st = self._state(sensor_id)
        return None if st is None or st.rules.rate is None else st.rules.rate.window_s

    def at_rest(self, sensor_id: str) -> bool:
        """No alarm of the sensor is in force or pending: a calm stretch may be skipped."""
        self._claim(sensor_id)
        st = self._states.get(sensor_id)
        return st is None or _at_rest(st)

    def rest(self, sensor_id: str, last_t: float, last_v: float, run_start_t: float,
             recent_t=(), recent_v=()) -> None:
        """Advance a sensor at rest over calm readings: keep only what later readings need."""
        st = self._state(sensor_id)
        if st is None:
            return
        st.last_t, st.last_v = float(last_t), float(last_v)
        st.stuck_value, st.stuck_since = float(last_v), float(run_start_t)
        if st.rules.rate is not None:
            st.recent = deque(zip(np.asarray(recent_t, float).tolist(), np.asarray(recent_v, float).tolist()))

    def check_missing(self, now: float, *, publish: bool = True) -> list[Alarm]:
        """Raise a missing-data alarm for every sensor whose next reading is overdue at ``now``."""
        fired = []
        for bank in self._banks:
            bank._release_all()
        for st in self._states.values():
            if st.missing_on or st.last_t is None or not st.missing_s:
                continue
            due = st.last_t + st.missing_s
            if now >= due:
                st.missing_on = True
                fired.append(self._make(st, due, "blue", "raised", "missing", None, st.missing_s,
                                        f"no reading for {st.missing_s / 60:g} min (last at {iso(st.last_t)})"))
        if publish:
            self.publish(fired)
        return fired

    def publish(self, fired: list[Alarm]) -> None:
        """Append alarms to the log and call every subscriber with each."""
        for a in fired:
            self.log.append(a)
            for cb in list(self._subscribers):
                cb(a)

    # --------------------------------------------------------------- rules
    def _thresholds(self, st: _SensorState, t: float, v: float, fired: list) -> None:
        for rule, ts in zip(st.rules.thresholds, st.thresholds):
            up = rule.crossed(v)
            hold = rule.crossed(v, with_hysteresis=True)
            if up > ts.level:
                target, direction = up, 1
            elif hold < ts.level:
                target, direction = hold, -1
            else:
                ts.pending, ts.count = 0, 0
                continue
            if ts.pending != direction:
                ts.pending, ts.count, ts.candidate = direction, 0, target
            ts.count += 1
            ts.candidate = min(ts.candidate, target) if direction == 1 else max(ts.candidate, target)
            if ts.count < max(1, rule.debounce):
                continue
            old, new = ts.level, ts.candidate
            ts.level, ts.pending, ts.count = new, 0, 0
            if new == old:
                continue
            if new == 0:
                lvl = LEVELS[old - 1]
                thr = rule.levels[lvl]
                fired.append(self._make(st, t, lvl, "cleared", rule.direction, v, thr,
                                        f"{_fmt(v)} {st.sensor.unit} back {'below' if rule.direction == 'high' else 'above'} "
                                        f"{lvl} threshold {_fmt(thr)}"))
                continue
            lvl = LEVELS[new - 1]
            thr = rule.levels[lvl]
            state = "raised" if old == 0 else ("escalated" if new > old else "lowered")
            word = "above" if rule.direction == "high" else "below"
            fired.append(self._make(st, t, lvl, state, rule.direction, v, thr,
                                    f"{st.sensor.sensor_type} {_fmt(v)} {st.sensor.unit} {word} {lvl} "
                                    f"threshold {_fmt(thr)}"))

    def _rate(self, st: _SensorState, t: float, v: float, fired: list) -> None:
        rule = st.rules.rate
        st.recent.append((t, v))
        while st.recent and st.recent[0][0] < t - rule.window_s:
            st.recent.popleft()
        vals = [x for _, x in st.recent]
        rise = v - min(vals)
        fall = max(vals) - v
        change = rise if rule.direction == "rise" else fall if rule.direction == "fall" else max(rise, fall)
        sev = SEVERITY[rule.level]
        if not st.rate_level and change >= rule.delta:
            st.rate_level = sev
            word = {"rise": "rose", "fall": "fell"}.get(rule.direction, "changed")
            if rule.direction == "either":
                word = "rose" if rise >= fall else "fell"
            fired.append(self._make(st, t, rule.level, "raised", "rate", v, rule.delta,
                                    f"{st.sensor.sensor_type} {word} {_fmt(change)} {st.sensor.unit} within "
                                    f"{rule.window_s / 60:g} min (limit {_fmt(rule.delta)})"))
        elif st.rate_level and change < rule.delta / 2:
            st.rate_level = 0
            fired.append(self._make(st, t, rule.level, "cleared", "rate", v, rule.delta,
                                    f"{st.sensor.sensor_type} steady again"))

    def _stuck(self, st: _SensorState, t: float, v: float, fired: list) -> None:
        rules = st.rules
        if st.stuck_value is None or abs(v - st.stuck_value) > rules.stuck_tolerance:
            if st.stuck_on:
                fired.append(self._make(st, t, "blue", "cleared", "stuck", v, None, "value moving again"))
            st.stuck_value, st.stuck_since, st.stuck_on = v, t, False
            return
        if not st.stuck_on and t - st.stuck_since >= rules.stuck_s:
            st.stuck_on = True
            fired.append(self._make(st, t, "blue", "raised", "stuck", v, rules.stuck_s,
                                    f"value stuck at {_fmt(v)} {st.sensor.unit} since {iso(st.stuck_since)} "
                                    "(sensor fault?)"))

    def _make(self, st: _SensorState, t, level, state, kind, value, threshold, message) -> Alarm:
        s = st.sensor
        context = reason = None
        if self.context is not None and s.sensor_type == "methane" and kind in ("high", "rate") and state != "cleared":
            context, reason = self.context.classify(s, value, self)
        return Alarm(time=float(t), level=level, state=state, kind=kind, sensor_id=s.id, sensor_type=s.sensor_type,
                     layer=s.layer, feature_id=s.feature_id, value=None if value is None else float(value),
                     threshold=None if threshold is None else float(threshold), unit=s.unit, message=message,
                     x=s.x, y=s.y, context=context, reason=reason)


def _rules_and_missing(sensor: Sensor) -> tuple[SensorRules, float | None]:
    """The sensor's rules and its missing-data delay (3 sampling periods, at least 60 s, unless given)."""
    rules = rules_for(sensor)
    missing = rules.missing_s
    if missing is None and sensor.period_s:
        missing = max(3 * sensor.period_s, 60.0)
    return rules, missing


def _at_rest(st: _SensorState) -> bool:
    return not (st.missing_on or st.stuck_on or st.rate_level or any(ts.level or ts.pending for ts in st.thresholds))


def _steady(st: _SensorState) -> bool:
    """No level change under way and no missing-data alarm to clear: alarms in force may stay so."""
    return not (st.missing_on or any(ts.pending for ts in st.thresholds))


def _bands(rule: ThresholdRule) -> list[tuple[float, float]]:
    """Per level in force (0 = none .. 4 = red), the readings that keep it: ``lo <= v <= hi``.

    A reading keeps level L when it crosses no more severe level
    (``crossed(v) <= L``) and, with hysteresis, still holds L
    (``crossed(v, True) >= L``), exactly as :meth:`AlarmEngine._thresholds`
    decides: the bounds are the same float expressions, a strict bound made
    closed by stepping to the next float.
    """
    out = []
    for lvl in range(len(LEVELS) + 1):
        hold = [thr - (rule.hysteresis if rule.hysteresis is not None else 0.05 * abs(thr)) if rule.direction == "high"
                else thr + (rule.hysteresis if rule.hysteresis is not None else 0.05 * abs(thr))
                for name, thr in rule.levels.items() if SEVERITY[name] >= lvl]
        above = [thr for name, thr in rule.levels.items() if SEVERITY[name] > lvl]
        if rule.direction == "high":  # crossed when v >= thr (- h)
            lo = -math.inf if lvl == 0 else min(hold, default=math.inf)
            hi = math.nextafter(min(above, default=math.inf), -math.inf)
        else:  # crossed when v <= thr (+ h)
            lo = math.nextafter(max(above, default=-math.inf), math.inf)
            hi = math.inf if lvl == 0 else max(hold, default=-math.inf)
        out.append((lo, hi))
    return out


class SensorBank:
    """Sensors read at the same instants, fed to an :class:`AlarmEngine` one instant at a time.

    :meth:`feed` gives exactly the alarms (times, levels, states, kinds,
    messages, order) of calling :meth:`AlarmEngine.feed` with each sensor's
    reading in turn.  The bank *holds* a sensor while its state is steady (no
    level change under way, no missing-data alarm to clear); a reading of a
    held sensor is *calm* when it provably changes no alarm: valid, inside the
    band that keeps each threshold rule's level in force (at rest: below a high
    rule's lowest level, above a low rule's highest), not after a gap longer
    than the missing-data delay, no rate-of-change alarm raised or cleared over
    the rate window (its readings are kept per sensor in a ring of arrays), no
    stuck alarm raised or cleared.  Calm readings only update the bank's arrays
    (last reading, stuck run, rate window); every other reading goes through
    the engine's own loop, the sensor's state written back to the engine
    before and read again after.

    While the bank holds a sensor, the engine takes its state back before
    anything else reads or feeds that sensor (:meth:`AlarmEngine.latest`,
    :meth:`~AlarmEngine.feed`, :meth:`~AlarmEngine.check_missing`, ...), so the
    engine's other callers see the same state as without the bank.
    """

    def __init__(self, engine: AlarmEngine, sensor_ids):
        self.engine = engine
        self.ids = [str(x) for x in sensor_ids]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("a sensor bank lists every sensor once")
        self.row = {sid: i for i, sid in enumerate(self.ids)}
        n = len(self.ids)
        self.all = np.arange(n, dtype=np.int64)
        sensors = [engine.registry.get(sid) for sid in self.ids]
        found = [None if s is None else _rules_and_missing(s) for s in sensors]
        width = max([len(f[0].thresholds) for f in found if f is not None], default=0) or 1
        self.known = np.array([s is not None for s in sensors], bool)  # unknown ones: fed one by one
        # threshold rules: per sensor, rule and level in force, the band of readings that keep the level
        self.bands = np.tile(np.array([-np.inf, np.inf]), (n, width, len(LEVELS) + 1, 1))
        self.lo = np.full(n, -np.inf)       # the readings that keep every rule's level in force now
        self.hi = np.full(n, np.inf)
        self.missing_s = np.full(n, np.inf)  # inf: no missing-data rule
        for i, f in enumerate(found):
            if f is None:
                continue
            rules, missing = f
            for j, rule in enumerate(rules.thresholds):
                self.bands[i, j] = _bands(rule)
            self.lo[i], self.hi[i] = self.bands[i, :, 0, 0].max(), self.bands[i, :, 0, 1].min()
            if missing:
                self.missing_s[i] = missing
        # stuck rules, one slot per sensor that has one
        stuck = [(i, f[0]) for i, f in enumerate(found) if f is not None and f[0].stuck_s]
        self.stuck_rows = np.array([i for i, _ in stuck], dtype=np.int64)
        self.stuck_slot = np.full(n, -1, dtype=np.int64)
        self.stuck_slot[self.stuck_rows] = np.arange(len(stuck))
        self.stuck_s = np.array([r.stuck_s for _, r in stuck], dtype=float)
        self.stuck_tolerance = np.array([r.stuck_tolerance for _, r in stuck], dtype=float)
        self.stuck_value = np.full(len(stuck), np.nan)
        self.stuck_since = np.full(len(stuck), np.nan)
        self.stuck_on = np.zeros(len(stuck), bool)
        # rate rules, one slot per sensor that has one; the window's readings in a ring, the oldest at ``head``
        rate = [(i, f[0].rate) for i, f in enumerate(found) if f is not None and f[0].rate is not None]
        self.rate_rows = np.array([i for i, _ in rate], dtype=np.int64)
        self.rate_slot = np.full(n, -1, dtype=np.int64)
        self.rate_slot[self.rate_rows] = np.arange(len(rate))
        self.window_s = np.array([r.window_s for _, r in rate], dtype=float)
        self.delta = np.array([r.delta for _, r in rate], dtype=float)
        self.rise_only = np.array([r.direction == "rise" for _, r in rate], bool)
        self.fall_only = np.array([r.direction == "fall" for _, r in rate], bool)
        self.rate_on = np.zeros(len(rate), bool)
        self.rate_limit = self.delta.copy()  # raised at delta; once raised, cleared under delta / 2
        self.ring_t = np.full((len(rate), 8), -np.inf)
        self.ring_v = np.zeros((len(rate), 8))
        self.head = np.zeros(len(rate), np.int64)
        # the sensors held, and the part of their state calm readings change (NaN: none yet)
        self.held = np.zeros(n, bool)
        self.last_t = np.full(n, np.nan)
        self.last_v = np.full(n, np.nan)
        #: bumped whenever the engine takes state back: an instant in progress is judged afresh
        self.touched = 0
        engine._banks.append(self)

    # ------------------------------------------------------------- feeding
    def feed(self, t: float, values, rows=None, quality=None, *, publish: bool = True) -> list[Alarm]:
        """The readings at clock time ``t`` of the sensors ``rows`` (indices into :attr:`ids`; default all).

        Each sensor at most once per call, instants in time order.  Returns the
        alarms fired; with ``publish`` each sensor's alarms are published as
        :meth:`AlarmEngine.feed` publishes them, in the order of ``rows``.
        """
        t = float(t)
        n = len(self.ids)
        values = np.asarray(values, dtype="float64")
        if rows is None:
            order, v = self.all, values
            if len(v) != n:
                raise ValueError(f"{len(v)} readings for a bank of {n} sensors")
        else:
            order = np.asarray(rows, dtype=np.int64)
            v = np.full(n, np.nan)  # not read now: invalid, so neither calm nor fed
            v[order] = values
        valid = v == v
        if quality is not None:
            quality = np.asarray(quality)
            valid[order[quality == BAD]] = False
        finite = np.isfinite(v)  # an infinite reading is never calm: the arithmetic below sees 0 instead
        x = np.where(finite, v, 0.0)
        ok = valid & finite
        whole = rows is None
        fired: list[Alarm] = []
        b = 0
        while True:
            calm = self._calm(t, x, ok)
            if whole and b == 0:
                hot = np.flatnonzero(~calm & (valid | ~self.held))
            else:
                rest = order[b:]
                hot = np.flatnonzero(~calm[rest] & (valid[rest] | ~self.held[rest])) + b
            touched = self.touched
            # the readings fed one by one, in order: those not calm, and every reading of a sensor the bank
            # does not hold, even an invalid one (the engine makes a sensor's state at its first reading,
            # and check_missing reports in that order).  The calm ones before each are absorbed first, so
            # a subscriber reading another sensor's state sees what the one-by-one loop would show it
            for k in hot.tolist():
                self._absorb(t, x, self._between(calm, order, b, k, whole))
                row = int(order[k])
                fired.extend(self._exact(row, t, float(v[row]), None if quality is None else quality[k:k + 1],
                                         publish))
                b = k + 1
                if self.touched != touched:  # a subscriber reached into the engine: judge the rest afresh
                    break
            else:
                self._absorb(t, x, self._between(calm, order, b, len(order), whole))
                return fired

    @staticmethod
    def _between(calm: np.ndarray, order: np.ndarray, a: int, b: int, whole: bool) -> np.ndarray:
        """``calm`` restricted to the sensors at positions ``a:b`` of ``order``."""
        if whole and a == 0 and b == len(order):
            return calm
        part = np.zeros(len(calm), bool)
        part[order[a:b]] = True
        return part & calm

    def _calm(self, t: float, v: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Per sensor: a valid, finite reading ``v`` of a held sensor that changes no alarm."""
        calm = ok & self.held & (self.lo <= v) & (v <= self.hi)
        calm &= ~(t - self.last_t > self.missing_s)
        if len(self.rate_rows):
            x = v[self.rate_rows]
            inside = self.ring_t >= (t - self.window_s)[:, None]
            lo = np.minimum(np.where(inside, self.ring_v, np.inf).min(axis=1), x)
            hi = np.maximum(np.where(inside, self.ring_v, -np.inf).max(axis=1), x)
            rise, fall = x - lo, hi - x
            change = np.where(self.rise_only, rise, np.where(self.fall_only, fall, np.maximum(rise, fall)))
            calm[self.rate_rows] &= (change >= self.rate_limit) == self.rate_on
        if len(self.stuck_rows):
            moving = self._moving(v[self.stuck_rows])
            on = self.stuck_on
            # moving: a new run (clears the alarm if on); constant: raised once the run lasts the delay
            calm[self.stuck_rows] &= (moving ^ on) | (~on & ~(t - self.stuck_since >= self.stuck_s))
        return calm

    def _moving(self, x: np.ndarray) -> np.ndarray:
        """Per stuck slot: the reading starts a new constant run (the engine's stuck rule resets)."""
        return np.isnan(self.stuck_value) | (np.abs(x - self.stuck_value) > self.stuck_tolerance)

    def _absorb(self, t: float, v: np.ndarray, sel: np.ndarray) -> None:
        """Advance the held sensors ``sel`` over calm readings ``v``, as the engine's loop would."""
        if not sel.any():
            return
        self.last_t[sel] = t
        self.last_v[sel] = v[sel]
        if len(self.stuck_rows):
            x = v[self.stuck_rows]
            new_run = sel[self.stuck_rows] & self._moving(x)
            self.stuck_value[new_run] = x[new_run]
            self.stuck_since[new_run] = t
        if len(self.rate_rows):
            s = np.flatnonzero(sel[self.rate_rows])
            if len(s):
                h = self.head[s]
                if (self.ring_t[s, h] >= t - self.window_s[s]).any():  # the oldest is still in its window
                    self._grow()
                    h = self.head[s]
                self.ring_t[s, h] = t
                self.ring_v[s, h] = v[self.rate_rows[s]]
                self.head[s] = (h + 1) % self.ring_t.shape[1]

    def _grow(self) -> None:
        """Double the ring, every slot laid out oldest first."""
        m, size = self.ring_t.shape
        order = (self.head[:, None] + np.arange(size)) % size
        ring_t, ring_v = np.full((m, 2 * size), -np.inf), np.zeros((m, 2 * size))
        ring_t[:, :size] = np.take_along_axis(self.ring_t, order, axis=1)
        ring_v[:, :size] = np.take_along_axis(self.ring_v, order, axis=1)
        self.ring_t, self.ring_v = ring_t, ring_v
        self.head[:] = size

    def _exact(self, row: int, t: float, v: float, q, publish: bool) -> list[Alarm]:
        if self.held[row]:
            self._write_back(row)
        fired = self.engine.feed(self.ids[row], t, v, q, publish=publish)
        if self.known[row]:
            self._read_back(row)
        return fired

    # ------------------------------------------------------------- state between the bank and the engine
    def _write_back(self, row: int) -> None:
        """Hand what calm readings changed (last reading, stuck run, rate window) to the engine's state."""
        st = self.engine._states[self.ids[row]]
        self.held[row] = False
        last_t = float(self.last_t[row])
        st.last_t, st.last_v = last_t, float(self.last_v[row])  # a held sensor has had a valid reading
        j = self.stuck_slot[row]
        if j >= 0:
            st.stuck_value, st.stuck_since = float(self.stuck_value[j]), float(self.stuck_since[j])
        j = self.rate_slot[row]
        if j >= 0:
            size = self.ring_t.shape[1]
            order = (self.head[j] + np.arange(size)) % size
            ts, vs = self.ring_t[j, order], self.ring_v[j, order]
            inside = ts >= last_t - self.window_s[j]
            st.recent = deque(zip(ts[inside].tolist(), vs[inside].tolist()))

    def _read_back(self, row: int) -> None:
        """Take the engine's state of the sensor into the arrays; hold the sensor while it is steady."""
        st = self.engine._states.get(self.ids[row])
        if st is None or st.last_t is None:  # reset meanwhile, or no valid reading yet
            self.held[row] = False
            return
        self.last_t[row], self.last_v[row] = st.last_t, st.last_v
        if st.thresholds:
            band = self.bands[row, np.arange(len(st.thresholds)), [ts.level for ts in st.thresholds]]
            self.lo[row], self.hi[row] = band[:, 0].max(), band[:, 1].min()
        j = self.stuck_slot[row]
        if j >= 0:
            self.stuck_value[j] = np.nan if st.stuck_value is None else st.stuck_value
            self.stuck_since[j] = np.nan if st.stuck_since is None else st.stuck_since
            self.stuck_on[j] = st.stuck_on
        j = self.rate_slot[row]
        if j >= 0:
            self.rate_on[j] = bool(st.rate_level)
            self.rate_limit[j] = st.rules.rate.delta / 2 if st.rate_level else st.rules.rate.delta
            while len(st.recent) > self.ring_t.shape[1]:
                self._grow()
            m = len(st.recent)
            self.ring_t[j] = -np.inf
            if m:
                ts, vs = zip(*st.recent)
                self.ring_t[j, :m], self.ring_v[j, :m] = ts, vs
            self.head[j] = m % self.ring_t.shape[1]
        self.held[row] = _steady(st)

    def _release(self, row: int) -> None:
        """The engine takes a held sensor back (something reads or feeds it outside the bank)."""
        self._write_back(row)
        self.touched += 1

    def _release_all(self) -> None:
        for row in np.flatnonzero(self.held).tolist():
            self._release(row)

    def _forget(self) -> None:
        """The engine was reset: it holds no state, nor does the bank."""
        self.held[:] = False
        self.touched += 1


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def raised_by_level(alarms) -> dict[str, int]:
    """How many alarms opened or escalated an incident, per warning level, most severe first."""
    return {lvl: sum(1 for a in alarms if a.opens_incident and a.level == lvl) for lvl in RISK_LEVELS}


def write_alarm_log(alarms, path) -> Path:
    """The alarm log as CSV or JSON (by extension), written atomically."""
    import csv
    import io

    path = Path(path)
    rows = [a.as_dict() for a in alarms]
    if path.suffix.lower() == ".json":
        text = json.dumps({"alarms": rows}, indent=1)
    else:
        buf = io.StringIO()
        fields = ["time", "level", "state", "kind", "sensor_id", "sensor_type", "layer", "feature_id",
                  "value", "threshold", "unit", "message", "context", "reason", "x", "y"]
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        text = buf.getvalue()
    return atomic.write(path, text)
