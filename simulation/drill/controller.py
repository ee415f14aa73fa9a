"""The exercise controller: injects delivered on the session clock, trainees' actions, deadlines.

:class:`ExerciseController` is a session engine (``advance_to``), attached just
before the emergency response (:func:`play` builds the session that way) so the
trainees' actions of a frame reach the response in that frame.  It keeps an
agenda of timed items and handles them in time order within each frame: at one
time, deliveries first, then actions, then deadlines (an action taken exactly
at its deadline is met).

Inject states: ``on_hold`` (waiting for its trigger: an ``after`` inject until
its parent is delivered, an ``on`` inject until its event, a ``controller``
inject until the controller delivers it, a contingency inject until an
expected action is missed) -> ``scheduled`` (its delivery time is known) ->
``delivered`` (an ``inject_delivered`` event, value the inject number) ->
``done`` once each of its expected actions is met or past its deadline (at
delivery when it expects none), or ``cancelled`` by the controller before
delivery.

An ``on`` inject is delivered at its event's time (plus its delay); only the
first matching event counts.  Events of engines advanced after the controller
(the response's dispatches and arrivals) are heard as they happen and an
inject on them without delay is delivered at the event's time; a delayed one,
and the scripted actions timed after such an inject, are handled in the
controller's next frame, at their time or at that frame's start if that is
later (at most one step late).

The trainees' actions are ``action_taken`` events (data: action, role,
parameters), from a scripted actions file (:class:`~simulation.drill.model.Actions`)
or from :meth:`act` during play; ``acknowledge`` also publishes
``alarm_acknowledged`` (with the role) for the alarms it names (``sensor``) or
every alarm in force, ``notify`` ``notified``, ``evacuate`` (a building)
``evacuation_ordered`` with the building's population, and ``request_mutual_aid``
``mutual_aid_requested``.  Each expected action is
matched by the first action of its kind (and role, if it names one) taken
after the delivery whose parameters match: a list as a set, anything else by
equality.  A deadline passing unmet releases its contingency injects (delivered
at once).  Controller operations during play: :meth:`deliver_now`,
:meth:`hold`, :meth:`cancel`, :meth:`add_inject`; recorded ones (the actions
file's ``controller`` entries) are replayed at their times.
"""

from __future__ import annotations

import heapq
import itertools

from simulation.drill.model import Actions, Drill, Inject

SOURCE = "drill"
#: order of agenda items at one time: the controller's operations first (a hold at a delivery's time holds it)
_CONTROL, _DELIVER, _ACT, _DEADLINE = 0, 1, 2, 3


