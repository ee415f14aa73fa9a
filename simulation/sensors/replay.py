"""Replaying recorded readings on the one clock: values at any clock time, alarms as they fire.

:class:`SensorTimeline` holds a time range of readings in memory, one sorted
array pair per sensor, and answers "what did sensor S read at time t":
interpolated linearly for continuous quantities (pressure, flow, level...),
last value for concentrations and states (methane, smoke...), per
:attr:`Sensor.interpolated`.  Interpolation never bridges a gap longer than
three sampling periods: inside such a gap the last value holds.  Before a
sensor's first reading the value is NaN.

:class:`Replay` subscribes a timeline to a :class:`simulation.clock.Clock`: on
every frame it feeds the readings between the previous frame and now to the
:class:`AlarmEngine` (so at x10,000 nothing is skipped however far one frame
jumps), checks for missing data, and on a backward seek restarts the alarm
state from the beginning of the range.  :meth:`Replay.of_recording` sets up a
whole replay of a store's time range (timeline, methane-aware alarm engine,
clock), as ``lifeline-twin sensors replay`` and the drill day run it.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from simulation.clock import Clock, ManualTimeSource, to_seconds
from simulation.sensors.alarms import AlarmEngine
from simulation.sensors.methane import MethaneContext
from simulation.sensors.registry import SensorRegistry
from simulation.sensors.store import ReadingStore


class SensorTimeline:
    """Readings of many sensors over a time range, for value-at-time look-ups."""

    def __init__(self, table: pa.Table, registry: SensorRegistry | None = None):
        self.registry = registry
        self.times: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}
        self.quality: dict[str, np.ndarray] = {}
        self.tracks: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # moving sensors: t, x, y
        if table.num_rows:
            ids = table.column("sensor_id").to_numpy(zero_copy_only=False)
            t = table.column("phenomenon_time").cast(pa.int64()).to_numpy() / 1000.0
            v = table.column("value").to_numpy()
            q = table.column("quality").to_numpy()
            # the store returns rows sorted by sensor then time; cut at sensor changes
            change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            starts = np.concatenate([[0], change])
            ends = np.concatenate([change, [len(ids)]])
            for a, b in zip(starts, ends):
                sid = str(ids[a])
                order = np.argsort(t[a:b], kind="stable")
                self.times[sid] = t[a:b][order]
                self.values[sid] = v[a:b][order]
                self.quality[sid] = q[a:b][order]

    @classmethod
    def load(cls, store: ReadingStore, t0=None, t1=None, sensors=None,
             registry: SensorRegistry | None = None) -> "SensorTimeline":
        """Readings (and the positions of moving sensors) with ``t0 <= time < t1``."""
        timeline = cls(store.query(t0, t1, sensors), registry)
        timeline.add_positions(store.positions(t0, t1, sensors))
        return timeline

    def add_positions(self, table: pa.Table) -> None:
        """Positions of moving sensors (the store's positions table), for :meth:`position_at`."""
        if not table.num_rows:
            return
        ids = table.column("sensor_id").to_numpy(zero_copy_only=False)
        t = table.column("time").cast(pa.int64()).to_numpy() / 1000.0
        x, y = table.column("x").to_numpy(), table.column("y").to_numpy()
        for sid in np.unique(ids):
            sel = ids == sid
            order = np.argsort(t[sel], kind="stable")
            self.tracks[str(sid)] = (t[sel][order], x[sel][order], y[sel][order])

    def position_at(self, sensor_id: str, when) -> tuple[float, float]:
        """Where a moving sensor was at ``when``: linear between GPS fixes; NaN outside its track.

        A sensor without a track sits still at its registry position.
        """
        t = to_seconds(when)
        if sensor_id not in self.tracks:
            s = self.registry.get(sensor_id) if self.registry is not None else None
            if s is None or s.x is None:
                raise KeyError(f"sensor {sensor_id!r} has no track and no position in the registry")
            return s.x, s.y
        ts, xs, ys = self.tracks[sensor_id]
        if t < ts[0] or t > ts[-1]:
            return float("nan"), float("nan")
        return float(np.interp(t, ts, xs)), float(np.interp(t, ts, ys))

    @property
    def sensor_ids(self) -> list[str]:
        return list(self.times)

    def without_readings(self, sensor_ids) -> list[str]:
        """Those of ``sensor_ids`` with no reading here, in the order given (a mistyped id reads as one)."""
        held = set(self.times)
        return [s for s in sensor_ids if s not in held]

    @property
    def span(self) -> tuple[float, float] | None:
        if not self.times:
            return None
        return min(t[0] for t in self.times.values()), max(t[-1] for t in self.times.values())

    def __len__(self) -> int:
        return sum(len(t) for t in self.times.values())

    def _interpolated(self, sensor_id: str) -> tuple[bool, float | None]:
        s = self.registry.get(sensor_id) if self.registry is not None else None
        if s is None:
            return False, None
        return s.interpolated, (3 * s.period_s if s.period_s else None)

    def value_at(self, sensor_id: str, when) -> float:
        """The sensor's value at clock time ``when``; NaN before its first reading."""
        if sensor_id not in self.times:
            raise KeyError(f"no readings of sensor {sensor_id!r} in this range")
        t = to_seconds(when)
        ts, vs = self.times[sensor_id], self.values[sensor_id]
        i = int(np.searchsorted(ts, t, side="right")) - 1
        if i < 0:
            return float("nan")
        interp, max_gap = self._interpolated(sensor_id)
        if not interp or i + 1 >= len(ts) or ts[i] == t:
            return float(vs[i])
        gap = ts[i + 1] - ts[i]
        if max_gap is not None and gap > max_gap:
            return float(vs[i])
        w = (t - ts[i]) / gap
        return float(vs[i] + w * (vs[i + 1] - vs[i]))

    def values_at(self, when) -> dict[str, float]:
        """Every sensor's value at ``when`` (see :meth:`value_at`)."""
        return {sid: self.value_at(sid, when) for sid in self.times}

    def between(self, sensor_id: str, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Readings with ``t0 < t <= t1``."""
        ts = self.times[sensor_id]
        a = int(np.searchsorted(ts, t0, side="right"))
        b = int(np.searchsorted(ts, t1, side="right"))
        return ts[a:b], self.values[sensor_id][a:b], self.quality[sensor_id][a:b]


class Replay:
    """Feeds a timeline to an alarm engine in step with a clock."""

    def __init__(self, timeline: SensorTimeline, engine: AlarmEngine, clock: Clock | None = None):
        self.timeline = timeline
        self.engine = engine
        self.clock = clock
        self.frames = 0
        self.readings_fed = 0
        span = timeline.span
        self._origin = (clock.start if clock is not None else (span[0] if span else 0.0)) - 1e-6
        self._last = self._origin
        self._cursor = {sid: 0 for sid in timeline.times}
        # per sensor: cumulative count of readings that might fire something, and constant-run starts
        self._hot: dict[str, np.ndarray] = {}
        self._run_start: dict[str, np.ndarray] = {}
        for sid, ts in timeline.times.items():
            calm = engine.calm(sid, ts, timeline.values[sid], timeline.quality[sid])
            if calm is not None:
                self._hot[sid] = np.concatenate([[0], np.cumsum(~calm[0])])
                self._run_start[sid] = calm[1]
        self._subscription = clock.subscribe(self.on_frame) if clock is not None else None

    @classmethod
    def of_recording(cls, store: ReadingStore, twin, registry: SensorRegistry, t0: float, t1: float, *,
                     sensors=None, speed: float = 1000.0, frame_rate: float = 30.0,
                     instant: bool = False) -> "Replay":
        """A replay of ``store``'s readings from ``t0`` to ``t1`` (clock seconds) on its own clock.

        Alarms come from an :class:`AlarmEngine` that tells gas-main leaks from
        biogas (:class:`MethaneContext`); subscribe to ``replay.engine`` before
        :meth:`run`.  ``instant`` runs the clock on a virtual time source: the
        same frames, without waiting in wall time.
        """
        timeline = SensorTimeline.load(store, t0, t1, sensors, registry)
        engine = AlarmEngine(registry, context=MethaneContext(twin, registry))
        source = ManualTimeSource() if instant else None
        return cls(timeline, engine, Clock(t0, end=t1, speed=speed, frame_rate=frame_rate, source=source))

    def run(self) -> int:
        """Run the clock to its end, at once when its time source is virtual; the number of frames."""
        source = self.clock.source
        return self.clock.run(sleep=source.advance if isinstance(source, ManualTimeSource) else time.sleep)

    def detach(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None

    def on_frame(self, clock_time: float) -> None:
        """Clock callback: bring alarms up to ``clock_time``."""
        self.frames += 1
        if clock_time < self._last:  # seek backwards: replay from the start of the range
            self.engine.reset()
            self._last = self._origin
            self._cursor = {sid: 0 for sid in self.timeline.times}
        self.advance_to(clock_time)

    def advance_to(self, t: float) -> None:
        """Feed every reading in (previous frame, ``t``]; publish the alarms in time order."""
        fired = []
        for sid, ts in self.timeline.times.items():
            a = self._cursor[sid]
            b = int(np.searchsorted(ts, t, side="right"))
            if b > a:
                hot = self._hot.get(sid)
                if hot is not None and hot[b] == hot[a] and self.engine.at_rest(sid):
                    # nothing in this stretch can fire: hand over only the state later readings need
                    window = self.engine.rate_window(sid)
                    w = b if window is None else int(np.searchsorted(ts, ts[b - 1] - window, side="left"))
                    self.engine.rest(sid, ts[b - 1], self.timeline.values[sid][b - 1], self._run_start[sid][b - 1],
                                     ts[w:b], self.timeline.values[sid][w:b])
                else:
                    fired.extend(self.engine.feed(sid, ts[a:b], self.timeline.values[sid][a:b],
                                                  self.timeline.quality[sid][a:b], publish=False))
                self._cursor[sid] = b
                self.readings_fed += b - a
        fired.extend(self.engine.check_missing(t, publish=False))
        fired.sort(key=lambda alarm: alarm.time)
        self.engine.publish(fired)
        self._last = t
