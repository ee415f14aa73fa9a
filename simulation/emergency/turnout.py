"""Turnout (dispatched -> rolling) as observed: by hour of day in quarters, shorter on the road.

A crew woken at 3 a.m. takes longer to roll than one at 3 p.m., and a crew
already in its vehicle (returning from an earlier incident) has almost nothing
to do.  ``HourlyTurnout.fit`` keeps the observed turnouts of a calibration
period as they are — one sample per hour of the day for crews dispatched from
their station (the responses of that hour and its neighbours), one sample for
crews dispatched while on the road — and the dispatch board resamples the one
that matches the crew and the hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HourlyTurnout:
    """Observed turnout samples (s): ``in_quarters[h]`` for hour h of the day, ``on_road``."""

    in_quarters: tuple[np.ndarray, ...]
    on_road: np.ndarray

    @classmethod
    def fit(cls, hours: np.ndarray, seconds: np.ndarray, on_road: np.ndarray, window: int = 1,
            min_samples: int = 30) -> "HourlyTurnout":
        """Samples from observed turnouts: ``hours`` of dispatch (0-23), ``seconds``, and whether
        the crew was on the road.  Hour h takes the in-quarters turnouts of hours h - window ..
        h + window (wrapping midnight), widened an hour at a time until it holds ``min_samples``.
        With fewer than ``min_samples`` on-road turnouts, crews on the road use the hour's sample."""
        hours = np.asarray(hours, dtype=np.int64) % 24
        seconds = np.asarray(seconds, dtype=float)
        on_road = np.asarray(on_road, dtype=bool)
        ok = np.isfinite(seconds) & (seconds >= 0)
        hours, seconds, on_road = hours[ok], seconds[ok], on_road[ok]
        home_h, home_s = hours[~on_road], seconds[~on_road]
        if len(home_s) < min_samples:
            raise ValueError(f"only {len(home_s)} turnouts of crews in quarters: too few to sample by hour "
                             f"(need {min_samples})")
        samples = []
        for h in range(24):
            near = np.abs((home_h - h + 12) % 24 - 12)
            w = window
            while (near <= w).sum() < min_samples:
                w += 1
            samples.append(home_s[near <= w].copy())
        road = seconds[on_road]
        return cls(tuple(samples), road.copy() if len(road) >= min_samples else np.zeros(0))

    def sample(self, rng: np.random.Generator, n: int, hour: int, en_route: bool = False) -> np.ndarray:
        """``n`` turnouts for a crew dispatched in ``hour``, from its station or on the road."""
        pool = self.on_road if en_route and len(self.on_road) else self.in_quarters[int(hour) % 24]
        return rng.choice(pool, n)

    def medians(self) -> dict:
        """Median turnout by hour in quarters and on the road (for reports)."""
        return {"in_quarters_by_hour": [float(np.median(s)) for s in self.in_quarters],
                "on_road": float(np.median(self.on_road)) if len(self.on_road) else None}