class ExerciseController:
    """Injects, the trainees' actions and the expected actions' deadlines, stepped on the session clock."""

    name = SOURCE

    def __init__(self, drill: Drill, scenario, actions: Actions | None = None):
        self.drill, self.scenario = drill, scenario
        self.script = actions or Actions()
        # the drill's injects, and the ad-hoc ones a recorded play added (delivered by the controller's ops)
        self.injects: dict[int, Inject] = {i.number: i for i in [*drill.injects, *self.script.injects]}
        self.state: dict[int, str] = {n: "on_hold" for n in self.injects}
        self.history: dict[int, list[tuple[float, str]]] = {n: [] for n in self.injects}
        self.delivered: dict[int, float] = {}
        #: (inject, index of the expected action) -> {"due", "met_at", "action_seq", "released"}
        self.expected: dict[tuple[int, int], dict] = {}
        self.actions: list = []  # action_taken events
        self._agenda: list = []
        self._tick = itertools.count()
        self._pending_scripted = {}  # inject number -> scripted actions timed after its delivery
        self.now = None
        self._floor = None  # the start of the controller's current frame

    # ---------------------------------------------------------------- engine
    def attach(self, session) -> None:
        self.session = session
        self.now = self._floor = session.start
        for n, inj in self.injects.items():
            tr = inj.trigger
            if tr is not None and tr.at is not None:
                self._schedule(n, self.scenario.clock_time(tr.at, f"inject {n}"), session.start)
        for a in self.script.actions:
            if a.at is not None:
                self._push(self.scenario.clock_time(a.at, f"action {a.action}"), _ACT, a)
            else:
                self._pending_scripted.setdefault(a.inject, []).append(a)
        for op in self.script.controller:
            self._push(self.scenario.clock_time(op.at, f"controller {op.op}"), _CONTROL, op)
        if any(inj.trigger is not None and inj.trigger.on for inj in self.injects.values()):
            session.subscribe(self._on_event)

    def advance_to(self, t: float) -> None:
        self._floor = self.now
        while self._agenda and self._agenda[0][0] <= t:
            when, order, _, item = heapq.heappop(self._agenda)
            when = max(when, self.now)
            if order == _CONTROL:
                self._control(item, when)
            elif order == _DELIVER:
                if self.state[item] == "scheduled":
                    self._deliver(item, when)
            elif order == _ACT:
                self._take(when, item.role, item.action, item.parameters)
            else:
                self._deadline(item, when)
        self.now = t

    # ---------------------------------------------------------------- controller operations
    def deliver_now(self, number: int) -> None:
        """Deliver an inject on hold or scheduled at the controller's current time."""
        if self.state[number] not in ("on_hold", "scheduled"):
            raise ValueError(f"inject {number} is {self.state[number]}: it cannot be delivered")
        self._set(number, "scheduled", self.session.now)
        self._deliver(number, max(self.now, self.session.now))

    def hold(self, number: int) -> None:
        """Put a scheduled inject back on hold (deliver it later with :meth:`deliver_now`)."""
        if self.state[number] != "scheduled":
            raise ValueError(f"inject {number} is {self.state[number]}: only a scheduled inject can be held")
        self._set(number, "on_hold", self.session.now)

    def cancel(self, number: int) -> None:
        if self.state[number] not in ("on_hold", "scheduled"):
            raise ValueError(f"inject {number} is {self.state[number]}: it cannot be cancelled")
        self._set(number, "cancelled", self.session.now)

    def add_inject(self, inject: Inject) -> None:
        """An ad-hoc inject during play (a trigger at a time still ahead, after another, or controller)."""
        if inject.number in self.injects:
            raise ValueError(f"inject {inject.number} exists already")
        self.injects[inject.number] = inject
        self.state[inject.number] = "on_hold"
        self.history[inject.number] = []
        tr = inject.trigger
        if tr is not None and tr.at is not None:
            self._schedule(inject.number, self.scenario.clock_time(tr.at, f"inject {inject.number}"), self.now)
        elif tr is not None and tr.after is not None and tr.after in self.delivered:
            self._schedule(inject.number, self.delivered[tr.after] + tr.delay_min * 60.0, self.now)

    def act(self, role: str, action: str, parameters: dict | None = None, at: float | None = None):
        """A trainee's action during play (now, or at a clock time still ahead)."""
        at = self.session.now if at is None else float(at)
        if at <= self.now:
            return self._take(max(at, self.now), role, action, dict(parameters or {}))
        from simulation.drill.model import ActionEntry

        self._push(at, _ACT, ActionEntry(at=None, inject=1, after_s=0, role=role, action=action,
                                         parameters=dict(parameters or {})))
        return None

    # ---------------------------------------------------------------- inside
    def _control(self, op, when: float) -> None:
        """A recorded controller operation; one that no longer applies (the inject moved on) is skipped."""
        state = self.state[op.inject]
        if op.op == "deliver" and state in ("on_hold", "scheduled"):
            self._set(op.inject, "scheduled", when)
            self._deliver(op.inject, when)
        elif op.op == "hold" and state == "scheduled":
            self._set(op.inject, "on_hold", when)
        elif op.op == "cancel" and state in ("on_hold", "scheduled"):
            self._set(op.inject, "cancelled", when)

    def _push(self, when: float, order: int, item) -> None:
        heapq.heappush(self._agenda, (float(when), order, next(self._tick), item))

    def _set(self, number: int, state: str, when: float) -> None:
        self.state[number] = state
        self.history[number].append((float(when), state))

    def _schedule(self, number: int, when: float, now: float) -> None:
        if self.state[number] != "on_hold":
            return
        self._set(number, "scheduled", now)
        self._push(when, _DELIVER, number)

    def _on_event(self, event) -> None:
        if event.kind == "inject_delivered" and event.source == SOURCE:
            return
        for n, inj in self.injects.items():
            tr = inj.trigger
            if tr is None or tr.on != event.kind or self.state[n] != "on_hold" or self.history[n]:
                continue
            fields = {"source": event.source, "layer": event.layer, "feature": event.feature, **dict(event.data)}
            if all(str(fields.get(k)) == str(v) for k, v in tr.where.items()):
                when = event.time + tr.delay_min * 60.0
                if tr.delay_min == 0:
                    self._set(n, "scheduled", event.time)
                    self._deliver(n, max(event.time, self._floor))
                else:
                    self._schedule(n, when, event.time)

    def _deliver(self, number: int, when: float) -> None:
        inj = self.injects[number]
        self.delivered[number] = when
        self._set(number, "delivered", when)
        loc = inj.location
        layer, feature = (loc.layer, loc.id) if loc is not None and loc.id is not None else ("injects", str(number))
        extra = {"x": loc.x, "y": loc.y} if loc is not None and loc.x is not None else {}
        self.session.publish(when, "inject_delivered", SOURCE, layer, feature, number,
                             f"inject {number} ({inj.method}, {inj.from_} to {inj.to}): {inj.message}",
                             inject=number, from_role=inj.from_, to_role=inj.to, method=inj.method, **extra)
        for k, ex in enumerate(inj.expect):
            due = when + ex.deadline_min * 60.0
            self.expected[(number, k)] = {"due": due, "met_at": None, "action_seq": None, "released": []}
            self._push(due, _DEADLINE, (number, k))
        for a in self._pending_scripted.pop(number, []):
            self._push(when + a.after_s, _ACT, a)
        for m, other in self.injects.items():
            tr = other.trigger
            if tr is not None and tr.after == number:
                self._schedule(m, when + tr.delay_min * 60.0, when)
        if not inj.expect:
            self._set(number, "done", when)

    def _take(self, when: float, role: str, action: str, parameters: dict):
        session = self.session
        event = session.publish(when, "action_taken", SOURCE, "roles", role, None,
                                f"{role}: {action} " + ", ".join(f"{k}={v}" for k, v in parameters.items()),
                                action=action, role=role, parameters=parameters)
        self.actions.append(event)
        if action == "acknowledge":
            # the alarms named (``sensor``: one id or a list), or every alarm in force, are acknowledged
            # by the trainee's role: the alarm list and the report show who did it and when
            named = parameters.get("sensor") or parameters.get("sensors")
            sensors = [named] if isinstance(named, str) else list(named or session.state.get("alarms", {}))
            for sensor in sorted(map(str, sensors)):
                session.publish(when, "alarm_acknowledged", SOURCE, "sensors", sensor, None,
                                f"{role} acknowledged the alarm of {sensor}", sensor=sensor, role=role)
        elif action == "notify":
            session.publish(when, "notified", SOURCE, "roles", role, None,
                            f"{role} notified {parameters.get('whom')}", whom=parameters.get("whom"), role=role)
        elif action == "evacuate":
            building = str(parameters.get("building"))
            people = self._people_in(building)
            session.publish(when, "evacuation_ordered", SOURCE, "buildings", building, people,
                            f"{role} ordered {building} evacuated"
                            + (f" ({people:.0f} resident{'' if people == 1 else 's'} on record)"
                               if people is not None else ""), role=role)
        elif action == "request_mutual_aid":
            session.publish(when, "mutual_aid_requested", SOURCE, "roles", role, None,
                            f"{role} requested mutual aid" + (f": {parameters['what']}" if "what" in parameters
                                                              else ""), role=role, parameters=parameters)
        self._match(event)
        return event

    def _people_in(self, building: str) -> float | None:
        """The building's population (the twin's ``population`` column), None when the twin does not know it."""
        twin = self.session.twin
        if twin is None or "buildings" not in twin.layers or "population" not in twin["buildings"].columns:
            return None
        b = twin["buildings"]
        row = b[b["id"].astype(str) == building]
        if not len(row) or row.iloc[0]["population"] != row.iloc[0]["population"]:
            return None
        return float(row.iloc[0]["population"])

    def _match(self, event) -> None:
        for (n, k), rec in sorted(self.expected.items()):
            if rec["met_at"] is not None:
                continue
            ex = self.injects[n].expect[k]
            if ex.action != event.get("action") or (ex.role is not None and ex.role != event.get("role")):
                continue
            if event.time < self.delivered[n]:
                continue
            if not matches(ex.parameters, event.get("parameters") or {}):
                continue
            rec["met_at"], rec["action_seq"] = event.time, event.seq
            self._maybe_done(n, event.time)

    def _deadline(self, key: tuple[int, int], when: float) -> None:
        rec = self.expected[key]
        if rec["met_at"] is None:
            n, k = key
            for c in self.injects[n].expect[k].contingency:
                if self.state[c] == "on_hold":
                    rec["released"].append(c)
                    self._set(c, "scheduled", when)
                    self._deliver(c, when)
        self._maybe_done(key[0], when)

    def _maybe_done(self, number: int, when: float) -> None:
        if self.state[number] != "delivered":
            return
        recs = [self.expected[(number, k)] for k in range(len(self.injects[number].expect))]
        if all(r["met_at"] is not None or r["due"] <= when for r in recs):
            self._set(number, "done", when)


