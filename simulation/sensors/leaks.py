"""Leak detection on a DMA's inflow: minimum night flow watched by CUSUM change-point tests.

The input is the DMA's **net inflow** (what customers and leaks take) at a fixed
step: the sum of the source flows minus the water put into storage.  For
L-Town: ``p227 + p235 - A_T1 · dh_T1/dt`` (PUMP_1 lifts water from inside the
network into tank T1, so it cancels in the whole-network balance; it is what
splits area C off: ``PUMP_1 - A_T1 · dh/dt``).  :func:`net_inflow` builds it from
SCADA columns, an EPANET model giving tank diameters and which links leave
reservoirs.

Three detectors run over the inflow, day by day, on the flow *corrected* for the
leaks already found (so each new leak is measured against what the network drew
before it, and a year's leaks are found one after another):

* **night** — each night's minimum of the one-hour mean flow in
  ``night=(1, 5)`` hours (when customers use least, so a leak stands out) is
  compared with what a **demand model** expects of it: a level that follows the
  last ``level_days`` nights of every day type plus an offset per day type
  (weekend nights draw more; a date in ``holidays`` is a Sunday), so a season,
  a growth step or a weekend is not a leak; a one-sided CUSUM on the
  standardised excess (drift ``k``, threshold ``h``) signals small leaks after
  one to a few nights.  A rise whose excess grows with customers' use (a
  demand change, larger at the peaks than at night) rather than being a constant
  flow is not a leak: it goes to :attr:`LeakDetector.demand_changes`;
* **burst** — every step, the one-hour mean flow is compared with the highest
  baseline (median of the same time of day over the same day type's baseline
  days, scaled to the demand of the last days) within an hour either side, so
  peaks arriving early are not bursts; a CUSUM with a large drift signals bursts
  within about an hour.

* **day** — each day's mean flow (days vary far less than nights: 2019
  L-Town 0.8 % from one working day to the next against 3.2 % for the minimum
  night flow) is compared with a Theil-Sen trend of the last ``trend_days``
  days, each divided by its day type's factor; a CUSUM (``day_k``, ``day_h``)
  signals a lasting step, placed on the days and then within them.  A leak adds
  about as much at night as to the day's mean, customers drawing more about half
  as much (L-Town's night is about half its mean): once ``min_nights`` nights
  follow the step, a step whose nights rose by less than ``night_share`` of it
  is a demand change.  Night detections are confirmed the same way
  (``day_confirm``): a night step whose day means did not rise by at least
  0.7 of it is noise (one odd night, a noisy run), and one whose nights rose by
  less than ``night_share`` of the day means' rise is a demand change.  The day
  means judge a night step only where they are the better witness: while a
  day's mean varies less than ``confirm_ratio`` (1.74) times a night's about
  their expectations (each spread measured over the last ``noise_days`` days,
  compared once both rest on ``confirm_days`` days).  Where the days are the
  noisier (customers' use varying ±3 % from day to day), a night step is judged
  as by the night detector alone: a demand change when less than
  ``leak_share`` of its rise is a constant flow.

``step_size`` (on) sizes a night step as the nights after it less the nights
before it (not against a level that has taken part of it in); two settings, off
by default, were tried for noisy nights (``bench/README.md``): ``night_cut``
places the change on the nights first and then within the day before, and
``transient_hours`` moves a rise undone by a drop of about its size within that
many hours to the demand changes (a transient).  The defaults were chosen on
simulated years as noisy as 2019 (``bench/bench_leaks.py --like-2019``) and
checked on years whose days vary ±3 % (``bench/README.md``);
``day_h=0, day_confirm=0, step_size=False, h=5`` gives the night detector
alone, as before.

Both detectors also watch for **drops** (a leak repaired, a valve opened
back): such an event has ``kind="repair"`` and takes its size off the
correction, so a repaired leak does not hide the next one.

A detection becomes a :class:`LeakEvent`: ``start`` is the change point (the
step that best splits the residual flow into before and after, between the last
quiet night and the detection), ``detected`` when the CUSUM crossed, and
``size_m3h`` the mean excess flow since the start (at night for night
detections, the step of the nights; for day detections the step of the day
means; leaks driven by pressure are larger at night, when pressure is
highest); ``method`` is "night", "burst" or "day".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import SourceError


@dataclass(frozen=True)
class LeakEvent:
    start: pd.Timestamp
    detected: pd.Timestamp
    size_m3h: float
    method: str  # "night" or "burst"
    score: float  # CUSUM value at detection, in standard deviations
    kind: str = "leak"  # "leak" (the inflow rose) or "repair" (it fell back by size_m3h)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["start"] = _iso(self.start)
        d["detected"] = _iso(self.detected)
        d["size_m3h"] = round(self.size_m3h, 2)
        d["score"] = round(self.score, 1)
        return d


def _iso(ts: pd.Timestamp) -> str:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LeakDetector:
    """Settings of the two detectors (defaults chosen on a simulated L-Town year, ``bench/bench_leaks.py``).

    Baselines compare like with like: a day is compared with earlier days of the
    same **day type** — Monday, Tuesday to Friday, Saturday, Sunday (and the
    dates in ``holidays``) — because weekend nights draw noticeably more (L-Town:
    about +15 % at 04:00) and Monday mornings start earlier.  A day whose type
    has fewer than ``min_baseline_days`` earlier days is not tested (reported in
    :attr:`untested_days`).  Night rises judged demand changes, not leaks, are
    kept in :attr:`demand_changes` (``kind`` "demand rise" or "demand fall").
    """

    night: tuple[float, float] = (1.0, 5.0)
    baseline_days: int = 7
    min_baseline_days: int = 3
    k: float = 0.75
    h: float = 4.0
    burst_k: float = 2.0
    burst_h: float = 10.0
    sigma_floor_rel: float = 0.02   # night sigma at least 2 % of the night flow...
    sigma_floor_abs: float = 0.5    # ...and at least 0.5 m³/h
    burst_sigma_floor_rel: float = 0.08  # of the day's mean flow: the morning ramp shifts by tens of minutes
    level_days: int = 7        # the night level: the last 7 nights of every day type...
    type_weeks: int = 6        # ...each less its day type's offset, measured over the last 6 weeks
    noise_days: int = 28       # night noise: the spread of the last 28 nights around their expectation
    leak_share: float = 0.5    # day_confirm=0: a night rise is a leak when at least half of it is a constant flow
    holidays: tuple = ()       # dates (ISO strings or dates) whose demand is a Sunday's
    # mechanisms for noisy nights (bench/README.md); step_size is on since the third attempt of issue 9 item 8:
    step_size: bool = True         # size a night step as the nights after it less the nights before it
    night_cut: bool = False        # place a night detection's change on the nights first, then within a day
    transient_hours: float = 0.0   # a rise undone by a drop of about its size within this many hours is no leak
    # the day detector: each day's mean flow against a trend of the last days (each divided by its day type's
    # factor); a leak adds about as much at night as to the day's mean, a demand change about half as much
    day_h: float = 5.0             # CUSUM threshold (0: off)
    day_k: float = 0.75            # CUSUM drift, in standard deviations of a day's mean
    trend_days: int = 21           # the trend: a Theil-Sen line through the last 21 days
    night_share: float = 0.6       # a day step is a leak when the night step is at least 0.6 of it
    day_sigma_floor_rel: float = 0.004  # a day's mean varies at least 0.4 %
    min_nights: int = 5            # nights after a day step needed to judge it
    flat_step: bool = True         # a day step is measured against the level of the level_days days before it
    day_confirm: float = 0.7       # a night step is a leak only if the day means rose by this share of it (0: off)...
    confirm_ratio: float = 1.74    # ...judged so only while a day's mean varies less than 1.74 times a night's,
    confirm_days: int = 21         # each spread measured on at least 21 of the last noise_days days

    def __post_init__(self):
        self.untested_days: list[str] = []
        self.demand_changes: list[LeakEvent] = []
        self._holidays = set()
        for day in self.holidays:
            try:
                self._holidays.add(pd.Timestamp(day).date())
            except (ValueError, TypeError):
                raise ValueError(f"holidays: not a date: {day} (give YYYY-MM-DD)") from None

    def detect(self, inflow: pd.Series) -> list[LeakEvent]:
        """Leak events in ``inflow`` (m³/h, a DatetimeIndex at a fixed step)."""
        q, index, spd = _regular(inflow)
        n_days = len(q) // spd
        if n_days < self.min_baseline_days + 1:
            raise ValueError(f"leak detection needs at least {self.min_baseline_days + 1} whole days of "
                             f"inflow, got {len(q) / spd:.1f}")
        q = q[: n_days * spd]
        index = index[: n_days * spd]
        weekday = index[::spd].day_of_week.to_numpy()
        day_type = np.where((weekday >= 1) & (weekday <= 4), 1, weekday)
        day_type[[day in self._holidays for day in index[::spd].date]] = 6  # a holiday is a Sunday
        step_h = 24.0 / spd
        win = max(1, int(round(1.0 / step_h)))  # one hour of steps
        q1h = _rolling_mean(q, win)
        corr = np.zeros_like(q)
        n0, n1 = int(round(self.night[0] / step_h)), int(round(self.night[1] / step_h))
        events: list[LeakEvent] = []
        # index 0 watches for rises (leaks), index 1 for drops (repairs): a repaired leak must come
        # off the correction, or the flow it no longer draws would hide the next leak for weeks
        s_night, s_burst = [0.0, 0.0], [0.0, 0.0]
        burst_run_start = [0, 0]
        night_run: list[list[float]] = [[], []]  # night excesses (m³/h) of the current CUSUM runs
        quiet_end = [0, 0]                       # end of the last night each night CUSUM was at rest
        profile = np.full(len(q), np.nan)  # today's baseline at every tested step, for the change point
        quiet_until = 0  # no new event while the one-hour mean still straddles the last change
        night_resid = np.full(n_days, np.nan)  # each tested night less its expectation, for the noise
        self.untested_days = []
        self.demand_changes = []
        self._demand_day = -1  # the day of the last demand change judged
        self._event_day = 0    # the day of the last event's start
        s_day = [0.0, 0.0]
        day_run: list[list[int]] = [[], []]   # days of the current day-CUSUM runs
        day_resid = np.full(n_days, np.nan)   # each tested day's mean less its expectation (m³/h)

        def record(method, direction, cut, j, size, score):
            nonlocal quiet_until
            start = max(0, cut - win // 2)  # the one-hour mean lags a step by half an hour
            size = max(size, 0.0)
            events.append(LeakEvent(index[start], index[j], size, method, float(score),
                                    "leak" if direction == 0 else "repair"))
            corr[start:] += size if direction == 0 else -size
            self._event_day = start // spd
            s_burst[:] = [0.0, 0.0]
            s_night[:] = [0.0, 0.0]
            s_day[:] = [0.0, 0.0]
            day_run[0], day_run[1] = [], []
            night_run[0], night_run[1] = [], []
            quiet_end[:] = [j, j]
            quiet_until = j + win

        for d in range(n_days):
            n_events = len(events)
            same = [x for x in range(d - 1, max(-1, d - 7 * self.baseline_days), -1)
                    if day_type[x] == day_type[d]][: self.baseline_days]
            if len(same) < self.min_baseline_days:
                self.untested_days.append(str(index[d * spd].date()))
                continue
            qc1h = q1h - corr
            hist = np.stack([qc1h[x * spd:(x + 1) * spd] for x in same])
            base = np.nanmedian(hist, axis=0)
            sig = 1.4826 * np.nanmedian(np.abs(hist - base), axis=0)
            sig = _rolling_mean(np.concatenate([sig[-win:], sig, sig[:win]]), 2 * win + 1)[win:-win]
            # the same day type's days reach weeks back (Sundays: seven weeks): scaled to the demand of
            # the last days, the profile follows a season instead of lagging it by weeks
            ratio = self._demand_ratio(qc1h, d, spd, day_type, same)
            base, sig = base * ratio, sig * ratio
            profile[d * spd:(d + 1) * spd] = base
            sig = np.maximum(np.maximum(sig, self.burst_sigma_floor_rel * abs(float(np.nanmean(base)))),
                             self.sigma_floor_abs)
            # customers' morning and evening peaks shift by tens of minutes from day to day: a rise
            # is measured above the highest baseline within an hour either side, a drop below the lowest
            padded = np.concatenate([base[-win:], base, base[:win]])
            windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * win + 1)[:spd]
            base_hi, base_lo = np.nanmax(windows, axis=1), np.nanmin(windows, axis=1)
            nb, ns, offset = self._night_expectation(qc1h, d, spd, n0, n1, day_type, night_resid)
            # the day type's median profile lags a trend (its days reach weeks back): moved to tonight's
            # expected night level, the residual has no jump where one day type gives way to another
            base_night = float(np.nanmin(base[n0:n1])) if np.isfinite(base[n0:n1]).any() else np.nan
            if np.isfinite(nb) and np.isfinite(base_night):
                profile[d * spd:(d + 1) * spd] = base + (nb - base_night)
            for i in range(spd):
                j = d * spd + i
                qj = q1h[j] - corr[j]
                if j < quiet_until or np.isnan(qj):
                    continue
                fired = False
                for direction, z in ((0, (qj - base_hi[i]) / sig[i]), (1, (base_lo[i] - qj) / sig[i])):
                    s_new = max(0.0, s_burst[direction] + z - self.burst_k)
                    if s_burst[direction] == 0.0 and s_new > 0:
                        burst_run_start[direction] = j
                    s_burst[direction] = s_new
                    if s_new > self.burst_h:
                        sign = 1.0 if direction == 0 else -1.0
                        resid = sign * (q1h - corr - profile)
                        # the change may be older than this run (a leak that only now, added to the
                        # morning peak, stands out): look back to the last quiet night as well
                        a = max(0, min(burst_run_start[direction] - 2 * win, quiet_end[direction]))
                        cut = _change_point(resid, a, j)
                        record("burst", direction, cut, j, float(np.nanmean(resid[cut:j + 1])), s_new)
                        fired = True
                        break
                if fired or i != n1 - 1:
                    continue
                # night CUSUMs, once the night window has closed
                mnf = np.nanmin((q1h - corr)[d * spd + n0: d * spd + n1])
                night_resid[d] = mnf - nb
                for direction, excess in ((0, mnf - nb), (1, nb - mnf)):
                    s_night[direction] = max(0.0, s_night[direction] + excess / ns - self.k)
                    if s_night[direction] == 0.0:
                        night_run[direction], quiet_end[direction] = [], j
                        continue
                    night_run[direction].append(excess)
                    run = night_run[direction]
                    # a leak persists: one odd night (a party, a filled pool) is not enough, the
                    # two latest nights of the run must both stand out
                    persistent = len(run) >= 2 and min(run[-2:]) > self.k * ns
                    if s_night[direction] > self.h and persistent:
                        sign = 1.0 if direction == 0 else -1.0
                        if self.night_cut:
                            cut = self._night_cut(sign * (q1h - corr - profile), q1h - corr, sign,
                                                  quiet_end[direction], j, d, spd, n0, n1, day_type, offset)
                        else:
                            cut = _change_point(sign * (q1h - corr - profile), quiet_end[direction], j)
                        # size: the nights wholly after the change point, against the baseline night
                        first = (cut - n0 + spd - 1) // spd
                        after = [sign * (np.nanmin((q1h - corr)[x * spd + n0: x * spd + n1]) - nb)
                                 for x in range(first, d + 1)]
                        size = float(np.median(after)) if after else run[-1]
                        # step_size: the size that goes into the correction is the step itself, the nights
                        # after the change point less the nights before it (each less its day type's offset);
                        # against tonight's level it can come out too small, as the 7-night level has taken
                        # in part of the step by the time the CUSUM crosses, and the rest of the leak then
                        # makes false events (2019: p523's and p827's repairs measured 31.6 and 32.7 m³/h
                        # against leaks measured 27.5 and 17.7)
                        step = self._night_step(q1h - corr, first, d, spd, n0, n1, day_type, offset) \
                            if self.step_size else np.nan
                        if after and np.isfinite(step):
                            size = sign * step
                        if size < self.k * ns:
                            # the nights after the best change point do not stand out: the run was
                            # scattered odd nights, not a step; start counting afresh from tonight (a
                            # step tonight, after a few slightly high nights, is still a step)
                            s_night[direction] = max(0.0, excess / ns - self.k)
                            night_run[direction] = [excess] if s_night[direction] > 0 else []
                            quiet_end[direction] = j - spd
                            continue
                        # the day means judge a night step only where a day's mean is the better witness:
                        # a leak adds about as much to both, so the noisier of the two must not overrule
                        recent = day_resid[max(0, d - self.noise_days):d]
                        recent = recent[np.isfinite(recent)]
                        day_sd = 1.4826 * float(np.median(np.abs(recent - np.median(recent)))) \
                            if len(recent) >= 7 else 0.0
                        # (compared once each spread rests on confirm_days days of the noise window: a ratio
                        # of two spreads of a fortnight each is itself too noisy to overrule the day means)
                        known = len(recent) >= self.confirm_days and \
                            np.isfinite(night_resid[max(0, d - self.noise_days):d]).sum() >= self.confirm_days
                        if self.day_confirm > 0 and (not known or day_sd < self.confirm_ratio * ns):
                            # a leak adds to the day's mean about what it adds at night; customers drawing
                            # more add about twice as much; one odd night or a noisy run adds nothing
                            day_step = sign * self._day_step_after(q, corr, cut, d, spd, day_type)
                            if not np.isfinite(day_step):
                                continue  # no whole day after the change yet: judge it after the next night
                            if day_step < max(self.day_confirm * size, self.day_k * day_sd):
                                s_night[direction] = max(0.0, excess / ns - self.k)
                                night_run[direction] = [excess] if s_night[direction] > 0 else []
                                quiet_end[direction] = j - spd
                                continue
                            night_step = sign * self._night_step(q1h - corr, first, d, spd, n0, n1, day_type, offset)
                            demand = (night_step if np.isfinite(night_step) else size) < self.night_share * day_step
                        else:
                            constant = _constant_part(sign * (q1h - corr - profile), profile, nb, cut, j, spd // 2)
                            demand = constant < self.leak_share * size
                        if demand:
                            # customers draw more (or less) in proportion to their usual use: a demand
                            # change (season, growth, a new estate), not a leak; the night level follows it
                            self._demand_day = cut // spd
                            self.demand_changes.append(LeakEvent(
                                index[max(0, cut - win // 2)], index[j], size, "night", float(s_night[direction]),
                                "demand rise" if direction == 0 else "demand fall"))
                            s_night[direction], night_run[direction], quiet_end[direction] = 0.0, [], j
                            continue
                        record("night", direction, cut, j, size, s_night[direction])
                        break
            if self.day_h > 0 and len(events) == n_events:
                self._day_test(q, q1h, corr, profile, index, d, spd, win, day_type, day_resid, s_day, day_run,
                               n0, n1, record)
        return self._without_transients(events) if self.transient_hours > 0 else events

    def _day_test(self, q, q1h, corr, profile, index, d, spd, win, day_type, day_resid, s_day, day_run,
                  n0, n1, record) -> None:
        """The day detector, at the end of day ``d``: a CUSUM on the day's mean flow less its expectation.

        Expected: a Theil-Sen line through the last ``trend_days`` days' means,
        each divided by its day type's factor (its median day mean over that of
        the Tuesday-Friday days, last ``type_weeks`` weeks), extrapolated to
        today and multiplied by today's factor.  On a crossing, the step is
        placed on the days (the best split of the run's day residuals), then
        within the two days around it on the one-hour residual; it is sized as
        the days after it less the trend before it.  Once ``min_nights`` nights
        follow it, a step whose nights rose by less than ``night_share`` of it is
        customers drawing more in proportion (a demand change), not a leak.
        """
        first = max(0, d - 7 * self.type_weeks)
        qc = (q - corr)[first * spd:(d + 1) * spd].reshape(-1, spd)
        ok = np.isfinite(qc).sum(axis=1) >= spd // 2
        with np.errstate(invalid="ignore"):
            means = np.where(ok, np.nanmean(np.where(np.isfinite(qc), qc, np.nan), axis=1), np.nan)
        types = day_type[first:d + 1]
        factor = self._type_factors(means[:-1], types[:-1])
        if factor is None or not np.isfinite(means[-1]):
            return
        norm = means / np.array([factor.get(t, 1.0) for t in types])
        xs = np.arange(first, d + 1)
        # the trend of the days since the last demand change judged (their step is not corrected for)
        pick = (xs < d) & (xs >= max(d - self.trend_days, self._demand_day + 1))
        line = _theil_sen(xs[pick], norm[pick])
        if line is None:
            return
        f_today = factor.get(day_type[d], 1.0)
        expected = (line[0] + line[1] * d) * f_today
        resid = day_resid[max(0, d - self.noise_days):d]
        resid = resid[np.isfinite(resid)]
        spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) if len(resid) >= 7 else 0.0
        sd = max(spread, self.day_sigma_floor_rel * abs(expected), self.sigma_floor_abs)
        day_resid[d] = means[-1] - expected
        for direction in (0, 1):
            sign = 1.0 if direction == 0 else -1.0
            s_day[direction] = max(0.0, s_day[direction] + sign * day_resid[d] / sd - self.day_k)
            if s_day[direction] == 0.0:
                day_run[direction] = []
                continue
            day_run[direction].append(d)
            if s_day[direction] <= self.day_h or len(day_run[direction]) < 2:
                continue
            # the day of the step: the best split of the day residuals from a week before the run to today
            a = max(first, day_run[direction][0] - 7, self._event_day)  # not before the last event's day
            r = sign * day_resid[a:d + 1]
            good = np.flatnonzero(np.isfinite(r))
            if len(good) < 3:
                continue
            c = a + int(good[_best_split(r[good])])  # the first day wholly or partly after the step
            lo, hi = max(0, (c - 1) * spd), min(len(q) - 1, (c + 1) * spd - 1)
            cut = _change_point(sign * (q1h - corr - profile), lo, hi)
            full = cut // spd + 1 if cut % spd else cut // spd  # the first whole day after the step
            before = (xs >= max(first, cut // spd - self.trend_days, self._demand_day + 1)) & (xs < cut // spd)
            after = (xs >= full) & np.isfinite(norm)
            pre = _theil_sen(xs[before], norm[before])
            if pre is None or not after.any():
                continue
            f = np.array([factor.get(t, 1.0) for t in types])
            size = float(np.median(((norm - (pre[0] + pre[1] * xs)) * f)[after]))
            if sign * size < self.day_k * sd:
                s_day[direction], day_run[direction] = 0.0, []
                continue
            # the nights: those after the step less those before it, each less its day type's offset
            nights = np.array([np.nanmin((q1h - corr)[x * spd + n0: x * spd + n1])
                               if np.isfinite((q1h - corr)[x * spd + n0: x * spd + n1]).any() else np.nan
                               for x in xs])
            ref = np.nanmedian(nights[:-1][types[:-1] == 1]) if (types[:-1] == 1).any() else np.nan
            offs = np.array([np.nanmedian(nights[:-1][types[:-1] == t]) - ref
                             if (types[:-1] == t).any() and t != 1 else 0.0 for t in types])
            nn = nights - np.nan_to_num(offs)
            n_after = nn[(xs >= full) & np.isfinite(nn)]
            n_before = nn[(xs < cut // spd) & (xs >= cut // spd - self.level_days) & np.isfinite(nn)]
            if len(n_after) < self.min_nights or not len(n_before):
                continue  # too few nights yet to tell a leak from customers drawing more: wait
            night_step = float(np.median(n_after) - np.median(n_before))
            if sign * night_step < self.night_share * sign * size:
                self._demand_day = cut // spd
                self.demand_changes.append(LeakEvent(  # sized at night, as the night detector's are
                    index[max(0, cut - win // 2)], index[(d + 1) * spd - 1], abs(night_step), "day",
                    float(s_day[direction]), "demand rise" if direction == 0 else "demand fall"))
                s_day[direction], day_run[direction] = 0.0, []
                continue
            record("day", direction, cut, (d + 1) * spd - 1, abs(size), s_day[direction])
            return

    def _day_step_after(self, q, corr, cut, d, spd, day_type) -> float:
        """The step of the day means at ``cut``: whole days after it, up to day ``d`` (excluded), less the trend before.

        Each day's mean is divided by its day type's factor; the trend is a
        Theil-Sen line through the ``trend_days`` days before the cut's day.
        NaN when no whole day lies between the cut and day ``d``.
        """
        full = -(-cut // spd)
        first = max(0, cut // spd - max(7 * self.type_weeks, self.trend_days))
        if full >= d or cut // spd - first < 5:
            return np.nan
        qc = (q - corr)[first * spd:d * spd].reshape(-1, spd)
        ok = np.isfinite(qc).sum(axis=1) >= spd // 2
        with np.errstate(invalid="ignore"):
            means = np.where(ok, np.nanmean(np.where(np.isfinite(qc), qc, np.nan), axis=1), np.nan)
        xs = np.arange(first, d)
        types = day_type[first:d]
        before = xs < cut // spd
        factor = self._type_factors(means[before], types[before])
        if factor is None:
            return np.nan
        f = np.array([factor.get(t, 1.0) for t in types])
        norm = means / f
        if self.flat_step:  # the level of the last level_days days before it, as the night step is measured
            pick = before & (xs >= max(cut // spd - self.level_days, self._demand_day + 1)) & np.isfinite(norm)
            line = (float(np.median(norm[pick])), 0.0) if pick.any() else None
        else:
            pick = before & (xs >= max(cut // spd - self.trend_days, self._demand_day + 1))
            line = _theil_sen(xs[pick], norm[pick])
        after = (xs >= full) & np.isfinite(norm)
        if line is None or not after.any():
            return np.nan
        return float(np.median(((norm - (line[0] + line[1] * xs)) * f)[after]))

    def _type_factors(self, means, types) -> dict | None:
        """Each day type's median day mean over that of the Tuesday-Friday days (None: no such day yet)."""
        ref = means[(types == 1) & np.isfinite(means)]
        if len(ref) < 3:
            return None
        ref = float(np.median(ref))
        out = {}
        for t in np.unique(types):
            m = means[(types == t) & np.isfinite(means)]
            out[t] = float(np.median(m)) / ref if len(m) and ref > 0 else 1.0
        return out

    def _night_cut(self, resid, qc1h, sign, quiet, j, d, spd, n0, n1, day_type, offset) -> int:
        """Where a night detection's change lies: first the night, then the step in the day before it.

        The nights from ``level_days`` nights before the run's last quiet night
        to tonight, each less its day type's offset, are split where the mean
        after differs most from the mean before (as :func:`_change_point` does);
        the step is then placed on ``resid`` between that night and the one
        before.  A CUSUM run can last a week or two (a small leak, an odd night
        keeping it up): searched over the whole run, the residual at every step
        of the day (whose peaks drift) put the change days before the leak.
        """
        xs, vals = [], []
        for x in range(max(0, quiet // spd - self.level_days), d + 1):
            seg = qc1h[x * spd + n0: x * spd + n1]
            if np.isfinite(seg).any():
                xs.append(x)
                vals.append(sign * (float(np.nanmin(seg)) - offset.get(day_type[x], 0.0)))
        if len(vals) < 3:
            return _change_point(resid, quiet, j)
        night = xs[_best_split(np.asarray(vals))]
        return _change_point(resid, max(0, (night - 1) * spd + n0), night * spd + n1 - 1)

    def _night_step(self, qc1h, first, d, spd, n0, n1, day_type, offset) -> float:
        """Median night of days ``first..d`` less that of the ``level_days`` days before ``first``.

        Each night (the minimum one-hour mean flow in the night window) is taken
        less its day type's ``offset``, so weekends mixed in do not bias the step.
        NaN when either side has no night.
        """
        def nights(days):
            out = []
            for x in days:
                seg = qc1h[x * spd + n0: x * spd + n1]
                if np.isfinite(seg).any():
                    out.append(float(np.nanmin(seg)) - offset.get(day_type[x], 0.0))
            return out

        after, before = nights(range(first, d + 1)), nights(range(max(0, first - self.level_days), first))
        if not after or not before:
            return np.nan
        return float(np.median(after)) - float(np.median(before))

    def _without_transients(self, events: list[LeakEvent]) -> list[LeakEvent]:
        """Leak events undone within ``transient_hours`` by a drop of about their size, moved to demand changes.

        A leak runs until it is repaired, days at the least; a rise that a drop
        of within half its size ends within ``transient_hours`` (48: two days)
        is customers' temporary use
        (a pool filled, mains flushed, a fire fought) and both go to
        :attr:`demand_changes` as "transient rise" and "transient end".  (A leak
        repaired within ``transient_hours`` of its start is reported so too.)
        """
        gone: set[int] = set()
        for a, rise in enumerate(events):
            if rise.kind != "leak":
                continue
            for b in range(a + 1, len(events)):
                drop = events[b]
                if drop.start - rise.start > pd.Timedelta(hours=self.transient_hours):
                    break
                if drop.kind == "repair" and b not in gone and abs(drop.size_m3h - rise.size_m3h) <= 0.5 * rise.size_m3h:
                    gone |= {a, b}
                    self.demand_changes += [replace(rise, kind="transient rise"), replace(drop, kind="transient end")]
                    break
        return [e for i, e in enumerate(events) if i not in gone]

    def _demand_ratio(self, qc1h, d, spd, day_type, same) -> float:
        """How much more customers draw now than on the ``same`` day-type days the profile comes from.

        Each day's mean flow is divided by the median day mean of its type over
        the last ``type_weeks`` weeks; the ratio is the median of that over the
        last ``level_days`` days over its median over the ``same`` days (1 when
        either is unknown).
        """
        first = max(0, d - 7 * self.type_weeks)
        days = np.arange(first, d)
        means = np.array([np.nanmean(qc1h[x * spd:(x + 1) * spd]) if np.isfinite(qc1h[x * spd:(x + 1) * spd]).any()
                          else np.nan for x in days])
        types = day_type[first:d]
        typical = {t: np.nanmedian(means[types == t]) if np.isfinite(means[types == t]).any() else np.nan
                   for t in np.unique(types)}
        norm = np.array([m / typical[t] if typical[t] > 0 else np.nan for m, t in zip(means, types)])
        recent = norm[-self.level_days:]
        before = norm[[x - first for x in same if x >= first]]
        recent, before = recent[np.isfinite(recent)], before[np.isfinite(before)]
        if not len(recent) or not len(before):
            return 1.0
        ratio = float(np.median(recent) / np.median(before))
        return ratio if np.isfinite(ratio) and ratio > 0 else 1.0

    def _night_expectation(self, qc1h, d, spd, n0, n1, day_type, night_resid) -> tuple[float, float, dict]:
        """Tonight's expected minimum night flow, its noise (m³/h) and the day types' offsets, from the demand model.

        Night flow = a slowly moving **level** + an **offset** of the day type
        (weekend nights draw more).  The offset of a type is the median of its
        nights less the median of the Tuesday-Friday nights over the last
        ``type_weeks`` weeks (both medians lag a trend alike, so the difference
        does not); the level is the median over the last ``level_days`` nights,
        of every type, each less its offset, so a season or a growth step is
        followed within days whatever the day type.  The noise is the robust
        spread of the last ``noise_days`` tested nights around what was expected
        of them, with the floors ``sigma_floor_rel`` and ``sigma_floor_abs``.
        """
        first = max(0, d - 7 * self.type_weeks)
        days = np.arange(first, d)
        nights = np.array([np.nanmin(qc1h[x * spd + n0: x * spd + n1])
                           if np.isfinite(qc1h[x * spd + n0: x * spd + n1]).any() else np.nan for x in days])
        types = day_type[first:d]
        ok = np.isfinite(nights)
        weekday_nights = nights[ok & (types == 1)]
        ref = float(np.median(weekday_nights)) if len(weekday_nights) else np.nan
        offset = {}
        for t in np.unique(types):
            of_type = nights[ok & (types == t)]
            offset[t] = float(np.median(of_type)) - ref if t != 1 and len(of_type) and np.isfinite(ref) else 0.0
        offset.setdefault(day_type[d], 0.0)
        recent = slice(max(0, len(days) - self.level_days), None)
        level = np.array([n - offset[t] for n, t in zip(nights[recent], types[recent])])
        level = level[np.isfinite(level)]
        nb = float(np.median(level)) + offset[day_type[d]] if len(level) else np.nan
        resid = night_resid[max(0, d - self.noise_days):d]
        resid = resid[np.isfinite(resid)]
        if len(resid) >= 7:
            spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        else:  # too few tested nights yet: the spread of the same day type's recent nights
            same = nights[ok & (types == day_type[d])][-self.baseline_days:]
            spread = 1.4826 * float(np.median(np.abs(same - np.median(same)))) if len(same) else 0.0
        ns = max(spread, self.sigma_floor_rel * abs(nb), self.sigma_floor_abs)
        return nb, ns, offset


def _constant_part(resid: np.ndarray, profile: np.ndarray, night: float, a: int, b: int, min_steps: int) -> float:
    """The part of a night rise that is a constant flow, not customers drawing more in proportion.

    Fits ``resid = alpha · profile + beta`` over steps ``[a, b]`` (the excess over
    the day-type profile from the change point to now, every hour of the day) and
    returns ``beta``: a leak adds about the same flow at every hour (more at night,
    use (``alpha · night`` at night, several times that at the peaks).  With
    fewer than ``min_steps`` steps (half a day: the fit needs a peak as well as the
    night) the rise cannot be told apart and is returned whole (infinite).
    """
    r, p = resid[a:b + 1], profile[a:b + 1]
    ok = np.isfinite(r) & np.isfinite(p)
    r, p = r[ok], p[ok]
    if len(r) < min_steps or np.ptp(p) <= 0:
        return np.inf
    alpha, beta = np.polyfit(p, r, 1)
    return float(beta + min(alpha, 0.0) * night)  # a leak larger at night than at the peaks is all leak


def _theil_sen(x: np.ndarray, y: np.ndarray):
    """(intercept, slope) of the Theil-Sen line through the finite points; flat through their median with
    fewer than 5, None with none."""
    ok = np.isfinite(y)
    x, y = np.asarray(x, dtype="float64")[ok], np.asarray(y, dtype="float64")[ok]
    if len(x) < 5:
        return (float(np.median(y)), 0.0) if len(x) else None
    i, j = np.triu_indices(len(x), 1)
    slope = float(np.median((y[j] - y[i]) / (x[j] - x[i])))
    return float(np.median(y - slope * x)), slope


def _change_point(resid: np.ndarray, a: int, b: int) -> int:
    """The index in ``[a, b]`` that best splits ``resid`` into a lower mean before and a higher after.

    Steps with no residual (untested days) are skipped; the statistic is the
    two-sample mean difference scaled by sqrt(n1·n2/n), maximised.
    """
    idx = np.arange(a, b + 1)
    r = resid[a:b + 1]
    ok = ~np.isnan(r)
    idx, r = idx[ok], r[ok]
    if len(r) < 3:
        return b
    return int(idx[_best_split(r)])


def _best_split(r: np.ndarray) -> int:
    """The position (1..n-1) of the first value after the split of ``r`` maximising (mean after − mean before)·sqrt(n1·n2/n)."""
    n = len(r)
    csum = np.cumsum(r)
    c = np.arange(1, n)
    m1 = csum[:-1] / c
    m2 = (csum[-1] - csum[:-1]) / (n - c)
    stat = (m2 - m1) * np.sqrt(c * (n - c) / n)
    return int(np.argmax(stat)) + 1


def _regular(inflow: pd.Series) -> tuple[np.ndarray, pd.DatetimeIndex, int]:
    if not isinstance(inflow.index, pd.DatetimeIndex):
        raise ValueError("inflow must be indexed by time")
    s = inflow.sort_index()
    s = s[~s.index.duplicated(keep="last")]
    step = pd.Series(s.index).diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ValueError("inflow needs at least two distinct timestamps")
    spd = int(round(pd.Timedelta("1D") / step))
    if spd < 4 or abs(pd.Timedelta("1D") / step - spd) > 1e-6:
        raise ValueError(f"inflow step {step} does not divide a day")
    start = s.index[0].normalize()
    full = pd.date_range(start, s.index[-1], freq=step)
    s = s.reindex(full)
    return s.to_numpy("float64"), full, spd


def _rolling_mean(x: np.ndarray, win: int) -> np.ndarray:
    """Trailing mean over ``win`` samples, ignoring NaN (NaN only when the whole window is)."""
    if win <= 1:
        return x.astype("float64")
    v = np.nan_to_num(x, nan=0.0)
    c = np.concatenate([[0.0], np.cumsum(v)])
    m = np.concatenate([[0], np.cumsum(~np.isnan(x))])
    idx = np.arange(len(x)) + 1
    lo = np.maximum(0, idx - win)
    count = m[idx] - m[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c[idx] - c[lo]) / count
    out[count == 0] = np.nan
    return out


# ------------------------------------------------------------------- inflow
#: flow units recognised in a column header such as ``DMA 3 (L/s)``: factor to m³/h
_SLASH_DATE = r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"


def _unit_of(path, col: str, kind: str) -> tuple[str | None, float]:
    """The unit named in parentheses at the end of a column header, and its factor to m³/h (or m), by the
    importers' conversions (:func:`simulation.sensors.importers.unit_factor`)."""
    import re

    from simulation.sensors.importers import unit_factor

    m = re.search(r"\(([^()]*)\)\s*$", str(col))
    if not m:
        return None, 1.0
    unit = m.group(1).strip()
    target = "m3/h" if kind == "flow" else "m"
    try:
        return unit, unit_factor(unit, target)
    except ValueError:
        known = "L/s, m3/s or m3/h" if kind == "flow" else "m"
        raise SourceError(f"{path}: column {col!r}: unknown unit {unit!r} (give {known}, or no unit for "
                          f"{target})") from None


def _slash_times(path, raw: pd.Series, dayfirst: bool | None, notes: list) -> pd.DatetimeIndex:
    """``DD/MM/YYYY`` or ``MM/DD/YYYY`` timestamps: the one reading that fits, never a guess."""
    parts = raw.str.extract(_SLASH_DATE)
    bad = parts[0].isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise SourceError(f"{path}: line {row + 2}: not a timestamp: {raw.iloc[row]!r} "
                          f"(the other rows are DD/MM/YYYY or MM/DD/YYYY dates)")
    num = parts.fillna("0").astype("int64")
    clock = pd.to_timedelta(num[3] * 3600 + num[4] * 60 + num[5], unit="s")

    def reading(day, month):
        t = pd.to_datetime(pd.DataFrame({"year": num[2], "month": num[month], "day": num[day]}), errors="coerce")
        return pd.DatetimeIndex(t + clock.to_numpy())

    d_first, m_first = reading(0, 1), reading(1, 0)
    if dayfirst is not None:
        t = d_first if dayfirst else m_first
        if t.isna().any():
            row = int(np.flatnonzero(t.isna())[0])
            order = "DD/MM/YYYY (--dayfirst)" if dayfirst else "MM/DD/YYYY (--monthfirst)"
            raise SourceError(f"{path}: line {row + 2}: not a {order} date: {raw.iloc[row]!r}")
        notes.append(f"dates read {'day' if dayfirst else 'month'}-first "
                     f"({'DD/MM/YYYY' if dayfirst else 'MM/DD/YYYY'}) as asked")
        return t
    ok_d, ok_m = not d_first.isna().any(), not m_first.isna().any()
    if ok_d != ok_m:
        row = int(np.flatnonzero((m_first if ok_d else d_first).isna())[0])
        notes.append(f"dates read {'day' if ok_d else 'month'}-first ({'DD/MM/YYYY' if ok_d else 'MM/DD/YYYY'}): "
                     f"the only reading of line {row + 2} ({raw.iloc[row]!r})")
        return d_first if ok_d else m_first
    if not ok_d and not ok_m:
        row = int(np.flatnonzero(d_first.isna() & m_first.isna())[0]) if (d_first.isna() & m_first.isna()).any() \
            else max(int(np.flatnonzero(d_first.isna())[0]), int(np.flatnonzero(m_first.isna())[0]))
        raise SourceError(f"{path}: line {row + 2}: not a date: {raw.iloc[row]!r} "
                          f"(neither DD/MM/YYYY nor MM/DD/YYYY reads every row)")
    differ = np.flatnonzero((d_first != m_first))
    if not len(differ):
        return d_first
    inc_d, inc_m = bool((np.diff(d_first.asi8) > 0).all()), bool((np.diff(m_first.asi8) > 0).all())
    if inc_d != inc_m:
        notes.append(f"dates read {'day' if inc_d else 'month'}-first ({'DD/MM/YYYY' if inc_d else 'MM/DD/YYYY'}): "
                     f"the only reading that keeps the rows in time order")
        return d_first if inc_d else m_first
    row = int(differ[0])
    raise SourceError(f"{path}: line {row + 2}: ambiguous date {raw.iloc[row]!r}: day-first it is "
                      f"{d_first[row]:%Y-%m-%d}, month-first {m_first[row]:%Y-%m-%d}, and both read every row; "
                      f"give --dayfirst or --monthfirst, or write ISO 8601 dates (YYYY-MM-DD)")


def _times(path, raw: pd.Series, dayfirst: bool | None, notes: list) -> pd.DatetimeIndex:
    raw = raw.fillna("").astype(str).str.strip()
    empty = (raw == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise SourceError(f"{path}: line {row + 2}: no timestamp")
    if raw.str.match(_SLASH_DATE).any():
        return _slash_times(path, raw, dayfirst, notes)
    offsets = raw.str.extract(_OFFSET)[0].fillna("").str.replace(":", "", regex=False).replace("Z", "+0000")
    if offsets.nunique() > 1:
        row = int(np.flatnonzero((offsets != offsets.iloc[0]).to_numpy())[0])
        first = offsets.iloc[0] or "none"
        raise SourceError(f"{path}: line {row + 2}: UTC offset {offsets.iloc[row] or 'none'} of {raw.iloc[row]!r} "
                          f"differs from line 2's ({first}): give every timestamp the same offset, or none")
    parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        # not ISO 8601: let pandas try other forms, still strictly (a row it cannot read is an error)
        other = pd.to_datetime(raw, errors="coerce", format="mixed")
        parsed = parsed.fillna(other) if parsed.dt.tz == other.dt.tz else other
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise SourceError(f"{path}: line {row + 2}: not a timestamp: {raw.iloc[row]!r}")
    return pd.DatetimeIndex(parsed)


def read_battledim_csv(path, *, dayfirst: bool | None = None, kind: str = "flow", info: dict | None = None,
                       timezone: str | None = None) -> pd.DataFrame:
    """A SCADA CSV (BattLeDIM: ``;`` separator, ``,`` decimal; ``,``-separated with ``.`` decimals also read)
    as a frame indexed by time, in m³/h (flows) or m (levels).

    The first column is the time: ISO 8601 (one UTC offset for every row, kept: the night is the data's own
    night; no offset: UTC) or ``DD/MM/YYYY`` / ``MM/DD/YYYY`` (``dayfirst`` decides; without it the one
    reading that fits every row and keeps them in order, else an error).  A unit in a header, such as
    ``DMA 3 (L/s)``, is converted; no unit means m³/h.  Duplicated or out-of-order timestamps and infinite
    values are errors; NaN and empty cells are missing readings.  ``info`` (a dict) receives the units used.
    ``timezone`` (e.g. ``Europe/Rome``): times without an offset are that zone's clock, placed as
    :func:`simulation.sensors.importers.import_bwdf` places them (the hour repeated when the clocks go back
    resolved in file order), so the night is the data's own night.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: a folder, not a CSV file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not a ';'-separated SCADA table (not UTF-8 text: {exc})") from None
    if "\x00" in text:
        raise SourceError(f"{path}: not a ';'-separated SCADA table (binary data)")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SourceError(f"{path}: not a ';'-separated SCADA table (empty: no header line)")
    header = lines[0]
    sep = ";" if ";" in header else "\t" if "\t" in header else "," if "," in header else None
    if sep is None:
        raise SourceError(f"{path}: not a SCADA table: its header {header[:60]!r} has one column "
                          f"(a time column and flow columns separated by ';' are needed)")
    import io

    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise SourceError(f"{path}: not a {sep!r}-separated SCADA table ({str(exc).splitlines()[0]})") from None
    if frame.empty:  # a header alone: there is nothing to test, and the checks below need a row
        raise SourceError(f"{path}: no readings (a header line and no rows)")
    if frame.shape[1] < 2:
        raise SourceError(f"{path}: one column {frame.columns[0]!r}: a time column and at least one "
                          f"{kind} column are needed")
    time_col = frame.columns[0]
    first = frame[time_col].astype(str).str.strip()
    numeric = pd.to_numeric(first.str.replace(",", ".", regex=False) if sep != "," else first, errors="coerce")
    if numeric.notna().all():
        raise SourceError(f"{path}: no time column: the first column {time_col!r} holds numbers "
                          f"({first.iloc[0]!r} on line 2), not timestamps; the first column must be the time")
    notes = info.setdefault("notes", []) if info is not None else []
    index = _times(path, frame[time_col], dayfirst, notes)
    naive = index.tz is None
    if naive and timezone:
        from simulation.sensors.importers import _dst_reason

        try:
            index = index.tz_localize(timezone, ambiguous="infer", nonexistent="raise")
        except Exception as exc:  # an unknown zone, or a clock time the zone skipped or cannot tell apart
            if "Unknown" in type(exc).__name__ or "ZoneInfo" in type(exc).__name__ or str(exc) == repr(timezone):
                raise SourceError(f"--timezone {timezone}: not a time zone (give an IANA name such as "
                                  "Europe/Rome)") from None
            raise SourceError(f"{path}: column {time_col!r}: local times cannot be placed in {timezone} "
                              f"({_dst_reason(exc)})") from None
        notes.append(f"times without an offset read as {timezone} clock time")
        if info is not None:
            info["timezone"] = timezone
        naive = False
    elif naive:
        index = index.tz_localize("UTC")
        if info is not None:
            info["naive_times"] = True
    # duplicated and out-of-order rows: a repeated reading made a fake burst and repair
    step = np.diff(index.asi8)
    if (step <= 0).any():
        i = int(np.flatnonzero(step <= 0)[0]) + 1
        raw = frame[time_col].astype(str).str.strip()
        # local clock times without an offset repeat an hour when the clocks go back: say what to do
        hint = (" (local time repeated when the clocks went back? give --timezone, or the times in UTC or "
                "with their UTC offset)") if naive and 1 <= index[i].hour <= 3 else ""
        same = np.flatnonzero(index.asi8[:i] == index.asi8[i])
        if len(same):
            raise SourceError(f"{path}: line {i + 2}: timestamp {raw.iloc[i]!r} repeats line {int(same[0]) + 2}"
                              f"{hint}")
        raise SourceError(f"{path}: line {i + 2}: timestamp {raw.iloc[i]!r} is earlier than line {i + 1} "
                          f"({raw.iloc[i - 1]!r}): rows must be in time order{hint}")
    out = pd.DataFrame(index=index)
    units = {}
    for col in frame.columns[1:]:
        cells = frame[col].astype(str).str.strip()
        if sep != ",":
            cells = cells.str.replace(",", ".", regex=False)
        values = pd.to_numeric(cells.where(cells != "", "nan"), errors="coerce")
        bad = values.isna() & ~cells.str.lower().isin(["", "nan", "na", "n/a", "null", "-"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise SourceError(f"{path}: line {row + 2}, column {col!r}: not a number: {frame[col].iloc[row]!r}")
        inf = np.isinf(values.to_numpy("float64"))
        if inf.any():
            row = int(np.flatnonzero(inf)[0])
            raise SourceError(f"{path}: line {row + 2}, column {col!r}: not a finite number: "
                              f"{frame[col].iloc[row]!r}")
        unit, factor = _unit_of(path, col, kind)
        units[col] = unit
        out[col] = values.to_numpy("float64") * factor
    if info is not None:
        info["units"] = units
    return out


def tank_areas(inp) -> dict[str, float]:
    """Cross-section area (m²) of every cylindrical tank of an EPANET model."""
    from twin.network import read_network

    wn = read_network(inp)
    return {name: float(np.pi * t.diameter ** 2 / 4) for name, t in wn.tanks()}


def source_links(inp) -> set[str]:
    """Links that leave a reservoir: the DMA's inflows."""
    from twin.network import read_network

    wn = read_network(inp)
    res = set(wn.reservoir_name_list)
    return {name for name, link in wn.links() if link.start_node_name in res or link.end_node_name in res}


def net_inflow(flows: pd.DataFrame, levels: pd.DataFrame | None = None, *, inp=None,
               sources: list[str] | None = None, areas: dict[str, float] | None = None) -> pd.Series:
    """Net inflow (m³/h) = Σ source flows − Σ tank area × d(level)/dt.

    ``sources`` default: the flow columns whose link leaves a reservoir in
    ``inp``; without a model, every flow column.  Tank areas come from ``areas``
    or the model's tank diameters; a level column with no known area is an error.
    """
    if sources is None:
        if inp is not None:
            links = source_links(inp)
            sources = [c for c in flows.columns if c in links]
            if not sources:
                raise ValueError(f"none of the flow columns {list(flows.columns)} leaves a reservoir in {inp}")
        else:
            sources = list(flows.columns)
    missing = [c for c in sources if c not in flows.columns]
    if missing:
        raise KeyError(f"no flow column {missing[0]!r} (columns: {', '.join(flows.columns)})")
    total = flows[sources].sum(axis=1, min_count=len(sources))
    if levels is not None and len(levels.columns):
        if areas is None:
            if inp is None:
                raise ValueError("tank levels need tank areas: give the EPANET model (--inp) or areas")
            areas = tank_areas(inp)
        levels = levels.reindex(total.index)
        for col in levels.columns:
            if col not in areas:
                raise KeyError(f"level column {col!r} is not a tank of the model (tanks: {', '.join(areas)})")
            dt_h = pd.Series(levels.index, index=levels.index).diff().dt.total_seconds() / 3600.0
            into = areas[col] * levels[col].diff() / dt_h
            total = total - into
    return total.rename("net_inflow")


def inflow_from_files(flows_csv, levels_csv=None, inp=None, sources=None, *, dayfirst: bool | None = None,
                      info: dict | None = None, timezone: str | None = None) -> tuple[pd.Series, str]:
    """Net inflow from BattLeDIM-style files; the model defaults to an .inp beside the flows file.

    Returns the series and a one-line description of the balance used.  ``info`` (a dict) receives what
    the reading assumed and found: ``units``, ``notes`` (sentences for the user), ``missing_steps``,
    ``gap_steps``, ``negative_steps``, ``days_without_data``.
    """
    info = {} if info is None else info
    flows = read_battledim_csv(flows_csv, dayfirst=dayfirst, info=info, timezone=timezone)
    levels = None
    if levels_csv:
        level_info: dict = {}
        levels = read_battledim_csv(levels_csv, dayfirst=dayfirst, kind="level", info=level_info, timezone=timezone)
        if info.get("naive_times") != level_info.get("naive_times"):
            raise ValueError(f"{levels_csv}: its timestamps {'have no' if level_info.get('naive_times') else 'have a'}"
                             f" UTC offset and those of {flows_csv} {'do' if level_info.get('naive_times') else 'do not'}"
                             f": give both files the same kind of time")
        levels.index = levels.index.tz_convert(flows.index.tz)
    if inp is None:
        beside = sorted(Path(flows_csv).resolve().parent.glob("*.inp"))
        inp = beside[0] if len(beside) == 1 else None
        if levels is not None and inp is None:
            raise ValueError(f"{levels_csv}: converting tank levels to flow needs the tank areas: "
                             f"give --inp MODEL.inp (none found beside {flows_csv})")
    if levels is not None:
        # levels of another period made the net inflow unknown (NaN) everywhere, and no leak was found
        shared = flows.index.intersection(levels.index)
        if not len(shared):
            raise ValueError(f"{levels_csv}: no level reading at any time of the flows "
                             f"(flows {flows.index.min():%Y-%m-%d %H:%M} .. {flows.index.max():%Y-%m-%d %H:%M}, "
                             f"levels {levels.index.min():%Y-%m-%d %H:%M} .. {levels.index.max():%Y-%m-%d %H:%M})")
    series = net_inflow(flows, levels, inp=inp, sources=sources)
    used = sources or ([c for c in flows.columns if c in source_links(inp)] if inp else list(flows.columns))
    desc = " + ".join(used)
    if levels is not None:
        desc += " - " + " - ".join(f"A_{c}·dh/dt" for c in levels.columns)
        unmatched = int((~flows.index.isin(levels.index)).sum())
        if unmatched:
            desc += f" (no level reading at {unmatched:,} of {len(flows):,} flow steps: net inflow unknown there)"
    _describe_input(series, used, info)
    return series, desc


def _describe_input(series: pd.Series, used: list[str], info: dict) -> None:
    """What the reading assumed and found, for the user: units, missing steps, gaps, negative inflow."""
    notes = info.setdefault("notes", [])
    units = info.get("units", {})
    given = {c: units.get(c) for c in used}
    if all(u is None for u in given.values()):
        notes.append("flow units: none in the column headers, m3/h assumed")
    else:
        notes.append("flow units: " + ", ".join(f"{c} in {u or 'm3/h (assumed: no unit in the header)'}"
                                                 for c, u in given.items()) + ", converted to m3/h")
    if info.get("naive_times"):
        notes.append("timestamps have no UTC offset: read as UTC (the night window is on the file's own clock)")
    elif info.get("timezone") and len(series):
        notes.append(f"the night window is in {info['timezone']} local time (summer and winter time alike); times are "
                     "printed in UTC")
    elif len(series):
        notes.append(f"timestamps at UTC offset {series.index[0]:%z}: the night window is in that local time; "
                     f"times are printed in UTC")
    q, index, spd = _regular(series) if len(series) > 1 else (series.to_numpy("float64"), series.index, 0)
    missing_rows = int(series.isna().sum())
    gap_steps = int(len(q) - len(series))
    info["missing_steps"], info["gap_steps"] = missing_rows, gap_steps
    if missing_rows:
        notes.append(f"{missing_rows:,} of {len(series):,} steps have no net inflow (NaN or empty cells, or no "
                     f"level difference): treated as missing")
    if gap_steps:
        notes.append(f"{gap_steps:,} steps missing from the time series (gaps): treated as missing")
    negative = int((series < 0).sum())
    info["negative_steps"] = negative
    if negative:
        notes.append(f"{negative:,} steps of negative net inflow (a meter or balance problem): kept as they are")
    days = []
    if spd:
        for d in range(len(q) // spd):
            if np.isnan(q[d * spd:(d + 1) * spd]).all():
                days.append(str(index[d * spd].date()))
    info["days_without_data"] = days
    if days:
        notes.append(f"{len(days)} day(s) without any net inflow: not tested")


# -------------------------------------------------------------- simulation
@dataclass(frozen=True)
class SimulatedLeak:
    """A leak to simulate: an emitter switched on at ``start_s`` at ``node`` (off at ``end_s``, repaired)."""

    node: str
    start_s: float
    coefficient: float  # EPANET emitter coefficient (flow units / m^0.5)
    end_s: float | None = None
    ramp_s: float = 0.0  # an incipient leak: the coefficient grows linearly from 0 over this many seconds


def simulate_inflow(inp, *, days: float, leaks=(), seed: int = 0, demand_sd: float = 0.03, night_sd: float = 0.0,
                    meter_sd: float = 0.01, level_resolution: float = 0.01,
                    start: str = "2019-01-01", demand_scale=None, holidays=()) -> dict:
    """Simulate a network with leaks; return SCADA-like noisy readings and the truth.

    Hydraulics with EPANET (owa-epanet toolkit, in memory, 5-minute steps of
    the model).  Noise: each day's demands are scaled by ``1 + N(0, demand_sd)``,
    and from midnight to 06:00 by another ``1 + N(0, night_sd)`` of that night's
    own (customers' night use varies from night to night more than the day's);
    every flow reading gets ``N(0, meter_sd × reading)``; tank levels are rounded
    to ``level_resolution`` m as a SCADA level sensor reports them.

    Demand changes that are not leaks: ``demand_scale`` (one multiplier per day,
    e.g. a season or a growth step) scales every demand of that day on top of the
    noise; each date in ``holidays`` is simulated with the demand patterns of the
    week's Sunday (a weekly pattern of whole days, as L-Town's, is assumed).

    A leak with ``ramp_s`` grows (its emitter coefficient linearly from 0 to
    ``coefficient`` over ``ramp_s`` seconds): an incipient leak, as a pipe crack
    that widens.

    Returns ``{"flows": DataFrame, "levels": DataFrame, "leak_flow": DataFrame}``
    (flows of every link leaving a reservoir or a pump; ``leak_flow`` the true
    emitter outflow per leak node, m³/h).
    """
    import os

    from epanet import toolkit as en

    rng = np.random.default_rng(seed)
    ph = en.createproject()
    try:
        en.open(ph, str(inp), os.devnull, "")
        en.setreport(ph, "STATUS NO")
        en.settimeparam(ph, en.DURATION, int(days * 86400))
        step = en.gettimeparam(ph, en.REPORTSTEP)
        links = [en.getlinkid(ph, i) for i in range(1, en.getcount(ph, en.LINKCOUNT) + 1)]
        res = {en.getnodeid(ph, i) for i in range(1, en.getcount(ph, en.NODECOUNT) + 1)
               if en.getnodetype(ph, i) == en.RESERVOIR}
        watch = []
        for i, name in enumerate(links, start=1):
            a, b = en.getlinknodes(ph, i)
            if en.getlinktype(ph, i) == en.PUMP or en.getnodeid(ph, a) in res or en.getnodeid(ph, b) in res:
                watch.append((name, i))
        tanks = [(en.getnodeid(ph, i), i) for i in range(1, en.getcount(ph, en.NODECOUNT) + 1)
                 if en.getnodetype(ph, i) == en.TANK]
        leak_idx = []
        for leak in leaks:
            try:
                leak_idx.append((leak, en.getnodeindex(ph, leak.node)))
            except Exception:
                raise KeyError(f"{inp}: no node {leak.node!r} for a simulated leak") from None
        n_days = int(np.ceil(days)) + 1
        day_factor = 1.0 + demand_sd * rng.standard_normal(n_days)
        # a generator of its own, so that night_sd=0 leaves every other draw as it was
        night_factor = 1.0 + night_sd * np.random.default_rng([seed, 1]).standard_normal(n_days) if night_sd \
            else np.ones(n_days)
        if demand_scale is not None:
            scale = np.asarray(demand_scale, dtype="float64")
            if len(scale) < int(np.ceil(days)):
                raise ValueError(f"demand_scale has {len(scale)} values, the simulation {int(np.ceil(days))} days")
            day_factor[:len(scale)] *= scale[:n_days]
        day0 = pd.Timestamp(start)
        holiday_days = {(pd.Timestamp(h) - day0).days for h in holidays}
        sunday = (6 - day0.day_of_week) % 7  # the first Sunday, as a day of the weekly patterns
        patterns = []  # (index, length, steps per day) of the weekly patterns a holiday rewrites
        pstep = en.gettimeparam(ph, en.PATTERNSTEP)
        if holiday_days and pstep > 0 and 86400 % pstep == 0:
            per_day = 86400 // pstep
            for i in range(1, en.getcount(ph, en.PATCOUNT) + 1):
                n = en.getpatternlen(ph, i)
                if n == 7 * per_day:
                    patterns.append((i, n, per_day))
        saved = []  # pattern values a holiday replaced, restored the next day
        en.openH(ph)
        en.initH(ph, 0)
        times, fl, lv, lk = [], [], [], []
        while True:
            t = en.runH(ph)
            if t % step == 0:
                times.append(t)
                fl.append([en.getlinkvalue(ph, i, en.FLOW) for _, i in watch])
                # EN_TANKLEVEL is the *initial* level in this toolkit: the level now is head - elevation
                lv.append([en.getnodevalue(ph, i, en.HEAD) - en.getnodevalue(ph, i, en.ELEVATION) for _, i in tanks])
                lk.append([en.getnodevalue(ph, i, en.EMITTERFLOW) for _, i in leak_idx])
            # what changes at the next step: leaks switching on, the day's demand level
            tstep = en.nextH(ph)
            if tstep <= 0:
                break
            t_next = t + tstep
            for leak, i in leak_idx:
                if leak.ramp_s > 0 and leak.start_s < t_next < leak.start_s + leak.ramp_s + tstep \
                        and (leak.end_s is None or t_next < leak.end_s):
                    grown = min(1.0, (t_next - leak.start_s) / leak.ramp_s)
                    en.setnodevalue(ph, i, en.EMITTER, leak.coefficient * grown)
                elif leak.ramp_s <= 0 and (t < leak.start_s <= t_next or (leak.start_s <= 0 and t == 0)):
                    en.setnodevalue(ph, i, en.EMITTER, leak.coefficient)
                if leak.end_s is not None and t < leak.end_s <= t_next:
                    en.setnodevalue(ph, i, en.EMITTER, 0.0)
            day_next = int(t_next // 86400)
            if day_next != int(t // 86400) or t == 0:
                for i, period, value in saved:
                    en.setpatternvalue(ph, i, period, value)
                saved = []
                if day_next in holiday_days:
                    for i, n, per_day in patterns:
                        slot, sun = (day_next % 7) * per_day, (sunday % 7) * per_day
                        for k in range(per_day):
                            saved.append((i, slot + k + 1, en.getpatternvalue(ph, i, slot + k + 1)))
                            en.setpatternvalue(ph, i, slot + k + 1, en.getpatternvalue(ph, i, sun + k + 1))
            night = t_next % 86400 < 6 * 3600
            en.setoption(ph, en.DEMANDMULT, float(day_factor[day_next] * (night_factor[day_next] if night else 1.0)))
        en.closeH(ph)
    finally:
        en.close(ph)
        en.deleteproject(ph)
    index = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.asarray(times), unit="s")
    flows = pd.DataFrame(np.asarray(fl), index=index, columns=[n for n, _ in watch])
    flows = flows * (1.0 + meter_sd * rng.standard_normal(flows.shape))
    levels = pd.DataFrame(np.asarray(lv), index=index, columns=[n for n, _ in tanks])
    if level_resolution:
        levels = (levels / level_resolution).round() * level_resolution
    leak_flow = pd.DataFrame(np.asarray(lk).reshape(len(times), len(leak_idx)), index=index,
                             columns=[leak.node for leak, _ in leak_idx])
    return {"flows": flows, "levels": levels, "leak_flow": leak_flow}
