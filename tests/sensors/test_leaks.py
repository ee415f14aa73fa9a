"""Leak detection on simulated L-Town leaks (known start and size), on synthetic demand changes that are
not leaks (holidays, a season, a growth step) and on the real 2019 flows."""

import numpy as np
import pandas as pd
import pytest

from shared_data import shared_path
from simulation.sensors.leaks import LeakDetector, SimulatedLeak, inflow_from_files, net_inflow, simulate_inflow

DAY = 86_400


@pytest.fixture(scope="module")
def ltown(request):
    return shared_path("ltown", "L-TOWN.inp")


# the defaults before issue 9 item 8's third attempt: the night detector alone, its step sized against the level
NIGHT_ONLY = dict(h=5.0, step_size=False, day_h=0.0, day_confirm=0.0)


def run(inp, days, leaks, seed, **settings):
    sim = simulate_inflow(inp, days=days, leaks=leaks, seed=seed)
    inflow = net_inflow(sim["flows"], sim["levels"], inp=inp)
    return sim, LeakDetector(**settings).detect(inflow)  # leaks and repairs: a false drop is a false alarm too


def test_background_leak_detection_delay_start_and_size_over_four_noisy_runs(ltown):
    """A 14 m3/h leak from Wednesday 14:00 after a week of history, four noise seeds, days ±3 %.

    Measured with the night detector alone (NIGHT_ONLY; recorded in bench/README.md): every run
    finds it within 39 h (on the second night), with no other event; three runs of four place the
    start within 10 minutes and the size within 20 %; one (seed 3) is caught by the burst
    detector the second morning, 9 h late and with the size doubled.  The defaults (below) lose
    seed 0: with days ±3 % the day means do not confirm the night step within the 11 days.
    """
    start = 8 * DAY + 14 * 3600
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    good_start = good_size = 0
    for seed in range(4):
        sim, events = run(ltown, 11, [SimulatedLeak("n100", start, 2.0)], seed, **NIGHT_ONLY)
        true_size = sim["leak_flow"]["n100"].between_time("01:00", "05:00").iloc[-48:].mean()
        assert 12 < true_size < 16  # m3/h at night
        assert len(events) == 1 and events[0].kind == "leak", (seed, [e.as_dict() for e in events])
        e = events[0]
        assert pd.Timedelta(0) < e.detected - leak_start <= pd.Timedelta(hours=39), seed
        good_start += abs(e.start - leak_start) <= pd.Timedelta(hours=1)
        good_size += abs(e.size_m3h - true_size) <= 0.35 * true_size
    assert good_start >= 3 and good_size >= 3


def test_background_leak_with_the_defaults_on_days_three_times_as_noisy_as_2019(ltown):
    """The same leak and seeds with the defaults (day detector, night steps confirmed by the day means):
    measured, seeds 1-3 find it within 39 h (1 and 2 on the second night, start within 15 minutes,
    13.4 and 13.9 m3/h; 3 by the burst detector); seed 0 finds nothing."""
    start = 8 * DAY + 14 * 3600
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    found = []
    for seed in range(4):
        sim, events = run(ltown, 11, [SimulatedLeak("n100", start, 2.0)], seed)
        assert len(events) <= 1 and all(e.kind == "leak" for e in events), (seed, [e.as_dict() for e in events])
        for e in events:
            assert pd.Timedelta(0) < e.detected - leak_start <= pd.Timedelta(hours=39), seed
            found.append((seed, e.method, abs(e.start - leak_start) <= pd.Timedelta(minutes=15)))
    assert found == [(1, "night", True), (2, "night", True), (3, "burst", False)]


