"""Emergency response on the session clock: incidents opened from events, crews over the roads, valves closed.

:class:`Response` runs a SimPy environment whose time is seconds since the
session's start, advanced with ``env.run(until=...)`` frame by frame.  An
incident is opened at run time:

* from an alarm (``alarm_raised`` / ``alarm_escalated`` of a level in
  ``plan.open_on`` and a kind in ``plan.open_on_kinds``: by default a sudden
  pressure fall, a burst's signature) of a sensor type the plan maps to an
  incident type (pressure -> ``water_main_break``); an alarm within
  ``merge_m`` of an incident of the same type that is still open joins it
  instead of opening another (for main breaks the whole network: a burst's
  pressure drop reaches every pressure sensor, so while its incident is open
  the alarms it causes, those of the isolation included, are the same event;
  two bursts at once are then one incident until the first is repaired).
  An incident closed (a false alarm, a repair done) takes no more alarms.  The twin verifies a main-break incident
  against its model (an alarmed junction ``confirm_deficit_m`` below the
  pressure the network without the session's events gives) and closes it as
  a false alarm otherwise;
* or from a scripted report (:meth:`report`).

The life cycle (report -> verify -> dispatch -> travel -> handle -> feedback
-> close) is one generator.  The crew is the free unit of the plan's type
that reaches the site first over the road graph (the emergency engine's
:class:`~simulation.emergency.travel.RoadTravel`): from its station, or,
for a unit released from another job and driving home, from where it is on
the way (no turnout: it is already rolling) — units are re-dispatched while
returning.  Handling a water main
break: the crew finds the broken pipe nearest the incident, closes the
valves of its segment (:mod:`simulation.hydraulics.segments`) after
``isolate_s`` — each a ``valve_closed`` event the water network applies —
repairs it in ``repair_s`` (``repair_done``), reopens the valves and leaves.

Fires and gas leaks (chains of issue 11, item 6) send several units at once:

* a **red smoke alarm** (``high`` kind) opens a ``fire`` incident: the
  platform calls the site back (``fire_verify_s``, default 60 s; the end of
  the call is an ``alarm_acknowledged`` event), the dispatcher takes
  ``fire_dispatch_s`` (default 20 s, the median of the emergency scenario's
  dispatch time), then the nearest free ``micro`` unit (a micro fire
  station's crew: the fleet folds every micro station unit, ``micro_engine``
  in the demo, to the type ``micro``) **and** the nearest free ``engine``
  (a fire station) are dispatched together, each from its station over the
  road graph; each arrives ``turnout + travel`` later (``turnout_by_unit``,
  defaults the medians of ``scenarios/emergency-default.yaml``: micro 40 s,
  engine 65 s, gas crew 300 s; travel ``RoadTravel.out_times`` from the
  unit's station).  The first unit of the list (the micro crew) starts the
  attack on arrival; the fire is handled ``fire_handle_s`` (default 40 min,
  that scenario's median for a structure fire), and the units are released
  once it is over and all of them are on scene;
* an **orange or red methane alarm** (``high`` or ``rate``) opens a
  ``gas_leak`` incident carrying the alarm's gas-main-vs-biogas context
  (:mod:`simulation.sensors.methane`, read from the alarm engine's log):
  verification call, dispatch, then the nearest free ``gas_crew`` (the
  fleet's gas emergency depot) and the nearest free ``engine``.  The gas crew
  finds the active leak nearest the incident (``session.state["gas_leaks"]``)
  and makes it safe ``gas_make_safe_s`` (default 15 min) after arriving: a
  gas main is shut off (``valve_closed`` on ``gas_mains``; the twin has no
  gas valves, so the event names the main), a septic tank is ventilated
  (``repair_done`` on ``septic_tanks``).  The sources engine (or the gas
  network, :mod:`simulation.gas`) stops the leak on that event.  With
  ``gas_repair_s`` the main is repaired that long after (``repair_done`` on
  ``gas_mains``) and opened again (``valve_opened``): its customers get gas
  back.

Drones (the airspace chain of issue 11, item 6): a **red airspace alert**
(``alarm_raised`` from :mod:`simulation.session.airspace`: a drone in a
no-fly zone or an airport obstacle limitation surface) opens a
``drone_conflict`` incident at the entry point; further red alerts of the
same track join it while it is open.  The platform checks the track against
the registered flights and calls the operator (``drone_verify_s``, default
60 s; an ``alarm_acknowledged`` event), the dispatcher takes
``drone_dispatch_s`` (default 20 s, as for fires), then the nearest free unit
of the first type of ``drone_unit_types`` the fleet has — a ``police`` or
``patrol`` unit (the fleet has one only with an emergency scenario that
defines that unit type), otherwise an ``engine``, the demo city's only
ground responder that patrols — goes to the entry point over the road graph
and arrives ``turnout + travel`` later (``turnout_by_unit``; a police unit
takes ``turnout_s`` unless listed).  The unit stays on scene (finding the
pilot, watching the drone) until the drone has left every red zone of the
incident (its ``alarm_cleared``) or ``drone_hold_s`` (default 30 min) after
arriving, whichever comes first; then it is released and the incident closes
at once (no feedback delay: the platform has been on the case since the
alert).  Orange (restricted) and yellow alerts open nothing.

**Drill mode** (``ResponsePlan.manual``, :mod:`simulation.drill`): a water
main break, a fire or a gas leak still opens its incident from the alarm, but
then waits for the trainees' ``action_taken`` events instead of acting on its
own: ``verify`` (the ``alarm_acknowledged`` of the verification, at the
action's time), ``dispatch`` of named units (each travels the roads as above,
with its turnout; a unit already busy is noted on the incident and not sent),
``close_valves`` with the valves the trainees chose (main breaks: the crew
closes exactly those, ``isolate_s`` after it is on scene and they are
chosen: a wrong choice leaves the leak running and more people without
water), and ``close_incident`` (taken once the incident is handled; earlier
it is noted and ignored).  Handled means: a main break repaired (the crew
repairs ``repair_s`` after closing the valves, reopens them and is
released); a fire out ``fire_handle_s`` after the first unit the trainees sent
is on scene (every unit sent is released once it is out, or on arrival if it
comes later); a gas leak made safe by a ``gas_crew`` the trainees sent
(``gas_make_safe_s`` after it is on scene; the other units stand by until
then, so sending no gas crew leaves the leak running and the engine on
scene).  An action names its incident (``parameters: {incident: INC-001}``)
or goes to the latest open incident of those types.  Drones keep their
automatic response.

A unit type the fleet lacks is replaced by its fallback in the emergency
scenario (gas crew -> engine), noted on the incident.  Unit shifts (the gas
crew's 07:00-22:00 day shift) are not modelled here: every unit is on duty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
import simpy

SOURCE = "emergency"
#: incident types the trainees handle in drill mode (``ResponsePlan.manual``)
MANUAL_TYPES = ("water_main_break", "fire", "gas_leak")
AIRSPACE = "airspace"  # the source of drone alerts (simulation.session.airspace)


@dataclass(frozen=True)
class ResponsePlan:
    """Times (s) and rules of the response; every value documented in the scenario schema."""

    verify_s: float = 60.0          # the platform calls the site back
    dispatch_s: float = 60.0        # the dispatcher picks the crew
    turnout_s: float = 120.0        # the crew rolls
    isolate_s: float = 1800.0       # on scene until the segment's valves are closed
    repair_s: float = 4 * 3600.0    # valves closed until the pipe is repaired
    feedback_s: float = 300.0       # handled until the incident is closed
    open_on: tuple = ("orange", "red")  # alarm levels that open an incident...
    open_on_kinds: tuple = ("rate",)    # ...of these alarm kinds: a sudden pressure fall is a burst's signature
    merge_m: float = 5000.0         # alarms this close to an open incident of the same type join it
    confirm_deficit_m: float = 10.0  # verified when an alarmed junction is this far below the model's pressure
    incident_types: dict = field(default_factory=lambda: {"pressure": "water_main_break", "smoke": "fire",
                                                          "methane": "gas_leak"})
    #: incident type -> one unit type (the water chain) or a tuple sent together, the first leading
    unit_types: dict = field(default_factory=lambda: {"water_main_break": "water_crew",
                                                      "fire": ("micro", "engine"),
                                                      "gas_leak": ("gas_crew", "engine")})
    #: sensor type -> (levels, alarm kinds) that open an incident, overriding open_on / open_on_kinds
    open_rules: dict = field(default_factory=lambda: {"smoke": (("red",), ("high",)),
                                                      "methane": (("orange", "red"), ("high", "rate"))})
    # a burst's pressure drop reaches every sensor of the network: while a main-break incident is open,
    # every pressure alarm is that event's (two bursts at once are one incident until the first is repaired)
    merge_m_by_type: dict = field(default_factory=lambda: {"fire": 100.0, "gas_leak": 300.0,
                                                           "water_main_break": float("inf")})
    fire_verify_s: float = 60.0     # the platform calls the building back (1 of the 1-3-5 pattern)
    fire_dispatch_s: float = 20.0   # median dispatch, scenarios/emergency-default.yaml
    fire_handle_s: float = 2400.0   # median structure fire, scenarios/emergency-default.yaml
    gas_verify_s: float = 60.0
    gas_dispatch_s: float = 20.0
    gas_make_safe_s: float = 900.0  # the gas crew on scene until the main is shut off / the tank ventilated
    gas_repair_s: float | None = None  # main shut off -> repair done and reopened (None: left shut)
    #: turnout per unit type (s); medians of scenarios/emergency-default.yaml; others take turnout_s
    turnout_by_unit: dict = field(default_factory=lambda: {"micro": 40.0, "engine": 65.0, "gas_crew": 300.0})
    drone_verify_s: float = 60.0    # the track checked against the registered flights, the operator called
    drone_dispatch_s: float = 20.0  # median dispatch, scenarios/emergency-default.yaml
    drone_open_on: tuple = ("red",)  # airspace alert levels that open a drone_conflict incident
    #: the first of these the fleet has is sent to a drone conflict (the demo city has engines only)
    drone_unit_types: tuple = ("police", "patrol", "engine")
    drone_hold_s: float = 1800.0    # on scene at most this long waiting for the drone to leave its zones
    manual: bool = False            # drill mode: main breaks wait for the trainees' actions (module docstring)

    def turnout(self, unit_type: str) -> float:
        return float(self.turnout_by_unit.get(unit_type, self.turnout_s))

    def timing(self, itype: str) -> tuple[float, float]:
        """(verify, dispatch) seconds for an incident type."""
        if itype == "fire":
            return self.fire_verify_s, self.fire_dispatch_s
        if itype == "gas_leak":
            return self.gas_verify_s, self.gas_dispatch_s
        if itype == "drone_conflict":
            return self.drone_verify_s, self.drone_dispatch_s
        return self.verify_s, self.dispatch_s


class Response:
    """Incidents, crews and their work, stepped on the session clock."""

    name = SOURCE

    def __init__(self, twin, system, plan: ResponsePlan | None = None, model=None, water=None, alarms=None):
        from simulation.emergency.config import load_scenario
        from simulation.emergency.model import EmergencyModel

        self.twin, self.system = twin, system
        self.plan = plan or ResponsePlan()
        self.model = model or EmergencyModel.from_twin(twin, load_scenario())
        self.fleet, self.travel = self.model.fleet, self.model.travel
        self._dry_travel, self._roads_key, self._travel_by_roads = self.travel, (), {(): self.travel}
        self.env = simpy.Environment()
        self.incidents: list[dict] = []
        self.free = {u.index: True for u in self.fleet.units}
        self.returning: dict[int, tuple] = {}  # unit index -> (released at, drive home s, from x, y)
        self._segments = None
        self.water = water
        self.alarms = alarms  # the AlarmEngine, to read a methane alarm's context

    def attach(self, session) -> None:
        self.session = session
        session.subscribe(self._on_alarm, kinds=("alarm_raised", "alarm_escalated"))
        session.subscribe(self._on_airspace, kinds=("alarm_raised", "alarm_cleared"))
        if self.plan.manual:
            session.subscribe(self._on_action, kinds=("action_taken",))
        for u in self.fleet.units:
            st = self.fleet.stations[u.station]
            session.state["units"][u.name] = {"status": "at_station", "x": st.x, "y": st.y, "incident": None}

    # ---------------------------------------------------------------- opening incidents
    def _on_alarm(self, event) -> None:
        if event.source == AIRSPACE:
            return  # drone alerts: _on_airspace
        levels, kinds = self.plan.open_rules.get(event.get("sensor_type"), (self.plan.open_on, self.plan.open_on_kinds))
        if event.get("level") not in levels or event.get("alarm_kind") not in kinds:
            return
        itype = self.plan.incident_types.get(event.get("sensor_type"))
        if itype is None or event.get("x") is None:
            return
        xy = np.array([float(event.get("x")), float(event.get("y"))])
        merge_m = self.plan.merge_m_by_type.get(itype, self.plan.merge_m)
        for inc in self.incidents:
            if inc["type"] == itype and not inc["closed"] and np.hypot(*(inc["xy"] - xy)) <= merge_m:
                inc["alarms"].append((event.get("sensor"), event.layer, event.feature))
                return
        extra = {}
        if event.get("sensor_type") == "methane":
            context, reason = self._context(event)
            extra = {"context": context, "reason": reason}
        inc = self.report(event.time, itype, xy, f"{event.layer}/{event.feature}", f"alarm {event.get('sensor')}",
                          alarm=event, **extra)
        inc["alarms"].append((event.get("sensor"), event.layer, event.feature))

    def _on_airspace(self, event) -> None:
        """A drone entering (opens or joins its track's incident) or leaving a zone."""
        if event.source != AIRSPACE:
            return
        track = event.get("track")
        mine = next((inc for inc in self.incidents if inc["type"] == "drone_conflict" and not inc["closed"]
                     and inc.get("track") == track), None)
        if event.kind == "alarm_cleared":
            if mine is not None and event.feature in mine["zones"]:
                self.env.process(self._drone_mark(mine, event.feature, False, event.time))
            return
        if event.get("level") not in self.plan.drone_open_on:
            return
        if mine is not None:
            mine["alarms"].append((track, event.layer, event.feature))
            mine["zones"].add(event.feature)
            self.env.process(self._drone_mark(mine, event.feature, True, event.time))
            return
        xy = np.array([float(event.get("x")), float(event.get("y"))])
        inc = self.report(event.time, "drone_conflict", xy, f"{event.layer}/{event.feature}",
                          f"drone {track} in {event.get('zone_kind', 'zone').replace('_', ' ')}", alarm=event,
                          track=track)
        inc["alarms"].append((track, event.layer, event.feature))
        inc["zones"].add(event.feature)
        inc["inside"].add(event.feature)

    def _drone_mark(self, inc: dict, zone: str, entered: bool, time: float):
        """At clock time ``time``: the drone of ``inc`` entered / left ``zone``."""
        delay = (time - self.session.start) - self.env.now
        if delay > 0:
            yield self.env.timeout(delay)
        if entered:
            inc["inside"].add(zone)
            if inc["left"].triggered:
                inc["left"] = self.env.event()  # back in: wait again
        else:
            inc["inside"].discard(zone)
            if not inc["inside"] and not inc["left"].triggered:
                inc["left_at"] = self._clock()
                inc["left"].succeed()

    def _context(self, event) -> tuple[str | None, str | None]:
        """The methane alarm's source attribution, as the alarm engine tagged it."""
        if self.alarms is None:
            return None, None
        for a in reversed(self.alarms.log):
            if a.sensor_id == event.get("sensor") and a.time == event.time and a.kind == event.get("alarm_kind"):
                return a.context, a.reason
        return None, None

    def report(self, time: float, itype: str, xy, ref: str, cause: str, priority: int = 1, alarm=None,
               context: str | None = None, reason: str | None = None, track: str | None = None) -> dict:
        """Open an incident of ``itype`` at ``xy`` at clock time ``time`` (not before the engine's now)."""
        session = self.session
        inc = {"id": f"INC-{len(self.incidents) + 1:03d}", "type": itype, "xy": np.asarray(xy, float), "ref": ref,
               "opened": float(time), "closed": False, "alarms": [], "priority": priority, "notes": []}
        extra = {}
        if alarm is not None:
            extra = {"sensor": alarm.get("sensor"), "alarm_level": alarm.get("level")}
        if itype == "drone_conflict":
            inc.update(track=track, zones=set(), inside=set(), left=self.env.event())
            extra = {"track": track, "zone_kind": alarm.get("zone_kind") if alarm is not None else None,
                     "alarm_level": alarm.get("level") if alarm is not None else None}
        if context is not None:
            inc["context"], inc["reason"] = context, reason
            extra.update(context=context, reason=reason)
            cause = f"{cause}; {context}"
        if self.plan.manual and itype in MANUAL_TYPES:
            # the trainees' orders are taken from now on, also those of this frame before its life starts
            inc["orders"] = simpy.Store(self.env)
        self.incidents.append(inc)
        session.state["incidents"][inc["id"]] = {"type": itype, "state": "open", "ref": ref}
        session.publish(time, "incident_opened", SOURCE, "incidents", inc["id"], priority,
                        f"{itype.replace('_', ' ')} reported at {ref} ({cause})", type=itype, ref=ref,
                        x=round(float(inc["xy"][0]), 2), y=round(float(inc["xy"][1]), 2), **extra)
        delay = max(0.0, (time - session.start) - self.env.now)
        multi = not isinstance(self.plan.unit_types.get(itype, "water_crew"), str)
        if itype == "drone_conflict":
            self.env.process(self._life_drone(inc, delay))
        else:
            self.env.process(self._life_multi(inc, delay) if multi else self._life(inc, delay))
        return inc

    # ---------------------------------------------------------------- life cycle
    def _clock(self) -> float:
        return self.session.start + self.env.now

    def _life(self, inc: dict, delay: float):
        env, plan, session = self.env, self.plan, self.session
        if plan.manual and inc["type"] in MANUAL_TYPES:
            yield from self._life_manual(inc, delay)
            return
        if delay:
            yield env.timeout(delay)
        yield env.timeout(plan.verify_s)
        if not self._verified(inc):
            inc["closed"] = True
            session.state["incidents"][inc["id"]]["state"] = "closed"
            session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"],
                            self._clock() - inc["opened"], f"{inc['id']} closed at verification: {inc['finding']}",
                            served=False, false_alarm=True)
            return
        inc["verified"] = self._clock()
        sensor, layer, feature = (inc["alarms"][0] if inc.get("alarms") else (None, "incidents", inc["id"]))
        session.publish(self._clock(), "alarm_acknowledged", SOURCE, layer, feature, None,
                        f"{inc['id']}: verified against the model"
                        + (f": the alarmed junction is {inc['deficit_m']:.1f} m below the model's pressure"
                           if "deficit_m" in inc else ""),
                        incident=inc["id"], sensor=sensor, verified=True, verify_s=plan.verify_s)
        yield env.timeout(plan.dispatch_s)
        unit_type = plan.unit_types.get(inc["type"], "water_crew")
        sites = self.travel.locate(inc["xy"].reshape(1, 2))
        out = self.travel.out_times(sites, 0)
        while True:
            free = [u for u in self.fleet.units if u.type == unit_type and self.free[u.index]]
            free = self._can_reach(inc, free, sites, out, unit_type)
            if free:
                break
            if not any(u.type == unit_type for u in self.fleet.units):
                session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"],
                                self._clock() - inc["opened"], f"{inc['id']}: no {unit_type} in the fleet",
                                served=False)
                inc["closed"] = True
                return
            yield env.timeout(60.0)  # wait for a crew to come free (or for a road to reopen)
            sites = self.travel.locate(inc["xy"].reshape(1, 2))
            out = self.travel.out_times(sites, 0)
        unit, travel, en_route = self._pick(free, sites, out)
        inc["unit"] = unit.name
        session.state["units"][unit.name].update(status="dispatched", incident=inc["id"])
        session.publish(self._clock(), "unit_dispatched", SOURCE, "fire_stations",
                        self.fleet.stations[unit.station].id, travel,
                        f"{unit.name} ({unit.type}) sent to {inc['id']}"
                        f"{' on its way back from another job' if en_route else ''}", unit=unit.name,
                        incident=inc["id"], en_route=en_route, **self._flooded(inc, unit, en_route))
        sent = self._clock()
        yield env.timeout((0.0 if en_route else plan.turnout_s) + travel)
        session.state["units"][unit.name].update(status="on_scene", x=float(inc["xy"][0]), y=float(inc["xy"][1]))
        session.publish(self._clock(), "unit_arrived", SOURCE, "incidents", inc["id"], self._clock() - sent,
                        f"{unit.name} on scene of {inc['id']}", unit=unit.name)
        inc["on_scene"] = self._clock()
        if inc["type"] == "water_main_break":
            yield from self._isolate_and_repair(inc)
        self._release(inc, unit, sent, sites)
        yield env.timeout(plan.feedback_s)
        self._close(inc)

    def _life_multi(self, inc: dict, delay: float):
        """Verify, then send several units together; the first leads the work on scene."""
        env, plan, session = self.env, self.plan, self.session
        if plan.manual and inc["type"] in MANUAL_TYPES:
            yield from self._life_manual(inc, delay)
            return
        if delay:
            yield env.timeout(delay)
        verify_s, dispatch_s = plan.timing(inc["type"])
        yield env.timeout(verify_s)
        inc["verified"] = self._clock()
        sensor, layer, feature = (inc["alarms"][0] if inc["alarms"] else (None, "incidents", inc["id"]))
        session.publish(self._clock(), "alarm_acknowledged", SOURCE, layer, feature, None,
                        f"{inc['id']}: the call to the site confirms the alarm", incident=inc["id"], sensor=sensor,
                        verified=True, verify_s=verify_s)
        yield env.timeout(dispatch_s)
        sites = self.travel.locate(inc["xy"].reshape(1, 2))
        out = self.travel.out_times(sites, 0)
        inc["units"] = []
        procs = [env.process(self._send(inc, utype, sites, out)) for utype in self._unit_types(inc)]
        if not procs:
            inc["closed"] = True
            session.state["incidents"][inc["id"]]["state"] = "closed"
            session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"],
                            self._clock() - inc["opened"], f"{inc['id']}: no unit in the fleet can serve it",
                            served=False)
            return
        yield procs[0]
        if inc["type"] == "fire":
            yield env.timeout(plan.fire_handle_s)
        elif inc["type"] == "gas_leak":
            yield from self._make_safe(inc)
        sent = yield env.all_of(procs)
        for result in sent.values():
            if result is None:
                continue
            unit, t_sent = result
            self._release(inc, unit, t_sent, sites, unit_type=unit.type)
        yield env.timeout(plan.feedback_s)
        self._close(inc)

    def _life_drone(self, inc: dict, delay: float):
        """Verify, send one unit to the entry point, close once it is there and the drone has left."""
        env, plan, session = self.env, self.plan, self.session
        if delay:
            yield env.timeout(delay)
        verify_s, dispatch_s = plan.timing(inc["type"])
        yield env.timeout(verify_s)
        inc["verified"] = self._clock()
        track, layer, zone = inc["alarms"][0] if inc["alarms"] else (inc.get("track"), "incidents", inc["id"])
        session.publish(self._clock(), "alarm_acknowledged", SOURCE, layer, zone, None,
                        f"{inc['id']}: drone {track} not on a registered flight; operator called",
                        incident=inc["id"], track=track, verified=True, verify_s=verify_s)
        yield env.timeout(dispatch_s)
        have = self.fleet.types()
        unit_type = next((u for u in plan.drone_unit_types if u in have), None)
        if unit_type is None:
            inc["closed"] = True
            session.state["incidents"][inc["id"]]["state"] = "closed"
            session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"],
                            self._clock() - inc["opened"], f"{inc['id']}: no unit of type "
                            f"{', '.join(plan.drone_unit_types)} in the fleet", served=False)
            return
        if unit_type != plan.drone_unit_types[0]:
            inc["notes"].append(f"no {plan.drone_unit_types[0]} unit in the fleet: sent {unit_type}")
        sites = self.travel.locate(inc["xy"].reshape(1, 2))
        out = self.travel.out_times(sites, 0)
        inc["units"] = []
        unit, t_sent = yield env.process(self._send(inc, unit_type, sites, out))
        deadline = env.now + plan.drone_hold_s
        while inc["inside"] and env.now < deadline:
            yield env.any_of([inc["left"], env.timeout(deadline - env.now)])
        left = not inc["inside"]
        session.state["units"][unit.name].update(status="returning", incident=None)
        session.publish(self._clock(), "unit_released", SOURCE, "incidents", inc["id"], self._clock() - t_sent,
                        f"{unit.name} released from {inc['id']}" + ("" if left else
                                                                     " (drone still in the zone: hold time over)"),
                        unit=unit.name, unit_type=unit.type, drone_left=left)
        env.process(self._back_home(unit, self.travel.back_time(sites, 0, unit.station)))
        inc["closed"] = True
        session.state["incidents"][inc["id"]]["state"] = "closed"
        session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"], self._clock() - inc["opened"],
                        f"{inc['id']} closed: " + ("the drone has left the zone" if left else
                                                  f"hold of {plan.drone_hold_s / 60:g} min over, drone still in"),
                        served=True, drone_left=left, track=inc.get("track"))

    def _unit_types(self, inc: dict) -> list[str]:
        """The unit types to send, each replaced by its fallback when the fleet has none (noted)."""
        wanted = self.plan.unit_types.get(inc["type"], ())
        wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
        have = self.fleet.types()
        config = getattr(self.model, "scenario", None)
        out = []
        for utype in wanted:
            chosen, seen = utype, set()
            while chosen is not None and chosen not in have and chosen not in seen:
                seen.add(chosen)
                ut = config.unit_types.get(chosen) if config is not None else None
                chosen = ut.fallback if ut is not None else None
            if chosen is None or chosen not in have:
                inc["notes"].append(f"no {utype} in the fleet and no fallback: sent without it")
                continue
            if chosen != utype:
                inc["notes"].append(f"no {utype} in the fleet: sent {chosen} instead")
            out.append(chosen)
        return out

    def _send(self, inc: dict, unit_type: str, sites, out):
        """Dispatch the nearest free unit of ``unit_type``; returns (unit, dispatch time) once on scene."""
        env, plan, session = self.env, self.plan, self.session
        while True:
            free = [u for u in self.fleet.units if u.type == unit_type and self.free[u.index]]
            free = self._can_reach(inc, free, sites, out, unit_type)
            if free:
                break
            yield env.timeout(60.0)  # wait for a unit to come free (or for a road to reopen)
            sites = self.travel.locate(inc["xy"].reshape(1, 2))
            out = self.travel.out_times(sites, 0)
        unit, travel, en_route = self._pick(free, sites, out)
        turnout = 0.0 if en_route else plan.turnout(unit.type)
        station = self.fleet.stations[unit.station]
        inc["units"].append(unit.name)
        session.state["units"][unit.name].update(status="dispatched", incident=inc["id"])
        session.publish(self._clock(), "unit_dispatched", SOURCE, "fire_stations", station.id, travel,
                        f"{unit.name} ({unit.type}, {station.name}) sent to {inc['id']}: turnout {turnout:g} s, "
                        f"travel {travel:.0f} s", unit=unit.name, unit_type=unit.type, incident=inc["id"],
                        station_kind=station.kind, turnout_s=turnout, travel_s=round(travel, 3),
                        **self._flooded(inc, unit, en_route))
        sent = self._clock()
        yield env.timeout(turnout + travel)
        session.state["units"][unit.name].update(status="on_scene", x=float(inc["xy"][0]), y=float(inc["xy"][1]))
        session.publish(self._clock(), "unit_arrived", SOURCE, "incidents", inc["id"], self._clock() - sent,
                        f"{unit.name} on scene of {inc['id']}", unit=unit.name, unit_type=unit.type,
                        station_kind=station.kind)
        inc.setdefault("on_scene", self._clock())
        return unit, sent

    def _make_safe(self, inc: dict):
        """The gas crew finds the leak nearest the incident and shuts the main off / ventilates the tank."""
        env, session = self.env, self.session
        yield env.timeout(self.plan.gas_make_safe_s)
        leaks = [v for v in session.state.get("gas_leaks", {}).values() if v.get("active") and not v.get("incident")]
        if not leaks:
            inc["finding"] = "no leak found (or one already being handled)"
            return
        leak = min(leaks, key=lambda v: float(np.hypot(v["x"] - inc["xy"][0], v["y"] - inc["xy"][1])))
        leak["incident"] = inc["id"]
        inc["leak"] = f"{leak['layer']}/{leak['feature']}"
        if leak["layer"] == "gas_mains":
            session.publish(self._clock(), "valve_closed", SOURCE, "gas_mains", leak["feature"], None,
                            f"gas main {leak['feature']} shut off by the gas crew", main=leak["feature"],
                            incident=inc["id"])
            if self.plan.gas_repair_s is not None:
                env.process(self._repair_gas_main(leak["feature"], inc["id"]))
        else:
            session.publish(self._clock(), "repair_done", SOURCE, leak["layer"], leak["feature"],
                            self.plan.gas_make_safe_s, f"{leak['feature']} ventilated by the gas crew",
                            incident=inc["id"])
        inc["made_safe"] = self._clock()

    def _repair_gas_main(self, main: str, incident: str):
        """The gas company repairs the main ``gas_repair_s`` after it was shut off and opens it again:
        ``repair_done`` then ``valve_opened`` on the main (the gas network puts its customers back on)."""
        yield self.env.timeout(self.plan.gas_repair_s)
        self.session.publish(self._clock(), "repair_done", SOURCE, "gas_mains", main, self.plan.gas_repair_s,
                             f"gas main {main} repaired", main=main, incident=incident)
        self.session.publish(self._clock(), "valve_opened", SOURCE, "gas_mains", main, None,
                             f"gas main {main} opened again", main=main, incident=incident)

    def _verified(self, inc: dict) -> bool:
        """The twin checks the alarm against its model: a junction well below the pressure it should have."""
        if inc["type"] != "water_main_break" or self.water is None:
            return True
        deficits = [self.water.deficit(feature) for _, layer, feature in inc["alarms"]
                    if layer == "water_junctions" and feature in self.water.solver.node_index]
        worst = max(deficits, default=0.0)
        inc["deficit_m"] = worst
        if worst >= self.plan.confirm_deficit_m:
            return True
        inc["finding"] = (f"false alarm: the alarmed junctions are within {worst:.1f} m of the model's pressure "
                          f"(a burst: {self.plan.confirm_deficit_m:g} m or more below)")
        return False

    def _release(self, inc: dict, unit, sent: float, sites, **data) -> None:
        """The unit leaves the scene: ``unit_released``, and it drives home (free to be sent on the way)."""
        self.session.state["units"][unit.name].update(status="returning", incident=None)
        self.session.publish(self._clock(), "unit_released", SOURCE, "incidents", inc["id"], self._clock() - sent,
                             f"{unit.name} released from {inc['id']}", unit=unit.name, **data)
        self.env.process(self._back_home(unit, self.travel.back_time(sites, 0, unit.station)))

    def _close(self, inc: dict) -> None:
        """The incident is archived: ``incident_closed`` with its report-to-close time."""
        inc["closed"] = True
        self.session.state["incidents"][inc["id"]]["state"] = "closed"
        self.session.publish(self._clock(), "incident_closed", SOURCE, "incidents", inc["id"],
                             self._clock() - inc["opened"], f"{inc['id']} closed", served=True)

    def _back_home(self, unit, seconds: float):
        """The unit drives home and may be sent again on the way (it is free from its release)."""
        state = self.session.state["units"][unit.name]
        trip = (self.env.now, float(seconds), (float(state["x"]), float(state["y"])))
        self.returning[unit.index] = trip
        self.free[unit.index] = True
        yield self.env.timeout(seconds)
        if self.returning.get(unit.index) is trip:  # not sent elsewhere on the way
            del self.returning[unit.index]
            st = self.fleet.stations[unit.station]
            state.update(status="at_station", x=st.x, y=st.y)

    def _position(self, unit) -> tuple[float, float]:
        """Where a returning unit is now: along the straight line from its last job to its station, in
        proportion to the time driven (an estimate: the road it takes is not tracked)."""
        t0, seconds, (x0, y0) = self.returning[unit.index]
        st = self.fleet.stations[unit.station]
        f = min(1.0, (self.env.now - t0) / seconds) if seconds > 0 else 1.0
        return x0 + (st.x - x0) * f, y0 + (st.y - y0) * f

    def _reach(self, u, sites, out) -> float:
        if u.index in self.returning:
            return float(self.travel.from_point(np.array(self._position(u)), sites, 0))
        return float(out[u.station])

    def _can_reach(self, inc: dict, units, sites, out, unit_type: str) -> list:
        """The units of ``units`` with a way to the site on the roads as they are now; when there are units
        but every way is closed (flooded roads), noted once on the incident."""
        ok = [u for u in units if np.isfinite(self._reach(u, sites, out))]
        if units and not ok and not inc.get(f"cut_off_{unit_type}"):
            inc[f"cut_off_{unit_type}"] = True
            inc["notes"].append(f"no free {unit_type} can reach the site at {self._clock() - self.session.start:.0f} s:"
                                " every way closed by water; waiting for a road to reopen")
        return ok

    def _pick(self, free, sites, out):
        """The free unit that reaches the site first: from its station, or from the road on its way back
        (no turnout then: the crew is already rolling).  Returns (unit, travel s, on its way back)."""
        unit = min(free, key=lambda u: (self._reach(u, sites, out), u.index))
        travel = self._reach(unit, sites, out)
        en_route = unit.index in self.returning
        self.returning.pop(unit.index, None)
        self.free[unit.index] = False
        return unit, travel, en_route

    def _claim_break(self, inc: dict) -> str | None:
        """The broken pipe nearest the incident that no crew handles yet, now this incident's (None: none)."""
        session = self.session
        broken = [p for p, b in session.state["breaks"].items() if not b.get("incident")]
        if not broken:
            inc["finding"] = "no break found (or one already being handled)"
            return None
        pipes = self.twin["water_pipes"].set_index("id")

        def distance(pid):
            geom = pipes.geometry.get(pid)
            return geom.distance(shapely.Point(*inc["xy"])) if geom is not None else np.inf
        pipe = min(broken, key=distance)
        inc["pipe"] = pipe
        session.state["breaks"][pipe]["incident"] = inc["id"]
        return pipe

    def _close_repair_reopen(self, inc: dict, pipe: str, closing, why: str):
        """After ``isolate_s`` close ``closing`` [(valve, link or None)], repair in ``repair_s``, reopen them."""
        env, plan, session = self.env, self.plan, self.session
        yield env.timeout(plan.isolate_s)
        for valve, link in closing:
            if link is None:
                inc["notes"].append(f"no valve {valve} in the network: not closed")
                continue
            session.publish(self._clock(), "valve_closed", SOURCE, "water_valves", valve, None,
                            f"{valve} closed {why} pipe {pipe}", link=link, incident=inc["id"])
        inc["isolated"] = self._clock()
        yield env.timeout(plan.repair_s)
        session.publish(self._clock(), "repair_done", SOURCE, "water_pipes", pipe, plan.repair_s,
                        f"pipe {pipe} repaired", pipe=pipe, incident=inc["id"])
        for valve, link in closing:
            if link is not None:
                session.publish(self._clock(), "valve_opened", SOURCE, "water_valves", valve, None,
                                f"{valve} reopened after the repair of {pipe}", link=link, incident=inc["id"])

    def _isolate_and_repair(self, inc: dict):
        pipe = self._claim_break(inc)
        if pipe is None:
            return  # the crew checks and leaves
        closing = self._valve_links(pipe)
        inc["valves"] = [v for v, _ in closing]
        yield from self._close_repair_reopen(inc, pipe, closing, "to isolate")

    def _valve_links(self, pipe: str) -> list[tuple[str, str]]:
        """(valve id, link to close) for the segment of ``pipe``; on the broken pipe, the half at the valve."""
        from simulation.hydraulics.segments import n_minus_one_valves, segment

        if self._segments is None:
            self._segments = segment(self.system)
        shutdown = self._segments.shutdown(pipe)
        valves = self.system.valves if len(self.system.valves) else n_minus_one_valves(self.system.network)
        by_id = valves.drop_duplicates("id").set_index(valves.drop_duplicates("id")["id"].astype(str))
        start = self.system.network.get_link(pipe).start_node_name
        out = []
        for vid in shutdown["valves_to_close"]:
            v = by_id.loc[vid]
            link = str(v["pipe_id"])
            if link == pipe:
                link = pipe if str(v["node_id"]) == start else f"{pipe}-B"
            out.append((str(vid), link))
        return out

    # ---------------------------------------------------------------- drill mode: the trainees decide
    def _on_action(self, event) -> None:
        """A trainee's action (drill mode): handed to its incident's life cycle at its time."""
        params = dict(event.get("parameters") or {})
        wanted = params.get("incident")
        open_ = [inc for inc in self.incidents if inc["type"] in MANUAL_TYPES and not inc["closed"]]
        inc = next((i for i in open_ if i["id"] == wanted), None) if wanted else (open_[-1] if open_ else None)
        if inc is None or "orders" not in inc:
            return
        delay = max(0.0, (event.time - self.session.start) - self.env.now)
        self.env.process(self._order(inc, delay, (event.get("action"), params, event.get("role"))))

    def _order(self, inc: dict, delay: float, order):
        if delay:
            yield self.env.timeout(delay)
        inc["orders"].put(order)

    def _life_manual(self, inc: dict, delay: float):
        """An incident in drill mode: verify, dispatch, valves and close as the trainees order them."""
        env, session = self.env, self.session
        inc.setdefault("orders", simpy.Store(env))
        inc["valves_chosen"] = env.event()
        inc["handled"] = env.event()   # repaired, fire out, leak made safe
        inc["repaired"] = False
        inc["units"] = []
        if delay:
            yield env.timeout(delay)
        sites = self.travel.locate(inc["xy"].reshape(1, 2))
        out = self.travel.out_times(sites, 0)
        while not inc["closed"]:
            action, params, role = yield inc["orders"].get()
            if action == "verify" and "verified" not in inc:
                self._verified(inc)  # the model's deficit, for the record; the trainee decides
                inc["verified"] = self._clock()
                sensor, layer, feature = (inc["alarms"][0] if inc["alarms"] else (None, "incidents", inc["id"]))
                session.publish(self._clock(), "alarm_acknowledged", SOURCE, layer, feature, None,
                                f"{inc['id']}: verified by {role}", incident=inc["id"], sensor=sensor,
                                verified=True, role=role)
            elif action == "dispatch":
                for name in params.get("units") or []:
                    unit = next((u for u in self.fleet.units if u.name == name), None)
                    if unit is None or not self.free[unit.index] or unit.name in inc["units"]:
                        inc["notes"].append(f"{role} sent {name}: " + ("no such unit" if unit is None else "busy"))
                        continue
                    inc["units"].append(unit.name)  # taken at once: a second order in the frame is noted
                    env.process(self._crew_manual(inc, unit, sites, out))
            elif action == "close_valves" and not inc["valves_chosen"].triggered:
                inc["valves"] = [str(v) for v in params.get("valves") or []]
                inc["valves_chosen"].succeed()
            elif action == "close_incident":
                if inc["repaired"]:
                    self._close(inc)
                else:
                    inc["notes"].append(f"{role} asked to close {inc['id']} before the repair: ignored")

    def _crew_manual(self, inc: dict, unit, sites, out):
        """A unit the trainees named: to the scene over the roads, the chosen valves, repair, release."""
        env, plan, session = self.env, self.plan, self.session
        self.free[unit.index] = False          # ordered: held for this incident while it waits for a way
        while not self._can_reach(inc, [unit], sites, out, unit.type):
            yield env.timeout(60.0)            # every way to the site closed (flooded roads): wait
            sites = self.travel.locate(inc["xy"].reshape(1, 2))
            out = self.travel.out_times(sites, 0)
        unit, travel, en_route = self._pick([unit], sites, out)  # from the road if it is on its way home
        station = self.fleet.stations[unit.station]
        inc.setdefault("unit", unit.name)
        session.state["units"][unit.name].update(status="dispatched", incident=inc["id"])
        session.publish(self._clock(), "unit_dispatched", SOURCE, "fire_stations", station.id, travel,
                        f"{unit.name} ({unit.type}) sent to {inc['id']}", unit=unit.name, incident=inc["id"],
                        en_route=en_route, unit_type=unit.type, **self._flooded(inc, unit, en_route))
        sent = self._clock()
        yield env.timeout((0.0 if en_route else plan.turnout(unit.type)) + travel)
        session.state["units"][unit.name].update(status="on_scene", x=float(inc["xy"][0]), y=float(inc["xy"][1]))
        session.publish(self._clock(), "unit_arrived", SOURCE, "incidents", inc["id"], self._clock() - sent,
                        f"{unit.name} on scene of {inc['id']}", unit=unit.name, unit_type=unit.type,
                        station_kind=station.kind)
        inc.setdefault("on_scene", self._clock())
        if inc["type"] == "water_main_break" and unit.type == "water_crew" and "pipe" not in inc:
            yield from self._isolate_chosen(inc)
        elif inc["type"] == "fire" and "attack" not in inc:
            inc["attack"] = self._clock()   # the first unit on scene starts the attack
            env.process(self._handled_after(inc, plan.fire_handle_s, "fire out"))
        elif inc["type"] == "gas_leak" and unit.type == "gas_crew" and "made_safe" not in inc:
            yield from self._make_safe(inc)
            self._handled(inc, "leak made safe" if "made_safe" in inc else inc.get("finding", ""))
        if inc["type"] in ("fire", "gas_leak") and not inc["handled"].triggered:
            yield inc["handled"]            # stand by until the fire is out / the leak is made safe
        self._release(inc, unit, sent, sites, unit_type=unit.type)

    def _handled_after(self, inc: dict, seconds: float, what: str):
        yield self.env.timeout(seconds)
        self._handled(inc, what)

    def _handled(self, inc: dict, what: str) -> None:
        """The incident is handled (drill mode): the trainees may close it from now on."""
        inc["repaired"] = True
        inc["handled_at"] = self._clock()
        if what:
            inc["notes"].append(f"{what} at {self._clock() - self.session.start:.0f} s")
        if not inc["handled"].triggered:
            inc["handled"].succeed()

    def _isolate_chosen(self, inc: dict):
        """Close the valves the trainees chose (``isolate_s`` after both the crew and the choice are there)."""
        pipe = self._claim_break(inc)
        if pipe is None:
            return
        yield inc["valves_chosen"]
        closing = [(v, self._valve_link(v)) for v in inc["valves"]]
        yield from self._close_repair_reopen(inc, pipe, closing, "(chosen by the trainees) for")
        self._handled(inc, "")

    def _valve_link(self, vid: str) -> str | None:
        """The link a valve closes: its pipe, or the half of a broken pipe it sits at."""
        valves = self.system.valves
        row = valves[valves["id"].astype(str) == str(vid)]
        if not len(row):
            return None
        pipe, node = str(row.iloc[0]["pipe_id"]), str(row.iloc[0]["node_id"])
        if pipe in self.session.state["breaks"] or (self.water is not None and pipe in self.water.breaks):
            return pipe if node == self.system.network.get_link(pipe).start_node_name else f"{pipe}-B"
        return pipe

    # ---------------------------------------------------------------- time
    def _follow_roads(self) -> None:
        """Travel on the roads as they are now: flooded streets (``session.state["road_speed_factor"]``,
        road id -> factor of its speed, 0 closed; written by :mod:`simulation.drainage`) slow or close
        their edges for the units dispatched from this frame on (a unit already driving keeps the time it
        was given).  The travel for each set of factors is worked out once and kept."""
        factors = self.session.state.get("road_speed_factor") or {}
        key = tuple(sorted((str(k), round(float(v), 3)) for k, v in factors.items()))
        if key == self._roads_key:
            return
        self._roads_key = key
        if key not in self._travel_by_roads:
            if len(self._travel_by_roads) >= 16:
                self._travel_by_roads.clear()
            self._travel_by_roads[key] = self._dry_travel.slowed(dict(key))
        self.travel = self._travel_by_roads[key]

    def _flooded(self, inc: dict, unit, en_route: bool) -> dict:
        """While streets are flooded: the travel the unit would have had on dry roads (``dry_travel_s``,
        from its station; left out for a unit sent from the road) and the roads slowed or closed."""
        if self.travel is self._dry_travel:
            return {}
        out = {"roads_flooded": len(self._roads_key)}
        if not en_route:
            dry = self._dry_travel
            out["dry_travel_s"] = round(float(dry.out_times(dry.locate(inc["xy"].reshape(1, 2)), 0)[unit.station]), 3)
        return out

    def advance_to(self, t: float) -> None:
        self._follow_roads()
        until = t - self.session.start
        if until > self.env.now:
            self.env.run(until=until)