def matches(expected: dict, given: dict) -> bool:
    """Whether an action's parameters carry what is expected (lists as sets, anything else by equality)."""
    for key, want in expected.items():
        have = given.get(key)
        if isinstance(want, list):
            if not isinstance(have, (list, tuple)) or {str(x) for x in have} != {str(x) for x in want}:
                return False
        elif str(have) != str(want):
            return False
    return True


def prepare(drill: Drill, scenario, folder, actions: Actions | None = None, twin=None):
    """The drill's session (response in drill mode, the controller attached just before it), not yet run.

    Returns (session, controller).
    """
    from simulation.session.scenario import build_session

    holder = {}

    def engines(session):
        holder["controller"] = ExerciseController(drill, scenario, actions)
        return [holder["controller"]]

    session = build_session(scenario, folder, twin=twin, manual=True, before_response=engines)
    return session, holder["controller"]


def units_of(session) -> list[str]:
    """The names of the fleet's units (what ``dispatch`` may name)."""
    return [u.name for e in session.engines if e.name == "emergency" for u in e.fleet.units]


def play(drill: Drill, scenario, folder, actions: Actions | None = None, twin=None):
    """:func:`prepare` the drill's session and run it to the end; returns (session, controller)."""
    session, controller = prepare(drill, scenario, folder, actions, twin)
    session.run()
    return session, controller
