"""Where does the methane come from?  Tag a methane alarm "likely gas-main leak" or "likely biogas".

Methane in an underground well is either natural gas escaping from a main
(dangerous, the gas company must come) or biogas from sewage (also flammable,
but the sewer operator ventilates).  The reason is always shown, and the
evidence is weighed in this order:

1. **Ethane channel** — natural gas carries ethane (typically 1–10 % of its
   methane); biogas carries none.  When the sensor has an ethane companion (a
   sensor of type ``ethane`` on the same feature, or named by
   ``"ethane_sensor"`` in the methane sensor's thresholds JSON) with a recent
   reading, a C2H6/CH4 ratio >= 0.5 % says gas main, <= 0.1 % says biogas.
2. **Where the sensor sits** — a well of ``well_type`` "gas" is on the gas
   network: gas-main leak.  A septic tank: biogas.
3. **Gas mains nearby** — within ``distance_m`` (default 10 m) of a gas main a
   sewer, storm or other well is tagged gas-main leak: gas migrates along
   trenches into neighbouring wells, and treating it as biogas when it is not is
   the costly mistake (safety first).  A sewer or storm well with no main nearby
   is biogas.  Anything else is "source unknown", with the nearest main's
   distance.

Methane sensors in %LEL are converted to ppm for the ratio (1 %LEL = 500 ppm);
ethane sensors are taken in ppm.
"""

from __future__ import annotations

import numpy as np

from simulation.sensors.registry import Sensor, SensorRegistry

GAS_MAIN = "likely gas-main leak"
BIOGAS = "likely biogas (sewer or septic tank)"
UNKNOWN = "source unknown"

ETHANE_GAS_RATIO = 0.005
ETHANE_BIOGAS_RATIO = 0.001
PPM_PER_LEL = 500.0


class MethaneContext:
    """Classifies methane alarms from the twin's wells, septic tanks, gas mains and ethane sensors."""

    def __init__(self, twin, registry: SensorRegistry, *, distance_m: float = 10.0, ethane_max_age_s: float = 900.0):
        self.registry = registry
        self.distance_m = float(distance_m)
        self.ethane_max_age_s = float(ethane_max_age_s)
        self._well_type: dict[str, str] = {}
        self._main_distance: dict[str, tuple[float, str | None]] = {}
        manholes = twin["manholes"]
        if len(manholes):
            self._well_type = dict(zip(manholes["id"], manholes["well_type"]))
        self._septic = set(twin["septic_tanks"]["id"]) if len(twin["septic_tanks"]) else set()
        self._distances(twin)
        self._ethane: dict[str, str] = {}
        for s in registry:
            if s.sensor_type != "methane":
                continue
            named = (s.thresholds or {}).get("ethane_sensor")
            if named:
                self._ethane[s.id] = str(named)
            elif s.layer and s.feature_id:
                for other in registry.on_feature(s.layer, s.feature_id):
                    if other.sensor_type == "ethane":
                        self._ethane[s.id] = other.id
                        break

    def _distances(self, twin) -> None:
        """Distance from each methane sensor to the nearest gas main, in metres."""
        sensors = twin["sensors"]
        mains = twin["gas_mains"]
        if not len(sensors):
            return
        sensors = sensors[sensors["sensor_type"].str.lower().isin(["methane", "ch4", "gas", "combustible_gas"])]
        if not len(sensors) or not len(mains):
            for sid in sensors["id"] if len(sensors) else []:
                self._main_distance[sid] = (float("inf"), None)
            return
        crs = twin.crs
        if crs is not None and crs.is_geographic:
            from twin.crs import metric_crs_for

            c = sensors.geometry.union_all().centroid
            metric = metric_crs_for(crs, (c.x, c.y))
            sensors, mains = sensors.to_crs(metric), mains.to_crs(metric)
        tree = mains.sindex
        geoms = sensors.geometry.to_numpy()
        idx, dist = tree.nearest(geoms, return_distance=True, return_all=False)
        for k, sid in enumerate(sensors["id"]):
            where = np.flatnonzero(idx[0] == k)
            if len(where):
                j = idx[1][where[0]]
                self._main_distance[sid] = (float(dist[where[0]]), str(mains["id"].iloc[j]))
            else:
                self._main_distance[sid] = (float("inf"), None)

    def classify(self, sensor: Sensor, value: float | None, engine=None) -> tuple[str, str]:
        """``(tag, reason)`` for a methane reading ``value`` (in the sensor's unit) on ``sensor``."""
        dist, main = self._main_distance.get(sensor.id, (float("inf"), None))
        near = dist <= self.distance_m
        main_text = (f"gas main {main} {dist:.1f} m away" if main is not None else "no gas main in the twin")
        # 1. ethane
        eth_id = self._ethane.get(sensor.id)
        if eth_id and engine is not None and value is not None and value > 0:
            latest = engine.latest(eth_id)
            me = engine.latest(sensor.id)
            now = me[0] if me else None
            if latest is not None and (now is None or abs(now - latest[0]) <= self.ethane_max_age_s):
                ch4_ppm = value * PPM_PER_LEL if "lel" in sensor.unit.lower() else value
                ratio = latest[1] / ch4_ppm if ch4_ppm > 0 else float("nan")
                if ratio >= ETHANE_GAS_RATIO:
                    return GAS_MAIN, f"ethane/methane ratio {ratio:.2%} (natural gas carries ethane); {main_text}"
                if ratio <= ETHANE_BIOGAS_RATIO:
                    return BIOGAS, f"ethane/methane ratio {ratio:.2%}: no ethane, as in biogas; {main_text}"
        # 2. what the sensor sits in
        well = self._well_type.get(sensor.feature_id) if sensor.layer == "manholes" else None
        if well == "gas":
            return GAS_MAIN, f"sensor in gas-network well {sensor.feature_id}; {main_text}"
        if sensor.layer == "septic_tanks" and sensor.feature_id in self._septic:
            extra = f"; note {main_text}" if near else ""
            return BIOGAS, f"sensor in septic tank {sensor.feature_id}{extra}"
        # 3. gas mains nearby
        if near:
            what = f"{well} well {sensor.feature_id}" if well else f"sensor {sensor.id}"
            return GAS_MAIN, f"{main_text} (within {self.distance_m:g} m) of {what}"
        if well in ("sewer", "storm"):
            return BIOGAS, f"{well} well {sensor.feature_id}, {main_text} (beyond {self.distance_m:g} m)"
        return UNKNOWN, f"{main_text}; " + (f"{well} well" if well else "not in a well or septic tank")
