"""A live session shown through the view model: the clock's time drives the session, its state comes back.

:class:`Playback` is the one link between a running
:class:`~simulation.session.session.Session` and a
:class:`~app.view_model.ViewModel` (no Qt: the window's timeline, a test or a
movie writer sets ``model.clock.time``; everything else follows):

* a new clock time advances the session to it, a frame (``session.step_s``)
  at a time; a time before the session's ``now`` re-runs it from the start:
  on a new session from ``rebuild()`` when the playback was given one
  (:attr:`session` is then that new one), else through :meth:`Session.seek`;
* the events the session logged since the last time are handed on with
  :attr:`events_arrived` (a list, in time order); after a seek back,
  :attr:`rewound` fires first and the whole log up to the new time follows;
  :attr:`shown` fires once the new state is on the view model;
* the state of the city is shown on the view model: every engine's values
  on the layers (:mod:`simulation.session.values`: junction and pipe
  pressures, red at 0 m to blue at 60 m; water depth in the wells; gas
  pressures), the junctions without water, the pipes broken and closed, the
  roads flooded and closed, the active alarms by level (sensors, and
  airspace zones for drone alerts), and the response units where the run has
  them (``ViewModel.vehicles``: at their station, sent, on scene, driving
  back; a unit on its way is drawn where it set out from).

Long moves (a whole day, a seek far ahead or far back) may run off the
window's thread: :meth:`run_to` only steps the session (and records), with a
``progress`` callback that may stop it between two frames; :meth:`catch_up`
then shows the result.  With :attr:`far` set, :meth:`go_to` hands such moves
(costing more than ``far_s`` of clock time) to it instead; while :attr:`busy`
the clock's moves are ignored, since another thread owns the session.

What the run produced is kept as tables the window reads, never recomputed:

* :class:`History`: the modelled pressure of every node and flow of every
  link at every hydraulic step the session went through (above
  :data:`FULL_HISTORY` values a step, only the features watched: those with
  a sensor and those :meth:`Playback.watch` names);
* the readings of the session's sensor engines (virtual, scripted sources);
* :class:`AlarmBoard`: the alarms active now, from the event log, and their
  acknowledgements; :class:`IncidentBoard`: each incident's life cycle
  (:data:`STAGES`) with the clock time of each step.

The operator's acknowledgements (:meth:`acknowledge`) are inputs of the run:
they are published as ``alarm_acknowledged`` events (source ``operator``) and
published again at the same clock times when the session re-runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from psygnal import Signal

from simulation.session.values import layer_values
from twin.schema import RISK_COLOURS, RISK_LEVELS

#: Highlight names and colours on the view model.
WITHOUT_WATER = "without water"
BROKEN = "pipes broken"
CLOSED = "links closed"
FLOODED = "roads flooded"
FLOODED_CLOSED = "roads closed by water"
ALARM = "alarm {}"
#: Moves of the clock costing more than this much clock time go to :attr:`Playback.far`, when set.
FAR_S = 3600.0
#: Node and link values kept per hydraulic step for every feature; above it, only watched features.
FULL_HISTORY = 10_000
OPERATOR = "operator"
PROGRESS_EVERY_S = 0.1   # wall time between two progress reports of run_to (each one repaints the status bar)
#: An incident's life cycle, as the incident board shows it.
STAGES = ("report", "verify", "assign", "handle", "feedback", "close")
SEVERITY = {level: len(RISK_LEVELS) - k for k, level in enumerate(RISK_LEVELS)}   # red 4 ... blue 1
#: Where a water sensor's modelled value comes from: sensor type -> (quantity, unit).
SENSOR_QUANTITY = {"pressure": ("pressure", "m"), "level": ("level", "m"), "flow": ("flow", "m³/h")}
NODE_LAYERS = {"water_junctions": "pressure", "water_tanks": "level", "water_reservoirs": "pressure"}


# ---------------------------------------------------------------------- modelled history
class History:
    """Modelled node pressures (m) and link flows (m³/s) at each hydraulic step, as float32 rows.

    Each step is one row of the nodes and links recorded (``nodes``/``links``:
    solver indices); a feature watched later gets the next column, and rows
    recorded before have no value for it (NaN).
    """

    def __init__(self, node_count: int, link_count: int, *, full: bool, nodes=(), links=()):
        self.full = full
        self.nodes = np.arange(node_count) if full else np.array([], dtype=np.int64)
        self.links = np.arange(link_count) if full else np.array([], dtype=np.int64)
        self.node_col = {int(i): k for k, i in enumerate(self.nodes)}
        self.link_col = {int(i): k for k, i in enumerate(self.links)}
        self.times: list[float] = []
        self.node_rows: list[np.ndarray] = []
        self.link_rows: list[np.ndarray] = []
        for i in nodes:
            self.watch_node(i)
        for i in links:
            self.watch_link(i)

    def watch_node(self, i: int) -> None:
        i = int(i)
        if i not in self.node_col:
            self.node_col[i] = len(self.nodes)
            self.nodes = np.append(self.nodes, i)

    def watch_link(self, i: int) -> None:
        i = int(i)
        if i not in self.link_col:
            self.link_col[i] = len(self.links)
            self.links = np.append(self.links, i)

    def record(self, t: float, pressure: np.ndarray, flow: np.ndarray) -> None:
        if self.times and t <= self.times[-1]:
            return
        self.times.append(float(t))
        self.node_rows.append(np.asarray(pressure)[self.nodes].astype(np.float32))
        self.link_rows.append(np.asarray(flow)[self.links].astype(np.float32))

    def node(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(clock times, pressure m) of node ``i`` (NaN before it was watched)."""
        return self._column(self.node_rows, self.node_col.get(int(i)))

    def link(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(clock times, flow m³/s) of link ``i``."""
        return self._column(self.link_rows, self.link_col.get(int(i)))

    def _column(self, rows, col):
        n = len(self.times)  # another thread may be appending: read what is there now
        times = np.array(self.times[:n], dtype=float)
        if col is None:
            return times, np.full(n, np.nan)
        return times, np.array([r[col] if len(r) > col else np.nan for r in rows[:n]], dtype=float)


@dataclass(frozen=True)
class Trace:
    """One series to plot: modelled values, or the measured readings drawn over them."""

    name: str
    quantity: str
    unit: str
    measured: bool
    times: np.ndarray
    values: np.ndarray


# ---------------------------------------------------------------------- alarms and incidents
@dataclass
class ActiveAlarm:
    """One alarm raised and not cleared: a sensor's rule (or a drone's zone), at its present level."""

    key: tuple[str, str]          # (sensor or drone track, alarm kind or zone)
    who: str
    kind: str
    level: str
    source: str
    layer: str | None
    feature: str | None
    raised: float
    changed: float
    value: float | None
    message: str
    acknowledged: float | None = None
    acknowledged_by: str | None = None
    incident: str | None = None

    @property
    def colour(self) -> str:
        return RISK_COLOURS.get(self.level, "#888888")

    @property
    def severity(self) -> int:
        return SEVERITY.get(self.level, 0)


def _alarm_who(e) -> str:
    return str(e.get("sensor") or e.get("track") or e.feature)


class AlarmBoard:
    """The alarms active now, kept from the event log as it arrives.

    Alarms are told apart by sensor and rule (a pressure sensor may have its
    sudden-fall and its low-pressure alarm at once) or, for drones, by track
    and zone.  An ``alarm_acknowledged`` event acknowledges the alarms of its
    sensor (of its ``alarm_kind`` only, when it names one); an escalation
    asks for a new acknowledgement, a lowering does not.
    """

    def __init__(self):
        self.alarms: dict[tuple[str, str], ActiveAlarm] = {}

    def feed(self, events) -> bool:
        """Take in events in time order; True when the active alarms changed."""
        changed = False
        for e in events:
            if e.kind in ("alarm_raised", "alarm_escalated", "alarm_lowered"):
                key = (_alarm_who(e), str(e.get("alarm_kind") or e.feature))
                level = str(e.get("level"))
                a = self.alarms.get(key)
                if a is None or e.kind == "alarm_raised":
                    a = self.alarms[key] = ActiveAlarm(key, key[0], str(e.get("alarm_kind") or "zone"), level,
                                                       e.source, e.layer, e.feature, e.time, e.time, e.value,
                                                       e.message)
                else:
                    if e.kind == "alarm_escalated" or SEVERITY.get(level, 0) > a.severity:
                        a.acknowledged = a.acknowledged_by = None
                    a.level, a.changed, a.value, a.message = level, e.time, e.value, e.message
                changed = True
            elif e.kind == "alarm_cleared":
                key = (_alarm_who(e), str(e.get("alarm_kind") or e.feature))
                changed |= self.alarms.pop(key, None) is not None
            elif e.kind == "alarm_acknowledged":
                who, kind = _alarm_who(e), e.get("alarm_kind")
                for a in self.alarms.values():
                    if a.who == who and (kind is None or a.kind == kind) and a.acknowledged is None:
                        a.acknowledged, a.acknowledged_by = e.time, e.get("role") or e.source
                        changed = True
            elif e.kind == "incident_opened":
                who = e.get("sensor") or e.get("track")
                for a in self.alarms.values():
                    if who is not None and a.who == str(who) and a.incident is None:
                        a.incident = e.feature
                        changed = True
        return changed

    def active(self) -> list[ActiveAlarm]:
        """Most severe first, then the most recent change first."""
        return sorted(self.alarms.values(), key=lambda a: (-a.severity, -a.changed, a.key))

    def levels(self) -> dict[tuple[str, str], str]:
        """(layer to highlight, feature) -> the most severe level of its active alarms."""
        out: dict[tuple[str, str], str] = {}
        for a in self.alarms.values():
            at = ("sensors", a.who) if a.source != "airspace" else (a.layer, a.feature)
            if at[0] is None or at[1] is None:
                continue
            if SEVERITY.get(a.level, 0) > SEVERITY.get(out.get(at), 0):
                out[at] = a.level
        return out


@dataclass
class Incident:
    """One incident's life cycle: the clock time of each of :data:`STAGES` (None: not yet, or not logged)."""

    id: str
    type: str
    where: str
    cause: str
    times: dict = field(default_factory=lambda: dict.fromkeys(STAGES))
    by: dict = field(default_factory=dict)   # stage -> who did it (the event's source or unit)
    units: list = field(default_factory=list)
    closed: bool = False
    false_alarm: bool = False

    @property
    def stage(self) -> str:
        """The last step reached."""
        return next((s for s in reversed(STAGES) if self.times[s] is not None), STAGES[0])


