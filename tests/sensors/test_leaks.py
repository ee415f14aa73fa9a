"""Leak detection on simulated L-Town leaks (known start and size) and on the real 2019 flows."""

import pandas as pd
import pytest

from simulation.sensors.leaks import LeakDetector, SimulatedLeak, inflow_from_files, net_inflow, simulate_inflow

DAY = 86_400


@pytest.fixture(scope="module")
def ltown(request):
    from tests.conftest import shared_path

    return shared_path("ltown", "L-TOWN.inp")


def run(inp, days, leaks, seed):
    sim = simulate_inflow(inp, days=days, leaks=leaks, seed=seed)
    inflow = net_inflow(sim["flows"], sim["levels"], inp=inp)
    return sim, LeakDetector().detect(inflow)  # leaks and repairs: a false drop is a false alarm too


def test_background_leak_detection_delay_start_and_size_over_four_noisy_runs(ltown):
    """A 14 m3/h leak from Wednesday 14:00 after a week of history, four noise seeds.

    Measured (recorded in bench/README.md): every run finds it within 39 h (on the
    second night), with no other event; three runs of four place the start within 10
    minutes and the size within 20 %; one (seed 3) is caught by the burst
    detector the second morning, 9 h late and with the size doubled.
    """
    start = 8 * DAY + 14 * 3600
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    good_start = good_size = 0
    for seed in range(4):
        sim, events = run(ltown, 11, [SimulatedLeak("n100", start, 2.0)], seed)
        true_size = sim["leak_flow"]["n100"].between_time("01:00", "05:00").iloc[-48:].mean()
        assert 12 < true_size < 16  # m3/h at night
        assert len(events) == 1 and events[0].kind == "leak", (seed, [e.as_dict() for e in events])
        e = events[0]
        assert pd.Timedelta(0) < e.detected - leak_start <= pd.Timedelta(hours=39), seed
        good_start += abs(e.start - leak_start) <= pd.Timedelta(hours=1)
        good_size += abs(e.size_m3h - true_size) <= 0.35 * true_size
    assert good_start >= 3 and good_size >= 3


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
