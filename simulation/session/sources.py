"""Scripted sources on the session clock: smoke in a building, methane from a gas leak or a septic tank.

:class:`Sources` is an engine of the :class:`~simulation.session.Session`,
attached after the virtual sensors and before the emergency response.  It
samples the twin's sensors a scripted source can reach, from the start of the
run (so every such sensor has a calm baseline before the event), and feeds the
readings to the **same** :class:`~simulation.sensors.alarms.AlarmEngine` as
:class:`~simulation.session.sensing.VirtualSensors` (its ``alarms``): the
alarms reach the event stream exactly as the hydraulic sensors' do
(``alarm_raised`` / ``escalated`` / ``lowered`` / ``cleared``), and each
frame's readings are one ``readings_arrived`` event.

Source models
-------------

**Smoke** (:class:`SmokeSource`, sensors of type ``smoke`` on the building,
%obs/m).  Obscuration at the ceiling detector rises linearly from 0 to
``peak`` (default 6 %obs/m) over ``ramp_s`` (default 120 s), holds while the
fire burns (``duration_s``, default 30 min) and falls linearly back to 0 over
``ramp_s``.  A linear rise is the simplest shape consistent with the fire
tests of EN 54-7 / EN 54-9 (TF2-TF5), whose smoke reaches the 2-4 %obs/m a
point detector answers to within one to a few minutes of ignition; 6 %obs/m
is a dense smoke layer, past the red fire-alarm threshold (4 %obs/m) of the
alarm rules.  Noise: Gaussian, sd 0.02 %obs/m, reading clipped at 0.

**Methane** (:class:`GasLeak`, sensors of type ``methane`` within
``reach_m`` (default 100 m) of the leak point, %LEL).  The leak is a
continuous point source of ``flow_lps`` (L/s of methane) switched on at
``start`` in an effectively infinite porous medium; the volume fraction at
distance r and time t is the textbook solution (Carslaw & Jaeger, *Conduction
of Heat in Solids*, 2nd ed. 1959, §10.4; Crank, *The Mathematics of
Diffusion*, 2nd ed. 1975, ch. 3)::

    c(r, t) = Q / (4 π D r) · erfc(r / (2 √(D t)))

with ``D`` the effective dispersion coefficient ``dispersion_m2s`` (default
0.02 m²/s).  Molecular diffusion alone (methane in air 2.1e-5 m²/s, less in
soil) would take days to carry gas a few metres; near a leaking main the gas
is pushed along trench backfill, ducts and wells by the leak's own pressure,
so ``D`` lumps that advection in.  It is a scenario choice, not a measured
value: calibrate it from a tracer test where the city has one.  When the
leak is stopped at ``stop`` (the gas crew shuts the main off, or ventilates
the tank), a sink of the same strength is superposed from ``stop`` on, so
the gas already in the ground keeps spreading and fades.  Readings are
``100 · c / 0.044`` %LEL (methane's LEL, 4.4 % by volume, IEC 60079-20-1),
with r at least 0.5 m (a sensor in the tank or the well over the leak),
Gaussian noise of sd 0.5 %LEL and clipped to the 0-100 %LEL range of a
catalytic or infrared LEL detector.  With the defaults (50 L/s, a partial
break of a medium-pressure main) a sensor 3.4 m from the leak reads 25 %LEL
after about 3 min, 50 %LEL after about 6 min and 75 %LEL after about 15 min.

The leak publishes ``leak_started`` (value: L/s) at its start and
``leak_stopped`` (value: m³ of methane released) when a ``valve_closed`` or
``repair_done`` event names its feature; its state is kept in
``session.state["gas_leaks"]`` (``layer/feature`` -> position, active) for
the crews to find it.  Attach a :class:`~simulation.sensors.methane.MethaneContext`
to the alarm engine (``alarms.context``) and every methane alarm carries its
gas-main-vs-biogas attribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

from twin.errors import SourceError

SOURCE = "sources"
METHANE_LEL_VOL = 0.044   # IEC 60079-20-1
MIN_DISTANCE_M = 0.5
SMOKE_NOISE_SD = 0.02     # %obs/m
METHANE_NOISE_SD = 0.5    # %LEL
DEFAULT_PERIOD_S = 60.0


@dataclass
class SmokeSource:
    """Smoke in ``building`` from clock time ``start``."""

    building: str
    start: float
    peak: float = 6.0
    ramp_s: float = 120.0
    duration_s: float = 1800.0

    def obscuration(self, t: float) -> float:
        """%obs/m at the building's detectors at clock time ``t`` (no noise)."""
        dt = t - self.start
        if dt <= 0:
            return 0.0
        if dt < self.ramp_s:
            return self.peak * dt / self.ramp_s
        out = dt - self.ramp_s - self.duration_s
        if out <= 0:
            return self.peak
        return max(0.0, self.peak * (1.0 - out / self.ramp_s))


