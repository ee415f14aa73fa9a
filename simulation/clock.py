"""The one clock of the program: every engine and the 3D view follow it.

A :class:`Clock` holds the *clock time* (UTC, POSIX seconds as a float) of the
whole twin.  Replays of recorded sensors, the hydraulic and emergency engines
and the scene all subscribe to it and receive ``callback(clock_time)`` once per
frame; none of them keeps its own notion of "now".

Two rates are kept apart on purpose:

* the **view rate** (``frame_rate``, frames per wall-clock second) is how often
  subscribers are called — 30 frames/s whatever the data;
* the **speed** (x0.1 … x10,000) is how many clock seconds pass per wall-clock
  second; at x10,000 and 30 frames/s one frame advances 333 s of clock time,
  and subscribers catch up on everything that happened in between.

The clock never sleeps and never imports Qt: something else *drives* it by
calling :meth:`Clock.tick` — a Qt timer in the window, :meth:`Clock.run` in a
headless job, or a test calling ``tick()`` after advancing a
:class:`ManualTimeSource`.  The wall time it measures elapsed time with is a
pluggable :class:`TimeSource`, so tests are exact and never timed.

Driving it, three ways::

    clock = Clock("2024-05-01T00:00Z", duration=86_400, speed=10_000)
    clock.subscribe(replay.on_frame)          # engines and the scene subscribe
    clock.run()                               # headless: 30 frames/s until the end
    timer.timeout.connect(clock.tick)         # in the window: a QTimer at 33 ms
    src = ManualTimeSource(); clock = Clock(..., source=src)
    clock.run(sleep=src.advance)              # tests, movies: same frames, no waiting

Playback window: ``start`` and ``duration`` (or ``end``) bound the clock; the
``offset`` says where in that window playback begins.  At the end the clock
either loops back to ``start`` or pauses on the last instant (one final frame is
emitted at exactly ``end``).  In **live** mode clock time is the wall-clock UTC
time itself; seek, speed and loop do not apply.
"""

from __future__ import annotations

import numbers
import time as _time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol

MIN_SPEED = 0.1
MAX_SPEED = 10_000.0

ClockCallback = Callable[[float], None]


class TimeSource(Protocol):
    """Where elapsed wall time comes from: ``monotonic()`` seconds, and ``utc()`` for live mode."""

    def monotonic(self) -> float: ...

    def utc(self) -> float: ...


class WallTimeSource:
    """The machine's clocks: ``time.monotonic`` for elapsed time, ``time.time`` for live UTC."""

    def monotonic(self) -> float:
        return _time.monotonic()

    def utc(self) -> float:
        return _time.time()


class ManualTimeSource:
    """A virtual wall clock that only moves when told: for tests and offline rendering."""

    def __init__(self, utc: float = 0.0):
        self._mono = 0.0
        self._utc = float(utc)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a time source cannot go back ({seconds} s)")
        self._mono += seconds
        self._utc += seconds

    def monotonic(self) -> float:
        return self._mono

    def utc(self) -> float:
        return self._utc


def to_seconds(value) -> float:
    """A clock time from a POSIX float, a ``datetime`` (naive = UTC) or an ISO 8601 string."""
    if value is None:
        raise ValueError("a clock time is required")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {text!r}") from None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    raise ValueError(f"not a time: {value!r}")


