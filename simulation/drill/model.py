"""Drill files (``scenarios/drills/*.yaml``) and trainee actions files, validated before anything runs.

A **drill** names a scenario (a path relative to the drill file, or the scenario
inline), the exercise's name, date, scope, objectives and participants, and the
master scenario events list: the **injects**.  Each inject has a number, a
trigger (``at`` an exercise clock time ``HH:MM``; ``after`` another inject's
delivery plus ``delay_min``; ``on`` a session event kind with ``where`` filters
on its fields, e.g. ``{level: red}``; or ``controller``: delivered when the
controller says so), from and to roles, a method, a message, a location (a
feature ``layer``/``id`` or ``x``/``y``), and the actions expected of the
trainees, each with a deadline in minutes after the delivery, the objective it
serves and the contingency injects released when it is missed.  A contingency
inject (``contingency: true``) has no trigger: only a missed action releases it.

An **actions file** (with the ad-hoc injects the controller added during play) lists the trainees' actions (``at`` a clock time ``HH:MM`` or ISO 8601,
or ``inject`` N and ``after_s`` seconds after its delivery; ``role``,
``action``, ``parameters``), the controller's operations (``at``, ``op``
deliver / hold / cancel, ``inject``) and the evaluator's entries (rating
overrides, notes, strengths, areas for improvement and the improvement plan).

Both are read with ``yaml.safe_load`` and validated with pydantic: unknown keys
are refused and an error names the file, the line and the field path
(:func:`twin.yaml_lines.line_of`).  The drill's JSON Schema is
``docs/drill.schema.json`` (:func:`json_schema`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulation.session.scenario import Scenario
from twin.errors import SourceError
from twin.yaml_lines import line_of, read_yaml

#: What a trainee may do (``action_taken`` events carry one of these).
ACTIONS = ("acknowledge", "verify", "dispatch", "close_valves", "notify", "evacuate", "request_mutual_aid",
           "close_incident")
Action = Literal["acknowledge", "verify", "dispatch", "close_valves", "notify", "evacuate", "request_mutual_aid",
                 "close_incident"]
#: Whom a trainee may notify.
NOTIFIED = ("residents", "school", "hospital", "gas_company")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


def _hhmm(v: str) -> str:
    hh, _, mm = str(v).partition(":")
    if not (hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"{v!r} is not a clock time HH:MM")
    return v


def _at(v: str) -> str:
    """An actions file's time: ``HH:MM`` on the scenario's first day, or an ISO 8601 time (a drill played in
    the window records the controller's operations to the second that way)."""
    if len(str(v)) <= 5:
        return _hhmm(v)
    from datetime import datetime

    try:
        datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{v!r} is neither a clock time HH:MM nor an ISO 8601 time") from None
    return v


class Objective(_Strict):
    id: str = Field(min_length=1)
    text: str


class Participant(_Strict):
    role: str = Field(min_length=1, description="the role injects go to and actions come from")
    name: str = ""


class Trigger(_Strict):
    """Exactly one of at, after, on, controller."""

    at: str | None = Field(None, description="exercise clock time HH:MM on the scenario's first day")
    after: int | None = Field(None, ge=1, description="the inject whose delivery starts the delay")
    on: str | None = Field(None, description="a session event kind (simulation/session/events.py KINDS)")
    where: dict[str, str | float | bool] = Field(default_factory=dict, description=(
        "with `on`: the event's fields that must match (kind, source, layer, feature, or a data key such as level)"))
    controller: bool = Field(False, description="delivered when the exercise controller says so")
    delay_min: float = Field(0.0, ge=0, le=1440, description="minutes after the `after` delivery or the `on` event")

    @model_validator(mode="before")
    @classmethod
    def yaml_on(cls, data):
        # YAML 1.1 (yaml.safe_load) reads an unquoted key `on` as the boolean true
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def one(self):
        from simulation.session.events import KINDS

        given = [k for k in ("at", "after", "on") if getattr(self, k) is not None] + (["controller"] if self.controller
                                                                                     else [])
        if len(given) != 1:
            raise ValueError("give exactly one of at, after, on, controller")
        if self.at is not None:
            _hhmm(self.at)
        if self.on is not None and self.on not in KINDS:
            raise ValueError(f"unknown event kind {self.on!r}")
        if self.where and self.on is None:
            raise ValueError("where filters go with on")
        return self


class Location(_Strict):
    layer: str | None = None
    id: str | None = None
    x: float | None = None
    y: float | None = None

    @model_validator(mode="after")
    def one(self):
        feature, point = self.id is not None, self.x is not None or self.y is not None
        if feature == point or (feature and self.layer is None) or (point and (self.x is None or self.y is None)):
            raise ValueError("give layer and id, or x and y")
        return self


class Expected(_Strict):
    """An action expected of the trainees once the inject is delivered."""

    action: Action
    parameters: dict[str, str | float | list[str]] = Field(default_factory=dict, description=(
        "what the action must carry: a list matches the action's list as a set (units, valves), "
        "anything else by equality"))
    role: str | None = Field(None, description="the role that must take it (any role if left out)")
    deadline_min: float = Field(gt=0, le=1440, description="minutes after the inject's delivery")
    objective: str = Field(description="the objective id it serves")
    contingency: list[int] = Field(default_factory=list, description="injects released when it is missed")


class Inject(_Strict):
    number: int = Field(ge=1)
    trigger: Trigger | None = Field(None, description="left out only for a contingency inject")
    contingency: bool = Field(False, description="released only when an expected action is missed")
    from_: str = Field(alias="from", description="the role (or simulated actor) that sends it")
    to: str = Field(description="the role that receives it")
    method: Literal["phone", "radio", "sensor", "message"]
    message: str
    location: Location | None = None
    expect: list[Expected] = Field(default_factory=list)

    @model_validator(mode="after")
    def triggered(self):
        if self.trigger is None and not self.contingency:
            raise ValueError("an inject needs a trigger (or contingency: true)")
        if self.trigger is not None and self.contingency:
            raise ValueError("a contingency inject has no trigger: a missed action releases it")
        return self


class Drill(_Strict):
    name: str
    date: str = Field(description="the day of the exercise, as the organisers write it")
    scope: str = ""
    scenario: str | Scenario = Field(description="scenario YAML (relative to the drill file) or the scenario inline")
    start: str | None = Field(None, description="exercise start HH:MM (the scenario's start if left out)")
    duration_h: float | None = Field(None, gt=0, le=168, description="exercise length (the scenario's if left out)")
    objectives: list[Objective] = Field(min_length=1)
    participants: list[Participant] = Field(default_factory=list)
    injects: list[Inject] = Field(min_length=1, description="the master scenario events list")

    @model_validator(mode="after")
    def consistent(self):
        if self.start is not None:
            _hhmm(self.start)
        numbers = [i.number for i in self.injects]
        dup = sorted({n for n in numbers if numbers.count(n) > 1})
        if dup:
            raise ValueError(f"inject {dup[0]} is numbered twice")
        return self

    def inject(self, number: int) -> Inject:
        return next(i for i in self.injects if i.number == number)


def _check_references(drill: Drill) -> tuple[tuple, str] | None:
    """(field path, what is wrong) of the first bad reference between injects and objectives, or None."""
    numbers = {i.number for i in drill.injects}
    objectives = {o.id for o in drill.objectives}
    roles = {p.role for p in drill.participants}
    by = {i.number: i for i in drill.injects}
    for k, inj in enumerate(drill.injects):
        if inj.trigger is not None and inj.trigger.after is not None:
            if inj.trigger.after not in numbers:
                return ("injects", k, "trigger", "after"), f"no inject {inj.trigger.after}"
            seen, n = {inj.number}, inj.trigger.after
            while by[n].trigger is not None and by[n].trigger.after is not None:
                if n in seen or by[n].trigger.after in seen:
                    return ("injects", k, "trigger", "after"), f"injects {inj.number} and {n} trigger each other"
                seen.add(n)
                n = by[n].trigger.after
        if roles and inj.to not in roles:
            return ("injects", k, "to"), f"no participant has the role {inj.to!r}"
        for j, ex in enumerate(inj.expect):
            if ex.objective not in objectives:
                return ("injects", k, "expect", j, "objective"), f"no objective {ex.objective!r}"
            if roles and ex.role is not None and ex.role not in roles:
                return ("injects", k, "expect", j, "role"), f"no participant has the role {ex.role!r}"
            for c in ex.contingency:
                if c not in numbers:
                    return ("injects", k, "expect", j, "contingency"), f"no inject {c}"
                if not by[c].contingency:
                    return ("injects", k, "expect", j, "contingency"), f"inject {c} is not a contingency inject"
    return None


class ActionEntry(_Strict):
    at: str | None = Field(None, description="clock time HH:MM on the scenario's first day, or an ISO 8601 time")
    inject: int | None = Field(None, ge=1, description="taken after_s seconds after this inject's delivery")
    after_s: float | None = Field(None, ge=0, le=86400)
    role: str
    action: Action
    parameters: dict[str, str | float | list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def when(self):
        if (self.at is None) == (self.inject is None):
            raise ValueError("give at, or inject and after_s")
        if self.at is not None:
            _at(self.at)
            if self.after_s is not None:
                raise ValueError("after_s goes with inject, not with at")
        if self.inject is not None and self.after_s is None:
            raise ValueError("give after_s with inject")
        if self.action == "notify" and str(self.parameters.get("whom")) not in NOTIFIED:
            raise ValueError(f"notify whom: one of {', '.join(NOTIFIED)}")
        if self.action == "evacuate" and not isinstance(self.parameters.get("building"), str):
            raise ValueError("evacuate: give the building's id (parameters: {building: ID})")
        return self


class EvaluatorEntry(_Strict):
    kind: Literal["rating", "note", "strength", "improvement"] = Field(description=(
        "rating: override an objective's rating; note: an observation; strength; improvement: an area for "
        "improvement, with the improvement plan's action, owner and due date"))
    objective: str | None = None
    rating: Literal["P", "S", "M", "U"] | None = None
    text: str = ""
    action: str | None = Field(None, description="improvement: what will be done")
    owner: str | None = None
    due: str | None = Field(None, description="improvement: due date")
    at: str | None = Field(None, description="when the evaluator noted it, HH:MM")

    @model_validator(mode="after")
    def complete(self):
        if self.kind == "rating" and (self.objective is None or self.rating is None):
            raise ValueError("a rating needs objective and rating")
        if self.kind == "improvement" and not (self.action and self.owner and self.due):
            raise ValueError("an improvement needs action, owner and due")
        return self


class ControllerEntry(_Strict):
    """A controller operation during play, recorded for replay."""

    at: str = Field(description="clock time HH:MM on the scenario's first day, or an ISO 8601 time")
    op: Literal["deliver", "hold", "cancel"]
    inject: int = Field(ge=1)

    @model_validator(mode="after")
    def clock(self):
        _at(self.at)
        return self


class Actions(_Strict):
    actions: list[ActionEntry] = Field(default_factory=list)
    evaluator: list[EvaluatorEntry] = Field(default_factory=list)
    controller: list[ControllerEntry] = Field(default_factory=list, description="the controller's operations")
    injects: list[Inject] = Field(default_factory=list, description=(
        "ad-hoc injects the controller added during play (trigger: controller), delivered by its recorded "
        "operations"))

    @model_validator(mode="after")
    def adhoc_by_the_controller(self):
        for inj in self.injects:
            if inj.trigger is None or not inj.trigger.controller:
                raise ValueError(f"ad-hoc inject {inj.number}: its trigger is the controller (trigger: "
                                 "{controller: true})")
        return self


def _refuse(path: Path, text: str, loc: tuple, what: str) -> SourceError:
    field = ".".join(str(p) for p in loc) or "(top level)"
    line = line_of(text, loc)
    return SourceError(f"{path}: {f'line {line}: ' if line else ''}field {field}: {what}")


def _validate(model, data, path: Path, text: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("str", "Scenario")))
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise _refuse(path, text, loc, what) from None


def load_drill(path) -> tuple[Drill, Scenario, Path]:
    """The drill in ``path``, its scenario (with the drill's window) and the scenario's folder."""
    from simulation.session.scenario import load_scenario

    path = Path(path)
    text, data = read_yaml(path, "drill")
    if not isinstance(data, dict):
        raise SourceError(f"{path}: a drill is a YAML mapping (name, date, scenario, objectives, injects)")
    drill = _validate(Drill, data, path, text)
    bad = _check_references(drill)
    if bad:
        raise _refuse(path, text, *bad)
    if isinstance(drill.scenario, str):
        scenario, folder = load_scenario(path.parent / drill.scenario)
    else:
        scenario, folder = drill.scenario, path.parent
    update = {}
    if drill.start is not None:
        day = scenario.start_s() - scenario.start_s() % 86400.0
        from simulation.clock import iso

        update["start"] = iso(day + int(drill.start[:2]) * 3600 + int(drill.start[3:]) * 60)
    if drill.duration_h is not None:
        update["duration_h"] = drill.duration_h
    scenario = scenario.model_copy(update=update)
    begin, end = scenario.start_s(), scenario.start_s() + scenario.duration_h * 3600
    for k, inj in enumerate(drill.injects):
        if inj.trigger is not None and inj.trigger.at is not None:
            t = scenario.clock_time(inj.trigger.at, f"inject {inj.number}")
            if not begin <= t < end:
                raise _refuse(path, text, ("injects", k, "trigger", "at"), "falls outside the exercise")
    for section, what, at, t in scenario.timed_events():
        if t < begin:
            raise _refuse(path, text, ("start",), f"the exercise starts after the scenario's {section} ({what})")
    return drill, scenario, folder


def load_actions(path, drill: Drill | None = None) -> Actions:
    """The trainees' actions and the evaluator's entries in ``path`` (a mapping, or a bare list of actions)."""
    path = Path(path)
    text, data = read_yaml(path, "actions")
    if isinstance(data, list):
        data = {"actions": data}
    if not isinstance(data, dict):
        raise SourceError(f"{path}: an actions file is a YAML mapping (actions, evaluator) or a list of actions")
    actions = _validate(Actions, data, path, text)
    if drill is not None:
        numbers = {i.number for i in drill.injects}
        objectives = {o.id for o in drill.objectives}
        for k, inj in enumerate(actions.injects):
            if inj.number in numbers:
                raise _refuse(path, text, ("injects", k, "number"),
                              f"inject {inj.number} is in the drill already: an ad-hoc inject takes a new number")
            numbers = numbers | {inj.number}
        for k, a in enumerate(actions.actions):
            if a.inject is not None and a.inject not in numbers:
                raise _refuse(path, text, ("actions", k, "inject"), f"no inject {a.inject} in the drill")
        for k, e in enumerate(actions.controller):
            if e.inject not in numbers:
                raise _refuse(path, text, ("controller", k, "inject"), f"no inject {e.inject} in the drill")
        for k, e in enumerate(actions.evaluator):
            if e.objective is not None and e.objective not in objectives:
                raise _refuse(path, text, ("evaluator", k, "objective"), f"no objective {e.objective!r} in the drill")
    return actions


def check_features(path, drill: Drill, twin, units=(), actions_path=None, actions: Actions | None = None) -> None:
    """Refuse (one SourceError naming the file, line and field) a feature, valve or unit the city lacks.

    Checked once the twin is built: inject locations (layer and id), and the ``valves`` and ``units``
    of expected actions and of scripted actions (``units``: the fleet's unit names), and the ``building``
    an evacuation names.
    """
    valves = set(twin["water_valves"]["id"].astype(str)) if "water_valves" in twin.layers else set()
    buildings = set(twin["buildings"]["id"].astype(str)) if "buildings" in twin.layers else set()
    units = set(units)

    def bad_parameters(params: dict) -> tuple[str, str] | None:
        for key, known, what in (("valves", valves, "valve"), ("units", units, "unit"),
                                 ("building", buildings, "building")):
            items = params.get(key, [])
            for item in [items] if isinstance(items, str) else items if isinstance(items, list) else []:
                if known and str(item) not in known:
                    return key, f"no {what} {item!r} in the city"
        return None

    checks = []
    for k, inj in enumerate(drill.injects):
        loc = inj.location
        if loc is not None and loc.id is not None:
            if loc.layer not in twin.layers:
                checks.append((path, ("injects", k, "location", "layer"), f"no layer {loc.layer!r} in the twin"))
            elif str(loc.id) not in set(twin[loc.layer]["id"].astype(str)):
                checks.append((path, ("injects", k, "location", "id"), f"no feature {loc.id!r} in {loc.layer}"))
        for j, ex in enumerate(inj.expect):
            bad = bad_parameters(ex.parameters)
            if bad:
                checks.append((path, ("injects", k, "expect", j, "parameters", bad[0]), bad[1]))
    for k, a in enumerate(actions.actions if actions is not None else []):
        bad = bad_parameters(a.parameters)
        if bad:
            checks.append((actions_path, ("actions", k, "parameters", bad[0]), bad[1]))
    if checks:
        where, loc, what = checks[0]
        raise _refuse(Path(where), Path(where).read_text(encoding="utf-8"), loc, what)


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "drill.schema.json"


def json_schema() -> dict:
    """The JSON Schema of drill files (``docs/drill.schema.json`` holds it; a test keeps them equal)."""
    from simulation.session.scenario import published_schema

    return published_schema(Drill, "Lifeline Twin drill")


if __name__ == "__main__":  # python -m simulation.drill.model > docs/drill.schema.json
    from simulation.session.scenario import print_schema

    print_schema(json_schema())
