"""Scenario files: a coupled run of the twin described in YAML, validated before anything runs.

A scenario names the twin (a project file, or the demo city and its seed),
the time window and step, the hydraulic options, the scripted events (pipe
breaks at clock times), the response plan and the targets the report checks.
It is read with ``yaml.safe_load`` and validated with pydantic: unknown keys
are refused, and every error names the file, the line and the field path.
:func:`build_session` turns it into a :class:`~simulation.session.Session`
(hydraulics, then virtual sensors and alarms, then the emergency response,
advanced in that order) that can re-run itself to seek back.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import SourceError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TwinSource(_Strict):
    project: str | None = Field(None, description="project GeoPackage, relative to the scenario file")
    demo_seed: int | None = Field(None, ge=0, description="build the demo city with this seed")

    @model_validator(mode="after")
    def one(self):
        if (self.project is None) == (self.demo_seed is None):
            raise ValueError("give exactly one of project or demo_seed")
        return self


class PipeBreak(_Strict):
    at: str = Field(description="clock time HH:MM on the first day of the run, or ISO 8601 UTC")
    pipe: str
    hole_mm: float = Field(100.0, gt=0, le=2000, description="equivalent round hole, mm")


class ResponseSpec(_Strict):
    verify_s: float = Field(60.0, ge=0, le=86400)
    dispatch_s: float = Field(60.0, ge=0, le=86400)
    turnout_s: float = Field(120.0, ge=0, le=86400)
    isolate_min: float = Field(30.0, ge=0, le=1440, description="on scene until the segment's valves are closed")
    repair_h: float = Field(4.0, ge=0, le=168)
    feedback_s: float = Field(300.0, ge=0, le=86400)
    confirm_deficit_m: float = Field(10.0, gt=0, le=500)


class Targets(_Strict):
    isolation_min: float | None = Field(None, gt=0, description="break to valves closed, minutes")
    people_hours_without_water: float | None = Field(None, ge=0)
    volume_lost_m3: float | None = Field(None, ge=0)


class Scenario(_Strict):
    name: str
    description: str = ""
    twin: TwinSource
    start: str = Field(description="ISO 8601 UTC start of the run, e.g. 2026-06-01T00:00:00Z")
    duration_h: float = Field(24.0, gt=0, le=168)
    step_s: float = Field(60.0, gt=0, le=3600)
    seed: int = Field(1, ge=0)
    service_pressure_m: float = Field(14.0, ge=0, le=300)
    breaks: list[PipeBreak] = Field(default_factory=list)
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    targets: Targets = Field(default_factory=Targets)

    @field_validator("start")
    @classmethod
    def iso(cls, v: str) -> str:
        _parse_time(v)
        return v

    def start_s(self) -> float:
        return _parse_time(self.start)

    def break_time(self, b: PipeBreak) -> float:
        if ":" in b.at and len(b.at) <= 5:
            hh, mm = b.at.split(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ValueError(f"break of {b.pipe}: at {b.at!r} is not HH:MM")
            midnight = self.start_s() - self.start_s() % 86400.0  # the first day of the run, UTC
            return midnight + int(hh) * 3600 + int(mm) * 60
        return _parse_time(b.at)


def _parse_time(text: str) -> float:
    try:
        t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    value = t.timestamp()
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a time")
    return value


def _line_of(text: str, loc: tuple) -> int | None:
    """The line of the last named key of ``loc`` in the YAML text (best effort)."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    for no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lstrip("- ").strip()
        if stripped.startswith(f"{keys[-1]}:"):
            return no
    return None


def load_scenario(path) -> tuple[Scenario, Path]:
    """The scenario in ``path`` (and its folder); one SourceError naming the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such scenario file")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise SourceError(f"{path}: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: a scenario is a YAML mapping (name, twin, start, ...)")
    try:
        scenario = Scenario.model_validate(data)
        for b in scenario.breaks:
            t = scenario.break_time(b)
            if not scenario.start_s() <= t < scenario.start_s() + scenario.duration_h * 3600:
                raise SourceError(f"{path}: breaks: pipe {b.pipe} at {b.at!r} falls outside the run")
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(text, loc)
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise SourceError(f"{path}: {f'line {line}: ' if line else ''}field {field}: {what}") from None
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}") from None
    return scenario, path.parent


def build_session(scenario: Scenario, folder: Path, twin=None):
    """The session of ``scenario``: water network, virtual sensors and alarms, emergency response."""
    from simulation.hydraulics.results import DemandModel
    from simulation.hydraulics.system import from_twin
    from simulation.session.response import Response, ResponsePlan
    from simulation.session.sensing import VirtualSensors
    from simulation.session.session import Session
    from simulation.session.water import WaterNetwork

    if twin is None:
        if scenario.twin.project:
            from twin.project import load

            twin = load(Path(folder) / scenario.twin.project)
        else:
            from twin.demo import build_demo

            twin = build_demo(seed=scenario.twin.demo_seed)
    system = from_twin(twin)
    start = scenario.start_s()
    session = Session(twin, start, start + scenario.duration_h * 3600, seed=scenario.seed,
                      step_s=scenario.step_s, rebuild=lambda: build_session(scenario, folder, twin))
    water = WaterNetwork(system, demand_model=DemandModel(pdd=True), service_pressure=scenario.service_pressure_m)
    session.attach(water)
    for b in scenario.breaks:
        water.break_pipe(b.pipe, scenario.break_time(b), b.hole_mm)
    session.attach(VirtualSensors(twin, water))
    r = scenario.response
    plan = ResponsePlan(verify_s=r.verify_s, dispatch_s=r.dispatch_s, turnout_s=r.turnout_s,
                        isolate_s=r.isolate_min * 60.0, repair_s=r.repair_h * 3600.0, feedback_s=r.feedback_s,
                        confirm_deficit_m=r.confirm_deficit_m)
    session.attach(Response(twin, system, plan, water=water))
    session.water = water
    return session