def to_datetime(seconds: float) -> datetime:
    """The UTC ``datetime`` of a clock time."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def iso(seconds: float) -> str:
    """ISO 8601 UTC text of a clock time, to the second."""
    return to_datetime(round(seconds, 3)).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Subscription:
    """Handle returned by :meth:`Clock.subscribe`; ``cancel()`` stops the callbacks."""

    clock: "Clock"
    callback: ClockCallback

    def cancel(self) -> None:
        self.clock.unsubscribe(self.callback)


class Clock:
    """Play, pause, seek, speed, loop and step the twin's time; call subscribers once per frame."""

    def __init__(self, start=None, *, duration: float | None = None, end=None, offset: float = 0.0,
                 speed: float = 1.0, loop: bool = False, frame_rate: float = 30.0,
                 live: bool = False, source: TimeSource | None = None):
        self.source: TimeSource = source or WallTimeSource()
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        self.frame_rate = float(frame_rate)
        self.live = bool(live)
        if self.live:
            start = self.source.utc() if start is None else start
        self.start = to_seconds(0.0 if start is None else start)
        if end is not None and duration is not None:
            raise ValueError("give either end or duration, not both")
        if end is not None:
            duration = to_seconds(end) - self.start
        if duration is not None and duration <= 0:
            raise ValueError(f"the clock's duration must be positive, got {duration} s")
        self.duration = None if duration is None else float(duration)
        if offset < 0 or (self.duration is not None and offset > self.duration):
            raise ValueError(f"offset {offset} s lies outside the clock's window")
        self.loop = bool(loop)
        self._speed = 1.0
        self.speed = speed
        self.time = self.source.utc() if self.live else self.start + offset
        self.playing = False
        self.frames = 0
        # playing time is anchor time + wall time since the anchor × speed: computed, not summed,
        # so hours of frames at x10,000 do not drift by rounding
        self._anchor: tuple[float, float] | None = None
        self._subscribers: list[ClockCallback] = []

    # ------------------------------------------------------------------ window
    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        value = float(value)
        if not MIN_SPEED <= value <= MAX_SPEED:
            raise ValueError(f"speed x{value:g} is outside x{MIN_SPEED:g}..x{MAX_SPEED:,.0f}")
        if getattr(self, "playing", False):
            self._anchor = (self.time, self.source.monotonic())
        self._speed = value

    @property
    def frame_seconds(self) -> float:
        """Clock seconds one frame advances while playing (speed / frame rate)."""
        return self._speed / self.frame_rate

    @property
    def at_end(self) -> bool:
        return self.end is not None and self.time >= self.end

    # ----------------------------------------------------------- subscribers
    def subscribe(self, callback: ClockCallback) -> Subscription:
        """Call ``callback(clock_time)`` on every frame, in subscription order."""
        self._subscribers.append(callback)
        return Subscription(self, callback)

    def unsubscribe(self, callback: ClockCallback) -> None:
        try:
            self._subscribers.remove(callback)
        except ValueError:
            raise KeyError(f"{callback!r} is not subscribed to this clock") from None

    def _emit(self) -> None:
        self.frames += 1
        for callback in list(self._subscribers):
            callback(self.time)

    # ------------------------------------------------------------- controls
    def play(self) -> None:
        if self.at_end and not self.loop and not self.live:
            self.time = self.start
        self.playing = True
        self._anchor = (self.time, self.source.monotonic())

    def pause(self) -> None:
        self.playing = False
        self._anchor = None

    def seek(self, when) -> None:
        """Jump to ``when`` (POSIX seconds, datetime or ISO text) and emit a frame there."""
        if self.live:
            raise ValueError("a live clock follows wall time and cannot seek")
        t = to_seconds(when)
        if t < self.start or (self.end is not None and t > self.end):
            raise ValueError(f"seek to {iso(t)} lies outside the clock's window "
                             f"{iso(self.start)} .. {iso(self.end) if self.end else 'open end'}")
        self.time = t
        self._anchor = (t, self.source.monotonic()) if self.playing else None
        self._emit()

    def step(self, frames: int = 1, *, seconds: float | None = None) -> float:
        """Advance by ``frames`` frames (or by ``seconds`` of clock time), emit one frame, stay paused."""
        if self.live:
            raise ValueError("a live clock follows wall time and cannot step")
        dt = self.frame_seconds * frames if seconds is None else float(seconds)
        self._place(self.time + dt)
        if self.playing:
            self._anchor = (self.time, self.source.monotonic())
        self._emit()
        return self.time

    # ---------------------------------------------------------------- driving
    def tick(self) -> float:
        """Called by the driver once per frame: move time by the wall time elapsed × speed, emit."""
        if self.live:
            self.time = self.source.utc()
            self._emit()
            return self.time
        if not self.playing:
            return self.time
        now = self.source.monotonic()
        anchor_t, anchor_w = self._anchor
        wrapped = self._place(anchor_t + max(0.0, now - anchor_w) * self._speed)
        if wrapped:
            self._anchor = (self.time, now)
        self._emit()
        if self.at_end and not self.loop:
            self.pause()
        return self.time

    def _place(self, t: float) -> bool:
        """Set the time to ``t`` within the window; returns True when it looped back."""
        if t < self.start:
            t = self.start
        if self.end is not None and t >= self.end - 1e-6:  # a rounding sliver is the end, not one more frame
            if self.loop and self.duration and t > self.end:
                self.time = self.start + (t - self.start) % self.duration
                return True
            t = self.end
        self.time = t
        return False

    def run(self, *, until=None, max_frames: int | None = None,
            sleep: Callable[[float], None] = _time.sleep) -> int:
        """Drive the clock headless at ``frame_rate`` until the end, ``until`` or ``max_frames``.

        Plays if paused.  Returns the number of frames emitted.  With a
        :class:`ManualTimeSource` pass ``sleep=source.advance`` to run faster
        than real time with the same frame sequence.
        """
        stop = None if until is None else to_seconds(until)
        if self.live and stop is None and max_frames is None:
            raise ValueError("a live clock runs forever: give until= or max_frames=")
        if not self.playing:
            self.play()
        interval = 1.0 / self.frame_rate
        emitted = 0
        next_due = self.source.monotonic()
        while True:
            next_due += interval
            wait = next_due - self.source.monotonic()
            if wait > 0:
                sleep(wait)
            else:
                next_due = self.source.monotonic()  # late: do not try to catch up with a burst
            self.tick()
            emitted += 1
            if max_frames is not None and emitted >= max_frames:
                break
            if stop is not None and self.time >= stop:
                break
            if not self.live and not self.playing:
                break
        return emitted

    def __repr__(self) -> str:
        state = "live" if self.live else ("playing" if self.playing else "paused")
        return f"Clock({iso(self.time)}, x{self._speed:g}, {state}, {self.frame_rate:g} frames/s)"
