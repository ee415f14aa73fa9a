"""Virtual sensors: the twin's sensors on water features read the running hydraulics and feed the alarms.

Every sensor of the twin's ``sensors`` layer that sits on a water feature —
``pressure`` on ``water_junctions`` (m), ``flow`` on ``water_pipes`` (m³/h),
``level`` on ``water_tanks`` (m) — samples the session's
:class:`~simulation.session.water.WaterNetwork` every ``period_s`` (default
60 s) at the solution EPANET holds at that instant, with Gaussian noise:
pressure sd 0.05 m, flow sd 1 % of the value, level sd 0.005 m (of the order
of a good field transmitter's repeatability).  Readings go to the same
:class:`~simulation.sensors.alarms.AlarmEngine` as recorded files and live
MQTT, an instant at a time through a :class:`~simulation.sensors.alarms.SensorBank`
(the same alarms as one sensor after the other, the calm readings checked as
arrays); its alarms are published as ``alarm_raised`` / ``escalated`` /
``lowered`` / ``cleared`` events, and each frame's readings as one
``readings_arrived`` event (their count).
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

from simulation.sensors.alarms import AlarmEngine
from simulation.sensors.registry import SensorRegistry
from twin.schema import RISK_LEVELS

SOURCE = "sensors"
NOISE = {"pressure": ("abs", 0.05), "flow": ("rel", 0.01), "level": ("abs", 0.005)}
WATER_LAYERS = {"pressure": "water_junctions", "flow": "water_pipes", "level": "water_tanks"}
DEFAULT_PERIOD_S = 60.0


class VirtualSensors:
    """Sensors on water features, sampled from the running hydraulics."""

    name = SOURCE

    def __init__(self, twin, water, *, period_s: float | None = None):
        self.water = water
        self.registry = SensorRegistry.from_twin(twin)
        self.alarms = AlarmEngine(self.registry)
        self.period_override = period_s
        self.sensors = []
        for s in self.registry:
            layer = WATER_LAYERS.get(s.sensor_type)
            if layer is None or s.layer != layer or not s.feature_id:
                continue
            self.sensors.append(s)
        self._frames: list[tuple[float, np.ndarray | None, np.ndarray]] = []  # time, sensors (None: all), values
        self._readings: list[tuple[str, float, float]] = []  # the frames listed so far
        self._listed = 0

    def attach(self, session) -> None:
        self.session = session
        self.rng = session.child_rng(SOURCE)
        solver = self.water.solver
        known_nodes, known_links = set(solver.node_ids), set(solver.link_ids)
        self.sensors = [s for s in self.sensors
                        if (s.feature_id in known_links if s.sensor_type == "flow" else s.feature_id in known_nodes)]
        self.next_at = np.full(len(self.sensors), session.start)
        self.period = np.array([self._period(x) for x in self.sensors], dtype=float)
        self.is_flow = np.array([x.sensor_type == "flow" for x in self.sensors], dtype=bool)
        self.index = np.array([solver.link_index[x.feature_id] if x.sensor_type == "flow"
                               else solver.node_index[x.feature_id] for x in self.sensors], dtype=np.int64)
        kinds = [NOISE[x.sensor_type] for x in self.sensors]
        self.sd = np.array([sd for _, sd in kinds], dtype=float)
        self.relative = np.array([how == "rel" for how, _ in kinds], dtype=bool)
        self.ids = [x.id for x in self.sensors]
        self.bank = self.alarms.bank(self.ids)
        # every sensor due at once (the usual case): read without picking them out
        self._flow_at, self._node_at = np.flatnonzero(self.is_flow), np.flatnonzero(~self.is_flow)
        self._flow_links, self._nodes = self.index[self.is_flow], self.index[~self.is_flow]
        self._in_force: dict[str, dict[str, str]] = {}   # sensor -> alarm kind -> level
        self.alarms.subscribe(self._on_alarm)

    @property
    def readings(self) -> list[tuple[str, float, float]]:
        """Every reading taken so far: (sensor id, clock time, value), in the order they were taken."""
        listed = self._readings
        for at, due, values in self._frames[self._listed:]:
            names = self.ids if due is None else [self.ids[k] for k in due.tolist()]
            listed.extend(zip(names, repeat(at), values.tolist()))
        self._listed = len(self._frames)
        return listed

    def _period(self, sensor) -> float:
        return float(self.period_override or sensor.period_s or DEFAULT_PERIOD_S)

    def advance_to(self, t: float) -> None:
        """Sample every sensor due up to ``t`` (one vector read per solution time) and feed the alarms."""
        count = 0
        while len(self.next_at) and self.next_at.min() <= t:
            at = float(self.next_at.min())
            due = np.flatnonzero(self.next_at == at)
            which = None if len(due) == len(self.next_at) else due
            values = self._read(which, at)
            self._frames.append((at, which, values))
            self.bank.feed(at, values, which)
            self.next_at[due] += self.period[due]
            count += len(due)
        if count:
            self.session.publish(t, "readings_arrived", SOURCE, "sensors", None, count,
                                 f"{count} virtual reading(s)")

    def _read(self, due: np.ndarray | None, at: float) -> np.ndarray:
        """Values of the sensors ``due`` (None: all) at clock time ``at``: the solution EPANET holds then, plus noise.

        Pressure sensors read the junction's pressure (m); level sensors a tank's pressure, which is its
        water depth (m); flow sensors the pipe's flow in m³/h, unsigned.
        """
        _, p, q = self.water._at(at)
        if due is None:
            true = np.empty(len(self.index))
            true[self._flow_at] = np.abs(q[self._flow_links]) * 3600.0
            true[self._node_at] = p[self._nodes]
            scale = np.where(self.relative, np.abs(true), 1.0) * self.sd
            return true + self.rng.normal(0.0, 1.0, len(true)) * scale
        idx = self.index[due]
        flow = self.is_flow[due]
        true = np.where(flow, np.abs(q[np.where(flow, idx, 0)]) * 3600.0, p[np.where(flow, 0, idx)])
        scale = np.where(self.relative[due], np.abs(true), 1.0) * self.sd[due]
        return true + self.rng.normal(0.0, 1.0, len(due)) * scale

    def _on_alarm(self, alarm) -> None:
        kind = f"alarm_{alarm.state}"
        # a sensor may have several alarms in force (a sudden fall and a low pressure): it stands at the
        # most severe of them, and leaves the list only when the last clears
        mine = self._in_force.setdefault(alarm.sensor_id, {})
        if alarm.active:
            mine[alarm.kind] = alarm.level
        else:
            mine.pop(alarm.kind, None)
        state = self.session.state["alarms"]
        if mine:
            state[alarm.sensor_id] = max(mine.values(), key=RISK_LEVELS[::-1].index)
        else:
            state.pop(alarm.sensor_id, None)
        self.session.publish(alarm.time, kind, SOURCE, alarm.layer, alarm.feature_id, alarm.value, alarm.message,
                             sensor=alarm.sensor_id, level=alarm.level, alarm_kind=alarm.kind,
                             sensor_type=alarm.sensor_type, x=alarm.x, y=alarm.y, context=alarm.context,
                             reason=alarm.reason)