def test_simulated_incipient_leak_grows_linearly(ltown):
    """A leak with ramp_s: its emitter coefficient grows from 0 to the full value over the ramp."""
    sim = simulate_inflow(ltown, days=4, seed=0, leaks=[SimulatedLeak("n150", DAY, 2.0, None, 2 * DAY),
                                                          SimulatedLeak("n380", DAY, 2.0)])
    grown, abrupt = sim["leak_flow"]["n150"], sim["leak_flow"]["n380"]
    t0 = pd.Timestamp("2019-01-01", tz="UTC")
    assert (grown[:t0 + pd.Timedelta(days=1)] == 0).all()
    full = grown[t0 + pd.Timedelta(days=3, hours=1):].mean()
    assert 12 < full < 16  # m3/h, as the abrupt leak of the same coefficient elsewhere (12.6-13.2)
    assert 12 < abrupt[t0 + pd.Timedelta(days=1, hours=1):].mean() < 14
    for quarter in (1, 2, 3):  # a quarter, half and three quarters of the way
        at = grown[t0 + pd.Timedelta(days=1 + quarter / 2)]
        assert at == pytest.approx(full * quarter / 4, rel=0.1), quarter


def test_burst_found_within_an_hour_and_no_false_alarms_without_leaks(ltown):
    start = 8 * DAY + 10 * 3600
    sim, events = run(ltown, 9, [SimulatedLeak("n100", start, 8.0)], 5)
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    assert len(events) == 1
    e = events[0]
    assert e.method == "burst" and e.kind == "leak" and e.detected - leak_start <= pd.Timedelta(hours=1)
    true_size = sim["leak_flow"]["n100"].iloc[-36:].mean()
    assert e.size_m3h == pytest.approx(true_size, rel=0.25)
    _, quiet = run(ltown, 21, [], 11)
    assert quiet == []


def test_real_2019_l_town_flows(shared):
    inflow, balance = inflow_from_files(shared("ltown", "2019_Flows.csv"), shared("ltown", "2019_Levels.csv"))
    assert balance == "p227 + p235 - A_T1·dh/dt"
    assert 150 < inflow.mean() < 300  # m3/h: the network draws more as the year's leaks accumulate
    events = LeakDetector().detect(inflow)
    # compared with the BattLeDIM 2019 leak schedule in bench/README.md; here the two large
    # January leaks (p523 from 2019-01-15 23:00, p827 from 01-24 18:30) and p523's repair (02-01 09:50)
    leaks = [e for e in events if e.kind == "leak"]
    repairs = [e for e in events if e.kind == "repair"]
    assert abs(leaks[0].start - pd.Timestamp("2019-01-15 23:00", tz="UTC")) <= pd.Timedelta(hours=1)
    assert abs(leaks[1].start - pd.Timestamp("2019-01-24 18:30", tz="UTC")) <= pd.Timedelta(hours=1)
    assert leaks[0].size_m3h > 15 and leaks[1].size_m3h > 10
    assert abs(repairs[0].start - pd.Timestamp("2019-02-01 09:50", tz="UTC")) <= pd.Timedelta(hours=1)


def test_levels_of_another_period_and_empty_flows_are_named(ltown, tmp_path):
    """Levels that miss the flows' times made the net inflow unknown and found 'no leak' silently;
    a header-only flows file crashed with an IndexError."""
    from twin.errors import SourceError

    flows = tmp_path / "flows.csv"
    flows.write_text("Timestamp;p227;p235\n2019-01-01 00:00:00;88,1;90,9\n2019-01-01 00:05:00;82,9;83,3\n"
                     "2019-01-01 00:10:00;80,0;81,0\n")
    levels = tmp_path / "levels.csv"
    levels.write_text("Timestamp;T1\n2018-01-01 00:00:00;3,2\n2018-01-01 00:05:00;3,3\n")
    with pytest.raises(ValueError, match=r"levels.csv: no level reading at any time of the flows \(flows "
                                         r"2019-01-01 00:00 \.\. 2019-01-01 00:10, levels 2018-01-01 00:00 \.\. "
                                         r"2018-01-01 00:05\)"):
        inflow_from_files(flows, levels, ltown)
    levels.write_text("Timestamp;T1\n2019-01-01 00:00:00;3,2\n2019-01-01 00:05:00;3,3\n")
    inflow, balance = inflow_from_files(flows, levels, ltown)
    assert balance == ("p227 + p235 - A_T1·dh/dt (no level reading at 1 of 3 flow steps: net inflow unknown "
                       "there)")
    assert inflow.isna().tolist() == [True, False, True]  # the first step has no level change yet
    flows.write_text("Timestamp;p227;p235\n")
    with pytest.raises(SourceError, match="flows.csv: no readings"):
        inflow_from_files(flows, None, ltown)


