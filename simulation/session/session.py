"""The live session: one twin, one clock time, one event stream, engines advanced frame by frame.

A :class:`Session` owns the clock time of a run (UTC POSIX seconds, starting at
``start``), the :class:`~simulation.session.events.EventLog`, a seeded random
generator shared out to its engines, and the runtime state of the city the
engines keep (link status, breaks, unit positions, incidents, alarms, service
of every junction).  Engines attach to it and are advanced with
``advance_to(t)``.

A frame advances the clock by at most ``step_s`` and the engines **in the
order they were attached** (documented per session builder: hydraulics, then
sensors and alarms, then emergency).  An engine publishes events through
:meth:`Session.publish`; subscribers hear each event at once (that is how a
red alarm opens an incident within the same frame), and the log records the
frame's events in time order when the frame ends.  A change a later engine
orders at time t (a crew closing a valve) reaches an earlier engine (the
hydraulics) at the start of its next frame, so within one ``step_s``.

Seeking back gives a new session re-run from the start (the runs are
deterministic: the same scenario and seed give the same events, in the same
order, with the same times); seeking forward advances.  Pause and speed belong to whatever
drives :meth:`advance_to` (a :class:`simulation.clock.Clock` in the window,
:meth:`run` headless).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from simulation.session.events import Event, EventLog


class Engine(Protocol):
    """What a session needs from an engine."""

    name: str

    def attach(self, session: "Session") -> None: ...

    def advance_to(self, t: float) -> None: ...


class Session:
    """One run of the coupled twin between ``start`` and ``end`` (UTC POSIX seconds)."""

    def __init__(self, twin, start: float, end: float, *, seed: int = 0, step_s: float = 60.0,
                 rebuild: Callable[[], "Session"] | None = None):
        if not end > start:
            raise ValueError(f"session: end ({end}) must be after start ({start})")
        if not 0 < step_s <= 3600:
            raise ValueError(f"session: step must be > 0 and <= 3600 s, not {step_s}")
        self.twin = twin
        self.start, self.end, self.step_s = float(start), float(end), float(step_s)
        self.now = float(start)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.log = EventLog()
        self.engines: list = []
        self._frame: list[Event] = []
        self._rebuild = rebuild
        #: runtime state of the city, written by the engines that own each part
        self.state: dict = {"links_closed": set(), "breaks": {}, "units": {}, "incidents": {}, "alarms": {},
                            "junctions_without_service": set()}

    # ---------------------------------------------------------------- engines and events
    def attach(self, engine) -> None:
        engine.attach(self)
        self.engines.append(engine)

    def subscribe(self, callback: Callable[[Event], None], kinds=None) -> None:
        self.log.subscribe(callback, kinds)

    def publish(self, time: float, kind: str, source: str, layer=None, feature=None, value=None, message="",
                **data) -> Event:
        event = self.log.make(time, kind, source, layer, feature, value, message, **data)
        self._frame.append(event)
        self.log.deliver(event)
        return event

    def child_rng(self, name: str) -> np.random.Generator:
        """A generator of an engine's own, derived from the session seed and the engine's name."""
        return np.random.default_rng([self.seed, *name.encode()])

    # ---------------------------------------------------------------- time
    def advance_to(self, t: float) -> None:
        """Advance every engine, frame by frame, to clock time ``t`` (clamped to the session's end).

        A session only goes forward: going back is :meth:`seek`, which returns a new session.
        """
        t = min(float(t), self.end)
        if t < self.now:
            raise ValueError(f"session: cannot advance back to {t} from {self.now}; seek(t) re-runs from the start")
        while self.now < t:
            nxt = min(self.now + self.step_s, t)
            for engine in self.engines:
                engine.advance_to(nxt)
            self.log.record(self._frame)
            self._frame = []
            self.now = nxt

    def step(self) -> None:
        self.advance_to(self.now + self.step_s)

    def run(self) -> "Session":
        self.advance_to(self.end)
        return self

    def seek(self, t: float) -> "Session":
        """The session at clock time ``t``: this one advanced, or, going back, a new one re-run from the start.

        Use the session it returns (``session = session.seek(t)``): going back,
        this one is left as it was, at its own time, with its own log.
        """
        if t >= self.now:
            self.advance_to(t)
            return self
        if self._rebuild is None:
            raise ValueError("this session cannot seek back: it was not built from a scenario")
        fresh = self._rebuild()
        fresh.advance_to(t)
        return fresh