@dataclass
class GasLeak:
    """A continuous methane source at ``xy`` (on ``layer/feature``) from ``start`` until stopped."""

    layer: str
    feature: str
    xy: tuple
    start: float
    flow_lps: float = 50.0
    dispersion_m2s: float = 0.02
    stop: float | None = None

    def _one(self, r: float, dt: float) -> float:
        if dt <= 0:
            return 0.0
        q = self.flow_lps / 1000.0
        d = self.dispersion_m2s
        return q / (4.0 * math.pi * d * r) * float(erfc(r / (2.0 * math.sqrt(d * dt))))

    def volume_fraction(self, r: float, t: float) -> float:
        """Methane volume fraction at ``r`` m from the leak at clock time ``t`` (no noise)."""
        r = max(float(r), MIN_DISTANCE_M)
        c = self._one(r, t - self.start)
        if self.stop is not None:
            c -= self._one(r, t - self.stop)
        return max(0.0, c)

    def lel(self, r: float, t: float) -> float:
        """%LEL at ``r`` m at clock time ``t`` (may exceed 100: the detector clips)."""
        return 100.0 * self.volume_fraction(r, t) / METHANE_LEL_VOL

    def volume_m3(self, until: float) -> float:
        end = until if self.stop is None else min(until, self.stop)
        return max(0.0, end - self.start) * self.flow_lps / 1000.0


def leak_point(twin, near: str, along: float = 0.5) -> tuple[str, tuple[float, float]]:
    """(layer, (x, y)) of a leak on gas main ``near`` (at ``along`` of its length) or in septic tank ``near``."""
    for layer in ("gas_mains", "septic_tanks"):
        frame = twin[layer]
        if not len(frame):
            continue
        hit = frame[frame["id"].astype(str) == str(near)]
        if len(hit):
            geom = hit.geometry.iloc[0]
            if layer == "gas_mains":
                p = geom.interpolate(float(along), normalized=True)
            else:
                p = geom.representative_point() if geom.geom_type != "Point" else geom
            return layer, (float(p.x), float(p.y))
    raise SourceError(f"gas leak near {near!r}: no gas main or septic tank of that id in the twin")


