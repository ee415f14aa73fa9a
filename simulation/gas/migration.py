"""Methane from a gas leak into the wells, septic tanks and utility tunnels around it, read by their sensors.

:class:`Migration` is an engine of the session (``name = "gas_migration"``),
attached **after** :class:`~simulation.gas.engine.GasNetwork` and before the
emergency response.  It reads the leaks from the session's runtime state
(``session.state["gas_leaks"]``: each leak's position and its ``flow`` at
every solve, which the gas network engine keeps there), not from the gas
engine.  It samples every methane
sensor (``%LEL``) that sits in a manhole, a septic tank or a utility tunnel
within ``reach_m`` of a leak, from the start of the run, and feeds the
readings to the **same** :class:`~simulation.sensors.alarms.AlarmEngine` as
the virtual sensors (one ``readings_arrived`` event per frame); the alarm
engine raises yellow / orange / red after GB/T 50493-2019 (25 % and 50 %LEL)
with the gas-vs-biogas attribution of a
:class:`~simulation.sensors.methane.MethaneContext` (set on the alarm engine
if it has none).

The model (``docs/gas.md`` gives the citations), in three steps:

1. **Soil**: the gas spreads from the leak as from a point source in a porous
   medium of air-filled porosity φ (0.30) with an effective dispersion
   coefficient D.  D is the soil's *pneumatic diffusivity* k·pa/(φ·μ)
   (Massmann 1989; Baehr & Hult 1991): how fast a pressure disturbance — here
   the leak's own overpressure, which pushes the gas — spreads through soil of
   intrinsic permeability k (:data:`SOIL_PERMEABILITY_M2`, representative
   values of Bear 1972 / Freeze & Cherry 1979 per soil class), never less
   than methane's molecular diffusion in that soil (Millington & Quirk 1961).
   The soil gas at distance r and time t, for a leak whose flow q (m³/s) is a
   step function of time q_k from t_k (the gas engine's steady states), is
   the superposition (Duhamel) of the continuous point source solution
   (Carslaw & Jaeger 1959, §10.4)::

       c(r, t) = Σ_k (q_k - q_(k-1)) / (4 π φ D r) · erfc(r / (2 √(D (t - t_k))))

   so a leak shut off keeps spreading what is already in the ground, and it
   fades.  r is the horizontal distance (wells and tanks reach the depth of
   the mains), at least 0.5 m.
2. **Entry**: a space of volume V exchanges with the soil gas at its wall as a
   sphere of the same volume (radius a = (3V/4π)^(1/3)) in an infinite medium
   does at steady state (Crank 1975, ch. 6): 4π a φ D (c - C) m³/s of methane.
3. **Ventilation**: the space's air is changed ``ach`` times an hour
   (:data:`AIR_CHANGES_PER_HOUR`), a first-order removal.  So the space's
   volume fraction C obeys ``V dC/dt = 4π a φ D (c(r,t) - C) - ach/3600 · V · C``,
   integrated exactly over 5 s sub-steps (c held at each sub-step's middle).

Spaces: a manhole is a round well of 1.0 m inner diameter down to its
``depth`` (default 2 m); a septic tank's air space is a quarter of its
``volume_m3`` (default 3.8 m³); a utility tunnel sensor watches its
compartment, the 200 m of tunnel centred on it (GB 50838-2015 §7.1: fire
compartments of at most 200 m), of the tunnel's width × height, and r is the
distance from the leak to that stretch.  A reading is ``100 · C / 0.044``
%LEL (methane's LEL, 4.4 % by volume, IEC 60079-20-1), with Gaussian noise of
sd 0.5 %LEL, clipped to the detector's 0-100 %LEL, as the scripted sources'.
Natural gas is taken as methane (it is 90-98 % methane; its LEL, about
4.5-5 %, is near methane's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.ops

SOURCE = "gas_migration"
METHANE_LEL_VOL = 0.044            # IEC 60079-20-1
MIN_DISTANCE_M = 0.5
NOISE_SD = 0.5                     # %LEL
DEFAULT_PERIOD_S = 60.0
SUBSTEP_S = 5.0
AIR_FILLED_POROSITY = 0.30
P_ATM = 101325.0                   # Pa
METHANE_VISCOSITY = 1.1e-5         # Pa·s near 10 °C
METHANE_IN_AIR_M2S = 2.1e-5        # molecular diffusion coefficient of methane in air, m²/s
#: intrinsic permeability of each soil class, m² (representative values: Bear 1972 Table 5.5.1,
#: Freeze & Cherry 1979 Table 2.2); "silty_sand" is a city's compacted trench backfill
SOIL_PERMEABILITY_M2 = {"gravel": 1e-9, "sand": 1e-11, "silty_sand": 1e-12, "silt": 1e-13, "clay": 1e-15}
#: air changes per hour of each kind of space: a utility tunnel compartment without gas pipes, 2
#: (GB 50838-2015 §7.2.2: normal ventilation of at least 2 per hour; a gas compartment 6); a closed well
#: or septic tank, 0.5 (assumed: natural leakage through the lid and the vent)
AIR_CHANGES_PER_HOUR = {"manholes": 0.5, "septic_tanks": 0.5, "utility_tunnels": 2.0}
WELL_DIAMETER_M = 1.0
SEPTIC_AIR_SHARE = 0.25
TUNNEL_COMPARTMENT_M = 200.0
SPACE_LAYERS = ("manholes", "septic_tanks", "utility_tunnels")


def dispersion_coefficient(soil: str) -> float:
    """The effective dispersion coefficient (m²/s) of a soil class: its pneumatic diffusivity k·pa/(φ·μ)."""
    if soil not in SOIL_PERMEABILITY_M2:
        raise ValueError(f"unknown soil class {soil!r} (known: {', '.join(SOIL_PERMEABILITY_M2)})")
    pneumatic = SOIL_PERMEABILITY_M2[soil] * P_ATM / (AIR_FILLED_POROSITY * METHANE_VISCOSITY)
    molecular = METHANE_IN_AIR_M2S * AIR_FILLED_POROSITY ** (4.0 / 3.0)   # Millington-Quirk, dry soil
    return max(pneumatic, molecular)


def soil_gas(r: float, t: float, steps, d: float, porosity: float = AIR_FILLED_POROSITY) -> float:
    """Methane volume fraction in the soil gas ``r`` m from a leak at clock time ``t``.

    ``steps``: (clock time, flow in L/s) from each change of the leak's flow on (a step function).
    """
    r = max(float(r), MIN_DISTANCE_M)
    c, before = 0.0, 0.0
    for tk, lps in steps:
        if tk >= t:
            break
        dq = (lps - before) / 1000.0
        before = lps
        if dq != 0.0:
            c += dq / (4.0 * math.pi * porosity * d * r) * math.erfc(r / (2.0 * math.sqrt(d * (t - tk))))
    return max(c, 0.0)


@dataclass
class Space:
    """An underground space a methane sensor sits in, and what it sees of each leak."""

    layer: str
    feature: str
    volume_m3: float
    ach: float
    distance: dict = field(default_factory=dict)   # leak main -> r, m
    stretch: object = None                         # a tunnel compartment: its line

    @property
    def exchange_m3s(self) -> float:
        """4π a φ D without D: the wall's exchange per unit dispersion coefficient, m."""
        a = (3.0 * self.volume_m3 / (4.0 * math.pi)) ** (1.0 / 3.0)
        return 4.0 * math.pi * a * AIR_FILLED_POROSITY


