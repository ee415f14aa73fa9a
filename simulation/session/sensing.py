"""Virtual sensors: the twin's sensors on water features read the running hydraulics and feed the alarms.

Every sensor of the twin's ``sensors`` layer that sits on a water feature —
``pressure`` on ``water_junctions`` (m), ``flow`` on ``water_pipes`` (m³/h),
``level`` on ``water_tanks`` (m) — samples the session's
:class:`~simulation.session.water.WaterNetwork` every ``period_s`` (default
60 s) at the solution EPANET holds at that instant, with Gaussian noise:
pressure sd 0.05 m, flow sd 1 % of the value, level sd 0.005 m (of the order
of a good field transmitter's repeatability).  Readings go to the same
:class:`~simulation.sensors.alarms.AlarmEngine` as recorded files and live
MQTT; its alarms are published as ``alarm_raised`` / ``escalated`` /
``lowered`` / ``cleared`` events, and each frame's readings as one
``readings_arrived`` event (their count).
"""

from __future__ import annotations

import numpy as np

from simulation.sensors.alarms import AlarmEngine
from simulation.sensors.registry import SensorRegistry

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
        self.readings: list[tuple[str, float, float]] = []  # sensor, clock time, value

    def attach(self, session) -> None:
        self.session = session
        self.rng = session.child_rng(SOURCE)
        solver = self.water.solver
        known_nodes, known_links = set(solver.node_ids), set(solver.link_ids)
        self.sensors = [s for s in self.sensors
                        if (s.feature_id in known_links if s.sensor_type == "flow" else s.feature_id in known_nodes)]
        self.next_at = {s.id: session.start for s in self.sensors}
        self.alarms.subscribe(self._on_alarm)

    def _period(self, sensor) -> float:
        return float(self.period_override or sensor.period_s or DEFAULT_PERIOD_S)

    def advance_to(self, t: float) -> None:
        count = 0
        for s in self.sensors:
            times, values = [], []
            while self.next_at[s.id] <= t:
                at = self.next_at[s.id]
                values.append(self._read(s, at))
                times.append(at)
                self.next_at[s.id] = at + self._period(s)
            if times:
                count += len(times)
                self.readings.extend((s.id, a, v) for a, v in zip(times, values))
                self.alarms.feed(s.id, np.asarray(times), np.asarray(values))
        if count:
            self.session.publish(t, "readings_arrived", SOURCE, "sensors", None, count,
                                 f"{count} virtual reading(s)")

    def _read(self, sensor, at: float) -> float:
        if sensor.sensor_type == "flow":
            true = abs(self.water.link_flow(sensor.feature_id, at)) * 3600.0
        elif sensor.sensor_type == "level":
            w = self.water
            true = w.node_value(sensor.feature_id, at) * 1.0  # a tank's pressure is its water depth, m
        else:
            true = self.water.node_value(sensor.feature_id, at)
        how, sd = NOISE[sensor.sensor_type]
        noise = self.rng.normal(0.0, sd * (abs(true) if how == "rel" else 1.0))
        return float(true + noise)

    def _on_alarm(self, alarm) -> None:
        kind = f"alarm_{alarm.state}"
        state = self.session.state["alarms"]
        if alarm.active:
            state[alarm.sensor_id] = alarm.level
        else:
            state.pop(alarm.sensor_id, None)
        self.session.publish(alarm.time, kind, SOURCE, alarm.layer, alarm.feature_id, alarm.value, alarm.message,
                             sensor=alarm.sensor_id, level=alarm.level, alarm_kind=alarm.kind,
                             sensor_type=alarm.sensor_type, x=alarm.x, y=alarm.y, context=alarm.context,
                             reason=alarm.reason)