class IncidentBoard:
    """Every incident of the run with the times of report -> verify -> assign -> handle -> feedback -> close.

    Read from the event log: *report* ``incident_opened``; *verify* the
    ``alarm_acknowledged`` of the verification call (or the closing at
    verification of a false alarm); *assign* the first ``unit_dispatched``;
    *handle* the first ``unit_arrived`` (work on scene begins); *feedback* the
    last ``unit_released`` (the work is done and reported back); *close*
    ``incident_closed``.  A step its engine does not publish (the model check
    that verifies a main break) stays None.
    """

    def __init__(self):
        self.incidents: dict[str, Incident] = {}

    def feed(self, events) -> bool:
        changed = False
        for e in events:
            inc = None
            if e.kind == "incident_opened":
                inc = self.incidents[e.feature] = Incident(e.feature, str(e.get("type") or ""),
                                                           str(e.get("ref") or ""), e.message)
                self._mark(inc, "report", e.time, e.source)
            elif e.kind == "alarm_acknowledged" and e.get("incident") in self.incidents:
                inc = self.incidents[e.get("incident")]
                self._mark(inc, "verify", e.time, e.source, first=True)
            elif e.kind == "unit_dispatched" and e.get("incident") in self.incidents:
                inc = self.incidents[e.get("incident")]
                self._mark(inc, "assign", e.time, e.get("unit"), first=True)
                if e.get("unit") and e.get("unit") not in inc.units:
                    inc.units.append(e.get("unit"))
            elif e.kind == "unit_arrived" and e.feature in self.incidents:
                inc = self.incidents[e.feature]
                self._mark(inc, "handle", e.time, e.get("unit"), first=True)
            elif e.kind == "unit_released" and e.feature in self.incidents:
                inc = self.incidents[e.feature]
                self._mark(inc, "feedback", e.time, e.get("unit"))
            elif e.kind == "incident_closed" and e.feature in self.incidents:
                inc = self.incidents[e.feature]
                inc.closed = True
                if e.get("false_alarm"):
                    inc.false_alarm = True
                    self._mark(inc, "verify", e.time, f"{e.source}: false alarm", first=True)
                self._mark(inc, "close", e.time, e.source)
            changed |= inc is not None
        return changed

    @staticmethod
    def _mark(inc: Incident, stage: str, t: float, by, first: bool = False) -> None:
        if first and inc.times[stage] is not None:
            return
        inc.times[stage] = float(t)
        inc.by[stage] = str(by or "")

    def all(self) -> list[Incident]:
        return sorted(self.incidents.values(), key=lambda i: (i.times["report"], i.id))


