"""The emergency-response scenario: incident types, unit types, dispatch rules and standards.

Everything a planner may want to change lives here as a validated pydantic
model, loaded from YAML (``scenarios/emergency-default.yaml`` is the default).
Durations are given the way practitioners quote them — a median and a 90th
percentile — and drawn from the lognormal through those two points; a fixed
value, an exponential mean or an empirical sample are also accepted.

Errors name the file, the line and the field: a misspelt key is an error, not
ignored, and the message suggests the closest known key; numbers must be finite
(``.nan`` or ``.inf`` in the YAML is refused).
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import SourceError
from twin.yaml_lines import line_of
from twin.schema import RISK_LEVELS

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "emergency-default.yaml"

#: z-score of the 90th percentile of the standard normal distribution.
_Z90 = 1.2815515655446004


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Duration(_Strict):
    """A random duration in seconds.

    Exactly one form: ``{median, p90}`` (lognormal through both), ``{fixed}``,
    ``{mean}`` (exponential) or ``{empirical: [...]}`` (resampled).
    """

    median: float | None = Field(None, gt=0)
    p90: float | None = Field(None, gt=0)
    fixed: float | None = Field(None, ge=0)
    mean: float | None = Field(None, gt=0)
    empirical: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _one_form(self):
        forms = [self.median is not None or self.p90 is not None, self.fixed is not None,
                 self.mean is not None, self.empirical is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of {median, p90}, {fixed}, {mean} or {empirical}")
        if forms[0]:
            if self.median is None or self.p90 is None:
                raise ValueError("a lognormal duration needs both median and p90")
            if self.p90 < self.median:
                raise ValueError(f"p90 ({self.p90}) is below the median ({self.median})")
        if self.empirical is not None and (len(self.empirical) == 0 or min(self.empirical) < 0):
            raise ValueError("empirical durations must be a non-empty list of values >= 0")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.fixed is not None:
            return np.full(n, float(self.fixed))
        if self.mean is not None:
            return rng.exponential(self.mean, n)
        if self.empirical is not None:
            return rng.choice(np.asarray(self.empirical, dtype=float), n)
        sigma = np.log(self.p90 / self.median) / _Z90
        return self.median * np.exp(sigma * rng.standard_normal(n))

    @property
    def typical(self) -> float:
        """The median (or the fixed value / mean): used for planning estimates."""
        if self.fixed is not None:
            return float(self.fixed)
        if self.mean is not None:
            return float(self.mean) * np.log(2.0)
        if self.empirical is not None:
            return float(np.median(self.empirical))
        return float(self.median)


class UnitType(_Strict):
    """A kind of unit (engine, ambulance, water crew...) and how fast its crew turns out."""

    role: Literal["fire", "ems", "water", "gas", "micro"]
    turnout: Duration
    #: Daily on-duty window "HH:MM-HH:MM" (may wrap midnight); "00:00-24:00" is always on.
    on_duty: str = "00:00-24:00"
    #: Outside the window the unit is either out of service or on call (slower turnout).
    off_duty: Literal["off", "on_call"] = "off"
    on_call_extra_s: float = Field(0.0, ge=0)
    #: Another unit type sent in its place when the fleet has no unit of this type at all.
    fallback: str | None = None

    @field_validator("on_duty")
    @classmethod
    def _window(cls, v):
        duty_window(v)
        return v


def duty_window(text: str) -> tuple[float, float]:
    """'07:00-19:00' -> (25200, 68400) seconds of the day (end may be below start: wraps midnight)."""
    try:
        a, b = text.split("-")
        out = []
        for part in (a, b):
            hh, mm = part.strip().split(":")
            h, m = int(hh), int(mm)
            if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
                raise ValueError
            out.append(h * 3600.0 + m * 60.0)
    except ValueError:
        raise ValueError(f"on-duty window {text!r} is not 'HH:MM-HH:MM'") from None
    return out[0], out[1]


class Placement(_Strict):
    """Where incidents of a type happen: candidate features and their weight."""

    #: Layers tried in order; the first non-empty one is used.
    layers: tuple[str, ...] = ("buildings",)
    #: population: buildings weighted by population (1 when unknown); length: lines by length;
    #: uniform: every feature alike.  The building risk level multiplies any weight.
    weight: Literal["population", "length", "uniform"] = "population"
    risk_factor: dict[str, float] = Field(default_factory=lambda: {
        "red": 4.0, "orange": 2.5, "yellow": 1.5, "blue": 1.0, "": 1.0})


class IncidentType(_Strict):
    """One type of incident: how often, where, how urgent, and which units it needs."""

    label: str
    rate_per_day: float = Field(ge=0)
    #: priority -> probability (1 is the most urgent).
    priority: dict[int, float] = Field(default_factory=lambda: {1: 1.0})
    false_alarm: float = Field(0.0, ge=0, le=1)
    #: Units of the initial (full alarm) assignment, unit type -> count, in dispatch order.
    units: dict[str, int]
    #: Send the closest micro fire station's crew too, ahead of the engines.
    micro_first: bool = False
    handle: Duration
    placement: Placement = Field(default_factory=Placement)
    #: Relative hourly rates (24 values); flat when absent.
    hourly_profile: tuple[float, ...] | None = None

    @field_validator("priority")
    @classmethod
    def _priorities(cls, v):
        if not v or abs(sum(v.values()) - 1.0) > 1e-6 or min(v.values()) < 0:
            raise ValueError("priority probabilities must be >= 0 and sum to 1")
        return v

    @field_validator("units")
    @classmethod
    def _units(cls, v):
        if not v or any(n < 1 for n in v.values()):
            raise ValueError("an incident type needs at least one unit, counts >= 1")
        return v

    @field_validator("hourly_profile")
    @classmethod
    def _profile(cls, v):
        if v is not None and (len(v) != 24 or min(v) < 0 or sum(v) <= 0):
            raise ValueError("hourly_profile needs 24 non-negative values, not all zero")
        return v


class Standard(_Strict):
    """A response-time target: the share of responses meeting ``limit_s``.

    measure: turnout (unit dispatched -> rolling), travel (rolling -> on scene),
    dispatch_to_scene (dispatched -> on scene), report_to_scene (call received ->
    on scene).  scope: each (every unit response), first (the first unit of the
    selection to arrive at each incident) or full_alarm (the last unit of the
    initial assignment).  ``units`` selects unit types, ``stations`` station kinds,
    ``incident_types`` incident types (empty = all).
    """

    name: str
    measure: Literal["turnout", "travel", "dispatch_to_scene", "report_to_scene"]
    scope: Literal["each", "first", "full_alarm"] = "each"
    limit_s: float = Field(gt=0)
    target: float = Field(0.9, gt=0, le=1)
    units: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    incident_types: tuple[str, ...] = ()


class Roads(_Strict):
    """How roads become travel times for emergency vehicles."""

    #: Emergency-vehicle speed relative to the road's speed_kmh, by road class (default 1.0).
    speed_factor: dict[str, float] = Field(default_factory=dict)
    #: Factor for single-lane two-way roads (no room to pass).
    single_lane_factor: float = Field(0.85, gt=0, le=2)
    #: Speed on the leg from the road to the incident (hose lay, walk, driveway), km/h.
    access_speed_kmh: float = Field(10.0, gt=0)
    #: Incidents (and stations) further than this from any reachable road are flagged, m.
    max_snap_m: float = Field(500.0, gt=0)
    #: Coordinates closer than this are one road node, m.
    node_tolerance_m: float = Field(0.5, gt=0)
    #: Multiplicative lognormal spread of actual travel around the road-graph time.
    travel_sigma: float = Field(0.15, ge=0)


class StraightLine(_Strict):
    """Travel time from straight-line distance: t = a + b · (d / 1 km)^c seconds.

    Used when a twin has no roads and for records with no road graph (the SF
    calibration fits a, b, c and sigma, the lognormal spread of observed times
    around the curve).
    """

    a: float = Field(60.0, ge=0)
    b: float = Field(120.0, gt=0)
    c: float = Field(0.8, gt=0, le=3)
    sigma: float = Field(0.3, ge=0)


class Scenario(_Strict):
    """A whole emergency-response scenario."""

    name: str = "emergency"
    seed: int = 1
    verify: Duration
    dispatch: Duration
    feedback: Duration
    unit_types: dict[str, UnitType]
    #: Units a station of each kind has when its ``units`` field is empty.
    default_units: dict[str, dict[str, int]]
    #: Other spellings found in data -> unit type ("medic" -> "ambulance").
    unit_aliases: dict[str, str] = Field(default_factory=dict)
    incident_types: dict[str, IncidentType]
    #: Micro-station crews are sent only when their travel is at most this, s.
    micro_radius_s: float = Field(300.0, gt=0)
    standards: tuple[Standard, ...] = ()
    roads: Roads = Field(default_factory=Roads)
    straight_line: StraightLine = Field(default_factory=StraightLine)
    #: Alarms at these levels become incidents (sensor alarms, most severe first).
    alarm_levels: tuple[str, ...] = ("red", "orange")
    #: Sensor type -> incident type, for alarms from the sensor layer.
    alarm_types: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self):
        known = set(self.unit_types)
        for name, it in self.incident_types.items():
            for u in it.units:
                if u not in known:
                    raise ValueError(f"incident type {name!r} needs unit type {u!r}, "
                                     f"which is not in unit_types ({', '.join(sorted(known))})")
        for kind, units in self.default_units.items():
            for u in units:
                if u not in known:
                    raise ValueError(f"default_units of {kind!r}: unknown unit type {u!r}")
        for alias, target in self.unit_aliases.items():
            if target not in known:
                raise ValueError(f"unit_aliases: {alias!r} points at unknown unit type {target!r}")
        for name, ut in self.unit_types.items():
            if ut.fallback is not None and ut.fallback not in known:
                raise ValueError(f"unit type {name!r}: fallback {ut.fallback!r} is not a unit type")
        for st in self.standards:
            for u in st.units:
                if u not in known:
                    raise ValueError(f"standard {st.name!r}: unknown unit type {u!r}")
            for t in st.incident_types:
                if t not in self.incident_types:
                    raise ValueError(f"standard {st.name!r}: unknown incident type {t!r}")
        for sensor, t in self.alarm_types.items():
            if t not in self.incident_types:
                raise ValueError(f"alarm_types: sensor type {sensor!r} maps to unknown incident type {t!r}")
        for level in self.alarm_levels:
            if level not in RISK_LEVELS:  # an alarm at an unknown level never comes: it would open nothing
                raise ValueError(f"alarm_levels: {level!r} is not a warning level ({', '.join(RISK_LEVELS)})")
        return self

    def unit_type(self, name: str) -> str | None:
        """The configured unit type for a name found in data (aliases and case folded)."""
        key = str(name).strip().lower()
        if key in self.unit_types:
            return key
        return self.unit_aliases.get(key)


def load_scenario(path: str | Path | None = None, overrides: dict | None = None) -> Scenario:
    """Read a scenario YAML (the default one when ``path`` is None), with optional overrides."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such scenario file")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        from twin.errors import reading_problem

        raise SourceError(f"{path}: cannot read the scenario: {reading_problem(exc)}") from None
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)  # the same document with line numbers, for the messages
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SourceError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: a scenario is a YAML mapping, found {type(data).__name__}")
    if overrides:
        data = {**data, **overrides}
    return scenario_from_dict(data, str(path), _root=root)


