"""One event stream: typed, immutable events, each with its clock time, source and feature.

Every engine of a :class:`~simulation.session.Session` publishes its changes as
:class:`Event` s; anything may subscribe.  The log of a run is one tidy table
(:meth:`EventLog.frame`, written as Parquet and CSV by :meth:`EventLog.write`),
the single source for every report, plot and view.

``kind`` is one of :data:`KINDS`; ``time`` is clock time (UTC POSIX seconds);
``source`` names the engine; ``layer``/``feature`` the twin feature the event
concerns; ``value`` the one number that matters for it (people, L/s, seconds,
a sensor reading), with its unit in :data:`VALUE_UNITS`; ``data`` anything
else, as sorted (key, value) pairs so the event stays hashable and immutable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from simulation.clock import iso

#: What an event may be, and the unit of its ``value``.
VALUE_UNITS = {
    "pipe_broken": "hole diameter, mm",
    "leak_started": "leak flow, L/s",
    "readings_arrived": "readings in the frame",
    "alarm_raised": "sensor value",
    "alarm_escalated": "sensor value",
    "alarm_lowered": "sensor value",
    "alarm_cleared": "sensor value",
    "alarm_acknowledged": "",
    "incident_opened": "priority",
    "unit_dispatched": "expected travel, s",
    "unit_arrived": "travel, s",
    "unit_released": "time busy, s",
    "valve_closed": "",
    "valve_opened": "",
    "service_lost": "people",
    "service_restored": "people",
    "leak_stopped": "volume lost, m3",
    "repair_done": "repair time, s",
    "incident_closed": "report to close, s",
    # drainage (simulation/drainage): rain, surcharged and flooding manholes, roads under water
    "rain_started": "rain intensity, mm/h",
    "rain_stopped": "depth fallen, mm",
    "surcharge_started": "water depth above the pipe crown, m",
    "surcharge_ended": "water depth above the pipe crown, m",
    "flooding_started": "overflow, L/s",
    "flooding_stopped": "volume flooded, m3",
    "road_flooded": "water depth on the road, m",
    "road_closed": "water depth on the road, m",
    "road_reopened": "water depth on the road, m",
    # gas (simulation/gas): customers without gas (leaks use leak_started / leak_stopped on gas_mains)
    "gas_supply_lost": "people",
    "gas_supply_restored": "people",
    # drills (simulation/drill): injects to trainees, trainees' actions, their notifications and requests
    "inject_delivered": "inject number",
    "action_taken": "",
    "notified": "",
    "evacuation_ordered": "people",
    "mutual_aid_requested": "",
}
KINDS = tuple(VALUE_UNITS)


@dataclass(frozen=True, order=True)
class Event:
    """One change in the city, at one clock time."""

    time: float
    seq: int = field(compare=True)
    kind: str = field(compare=False)
    source: str = field(compare=False)
    layer: str | None = field(default=None, compare=False)
    feature: str | None = field(default=None, compare=False)
    value: float | None = field(default=None, compare=False)
    message: str = field(default="", compare=False)
    data: tuple = field(default=(), compare=False)

    def __post_init__(self):
        if self.kind not in VALUE_UNITS:
            raise ValueError(f"unknown event kind {self.kind!r} (known: {', '.join(KINDS)})")
        if not math.isfinite(self.time):
            raise ValueError(f"event {self.kind}: time must be a finite number, not {self.time!r}")

    def get(self, key: str, default=None):
        return dict(self.data).get(key, default)

    def row(self) -> dict:
        return {"time": iso(self.time), "time_s": self.time, "seq": self.seq, "kind": self.kind,
                "source": self.source, "layer": self.layer, "feature": self.feature, "value": self.value,
                "message": self.message, "data": json.dumps(dict(self.data), sort_keys=True, default=str)}


COLUMNS = ["time", "time_s", "seq", "kind", "source", "layer", "feature", "value", "message", "data"]


class EventLog:
    """The run's events in time order, and the subscribers that hear them as they are published."""

    def __init__(self):
        self.events: list[Event] = []
        self._subscribers: list[tuple[Callable[[Event], None], frozenset | None]] = []
        self._seq = 0

    def subscribe(self, callback: Callable[[Event], None], kinds=None) -> None:
        """Call ``callback(event)`` for every event (or only those whose kind is in ``kinds``)."""
        if kinds is not None:
            unknown = set(kinds) - set(KINDS)
            if unknown:
                raise ValueError(f"unknown event kind(s) {', '.join(sorted(unknown))}")
        self._subscribers.append((callback, frozenset(kinds) if kinds is not None else None))

    def make(self, time: float, kind: str, source: str, layer=None, feature=None, value=None, message="",
             **data) -> Event:
        self._seq += 1
        return Event(float(time), self._seq, kind, source, layer, None if feature is None else str(feature),
                     None if value is None else float(value), message, tuple(sorted(data.items())))

    def deliver(self, event: Event) -> None:
        for callback, kinds in list(self._subscribers):
            if kinds is None or event.kind in kinds:
                callback(event)

    def record(self, events: list[Event]) -> None:
        """Append one frame's events, in time order (then publication order)."""
        self.events.extend(sorted(events))

    def of(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    def frame(self) -> pd.DataFrame:
        """The tidy table of the run: one row per event, in time order."""
        return pd.DataFrame([e.row() for e in self.events], columns=COLUMNS)

    def write(self, folder) -> list:
        """``events.parquet`` and ``events.csv`` in ``folder`` (atomic saves)."""
        import io
        from pathlib import Path

        from twin import atomic

        folder = Path(folder)
        table = self.frame()
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        return [atomic.write(folder / "events.parquet", buf.getvalue()),
                atomic.write(folder / "events.csv", table.to_csv(index=False, float_format="%.3f"))]