class Sources:
    """Scripted smoke and methane sources feeding the session's alarm engine."""

    name = SOURCE

    def __init__(self, twin, alarms, *, smoke=(), leaks=(), reach_m: float = 100.0):
        self.twin = twin
        self.alarms = alarms
        self.registry = alarms.registry
        self.smoke = list(smoke)
        self.leaks = list(leaks)
        self.reach_m = float(reach_m)
        self.sensors = []            # (sensor, kind, source index, distance m), one entry per source it sees
        smoke_by_building: dict[str, list] = {}
        for s in self.registry:
            if s.sensor_type == "smoke" and s.layer == "buildings" and s.feature_id:
                smoke_by_building.setdefault(s.feature_id, []).append(s)
        for k, src in enumerate(self.smoke):
            found = smoke_by_building.get(src.building)
            if not found:
                some = ", ".join(sorted(smoke_by_building)[:8])
                raise SourceError(f"smoke in building {src.building!r}: no smoke sensor sits on it "
                                  f"(buildings with one: {some}{', ...' if len(smoke_by_building) > 8 else ''})")
            self.sensors.extend((s, "smoke", k, 0.0) for s in found)
        methane = [s for s in self.registry if s.sensor_type == "methane" and s.x is not None]
        for k, leak in enumerate(self.leaks):
            near = []
            for s in methane:
                d = float(np.hypot(s.x - leak.xy[0], s.y - leak.xy[1]))
                if s.layer == leak.layer and s.feature_id == leak.feature:
                    d = 0.0  # the sensor in the leaking tank
                if d <= self.reach_m:
                    near.append((s, "methane", k, d))
            if not near:
                raise SourceError(f"gas leak at {leak.layer}/{leak.feature}: no methane sensor within "
                                  f"{self.reach_m:g} m, no alarm could ever be raised")
            self.sensors.extend(near)
        self.readings: list[tuple[str, float, float]] = []   # sensor, clock time, value

    def attach(self, session) -> None:
        self.session = session
        self.rng = session.child_rng(SOURCE)
        self.next_at = {s.id: session.start for s, *_ in self.sensors}
        self.by_sensor: dict[str, tuple] = {}   # sensor id -> (sensor, [(kind, source, distance)])
        for s, kind, k, d in self.sensors:
            self.by_sensor.setdefault(s.id, (s, []))[1].append((kind, k, d))
        self.announced = [False] * len(self.leaks)
        state = session.state.setdefault("gas_leaks", {})
        for leak in self.leaks:
            state[f"{leak.layer}/{leak.feature}"] = {"layer": leak.layer, "feature": leak.feature,
                                                     "x": leak.xy[0], "y": leak.xy[1], "active": False}
        session.subscribe(self._on_event, kinds=("valve_closed", "repair_done"))

    # ---------------------------------------------------------------- events from other engines
    def _on_event(self, event) -> None:
        for leak in self.leaks:
            if leak.layer == event.layer and leak.feature == event.feature and leak.stop is None \
                    and event.time >= leak.start:
                leak.stop = float(event.time)
                volume = leak.volume_m3(leak.stop)
                self.session.state["gas_leaks"][f"{leak.layer}/{leak.feature}"]["active"] = False
                what = "gas main" if leak.layer == "gas_mains" else "septic tank"
                self.session.publish(leak.stop, "leak_stopped", SOURCE, leak.layer, leak.feature, volume,
                                     f"methane from {what} {leak.feature} stopped: {volume:.1f} m³ released",
                                     gas="methane", by=event.kind)

    # ---------------------------------------------------------------- time
    def _true(self, kind: str, k: int, distance: float, at: float) -> float:
        if kind == "smoke":
            return self.smoke[k].obscuration(at)
        return self.leaks[k].lel(distance, at)

    def advance_to(self, t: float) -> None:
        session = self.session
        for k, leak in enumerate(self.leaks):
            if not self.announced[k] and leak.start <= t:
                self.announced[k] = True
                session.state["gas_leaks"][f"{leak.layer}/{leak.feature}"]["active"] = leak.stop is None
                what = "gas main" if leak.layer == "gas_mains" else "septic tank"
                session.publish(leak.start, "leak_started", SOURCE, leak.layer, leak.feature, leak.flow_lps,
                                f"methane leak of {leak.flow_lps:g} L/s from {what} {leak.feature}",
                                gas="methane", x=round(leak.xy[0], 2), y=round(leak.xy[1], 2))
        count = 0
        for s, seen in self.by_sensor.values():
            kind = seen[0][0]
            period = float(s.period_s or DEFAULT_PERIOD_S)
            times, values = [], []
            while self.next_at[s.id] <= t:
                at = self.next_at[s.id]
                true = sum(self._true(kd, k, distance, at) for kd, k, distance in seen)
                if kind == "smoke":
                    v = max(0.0, true + self.rng.normal(0.0, SMOKE_NOISE_SD))
                else:
                    v = min(100.0, max(0.0, true + self.rng.normal(0.0, METHANE_NOISE_SD)))
                times.append(at)
                values.append(v)
                self.next_at[s.id] = at + period
            if times:
                count += len(times)
                self.readings.extend((s.id, a, v) for a, v in zip(times, values))
                self.alarms.feed(s.id, np.asarray(times), np.asarray(values))
        if count:
            session.publish(t, "readings_arrived", SOURCE, "sensors", None, count,
                            f"{count} reading(s) of scripted smoke / methane sources")