def scenario_from_dict(data: dict, source: str = "<memory>", *, _root=None) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        line = line_of(_root, loc)
        at = f" (line {line})" if line else ""
        hint = ""
        if err["type"] == "extra_forbidden":
            hint = " (unknown key" + suggest(str(loc[-1]), _known_keys(Scenario, loc[:-1]), "; ") + ")"
        raise SourceError(f"{source}: field {field}: {err['msg']}{hint}{at}{more}") from None


def suggest(key: str, known, sep: str = " (") -> str:
    """'; did you mean 'x'? known keys: ...' for an unknown key, from the known ones (difflib)."""
    known = sorted(str(k) for k in known)
    if not known:
        return ""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{sep}{hint}known keys: {', '.join(known)}" + (")" if sep == " (" else "")


def _known_keys(model, path) -> list[str]:
    """Field names of the pydantic model found at ``path`` below ``model`` (dict keys and indices skipped)."""
    tp = model
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(str(part))
            if f is None:
                return []
            tp = f.annotation
        elif typing.get_origin(tp) in (dict, tuple, list):
            args = [a for a in typing.get_args(tp) if a is not Ellipsis]
            tp = args[-1] if args else None
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    if typing.get_origin(tp) in (dict, tuple, list):
        inner = _unwrap([a for a in typing.get_args(tp) if a is not Ellipsis][-1])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return list(inner.model_fields)
    return []


def _unwrap(tp):
    """X from ``X | None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp
