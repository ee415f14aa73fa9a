"""Bounds on every numeric option: finite, and within a plausible range checked before any work starts.

Every ``type=float`` or ``type=int`` option of every command goes through
:func:`number` (the parser in :mod:`app.cli` swaps the plain types for it), so
NaN, infinity and values no analysis could mean (``--duration 1e9``,
``--days 1e9``) are one usage error naming the option, before anything is
read, solved or written.  The ranges are listed here and shown in ``--help``.
"""

from __future__ import annotations

import argparse
import math

YEAR_H = 8784.0          # hours in a leap year: the longest simulation any analysis runs
YEAR_S = YEAR_H * 3600.0

#: option dest -> (low, high, low is open); per command (``prog`` ends with it) where units differ.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "seed": (0, 2**32 - 1, False),
    "days": (0, 3660, True),                  # emergency run: simulated days, up to ten years
    "replications": (1, 10_000, False),
    "minutes": (0, 1440, True),
    "add": (1, 1000, False),
    "candidates": (1, 100_000, False),
    "duration": (0, YEAR_H, False),           # hydraulics: hours
    "min_pressure": (0, 300, False),
    "required_pressure": (0, 300, True),
    "workers": (0, 256, False),
    "sample": (1, 10_000_000, False),
    "start": (0, YEAR_H, False),
    "hours": (0, YEAR_H, True),
    "top": (1, 10_000_000, False),
    "flow": (0, 100_000, True),               # L/s
    "fire_hours": (0, 72, False),
    "residual": (0, 300, False),
    "at": (0, YEAR_H, False),
    "hole_mm": (0, 5000, True),
    "isolate_after": (0, YEAR_H, False),
    "mass": (0, 1e12, True),
    "threshold": (0, 1e9, True),
    "year": (1800, 2300, False),
    "elevation_tolerance": (0, 10_000, True),
    "storey_height": (0, 50, True),
    "z_factor": (0, 1e6, True),
    "exaggeration": (0, 100, True),
    "underground_scale": (0, 1000, True),
    "terrain_opacity": (0, 1, False),
    "fps": (1, 240, False),
    "frames": (1, 100_000, False),
    "period": (0, YEAR_S, True),              # s
    "flush_s": (0, 3600, True),
    "max_batch": (1, 10_000_000, False),
    "count": (1, 1e12, False),
    "speed": (0.1, 10_000, False),
    "qos": (0, 2, False),
    "quit_after": (0, 86_400, False),         # gui: seconds the window stays after it is drawn
}
#: (command words, dest) -> bounds, where a dest means another unit there.
BOUNDS_IN = {
    ("sensors record", "duration"): (0, YEAR_S, True),   # seconds
    ("sensors replay", "fps"): (0, 240, True),
}


def bounds_for(prog: str, dest: str) -> tuple[float, float, bool] | None:
    for (command, name), b in BOUNDS_IN.items():
        if name == dest and prog.endswith(command):
            return b
    return BOUNDS.get(dest)


def _show(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e7 else f"{v:.3g}"


def number(kind, option: str, bounds: tuple[float, float, bool] | None):
    """An argparse type: ``kind`` (float or int), finite, within ``bounds`` (low, high, low open)."""

    def parse(text: str):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if kind is int:
            if abs(value) > 2**53:
                raise argparse.ArgumentTypeError(f"{text} is too large")
            if value != int(value):
                raise argparse.ArgumentTypeError(f"{text} is not a whole number")
            value = int(value)
        if bounds is not None:
            low, high, open_low = bounds
            if (value <= low if open_low else value < low) or value > high:
                raise argparse.ArgumentTypeError(
                    f"{text} is outside {'(' if open_low else '['}{_show(low)}, {_show(high)}]")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def describe(bounds: tuple[float, float, bool]) -> str:
    low, high, open_low = bounds
    return f"{'>' if open_low else '>='} {_show(low)} and <= {_show(high)}"


class BoundedOptions:
    """Mixin for ArgumentParser: plain ``type=float``/``type=int`` options become bounded, finite numbers."""

    def add_argument(self, *names, **kwargs):
        kind = kwargs.get("type")
        if kind in (float, int) and names and str(names[0]).startswith("-"):
            dest = kwargs.get("dest") or next((n for n in names if n.startswith("--")), names[0]).lstrip("-")
            dest = dest.replace("-", "_")
            b = bounds_for(self.prog, dest)
            kwargs["type"] = number(kind, names[0], b)
            if b is not None and kwargs.get("help") not in (None, argparse.SUPPRESS):
                kwargs["help"] = f"{kwargs['help']} [{describe(b)}]"
        return super().add_argument(*names, **kwargs)
