"""A live session shown through the view model: the clock's time drives the session, its state comes back.

:class:`Playback` is the one link between a running
:class:`~simulation.session.session.Session` and a
:class:`~app.view_model.ViewModel` (no Qt: the window's timeline, a test or a
movie writer sets ``model.clock.time``; everything else follows):

* a new clock time advances the session to it; a time before the session's
  ``now`` re-runs it from the start (:meth:`Session.seek`);
* the events the session logged since the last time are handed on with
  :attr:`events_arrived` (a list, in time order); after a seek back,
  :attr:`rewound` fires first and the whole log up to the new time follows;
* the state of the city is shown on the view model: junction pressures
  (``pressure`` in m, red below the service pressure to blue at 60 m), the
  junctions without water, the pipes broken and closed, the sensors in alarm
  by level.

What is shown comes from the session's event log and its runtime state
(``session.state``) and the water network's current solution, never from
another engine's internals.
"""

from __future__ import annotations

import pandas as pd
from psygnal import Signal

from twin.schema import LEVELS, RISK_COLOURS

#: Highlight names and colours on the view model.
WITHOUT_WATER = "without water"
BROKEN = "pipes broken"
CLOSED = "links closed"
ALARM = "alarm {}"
PRESSURE_RANGE = (0.0, 60.0)


class Playback:
    """One session on one view model's clock."""

    events_arrived = Signal(list)
    rewound = Signal()

    def __init__(self, model, session, *, title: str = ""):
        self.model = model
        self.session = session
        self.title = title
        self._seen = 0
        clock = model.clock
        with clock.events.blocked():
            clock.start, clock.end, clock.time = session.start, session.end, session.now
        clock.events.time.connect(self._on_time)
        self.show_state()

    # ------------------------------------------------------------------ time
    def _on_time(self, t: float) -> None:
        self.go_to(t)

    def go_to(self, t: float) -> None:
        """Bring the session to clock time ``t`` and show it."""
        s = self.session
        t = max(s.start, min(float(t), s.end))
        if t < s.now:
            s.seek(t)
            self._seen = 0
            self.rewound.emit()
        elif t > s.now:
            s.advance_to(t)
        fresh = s.log.events[self._seen:]
        self._seen = len(s.log.events)
        if fresh:
            self.events_arrived.emit(list(fresh))
        self.show_state()

    @property
    def events(self) -> list:
        """Every event logged so far, in time order."""
        return list(self.session.log.events)

    # ------------------------------------------------------------------ state
    def show_state(self) -> None:
        m, s = self.model, self.session
        state = s.state
        water = getattr(s, "water", None)
        if water is not None and water.pressure is not None and "water_junctions" in m.layers:
            solver = water.solver
            ids = [solver.node_ids[i] for i in solver.junctions]
            pressure = pd.Series(water.pressure[solver.junctions], index=ids)
            m.show_values("water_junctions", "pressure", pressure, unit="m", cmap="RdYlBu",
                          clim=PRESSURE_RANGE)
        self._highlight(WITHOUT_WATER, "water_junctions", state.get("junctions_without_service", ()), "#7b3294")
        self._highlight(BROKEN, "water_pipes", state.get("breaks", {}).keys(), RISK_COLOURS["red"])
        self._highlight(CLOSED, "water_pipes", state.get("links_closed", ()), "#111111")
        alarms = state.get("alarms", {})
        for level in LEVELS:
            ids = [sensor for sensor, lvl in alarms.items() if lvl == level]
            self._highlight(ALARM.format(level), "sensors", ids, RISK_COLOURS[level])

    def _highlight(self, name: str, layer: str, ids, colour: str) -> None:
        m = self.model
        if layer not in m.layers:
            return
        ids = sorted(str(i) for i in ids)
        current = m.highlights.get(name)
        if (current.ids if current else ()) == tuple(ids):
            return
        m.highlight(name, layer, ids, colour)
