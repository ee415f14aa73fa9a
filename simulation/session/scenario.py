"""Scenario files: a coupled run of the twin described in YAML, validated before anything runs.

A scenario names the twin (a project file, or the demo city and its seed),
the time window and step, the hydraulic options, the scripted events (pipe
breaks at clock times), the response plan and the targets the report checks.
It is read with ``yaml.safe_load`` and validated with pydantic: unknown keys
are refused, and every error names the file, the line and the field path.
Its JSON Schema is ``docs/scenario.schema.json`` (:func:`json_schema`).
:func:`build_session` turns it into a :class:`~simulation.session.Session`
(hydraulics, then virtual sensors and alarms, then the drainage network on
SWMM when the scenario has ``rain`` or ``drainage`` (:mod:`simulation.drainage`),
then the gas network and the methane it puts in the ground when it has
``gas`` or a leak with ``hole_mm`` (:mod:`simulation.gas`), then the scripted smoke and
methane sources of :mod:`simulation.session.sources` when the scenario has
``smoke`` or scripted ``gas_leak`` events, then the drone flights of
:mod:`simulation.session.airspace` when it has ``drones``, then the emergency
response, advanced in that order) that can re-run itself to seek back.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.errors import SourceError
from twin.yaml_lines import line_of, read_yaml


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


class SmokeEvent(_Strict):
    at: str = Field(description="clock time HH:MM on the first day of the run, or ISO 8601 UTC")
    building: str = Field(description="id of a building with a smoke sensor on it")
    peak_obs_m: float = Field(6.0, gt=0, le=100, description="obscuration the smoke reaches, %obs/m")
    ramp_s: float = Field(120.0, gt=0, le=3600, description="seconds from 0 to the peak (and back)")
    duration_min: float = Field(30.0, gt=0, le=1440, description="minutes at the peak until the fire is out")


class GasLeakEvent(_Strict):
    at: str = Field(description="clock time HH:MM on the first day of the run, or ISO 8601 UTC")
    near: str = Field(description="id of the leaking gas main or of the septic tank giving off biogas")
    along: float = Field(0.5, ge=0, le=1, description="where on the gas main, as a fraction of its length")
    hole_mm: float | None = Field(None, gt=0, le=1000, description=(
        "equivalent round hole, mm: a leak on the gas network (simulation/gas), its flow from the pressure at "
        "the hole; without it, a scripted source of flow_lps"))
    flow_lps: float = Field(50.0, gt=0, le=10000, description="methane released, L/s (scripted source only)")
    dispersion_m2s: float = Field(0.02, gt=0, le=10, description="effective dispersion coefficient, m²/s "
                                  "(scripted source only)")

    @model_validator(mode="after")
    def one_model(self):
        scripted = {"flow_lps", "dispersion_m2s"} & self.model_fields_set
        if self.hole_mm is not None and scripted:
            raise ValueError("a leak with hole_mm takes its flow from the gas network: no "
                             + ", ".join(sorted(scripted)))
        return self


class GasNetworkSpec(_Strict):
    """The gas network (simulation/gas): pandapipes steady states on the clock, methane into the ground."""

    soil: str = Field("silty_sand", description="gravel, sand, silty_sand, silt or clay: the ground's dispersion")
    reach_m: float = Field(100.0, gt=0, le=1000, description="wells, tanks and tunnels this near a leak are watched, m")
    customer_reach_m: float = Field(60.0, gt=0, le=1000, description="buildings this near a low-pressure main are "
                                    "on gas, m")
    min_supply_kpa: float = Field(1.5, gt=0, le=100, description="below it a customer is without gas, kPa")
    hourly_factors: list[float] | None = Field(None, min_length=24, max_length=24,
                                               description="24 shares of the design hour, by local hour")
    utc_offset_h: float = Field(0.0, ge=-14, le=14, description="local time minus UTC, hours (for hourly_factors)")

    @field_validator("soil")
    @classmethod
    def known_soil(cls, v: str) -> str:
        from simulation.gas.migration import SOIL_PERMEABILITY_M2

        if v not in SOIL_PERMEABILITY_M2:
            raise ValueError(f"unknown soil {v!r} (known: {', '.join(SOIL_PERMEABILITY_M2)})")
        return v


class IntensityFormulaSpec(_Strict):
    """A rainstorm intensity formula i = A1 (1 + C lg P) / (t + b)^n, i in mm/min, t in min, P in years."""

    A1: float = Field(gt=0, le=1000, description="mm/min")
    C: float = Field(ge=0, le=10)
    b: float = Field(ge=0, le=100, description="min")
    n: float = Field(gt=0, le=2)


class RainSpec(_Strict):
    """Rain on the town: a Chicago design storm from an intensity formula, or a recorded rain gauge series."""

    at: str | None = Field(None, description="clock time the design storm starts, HH:MM or ISO 8601 UTC")
    formula: IntensityFormulaSpec | None = Field(None, description="the city's rainstorm intensity formula")
    return_period_years: float = Field(5.0, gt=0, le=1000)
    duration_min: float = Field(120.0, gt=0, le=1440)
    peak_ratio: float = Field(0.4, ge=0, le=1, description="peak position r: share of the duration before the peak")
    step_min: float = Field(1.0, gt=0, le=60, description="time step of the hyetograph, a divisor of the duration")
    gauge: str | None = Field(None, description="CSV of a recorded rain gauge (time, intensity_mm_h or depth_mm), "
                              "relative to the scenario file")

    @model_validator(mode="after")
    def one_kind(self):
        if (self.gauge is None) == (self.formula is None):
            raise ValueError("give a design storm (at and formula) or a rain gauge series (gauge), not both")
        if self.formula is not None and self.at is None:
            raise ValueError("a design storm needs its start: at")
        return self


class DrainageSpec(_Strict):
    """How flooding reaches the roads (simulation/drainage/roads.py)."""

    reach_m: float = Field(40.0, gt=0, le=500, description="roads this near a flooding manhole take its water, m")
    street_area_m2: float = Field(560.0, gt=0, le=100000, description="street area a manhole's ponded water "
                                  "spreads over, m²")


class DroneFlight(_Strict):
    """A drone in the air: a recorded track of the twin shifted to ``at``, or a scripted straight flight."""

    at: str = Field(description="clock time the flight starts, HH:MM on the first day of the run, or ISO 8601 UTC")
    track: str | None = Field(None, description="track_id of the twin's drone_tracks, its first point at `at`")
    from_: str | tuple[float, float] | None = Field(
        None, alias="from", description="take-off: [x, y] in the twin's CRS or a feature id of any layer")
    to: str | tuple[float, float] | None = Field(None, description="where it flies: [x, y] or a feature id")
    agl_m: float = Field(90.0, gt=0, le=1000, description="height above the ground (DEM), m")
    speed_m_s: float = Field(15.0, gt=0, le=100, description="ground speed, m/s")
    hover_min: float = Field(0.0, ge=0, le=1440, description="minutes hovering at `to`")
    back: bool = Field(False, description="fly back to `from` (after hovering) instead of landing at `to`")
    sample_s: float = Field(5.0, gt=0, le=600, description="seconds between position samples tested against zones")
    drone: str | None = Field(None, description="the drone's id in the events (default: the track id, or UAV-n)")

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="after")
    def one_kind(self):
        scripted = {"from_", "to", "agl_m", "speed_m_s", "hover_min", "back"} & self.model_fields_set
        if self.track is not None and scripted:
            raise ValueError(f"a recorded track takes no {', '.join(sorted(scripted)).replace('from_', 'from')}")
        if self.track is None and (self.from_ is None or self.to is None):
            raise ValueError("give a track id, or from and to")
        return self


class FireSpec(_Strict):
    verify_s: float = Field(60.0, ge=0, le=86400, description="the call back to the building")
    dispatch_s: float = Field(20.0, ge=0, le=86400)
    handle_min: float = Field(40.0, ge=0, le=1440, description="from the first unit on scene to the fire out")


class DroneSpec(_Strict):
    verify_s: float = Field(60.0, ge=0, le=86400,
                            description="the track checked against the registered flights, the operator called")
    dispatch_s: float = Field(20.0, ge=0, le=86400)


class GasSpec(_Strict):
    verify_s: float = Field(60.0, ge=0, le=86400)
    dispatch_s: float = Field(20.0, ge=0, le=86400)
    make_safe_min: float = Field(15.0, ge=0, le=1440, description="gas crew on scene until the leak is shut off")
    repair_h: float | None = Field(None, ge=0, le=168, description=(
        "from the main shut off to its repair done and reopened (none: the crew leaves it shut)"))


def _turnouts():
    return {"micro": 40.0, "engine": 65.0, "gas_crew": 300.0}


class ResponseSpec(_Strict):
    verify_s: float = Field(60.0, ge=0, le=86400)
    dispatch_s: float = Field(60.0, ge=0, le=86400)
    turnout_s: float = Field(120.0, ge=0, le=86400)
    isolate_min: float = Field(30.0, ge=0, le=1440, description="on scene until the segment's valves are closed")
    repair_h: float = Field(4.0, ge=0, le=168)
    feedback_s: float = Field(300.0, ge=0, le=86400)
    confirm_deficit_m: float = Field(10.0, gt=0, le=500)
    fire: FireSpec = Field(default_factory=FireSpec)
    gas_leak: GasSpec = Field(default_factory=GasSpec)
    drone: DroneSpec = Field(default_factory=DroneSpec)
    turnout_by_unit: dict[str, float] = Field(default_factory=_turnouts,
                                              description="turnout (s) per unit type; others take turnout_s")

    @field_validator("turnout_by_unit")
    @classmethod
    def turnouts(cls, v: dict) -> dict:
        bad = [k for k, x in v.items() if not 0 <= x <= 86400]
        if bad:
            raise ValueError(f"turnout of {bad[0]!r} must be between 0 and 86400 s")
        return {**_turnouts(), **v}


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
    smoke: list[SmokeEvent] = Field(default_factory=list, description="scripted smoke in buildings")
    gas_leak: list[GasLeakEvent] = Field(default_factory=list, description="gas leaks: on the gas network "
                                         "(hole_mm) or scripted methane sources (flow_lps)")
    gas: GasNetworkSpec | None = Field(None, description="run the gas network (on by itself with a hole_mm leak)")
    rain: RainSpec | None = Field(None, description="rain on the town: the drainage network (SWMM) runs under it")
    drainage: DrainageSpec | None = Field(None, description="run the drainage network (on by itself with rain, "
                                          "or for a twin with an imported SWMM model)")
    drones: list[DroneFlight] = Field(default_factory=list, description="drone flights tested against the "
                                      "airspace zones (simulation/session/airspace.py)")

    response: ResponseSpec = Field(default_factory=ResponseSpec)
    targets: Targets = Field(default_factory=Targets)
    retrofit_plans: list[str] = Field(default_factory=list, description=(
        "retrofit plans (CSV or YAML, relative to the scenario file) to compare with the network as it is, "
        "each under the same replications (lifeline-twin run --replications N)"))

    @field_validator("smoke", "gas_leak", "drones", mode="before")
    @classmethod
    def one_or_many(cls, v):
        return [v] if isinstance(v, dict) else v

    @field_validator("start")
    @classmethod
    def iso(cls, v: str) -> str:
        _parse_time(v)
        return v

    def start_s(self) -> float:
        return _parse_time(self.start)

    def break_time(self, b: PipeBreak) -> float:
        return self.clock_time(b.at, f"break of {b.pipe}")

    def timed_events(self) -> list[tuple[str, str, str, float]]:
        """(section, what, at as written, clock time) of every scripted event."""
        out = [("breaks", f"pipe {b.pipe}", b.at, self.break_time(b)) for b in self.breaks]
        out += [("smoke", f"building {e.building}", e.at, self.clock_time(e.at, f"smoke in {e.building}"))
                for e in self.smoke]
        out += [("gas_leak", f"near {e.near}", e.at, self.clock_time(e.at, f"gas leak near {e.near}"))
                for e in self.gas_leak]
        out += [("drones", f"flight {self.drone_id(k)}", e.at, self.clock_time(e.at, f"flight {self.drone_id(k)}"))
                for k, e in enumerate(self.drones)]
        if self.rain is not None and self.rain.at is not None:
            out.append(("rain", "the design storm", self.rain.at, self.clock_time(self.rain.at, "rain")))
        return out

    def drone_id(self, k: int) -> str:
        """The id of the drone of flight ``k`` in the events."""
        e = self.drones[k]
        return e.drone or e.track or f"UAV-{k + 1}"

    def clock_time(self, at: str, what: str) -> float:
        """``HH:MM`` on the first day of the run, or an ISO 8601 time, as UTC POSIX seconds."""
        if ":" in at and len(at) <= 5:
            hh, mm = at.split(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
                raise ValueError(f"{what}: at {at!r} is not HH:MM")
            midnight = self.start_s() - self.start_s() % 86400.0  # the first day of the run, UTC
            return midnight + int(hh) * 3600 + int(mm) * 60
        return _parse_time(at)


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


def load_scenario(path) -> tuple[Scenario, Path]:
    """The scenario in ``path`` (and its folder); one SourceError naming the file, line and field."""
    path = Path(path)
    text, data = read_yaml(path, "scenario")
    if not isinstance(data, dict):
        raise SourceError(f"{path}: a scenario is a YAML mapping (name, twin, start, ...)")
    try:
        scenario = Scenario.model_validate(data)
        for section, what, at, t in scenario.timed_events():
            if not scenario.start_s() <= t < scenario.start_s() + scenario.duration_h * 3600:
                raise SourceError(f"{path}: {section}: {what} at {at!r} falls outside the run")
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(text, loc)
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise SourceError(f"{path}: {f'line {line}: ' if line else ''}field {field}: {what}") from None
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}") from None
    return scenario, path.parent


def build_session(scenario: Scenario, folder: Path, twin=None, system=None, *, manual: bool = False,
                  before_response=None):
    """The session of ``scenario``: water network, virtual sensors and alarms, emergency response.

    ``system`` replaces the twin's water system (a retrofit plan applied to it).  A drill
    (:mod:`simulation.drill`) passes ``manual=True`` (main breaks wait for the trainees' actions) and
    ``before_response``: a callable given the session that returns the engines to attach just before
    the response (the exercise controller), so the trainees' actions of a frame reach the response
    in that frame.
    """
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
    system = system if system is not None else from_twin(twin)
    start = scenario.start_s()

    def rebuild():
        return build_session(scenario, folder, twin, system, manual=manual, before_response=before_response)

    session = Session(twin, start, start + scenario.duration_h * 3600, seed=scenario.seed,
                      step_s=scenario.step_s, rebuild=rebuild)
    water = WaterNetwork(system, demand_model=DemandModel(pdd=True), service_pressure=scenario.service_pressure_m)
    session.attach(water)
    for b in scenario.breaks:
        water.break_pipe(b.pipe, scenario.break_time(b), b.hole_mm)
    sensors = VirtualSensors(twin, water)
    session.attach(sensors)
    drainage = _drainage(scenario, folder, twin, start)
    if drainage is not None:
        session.attach(drainage)    # before the response: the roads it floods are this frame's
        session.drainage = drainage
    physical = [e for e in scenario.gas_leak if e.hole_mm is not None]
    if physical or scenario.gas is not None:
        gas, migration = _gas(scenario, twin, sensors, physical)
        session.attach(gas)         # the gas network, then the methane it puts in the ground
        session.attach(migration)
        session.gas = gas
    if scenario.smoke or len(physical) < len(scenario.gas_leak):
        session.attach(_sources(scenario, twin, sensors))
    if scenario.drones:
        session.attach(_airspace(scenario, twin))
    r = scenario.response
    plan = ResponsePlan(verify_s=r.verify_s, dispatch_s=r.dispatch_s, turnout_s=r.turnout_s,
                        isolate_s=r.isolate_min * 60.0, repair_s=r.repair_h * 3600.0, feedback_s=r.feedback_s,
                        confirm_deficit_m=r.confirm_deficit_m,
                        fire_verify_s=r.fire.verify_s, fire_dispatch_s=r.fire.dispatch_s,
                        fire_handle_s=r.fire.handle_min * 60.0, gas_verify_s=r.gas_leak.verify_s,
                        gas_dispatch_s=r.gas_leak.dispatch_s, gas_make_safe_s=r.gas_leak.make_safe_min * 60.0,
                        gas_repair_s=None if r.gas_leak.repair_h is None else r.gas_leak.repair_h * 3600.0,
                        drone_verify_s=r.drone.verify_s, drone_dispatch_s=r.drone.dispatch_s,
                        turnout_by_unit=dict(r.turnout_by_unit), manual=manual)
    for engine in (before_response(session) if before_response is not None else ()):
        session.attach(engine)
    session.attach(Response(twin, system, plan, water=water, alarms=sensors.alarms))
    session.water = water
    return session


def _airspace(scenario: Scenario, twin):
    """The drone flights of the scenario, tested against the twin's airspace zones."""
    from simulation.session.airspace import Airspace, feature_point, recorded_flight, straight_flight

    flights = []
    for k, e in enumerate(scenario.drones):
        drone = scenario.drone_id(k)
        start = scenario.clock_time(e.at, f"flight {drone}")
        try:
            if e.track is not None:
                flights.append(recorded_flight(twin, e.track, start, drone, e.sample_s))
                continue
            a, b = feature_point(twin, e.from_), feature_point(twin, e.to)
        except SourceError as exc:
            raise SourceError(f"drones: flight {drone}: {exc}") from None
        flights.append(straight_flight(drone, start, a, b, speed=e.speed_m_s, agl=e.agl_m, back=e.back,
                                       hover_s=e.hover_min * 60.0, sample_s=e.sample_s))
    return Airspace(twin, flights)


def _sources(scenario: Scenario, twin, sensors):
    """The scripted smoke and methane sources, feeding the virtual sensors' alarm engine."""
    from simulation.sensors.methane import MethaneContext
    from simulation.session.sources import GasLeak, SmokeSource, Sources, leak_point

    smoke = [SmokeSource(e.building, scenario.clock_time(e.at, f"smoke in {e.building}"), e.peak_obs_m, e.ramp_s,
                         e.duration_min * 60.0) for e in scenario.smoke]
    leaks = []
    for e in scenario.gas_leak:
        if e.hole_mm is not None:
            continue   # on the gas network (simulation/gas)
        layer, xy = leak_point(twin, e.near, e.along)
        leaks.append(GasLeak(layer, e.near, xy, scenario.clock_time(e.at, f"gas leak near {e.near}"), e.flow_lps,
                             e.dispersion_m2s))
    if leaks and sensors.alarms.context is None:
        sensors.alarms.context = MethaneContext(twin, sensors.registry)
    return Sources(twin, sensors.alarms, smoke=smoke, leaks=leaks)


def _gas(scenario: Scenario, twin, sensors, leaks):
    """The gas network with the scenario's leaks on it, and the methane migration feeding the alarm engine."""
    from simulation.gas.engine import GasNetwork
    from simulation.gas.migration import Migration
    from simulation.gas.network import gas_network

    spec = scenario.gas or GasNetworkSpec()
    grid = gas_network(twin, customer_reach_m=spec.customer_reach_m, min_supply_kpa=spec.min_supply_kpa)
    gas = GasNetwork(grid, hourly_factors=spec.hourly_factors, utc_offset_h=spec.utc_offset_h)
    for e in leaks:
        gas.leak(e.near, scenario.clock_time(e.at, f"gas leak near {e.near}"), e.hole_mm, e.along)
    return gas, Migration(twin, sensors.alarms, soil=spec.soil, reach_m=spec.reach_m)


def _drainage(scenario: Scenario, folder, twin, start: float):
    """The drainage network on SWMM: the town's model under the scenario's rain, or the twin's imported model;
    None when the scenario asks for neither."""
    from simulation.drainage.engine import Drainage
    from twin.importers.swmm import model_of

    if scenario.rain is None and scenario.drainage is None:
        return None
    spec = scenario.drainage or DrainageSpec()
    rain = None
    if scenario.rain is not None:
        from simulation.drainage.storm import IntensityFormula, chicago_storm, read_gauge_csv

        r = scenario.rain
        if r.gauge is not None:
            rain = read_gauge_csv(Path(folder) / r.gauge, start=start)
        else:
            f = r.formula
            rain = chicago_storm(IntensityFormula(f.A1, f.C, f.b, f.n), r.return_period_years, r.duration_min,
                                 r.peak_ratio, r.step_min, scenario.clock_time(r.at, "rain") - start, "design storm")
    elif model_of(twin) is None:
        raise ValueError("drainage: the twin has no SWMM model and the scenario no rain: give rain (a design storm "
                         "or a gauge) for the town's model")
    return Drainage.for_twin(twin, rain, reach_m=spec.reach_m, street_area_m2=spec.street_area_m2)


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenario.schema.json"


def published_schema(model, title: str) -> dict:
    """The JSON Schema (2020-12) of a pydantic file model, as ``docs/`` publishes it."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def print_schema(schema: dict) -> None:
    """The schema on standard output, in the form ``docs/*.schema.json`` keeps it."""
    import json
    import sys

    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def json_schema() -> dict:
    """The JSON Schema of scenario files (``docs/scenario.schema.json`` holds it; a test keeps them equal)."""
    return published_schema(Scenario, "Lifeline Twin scenario")


if __name__ == "__main__":  # python -m simulation.session.scenario > docs/scenario.schema.json
    print_schema(json_schema())