# ------------------------------------------------------------------ synthetic series: the demand model
def synthetic_inflow(days=56, *, holidays=(), scale=None, leak_m3h=0.0, leak_start=None, seed=0,
                     day_sd=0.03, night_sd=0.0):
    """A DMA inflow at 5-min steps from 2019-01-01: customers' use by day type plus a constant leak.

    Tuesday-Friday and Monday: morning peak at 07:30, night 50 m3/h; Saturday: later
    peak, night 62; Sunday (and every date in ``holidays``): later, lower peak,
    night 68.  Each day's use is scaled by 1 + N(0, ``day_sd``) (3 %) and by ``scale[day]``,
    from midnight to 06:00 by another 1 + N(0, ``night_sd``) (its own generator);
    every reading gets 1 % noise.  ``leak_m3h`` is added from ``leak_start`` on.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range("2019-01-01", periods=days * 288, freq="5min", tz="UTC")
    hour = (index.hour + index.minute / 60).to_numpy()
    day = np.arange(len(index)) // 288
    weekday = index.day_of_week.to_numpy()
    sunday = (weekday == 6) | np.isin(index.date, [pd.Timestamp(h).date() for h in holidays])
    saturday = (weekday == 5) & ~sunday

    def bump(centre, width):
        return np.exp(-(((hour - centre) / width) ** 2))

    def day_on(a, b):
        return 1 / (1 + np.exp(-(hour - a) * 2)) - 1 / (1 + np.exp(-(hour - b) * 2))

    use = np.where(sunday, 68 + 110 * bump(10.5, 2) + 75 * bump(19, 2) + 35 * day_on(8, 23),
                   np.where(saturday, 62 + 120 * bump(9.5, 2) + 95 * bump(19.5, 2) + 40 * day_on(7, 23),
                            50 + 150 * bump(7.5, 1.5) + 120 * bump(19.5, 2) + 40 * day_on(6, 22)))
    factor = (1 + day_sd * rng.standard_normal(days)) * (np.ones(days) if scale is None else np.asarray(scale))
    flow = use * factor[day]
    if night_sd:
        night = 1 + night_sd * np.random.default_rng([seed, 1]).standard_normal(days)
        flow = flow * np.where(hour < 6, night[day], 1.0)
    if leak_start is not None:
        flow = flow + leak_m3h * (index >= pd.Timestamp(leak_start))
    flow = flow * (1 + 0.01 * rng.standard_normal(len(flow)))
    return pd.Series(flow, index=index)


def leak_events(detector, inflow):
    return [e for e in detector.detect(inflow) if e.kind == "leak"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_holiday_drawn_like_a_sunday_is_no_event_when_declared(seed):
    """Wednesday 2019-02-13 (day 43) is a holiday: its night and peaks are a Sunday's."""
    inflow = synthetic_inflow(holidays=["2019-02-13"], seed=seed)
    detector = LeakDetector(holidays=("2019-02-13",))
    assert detector.detect(inflow) == []
    # a night judged a demand change elsewhere is noise; the holiday itself raised nothing
    assert not [c for c in detector.demand_changes if abs(c.start - pd.Timestamp("2019-02-13", tz="UTC"))
                < pd.Timedelta(days=2)]


@pytest.mark.parametrize("settings, prompt_runs, split",
                         [(NIGHT_ONLY, 5, ()), ({}, 5, (0,)), ({"confirm_ratio": 1e9}, 3, ())],
                         ids=["night-only", "defaults", "days-always-judge"])
def test_a_10_m3h_step_is_found_within_40_hours_with_its_start_and_size(settings, prompt_runs, split):
    """Six noise seeds, days ±3 %: measured with the night detector alone, five found on the first or
    second night with the start within 10 minutes; one (seed 0) on the fourth night, the start placed on
    the third.  With the defaults (the day means, noisier than the nights here, do not judge the night
    steps) five on the first or second night with the start within 10 minutes; seed 0 in two parts: a
    1.9 m3/h step placed two days early, then the rest, 11.0 m3/h, on the fourth night.  (With the day
    means judging every night step, as in the third attempt, three were prompt: seeds 0 and 4 found
    on the fourth or fifth night, seed 5's start placed 7 h early.)"""
    start = pd.Timestamp("2019-02-13 13:00", tz="UTC")  # a Wednesday, day 43
    prompt = 0
    for seed in range(6):
        events = leak_events(LeakDetector(**settings), synthetic_inflow(leak_m3h=10.0, leak_start=start, seed=seed))
        assert len(events) == (2 if seed in split else 1), (seed, [e.as_dict() for e in events])
        if seed in split:
            assert events[0].size_m3h < 2.5 and events[0].start < start - pd.Timedelta(days=2), seed
        e = events[-1]
        assert pd.Timedelta(0) < e.detected - start <= pd.Timedelta(days=5), seed
        assert e.size_m3h == pytest.approx(10.0, rel=0.3), seed
        prompt += e.detected - start <= pd.Timedelta(hours=40) and abs(e.start - start) <= pd.Timedelta(hours=1)
    assert prompt == prompt_runs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_steepest_eight_weeks_of_a_15_percent_season_are_no_event(seed):
    scale = 1 + 0.15 * np.sin(2 * np.pi * (np.arange(56) - 28) / 365)  # 0.93 -> 1.07: 14 % in eight weeks
    assert LeakDetector().detect(synthetic_inflow(scale=scale, seed=seed)) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_demand_step_of_6_percent_is_no_leak(seed):
    """Customers drawing 6 % more from day 40 (a new estate): +3 m3/h at night, +17 at the peaks."""
    scale = np.where(np.arange(56) >= 40, 1.06, 1.0)
    assert leak_events(LeakDetector(), synthetic_inflow(scale=scale, seed=seed)) == []


def test_a_holiday_that_is_not_a_date_is_named():
    with pytest.raises(ValueError, match="holidays: not a date: Easter"):
        LeakDetector(holidays=("2019-04-28", "Easter"))


def test_simulated_tank_levels_move():
    """EN_TANKLEVEL is the initial level in the EPANET toolkit: the simulated level stayed at 3.5 m
    all day, and the net inflow carried the pump's 44 m3/h of tank filling as if customers drew it."""
    inp = shared_path("ltown", "L-TOWN.inp")
    levels = simulate_inflow(inp, days=1, seed=0)["levels"]["T1"]
    assert levels.max() - levels.min() > 1.0  # T1 cycles between its pump controls (2.4 m and 3.9 m)


def test_a_day_long_draw_that_stops_is_a_transient_not_a_leak():
    """25 m3/h drawn for 36 hours (mains flushed, a pool filled) from Tuesday 2019-02-12 20:00: with
    transient_hours=48 the rise and the drop that ends it go to demand_changes as a transient, not to the
    leak events."""
    index = pd.date_range("2019-01-01", periods=56 * 288, freq="5min", tz="UTC")
    extra = 25.0 * ((index >= pd.Timestamp("2019-02-12 20:00", tz="UTC"))
                    & (index < pd.Timestamp("2019-02-14 08:00", tz="UTC")))
    for seed in range(3):
        inflow = synthetic_inflow(seed=seed) + extra
        detector = LeakDetector(transient_hours=48)
        assert detector.detect(inflow) == [], seed
        kinds = [c.kind for c in detector.demand_changes]
        assert "transient rise" in kinds and "transient end" in kinds, (seed, kinds)
        # off (the default), the same draw is a leak and its repair
        events = LeakDetector().detect(inflow)
        assert [e.kind for e in events] == ["leak", "repair"], (seed, [e.as_dict() for e in events])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_small_step_is_sized_as_the_step_not_against_a_level_that_took_part_of_it_in(seed):
    """A 6 m3/h leak from Wednesday 2019-02-13 13:00, with step_size and night_cut: found with its start
    within a day and its size within 35 %."""
    start = pd.Timestamp("2019-02-13 13:00", tz="UTC")
    detector = LeakDetector(step_size=True, night_cut=True)
    events = leak_events(detector, synthetic_inflow(leak_m3h=6.0, leak_start=start, seed=seed))
    assert len(events) == 1, [e.as_dict() for e in events]
    assert abs(events[0].start - start) <= pd.Timedelta(days=1)
    assert events[0].size_m3h == pytest.approx(6.0, rel=0.35)