def sources(session) -> list[dict]:
    """The sensor streams feeding ``session``: name, kind (virtual, scripted, recorded, live) and what."""
    out = []
    for engine in session.engines:
        cls = type(engine).__name__
        name = str(getattr(engine, "name", cls))
        if cls == "VirtualSensors":
            kinds = pd.Series([s.sensor_type for s in engine.sensors]).value_counts()
            what = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"
            out.append({"name": name, "kind": "virtual",
                        "what": f"{len(engine.sensors)} sensors on the water network read the running "
                                f"hydraulics ({what})"})
        elif cls == "Sources":
            out.append({"name": name, "kind": "scripted",
                        "what": f"smoke and methane sensors near {len(engine.smoke)} fire(s) and "
                                f"{len(engine.leaks)} leak(s), from the scenario's source models"})
        elif cls == "Airspace":
            out.append({"name": name, "kind": "scripted",
                        "what": f"{len(getattr(engine, 'flights', ()))} drone flight(s) tested against the "
                                "airspace zones"})
        elif "replay" in cls.lower() or "recorded" in cls.lower():
            out.append({"name": name, "kind": "recorded", "what": cls})
        elif "live" in cls.lower() or "mqtt" in cls.lower():
            out.append({"name": name, "kind": "live", "what": cls})
    return out