class Migration:
    """Methane from the session's gas-network leaks in the sensed underground spaces, fed to the alarm engine."""

    name = SOURCE

    def __init__(self, twin, alarms, *, soil: str = "silty_sand", reach_m: float = 100.0,
                 air_changes_per_hour: dict | None = None, noise_sd: float = NOISE_SD):
        from simulation.sensors.methane import MethaneContext

        self.twin, self.alarms = twin, alarms
        self.soil = soil
        self.d = dispersion_coefficient(soil)
        self.reach_m = float(reach_m)
        self.ach = {**AIR_CHANGES_PER_HOUR, **(air_changes_per_hour or {})}
        self.noise_sd = float(noise_sd)
        if alarms.context is None:
            alarms.context = MethaneContext(twin, alarms.registry)
        self.sensors: list[tuple[object, Space]] = []   # the sensors within reach of a leak, once attached
        self.flows: dict[str, list] = {}                # leak main -> its flow steps, the session's own list
        self.readings: list[tuple[str, float, float]] = []   # sensor, clock time, value

    def _within_reach(self, leaks: dict) -> list[tuple[object, Space]]:
        """The methane sensors in a space within ``reach_m`` of a leak (``leaks``: main -> (x, y))."""
        out = []
        for s in self.alarms.registry:
            if s.sensor_type != "methane" or s.layer not in SPACE_LAYERS or not s.feature_id or s.x is None:
                continue
            space = self._space(s)
            if space is None:
                continue
            for main, xy in leaks.items():
                r = self._distance(s, space, xy)
                if r <= self.reach_m:
                    space.distance[main] = max(r, MIN_DISTANCE_M)
            if space.distance:
                out.append((s, space))
        return out

    # ---------------------------------------------------------------- the spaces
    def _space(self, sensor) -> Space | None:
        frame = self.twin[sensor.layer]
        hit = frame[frame["id"].astype(str) == str(sensor.feature_id)]
        if not len(hit):
            return None
        row = hit.iloc[0]
        ach = float(self.ach[sensor.layer])
        if sensor.layer == "manholes":
            depth = float(row.get("depth")) if _number(row.get("depth")) else 2.0
            return Space("manholes", sensor.feature_id, math.pi / 4.0 * WELL_DIAMETER_M ** 2 * depth, ach)
        if sensor.layer == "septic_tanks":
            volume = float(row.get("volume_m3")) if _number(row.get("volume_m3")) else 3.8
            return Space("septic_tanks", sensor.feature_id, SEPTIC_AIR_SHARE * volume, ach)
        width = float(row.get("width")) if _number(row.get("width")) else 3.0
        height = float(row.get("height")) if _number(row.get("height")) else 3.0
        space = Space("utility_tunnels", sensor.feature_id, width * height * TUNNEL_COMPARTMENT_M, ach)
        line = row.geometry
        at = line.project(shapely.Point(sensor.x, sensor.y))
        space.stretch = shapely.ops.substring(line, max(at - TUNNEL_COMPARTMENT_M / 2, 0.0),
                                              min(at + TUNNEL_COMPARTMENT_M / 2, line.length))
        return space

    @staticmethod
    def _distance(sensor, space: Space, xy) -> float:
        if space.layer == "utility_tunnels":
            return float(space.stretch.distance(shapely.Point(*xy)))
        return float(math.hypot(sensor.x - xy[0], sensor.y - xy[1]))

    # ---------------------------------------------------------------- time
    def attach(self, session) -> None:
        self.session = session
        # the gas network's leaks (the scripted sources' leaks in wells carry no flow: they are not in the soil)
        leaks = {v["feature"]: v for v in session.state.get("gas_leaks", {}).values() if "flow" in v}
        self.flows = {main: v["flow"] for main, v in leaks.items()}
        self.sensors = self._within_reach({main: (v["x"], v["y"]) for main, v in leaks.items()})
        # one generator per sensor: its noise does not depend on how the run is cut into frames
        self.rng = {s.id: session.child_rng(f"{SOURCE}/{s.id}") for s, _ in self.sensors}
        self.next_at = {s.id: session.start for s, _ in self.sensors}
        self.state = {s.id: (session.start, 0.0) for s, _ in self.sensors}   # (time, volume fraction)

    def concentration(self, sensor_id: str, t: float) -> float:
        """The space's methane volume fraction at ``t`` (advancing the sensor's state, which is at or before t)."""
        sensor, space = next((s, sp) for s, sp in self.sensors if s.id == sensor_id)
        return self._advance(sensor, space, t)

    def _advance(self, sensor, space: Space, t: float) -> float:
        t0, c = self.state[sensor.id]
        g = space.exchange_m3s * self.d
        qv = space.ach / 3600.0 * space.volume_m3
        k = (g + qv) / space.volume_m3
        flows = self.flows
        while t0 < t - 1e-9:
            h = min(SUBSTEP_S, t - t0)
            mid = t0 + h / 2.0
            wall = sum(soil_gas(r, mid, flows[main], self.d) for main, r in space.distance.items())
            eq = g * wall / (g + qv)
            c = eq + (c - eq) * math.exp(-k * h)
            t0 += h
        self.state[sensor.id] = (t, c)
        return c

    def advance_to(self, t: float) -> None:
        count = 0
        for sensor, space in self.sensors:
            period = float(sensor.period_s or DEFAULT_PERIOD_S)
            times, values = [], []
            while self.next_at[sensor.id] <= t:
                at = self.next_at[sensor.id]
                lel = 100.0 * self._advance(sensor, space, at) / METHANE_LEL_VOL
                times.append(at)
                values.append(min(100.0, max(0.0, lel + self.rng[sensor.id].normal(0.0, self.noise_sd))))
                self.next_at[sensor.id] = at + period
            if times:
                count += len(times)
                self.readings.extend((sensor.id, a, v) for a, v in zip(times, values))
                self.alarms.feed(sensor.id, np.asarray(times), np.asarray(values))
        if count:
            self.session.publish(t, "readings_arrived", SOURCE, "sensors", None, count,
                                 f"{count} methane reading(s) in wells, septic tanks and tunnels near gas leaks")


def _number(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v)) and float(v) > 0
    except (TypeError, ValueError):
        return False
