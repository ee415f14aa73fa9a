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
    return sim, LeakDetector().detect(inflow)


@pytest.mark.parametrize("seed", [0, 3])
def test_background_leak_found_within_two_nights_with_start_and_size(ltown, seed):
    start = 8 * DAY + 14 * 3600  # Wednesday 2019-01-09 14:00 after a week of history
    sim, events = run(ltown, 11, [SimulatedLeak("n100", start, 2.0)], seed)
    true_size = sim["leak_flow"]["n100"].between_time("01:00", "05:00").iloc[-48:].mean()
    assert 12 < true_size < 16  # m3/h at night
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    assert len(events) == 1, [e.as_dict() for e in events]  # no false alarm before or after
    e = events[0]
    assert e.method == "night"
    assert pd.Timedelta(0) < e.detected - leak_start <= pd.Timedelta(hours=39)
    assert abs(e.start - leak_start) <= pd.Timedelta(hours=1)
    assert e.size_m3h == pytest.approx(true_size, rel=0.35)


def test_burst_found_within_an_hour_and_no_false_alarms_without_leaks(ltown):
    start = 8 * DAY + 10 * 3600
    sim, events = run(ltown, 9, [SimulatedLeak("n100", start, 8.0)], 5)
    leak_start = pd.Timestamp("2019-01-01", tz="UTC") + pd.Timedelta(seconds=start)
    assert len(events) == 1
    e = events[0]
    assert e.method == "burst" and e.detected - leak_start <= pd.Timedelta(hours=1)
    true_size = sim["leak_flow"]["n100"].iloc[-36:].mean()
    assert e.size_m3h == pytest.approx(true_size, rel=0.25)
    _, quiet = run(ltown, 21, [], 11)
    assert quiet == []


def test_real_2019_l_town_flows(shared):
    inflow, balance = inflow_from_files(shared("ltown", "2019_Flows.csv"), shared("ltown", "2019_Levels.csv"))
    assert balance == "p227 + p235 - A_T1·dh/dt"
    assert 150 < inflow.mean() < 300  # m3/h: the network draws more as the year's leaks accumulate
    events = LeakDetector().detect(inflow)
    # recorded in bench/README.md: the first two, large January leaks are found within a day
    assert len(events) >= 5
    first = events[0]
    assert pd.Timestamp("2019-01-14", tz="UTC") < first.start < pd.Timestamp("2019-01-17", tz="UTC")
    assert first.size_m3h > 15