def test_simulated_night_use_varies_from_night_to_night_and_only_at_night():
    inp = shared_path("ltown", "L-TOWN.inp")
    quiet = simulate_inflow(inp, days=2, seed=3)["flows"]
    noisy = simulate_inflow(inp, days=2, seed=3, night_sd=0.1)["flows"]
    again = simulate_inflow(inp, days=2, seed=3, night_sd=0.0)["flows"]
    pd.testing.assert_frame_equal(quiet, again)  # night_sd=0 leaves every draw as it was
    hour = quiet.index.hour
    assert not np.allclose(quiet[hour < 6].to_numpy(), noisy[hour < 6].to_numpy())
    # by day the demands are the same (the tanks' state carried over from the night moves the pump a little)
    day = (hour >= 10) & (hour < 20)
    assert np.allclose(quiet[day]["p227"], noisy[day]["p227"], rtol=0.05)


# ------------------------------------------------ days as quiet as 2019's, nights as noisy: the day detector
def test_a_6_m3h_leak_on_noisy_nights_is_found_by_the_day_means():
    """Days ±0.8 % and nights ±5 % (as the 2019 L-Town flows), a 6 m3/h leak from Wednesday
    2019-02-13 13:00, four seeds.  Measured: the defaults find it in all four with the start within
    10 minutes (two by the day detector, two by the night detector confirmed by the day means), sized
    4.8-7.4 m3/h; the night detector alone finds it once, a week late and sized 2.2 m3/h."""
    start = pd.Timestamp("2019-02-13 13:00", tz="UTC")
    methods = []
    for seed in range(4):
        inflow = synthetic_inflow(leak_m3h=6.0, leak_start=start, seed=seed, day_sd=0.008, night_sd=0.05)
        events = leak_events(LeakDetector(), inflow)
        assert len(events) == 1, (seed, [e.as_dict() for e in events])
        assert abs(events[0].start - start) <= pd.Timedelta(minutes=10), seed
        assert 4.5 < events[0].size_m3h < 7.5, seed
        methods.append(events[0].method)
        alone = leak_events(LeakDetector(**NIGHT_ONLY), inflow)
        if seed == 2:
            assert len(alone) == 1 and alone[0].detected - start > pd.Timedelta(days=6) and alone[0].size_m3h < 3
        else:
            assert alone == [], seed
    assert methods == ["day", "night", "night", "day"]


def test_an_8_percent_demand_step_on_noisy_nights_is_mostly_a_demand_change():
    """Customers drawing 8 % more from Wednesday 2019-02-13 (days ±0.8 %, nights ±5 %): about +4 m3/h at
    night, +10 in the day's mean.  Measured, four seeds: three judged demand rises within a day of the
    step (the day detector twice, the night detector once), one (seed 0) taken for a 7 m3/h leak."""
    scale = np.where(np.arange(56) >= 43, 1.08, 1.0)
    step = pd.Timestamp("2019-02-13", tz="UTC")
    leaks, rises = 0, []
    for seed in range(4):
        detector = LeakDetector()
        leaks += len(leak_events(detector, synthetic_inflow(scale=scale, seed=seed, day_sd=0.008, night_sd=0.05)))
        rises += [(seed, c.method) for c in detector.demand_changes
                  if c.kind == "demand rise" and abs(c.start - step) <= pd.Timedelta(days=1)]
    assert leaks == 1
    assert rises == [(1, "day"), (2, "day"), (3, "night")]