def twin_mismatch(scenario, folder, twin, twin_path=None) -> str | None:
    """Why ``scenario`` cannot run on ``twin`` (opened from ``twin_path``), or None when it is its city.

    A scenario names its city: the demo city of a seed (the twin's
    ``metadata["demo"]["seed"]``) or a project file (the path the twin was
    opened from).  Feature ids (the pipe that breaks) mean nothing on another city.
    """
    from pathlib import Path

    want = scenario.twin
    seed = ((getattr(twin, "metadata", None) or {}).get("demo") or {}).get("seed")
    shows = (f"the demo city with seed {seed}" if seed is not None else repr(twin.name)) + \
        (f" (from {twin_path})" if twin_path else "")
    if want.demo_seed is not None:
        if seed == want.demo_seed:
            return None
        return (f"{scenario.name!r} runs on the demo city with seed {want.demo_seed}, but the window shows "
                f"{shows}; open that city first")
    project = (Path(folder) / want.project).resolve()
    if twin_path is not None and Path(twin_path).resolve() == project:
        return None
    return f"{scenario.name!r} runs on the project {project}, but the window shows {shows}; open that project first"


# ---------------------------------------------------------------------- the playback
class Playback:
    """One session on one view model's clock."""

    events_arrived = Signal(list)
    rewound = Signal()
    shown = Signal(float)          # the session's clock time now on the view model

    def __init__(self, model, session, *, title: str = "", far=None, far_s: float = FAR_S, rebuild=None):
        self.model = model
        self.session = session
        self.title = title
        self.rebuild = rebuild     # rebuild() -> the same session new, at its start (to go back in time)
        self.far = far             # far(t): move the session to t elsewhere (then call catch_up)
        self.far_s = float(far_s)
        self.busy = False          # another thread is moving the session: the clock's moves are ignored
        self.inputs: list[dict] = []   # the operator's acknowledgements, in time order
        self._applied = 0
        self._seen = 0
        self._rewound = False
        self.alarms = AlarmBoard()
        self.incidents = IncidentBoard()
        self._new_history()
        self._connected = False
        self._alarm_layers: set[str] = set()
        self._shown_values: set[tuple[str, str]] = set()   # (layer, field) the engines' values went to
        clock = model.clock
        clock.playing = False
        clock.start, clock.end = session.start, session.end
        clock.time = session.now
        clock.events.time.connect(self._on_time)
        self._connected = True
        self.catch_up()

    def close(self) -> None:
        """Stop following the clock and take the session's colours and highlights off the view model."""
        if self._connected:
            self.model.clock.events.time.disconnect(self._on_time)
            self._connected = False
        m = self.model
        for name in [WITHOUT_WATER, BROKEN, CLOSED, FLOODED, FLOODED_CLOSED,
                     *[n for n in m.highlights if n.startswith("alarm ")]]:
            m.highlight(name, None)
        m.show_vehicles({})
        for layer, field in sorted(self._shown_values):   # every engine's values this run put on a layer
            if m.values.get(layer, (None,))[0] == field:
                m.clear_values(layer)
        self._shown_values.clear()

    # ------------------------------------------------------------------ time
    def _on_time(self, t: float) -> None:
        self.go_to(t)

    def cost(self, t: float) -> float:
        """Clock time the session must run through to reach ``t`` (back: from the start)."""
        s = self.session
        t = max(s.start, min(float(t), s.end))
        return t - s.now if t >= s.now else t - s.start

    def go_to(self, t: float) -> None:
        """Bring the session to clock time ``t`` and show it (through :attr:`far` when that is far)."""
        if self.busy:
            return
        s = self.session
        t = max(s.start, min(float(t), s.end))
        if t == s.now:
            return
        if self.far is not None and self.cost(t) > self.far_s:
            self.far(t)
            return
        self.run_to(t)
        self.catch_up()

    def run_to(self, t: float, progress=None) -> float:
        """Step the session to clock time ``t`` (back: re-run from the start), recording as it goes.

        Shows nothing and emits nothing, so it may run on a worker thread;
        ``progress(done, total, text)`` is called before a frame (at most every
        :data:`PROGRESS_EVERY_S` of wall time) and may raise to stop there.  Returns the session's time.
        """
        s = self.session
        t = max(s.start, min(float(t), s.end))
        if t < s.now:
            if self.rebuild is not None:
                s = self.session = self.rebuild()
            else:
                s = self.session = s.seek(s.start)
            self._new_history()
            self._seen = 0
            self._applied = 0
            self._rewound = True
        total = max(1, math.ceil((t - s.now) / s.step_s))
        done = 0
        told = -math.inf
        while True:
            self._apply_inputs()
            if s.now >= t:
                break
            if progress is not None and time.monotonic() - told >= PROGRESS_EVERY_S:
                progress(done, total, f"{_hhmm(s.now)} of {_hhmm(t)}")
                told = time.monotonic()
            nxt = min(s.now + s.step_s, t)
            if self._applied < len(self.inputs):
                nxt = min(nxt, max(self.inputs[self._applied]["time"], s.now))
            s.advance_to(nxt)
            self._record()
            done += 1
        return s.now

    def catch_up(self) -> None:
        """Hand on what the session logged since last time and show its state (on the view model's thread)."""
        if self._rewound:
            self._rewound = False
            self.alarms, self.incidents = AlarmBoard(), IncidentBoard()
            self.rewound.emit()
        log = self.session.log.events
        fresh = log[self._seen:]
        self._seen = len(log)
        self.alarms.feed(fresh)
        self.incidents.feed(fresh)
        if fresh:
            self.events_arrived.emit(list(fresh))
        self.show_state()
        self.shown.emit(self.session.now)

    @property
    def events(self) -> list:
        """Every event logged so far, in time order."""
        return list(self.session.log.events)

    # ------------------------------------------------------------------ the operator
    def acknowledge(self, who: str, alarm_kind: str | None = None, *, by: str = OPERATOR):
        """Acknowledge the active alarm(s) of sensor (or drone) ``who`` at the session's time.

        Publishes ``alarm_acknowledged`` (source ``by``), kept as an input of
        the run, and shows it.  Raises ValueError when no such alarm is active.
        """
        if self.busy:
            raise RuntimeError("the session is running elsewhere; acknowledge once it is back")
        found = [a for a in self.alarms.active() if a.who == who and (alarm_kind is None or a.kind == alarm_kind)]
        if not found:
            raise ValueError(f"no active alarm of {who}" + (f" ({alarm_kind})" if alarm_kind else "")
                             + " to acknowledge")
        a = found[0]
        s = self.session
        data = {"sensor": who} if a.source != "airspace" else {"track": who}
        if alarm_kind is not None:
            data["alarm_kind"] = alarm_kind
        entry = {"time": s.now, "source": by, "layer": a.layer, "feature": a.feature, "level": a.level,
                 "message": f"{a.level} alarm of {who} ({a.kind}) acknowledged by the {by}", "data": data}
        self._apply_inputs()
        self.inputs.insert(self._applied, entry)   # every input up to now is applied; the rest come later
        self._publish(entry)
        self._applied += 1
        self.catch_up()
        return self.session.log.events[-1]

    def _publish(self, entry: dict) -> None:
        log = self.session.log
        event = log.make(entry["time"], "alarm_acknowledged", entry["source"], entry["layer"], entry["feature"],
                         None, entry["message"], level=entry["level"], **entry["data"])
        log.deliver(event)
        log.record([event])

    def _apply_inputs(self) -> None:
        now = self.session.now
        while self._applied < len(self.inputs) and self.inputs[self._applied]["time"] <= now:
            self._publish(self.inputs[self._applied])
            self._applied += 1

    # ------------------------------------------------------------------ what the run produced
    def _new_history(self) -> None:
        self._readings: dict[str, list[tuple[float, float]]] = {}
        self._readings_seen: dict[int, tuple[int, int]] = {}
        water = getattr(self.session, "water", None)
        solver = getattr(water, "solver", None)
        if solver is None:
            self.history = None
            return
        full = solver.node_count + solver.link_count <= FULL_HISTORY
        nodes, links = [], []
        if not full:
            for s in self._water_sensors():
                (links if s.sensor_type == "flow" else nodes).append(
                    solver.link_index[s.feature_id] if s.sensor_type == "flow" else solver.node_index[s.feature_id])
        self.history = History(solver.node_count, solver.link_count, full=full, nodes=nodes, links=links)

    def _record(self) -> None:
        water = getattr(self.session, "water", None)
        if self.history is None or water is None or water.pressure is None:
            return
        steps = getattr(water, "steps", None) or [(self.session.now, water.pressure, water.flow)]
        for t, p, q in steps:
            self.history.record(t, p, q)

    def _water_sensors(self) -> list:
        return [s for e in self.session.engines if type(e).__name__ == "VirtualSensors" for s in e.sensors]

    def watch(self, layer: str, feature: str) -> None:
        """Record ``feature`` from now on too (every feature is recorded on a small network)."""
        water = getattr(self.session, "water", None)
        if self.history is None or self.history.full or water is None:
            return
        solver = water.solver
        if layer in NODE_LAYERS and feature in solver.node_index:
            self.history.watch_node(solver.node_index[feature])
        elif layer == "water_pipes" and feature in solver.link_index:
            self.history.watch_link(solver.link_index[feature])

    def readings(self, sensor: str) -> pd.Series:
        """The readings of ``sensor`` the session's sensor engines produced so far, by clock time."""
        for e in self.session.engines:
            got = getattr(e, "readings", None)
            if not isinstance(got, list):
                continue
            seen_id, seen = self._readings_seen.get(id(e), (id(got), 0))
            if seen_id != id(got):   # the engine started again
                self._readings.clear()
                seen = 0
            n = len(got)
            for who, t, v in got[seen:n]:
                self._readings.setdefault(who, []).append((t, v))
            self._readings_seen[id(e)] = (id(got), n)
        pairs = sorted(self._readings.get(str(sensor), ()))
        return pd.Series([v for _, v in pairs], index=[t for t, _ in pairs], dtype=float, name=str(sensor))

    def traces(self, layer: str | None, feature: str | None) -> list[Trace]:
        """What to plot for one feature: its modelled values, and the readings of the sensors on it."""
        if layer is None or feature is None:
            return []
        water = getattr(self.session, "water", None)
        twin_sensors = self.session.twin.layers.get("sensors")
        out: list[Trace] = []
        if layer == "sensors":
            if twin_sensors is None or not len(twin_sensors):
                return []
            row = twin_sensors[twin_sensors["id"].astype(str) == str(feature)]
            if not len(row):
                return []
            row = row.iloc[0]
            stype = str(row["sensor_type"])
            quantity, unit = SENSOR_QUANTITY.get(stype, (stype, str(row.get("unit", ""))))
            modelled = self._modelled(str(row.get("layer")), str(row.get("feature_id")), quantity)
            if modelled is not None:
                out.append(modelled)
            r = self.readings(str(feature))
            out.append(Trace(f"{feature} readings", quantity, str(row.get("unit", "") or unit), True,
                             r.index.to_numpy(float), r.to_numpy(float)))
            return out
        quantity = NODE_LAYERS.get(layer, "flow" if layer == "water_pipes" else None)
        if quantity is None or water is None:
            return []
        modelled = self._modelled(layer, str(feature), quantity)
        if modelled is not None:
            out.append(modelled)
        if twin_sensors is not None and len(twin_sensors):
            on = twin_sensors[(twin_sensors["layer"].astype(str) == layer)
                              & (twin_sensors["feature_id"].astype(str) == str(feature))]
            for sid, stype, unit in zip(on["id"].astype(str), on["sensor_type"].astype(str), on["unit"].astype(str)):
                if SENSOR_QUANTITY.get(stype, (None,))[0] == quantity:
                    r = self.readings(sid)
                    out.append(Trace(f"{sid} readings", quantity, unit, True, r.index.to_numpy(float),
                                     r.to_numpy(float)))
        return out

    def _modelled(self, layer: str, feature: str, quantity: str) -> Trace | None:
        water = getattr(self.session, "water", None)
        if self.history is None or water is None:
            return None
        solver = water.solver
        if quantity == "flow":
            if feature not in solver.link_index:
                return None
            t, q = self.history.link(solver.link_index[feature])
            return Trace(f"{feature} flow (model)", "flow", "m³/h", False, t, np.abs(q) * 3600.0)
        if feature not in solver.node_index:
            return None
        t, p = self.history.node(solver.node_index[feature])
        return Trace(f"{feature} {quantity} (model)", quantity, "m", False, t, p)

    # ------------------------------------------------------------------ state
    def show_state(self) -> None:
        m, s = self.model, self.session
        state = s.state
        for v in layer_values(s):   # every engine's results on the layers (simulation/session/values.py)
            if v.layer in m.layers:
                m.show_values(v.layer, v.field, v.values, unit=v.unit, cmap=v.cmap, clim=v.clim)
                self._shown_values.add((v.layer, v.field))
        self._highlight(WITHOUT_WATER, "water_junctions", state.get("junctions_without_service", ()), "#7b3294")
        self._highlight(BROKEN, "water_pipes", state.get("breaks", {}).keys(), RISK_COLOURS["red"])
        self._highlight(CLOSED, "water_pipes", state.get("links_closed", ()), "#111111")
        units = state.get("units") or {}
        m.show_vehicles({name: {"unit_type": name.split("/")[-1].rsplit("-", 1)[0], "status": str(u.get("status")),
                                "x": float(u.get("x", 0.0)), "y": float(u.get("y", 0.0)),
                                "incident": u.get("incident")} for name, u in units.items()})
        flooded = state.get("road_speed_factor") or {}
        self._highlight(FLOODED, "roads", [r for r, f in flooded.items() if f > 0], "#6baed6")
        self._highlight(FLOODED_CLOSED, "roads", [r for r, f in flooded.items() if f <= 0], "#08306b")
        by_level: dict[tuple[str, str], list[str]] = {}
        for (layer, feature), level in self.alarms.levels().items():
            by_level.setdefault((layer, level), []).append(feature)
        self._alarm_layers |= {"sensors"} | {layer for layer, _ in by_level}
        for layer in sorted(self._alarm_layers):
            for level in RISK_LEVELS:
                name = ALARM.format(level) if layer == "sensors" else f"{ALARM.format(level)} ({layer})"
                self._highlight(name, layer, by_level.get((layer, level), ()), RISK_COLOURS[level])

    def _highlight(self, name: str, layer: str, ids, colour: str) -> None:
        m = self.model
        if layer not in m.layers:
            return
        ids = sorted(str(i) for i in ids)
        current = m.highlights.get(name)
        if (current.ids if current else ()) == tuple(ids):
            return
        m.highlight(name, layer, ids, colour)


def _hhmm(t: float) -> str:
    from simulation.clock import iso

    return iso(t)[11:16]
