"""Waiting in the window tests: the event loop runs until a condition holds (a job's result, a run's end)."""

from __future__ import annotations

import time


def wait(qapp, condition, timeout_s: float = 60.0) -> None:
    """Process events until ``condition()`` is true; fail after ``timeout_s`` seconds."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        qapp.processEvents()
        time.sleep(0.01)


def drill_clock(window, qapp, hhmm: str, day: str = "2026-06-01T", timeout_s: float = 120.0) -> float:
    """Move the window's clock to HH:MM[:SS] of the drill's day; wait for the drill's session to be there."""
    from datetime import datetime

    t = datetime.fromisoformat(f"{day}{hhmm}+00:00").timestamp()
    window.view_model.clock.time = t
    p = window.panels["drill"]
    wait(qapp, lambda: p.playback is not None and not p.playback.busy and not window.work.busy
         and p.playback.session.now == t, timeout_s)
    qapp.processEvents()
    return t
