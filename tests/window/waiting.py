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
