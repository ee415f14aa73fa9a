"""Stations and their units: who can be sent, from where.

A station comes from the twin's ``fire_stations`` layer (kind: station,
micro_station, ems, water_repair, gas_emergency) with its ``units`` JSON, e.g.
``{"engine": 2, "ladder": 1}``; unit type names are folded to the scenario's
types through its aliases ("medic" -> ambulance).  Every unit of a micro fire
station is a ``micro`` unit (a duty crew on a light vehicle), whatever the
data calls it, because the dispatch rules treat micro crews apart.

A station whose ``units`` is empty gets the default complement of its kind
(reported); one whose ``units`` is ``{}`` has no units (reported: it dispatches
nothing); a fleet with no unit at all is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulation.emergency.config import Scenario, duty_window
from twin.errors import LayerError
from twin.schema import parse_json_field


@dataclass(frozen=True)
class Station:
    index: int
    id: str
    name: str
    kind: str
    x: float
    y: float


@dataclass(frozen=True)
class Unit:
    """One crew with its vehicle, based at a station."""

    index: int
    name: str
    type: str
    station: int
    role: str
    duty_start_s: float
    duty_end_s: float
    off_duty: str
    on_call_extra_s: float

    @property
    def always_on(self) -> bool:
        return (self.duty_start_s, self.duty_end_s) in ((0.0, 86400.0), (0.0, 0.0))

    def on_duty(self, t: float) -> bool:
        """Whether the unit's shift covers simulation time ``t`` (s since midnight of day 0)."""
        if self.always_on:
            return True
        s = t % 86400.0
        a, b = self.duty_start_s, self.duty_end_s
        return a <= s < b if a < b else (s >= a or s < b)


@dataclass
class Fleet:
    stations: list[Station]
    units: list[Unit]
    notes: list[str] = field(default_factory=list)

    @property
    def station_xy(self) -> np.ndarray:
        return np.array([[s.x, s.y] for s in self.stations], dtype=float).reshape(-1, 2)

    @property
    def unit_station(self) -> np.ndarray:
        return np.array([u.station for u in self.units], dtype=np.int64)

    def types(self) -> set[str]:
        return {u.type for u in self.units}

    def count(self, unit_type: str) -> int:
        return sum(1 for u in self.units if u.type == unit_type)

    def describe(self) -> str:
        kinds: dict[str, int] = {}
        for s in self.stations:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        types: dict[str, int] = {}
        for u in self.units:
            types[u.type] = types.get(u.type, 0) + 1
        k = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        t = ", ".join(f"{n} {typ}" for typ, n in sorted(types.items()))
        return f"{len(self.stations)} stations ({k}); {len(self.units)} units ({t})"

    # ------------------------------------------------------------------ building
    @classmethod
    def from_twin(cls, twin, scenario: Scenario) -> "Fleet":
        return cls.from_rows(cls.station_rows(twin), scenario, source="layer 'fire_stations'")

    @staticmethod
    def station_rows(twin) -> list[tuple]:
        """The twin's stations as rows ``(id, name, kind, x, y, units)`` for :meth:`from_rows`."""
        layer = twin["fire_stations"]
        if len(layer) == 0:
            raise LayerError(f"twin {twin.name!r}: layer 'fire_stations' is empty: "
                             "the emergency model needs at least one station with units")
        pts = layer.geometry.representative_point()
        return [(str(r.id), str(r.name or r.id), str(r.kind), float(p.x), float(p.y), r.units)
                for r, p in zip(layer.itertuples(index=False), pts)]

    @classmethod
    def from_rows(cls, rows, scenario: Scenario, source: str = "stations") -> "Fleet":
        """``rows``: (id, name, kind, x, y, units) with units a JSON text, a dict or None."""
        stations, units, notes = [], [], []
        defaulted: dict[str, int] = {}
        for i, (sid, name, kind, x, y, spec) in enumerate(rows):
            where = f"{source} feature {sid!r} column 'units'"
            stations.append(Station(i, sid, name, kind, x, y))
            if isinstance(spec, str) or spec is None or (isinstance(spec, float) and np.isnan(spec)):
                spec = parse_json_field(spec, where)
            if spec is None:
                if kind not in scenario.default_units:
                    raise LayerError(f"{where} is empty and the scenario has no default units for kind {kind!r}")
                spec = scenario.default_units[kind]
                defaulted[kind] = defaulted.get(kind, 0) + 1
            if not isinstance(spec, dict):
                raise LayerError(f"{where}: expected a JSON object of unit type -> count, found {spec!r}")
            n_here = 0
            for raw_type, count in spec.items():
                if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0 \
                        or int(count) != count:
                    raise LayerError(f"{where}: count of {raw_type!r} must be a whole number >= 0, found {count!r}")
                utype = "micro" if kind == "micro_station" else scenario.unit_type(raw_type)
                if utype is None:
                    raise LayerError(f"{where}: unknown unit type {raw_type!r} (known: "
                                     f"{', '.join(sorted(scenario.unit_types))}; add an alias in the scenario)")
                ut = scenario.unit_types[utype]
                start, end = duty_window(ut.on_duty)
                for k in range(int(count)):
                    units.append(Unit(len(units), f"{sid}/{utype}-{k + 1}", utype, i, ut.role,
                                      start, end, ut.off_duty, ut.on_call_extra_s))
                    n_here += 1
            if n_here == 0:
                notes.append(f"station {sid!r} ({name}) has no units: it dispatches nothing")
        for kind, n in sorted(defaulted.items()):
            comp = ", ".join(f"{t}×{c}" for t, c in scenario.default_units[kind].items())
            notes.append(f"{n} {kind} station(s) list no units: gave each the default {comp}")
        if not units:
            raise LayerError(f"{source}: no station has any unit, nothing can be dispatched")
        return cls(stations, units, notes)

    # ------------------------------------------------------------------ rules
    def assignments(self, scenario: Scenario) -> tuple[dict[str, list[str]], list[str]]:
        """Unit types sent to each incident type, in dispatch order, with fallbacks applied.

        A unit type the fleet lacks entirely is replaced by its fallback (ladder ->
        engine...); the notes say so.  An empty list means the type cannot be served.
        """
        have = self.types()
        out, notes = {}, []
        for name, it in scenario.incident_types.items():
            slots = []
            for utype, count in it.units.items():
                chosen, seen = utype, set()
                while chosen is not None and chosen not in have and chosen not in seen:
                    seen.add(chosen)
                    chosen = scenario.unit_types[chosen].fallback
                if chosen is None or chosen not in have:
                    notes.append(f"{name}: no {utype} in the fleet and no fallback present; "
                                 f"sent without it")
                    continue
                if chosen != utype:
                    notes.append(f"{name}: no {utype} in the fleet, sending {chosen} instead")
                slots.extend([chosen] * count)
            if not slots:
                notes.append(f"{name}: no unit of the fleet can serve it; such incidents stay unserved")
            out[name] = slots
        return out, notes
