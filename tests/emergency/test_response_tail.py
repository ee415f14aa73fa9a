"""What makes the tail of response times: the next station when the first-due unit is busy, units
sent from the road on their way home, travel speed and turnout by hour of day, the observed spread;
and the SF validation of all of them on a week the model was not calibrated on."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.emergency.config import Duration, StraightLine, load_scenario
from simulation.emergency.fleet import Fleet
from simulation.emergency.history import MECHANISMS, parse_dates, read_calls, read_stations, validate
from simulation.emergency.incidents import Incidents
from simulation.emergency.response import Draws, ResponseSimulation
from simulation.emergency.travel import StraightLineTravel, fit_hour_factor, travel_spread
from simulation.emergency.turnout import HourlyTurnout

from .conftest import exact_scenario

CALLS = ("sf-fire-2020", "calls_2020-04-07_2020-04-20.csv")
STATIONS = ("sf-fire-2020", "stations.csv")

# 100 s per km of straight line, no constant, no noise: travel times are exact
CURVE = {"a": 0.0, "b": 100.0, "c": 1.0, "sigma": 0.0}


def replay(stations, rows, handle_s=1000.0, turnout=None, en_route=False, hour_factor=None, engines=1):
    """Engines at ``stations`` [(id, x, y)]; incidents ``rows`` [(time, x, y)] asking ``engines`` each;
    no verification or call-taking delay, turnout 60 s unless ``turnout``, fixed time on scene."""
    scenario = exact_scenario()
    fleet = Fleet.from_rows([(sid, sid, "station", x, y, {"engine": 1}) for sid, x, y in stations], scenario)
    travel = StraightLineTravel(fleet.station_xy, StraightLine(**CURVE))
    if hour_factor is not None:
        travel.calibrate(hour_factor)
    t, x, y = (np.array(v, float) for v in zip(*rows))
    n = len(t)
    inc = Incidents(t, np.zeros(n, np.int64), ["fire"], np.ones(n, np.int64), np.column_stack([x, y]),
                    np.array([f"test:{i}" for i in range(n)], dtype=object))
    zeros = np.zeros(n)
    draws = Draws(zeros, zeros, np.full(n, handle_s), zeros, np.zeros(n, bool))
    sim = ResponseSimulation(scenario, fleet, travel, inc, seed=1, draws=draws,
                             turnout={"engine": turnout or Duration(fixed=60)},
                             assignments={"fire": ["engine"] * engines}, available_en_route=en_route)
    return sim.run().crews.sort_values(["incident", "dispatched"]).reset_index(drop=True)


def test_first_due_busy_sends_the_next_stations_engine_with_its_longer_drive():
    # A at the origin, B 3 km east; both incidents 500 m east of A, 10 s apart
    crews = replay([("A", 0, 0), ("B", 3000, 0)], [(0, 500, 0), (10, 500, 0)])
    assert crews["unit"].tolist() == [0, 1]
    assert crews["mutual_aid"].tolist() == [False, True]
    travel = crews["on_scene"] - crews["rolling"]
    assert travel.tolist() == pytest.approx([50.0, 250.0])  # 0.5 km and 2.5 km at 100 s/km
    assert (crews["rolling"] - crews["dispatched"]).tolist() == pytest.approx([60.0, 60.0])


def test_a_returning_unit_is_sent_from_where_it_is_on_its_way_home():
    # one engine at the origin; the first incident 2 km east: on scene at 60 + 200, handled at 1260,
    # home at 1460.  At 1360 it is halfway back, at (1000, 0); the second incident is at (1000, 500).
    rows = [(0, 2000, 0), (1360, 1000, 500)]
    turnout = HourlyTurnout(tuple(np.full(30, 60.0) for _ in range(24)), np.full(30, 5.0))
    crews = replay([("A", 0, 0)], rows, turnout=turnout, en_route=True)
    first, second = crews.iloc[0], crews.iloc[1]
    assert first["cleared"] == pytest.approx(1260.0)
    assert not first["en_route"] and second["en_route"]
    assert second["dispatched"] == pytest.approx(1360.0)
    assert second["rolling"] - second["dispatched"] == pytest.approx(5.0)   # already in the vehicle
    assert second["on_scene"] - second["rolling"] == pytest.approx(50.0)    # 500 m from where it is
    assert first["back"] == pytest.approx(1360.0)  # its trip home ended when it was sent again
    assert second["back"] - second["cleared"] == pytest.approx(np.hypot(1000, 500) / 10.0)

    # the same night with units serving again only from their station: the call waits for it
    crews = replay([("A", 0, 0)], rows)
    second = crews.iloc[1]
    assert second["dispatched"] == pytest.approx(1460.0) and not second["en_route"]
    assert second["on_scene"] - second["rolling"] == pytest.approx(np.hypot(1000, 500) / 10.0)


def test_a_crew_turned_round_drives_home_from_where_it_had_got_to():
    # two engines to an incident at B's door: B's is there at 60 s, the incident is handled at 90;
    # A's engine rolled at 60 and had driven 30 s of its 200 s (300 m): it turns round there
    crews = replay([("A", 0, 0), ("B", 2000, 0)], [(0, 2000, 0)], handle_s=30.0, en_route=True, engines=2)
    a = crews[crews["unit"] == 0].iloc[0]
    assert a["cleared"] == pytest.approx(90.0) and not a["arrived"]
    assert a["back"] - a["cleared"] == pytest.approx(30.0)  # 300 m home at 100 s/km


def test_time_of_day_factor_changes_travel_by_its_ratio():
    factor = np.ones(24)
    factor[8] = 1.5
    # the same incident 1.2 km from the station at 08:30 and at 14:30 (simulation time 0 is midnight)
    crews = replay([("A", 0, 0)], [(8.5 * 3600, 1200, 0), (14.5 * 3600, 1200, 0)], hour_factor=factor)
    travel = (crews["on_scene"] - crews["rolling"]).to_numpy()
    assert travel == pytest.approx([180.0, 120.0])
    assert travel[0] / travel[1] == pytest.approx(1.5)


def test_hour_factor_spread_and_turnout_are_fitted_from_observations():
    rng = np.random.default_rng(3)
    hours = rng.integers(0, 24, 4000)
    truth = np.where((hours >= 7) & (hours <= 10), 1.2, 1.0)
    ratios = truth * np.exp(0.05 * rng.standard_normal(len(hours)))
    factor = fit_hour_factor(hours, ratios, window=0)
    base = np.median(ratios)
    assert factor[8] * base == pytest.approx(1.2, rel=0.02) and factor[15] * base == pytest.approx(1.0, rel=0.02)
    spread = travel_spread(ratios, hours, factor)
    assert np.median(spread) == pytest.approx(base, rel=0.02)  # the hour's share taken out, the level kept
    assert np.percentile(spread, 90) < np.percentile(ratios, 90)
    assert fit_hour_factor([3] * 5, [2.0] * 5).tolist() == [1.0] * 24  # too few responses: no factor
    with pytest.raises(ValueError, match="24 positive travel-time factors"):
        StraightLineTravel(np.zeros((1, 2)), StraightLine()).calibrate(np.ones(23))

    seconds = np.where(hours < 6, 120.0, 60.0)
    on_road = np.arange(len(hours)) % 10 == 0
    seconds[on_road] = 0.0
    t = HourlyTurnout.fit(hours, seconds, on_road)
    assert np.median(t.sample(rng, 200, 3)) == 120.0 and np.median(t.sample(rng, 200, 14)) == 60.0
    assert (t.sample(rng, 50, 3, en_route=True) == 0.0).all()
    with pytest.raises(ValueError, match="only 3 turnouts of crews in quarters"):
        HourlyTurnout.fit([1, 2, 3], [60, 60, 60], [False, False, False])


@pytest.fixture(scope="module")
def sf():
    from shared_data import shared_path

    return read_calls(shared_path(*CALLS)), read_stations(shared_path(*STATIONS))


@pytest.mark.shared_data
@pytest.mark.parametrize("calibrate, test", [("2020-04-07:2020-04-13", "week 2"), ("2020-04-14:2020-04-20", "week 1")])
def test_sf_median_within_5_and_p90_within_10_percent_on_the_other_week(sf, calibrate, test):
    calls, stations = sf
    v = validate(calls, stations, load_scenario(), parse_dates(calibrate), replications=2)
    assert v.mechanisms == MECHANISMS
    err = v.errors()
    assert abs(err["median_s"]["error_pct"]) < 5, (test, v.observed, v.simulated)
    assert abs(err["p90_s"]["error_pct"]) < 10, (test, v.observed, v.simulated)
    # crews sent on the road: a few percent of responses, rolling at once
    assert 0.02 < v.en_route_share < 0.1 and 0 < v.simulated_en_route_share < 0.1
    assert v.turnout.medians()["on_road"] < 30
    # night turnouts are longer than afternoon ones; travel is slower mid-morning than in the evening
    by_hour = v.turnout.medians()["in_quarters_by_hour"]
    assert by_hour[3] > 1.3 * by_hour[15]
    assert v.hour_factor[10] > v.hour_factor[18]


@pytest.mark.shared_data
def test_sf_without_the_mechanisms_is_the_earlier_model(sf):
    calls, stations = sf
    v = validate(calls, stations, load_scenario(), replications=2, mechanisms=())
    assert v.turnout is None and v.hour_factor.tolist() == [1.0] * 24 and v.en_route_share == 0
    assert v.errors()["p90_s"]["error_pct"] < -4  # its tail was short
    with pytest.raises(ValueError, match=r"unknown mechanism\(s\) rush_hour \(known: en_route, "):
        validate(calls, stations, load_scenario(), replications=1, mechanisms=("rush_hour",))


def test_too_few_calibration_turnouts_is_one_error_naming_the_file(tmp_path):
    """15 engine responses on the calibration day fit a travel curve but not 24 hourly turnout samples."""
    from datetime import datetime, timedelta

    from twin.errors import SourceError

    fmt = "%m/%d/%Y %I:%M:%S %p"
    header = ["Incident Number", "Unit ID", "Unit Type", "Call Type", "Priority", "Location", "Received DtTm",
              "Entry DtTm", "Dispatch DtTm", "Response DtTm", "On Scene DtTm", "Available DtTm"]
    lines = [",".join(header)]
    for k in range(20):
        day = datetime(2020, 4, 7 if k < 15 else 8, 1 + k % 15)
        t = [day + timedelta(seconds=s) for s in (0, 30, 60, 140, 260 + 20 * k, 2000)]
        lat, lon = 37.77 + 0.001 * k, -122.42
        lines.append(",".join([str(k), "E01", "ENGINE", "Medical Incident", "3", f'"({lat}, {lon})"',
                               *(x.strftime(fmt) for x in t)]))
    calls_path = tmp_path / "calls.csv"
    calls_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stations_path = tmp_path / "stations.csv"
    stations_path.write_text("station,longitude,latitude\n1,-122.42,37.765\n", encoding="utf-8")
    calls, stations = read_calls(calls_path), read_stations(stations_path)
    with pytest.raises(SourceError, match=rf"{calls_path}: calibrating on 2020-04-07..2020-04-07: only 15 "
                                          r"turnouts of crews in quarters: too few to sample by hour \(need 30\)"):
        validate(calls, stations, load_scenario(), parse_dates("2020-04-07:2020-04-07"), replications=1)
    # without the hourly turnout the same records validate
    v = validate(calls, stations, load_scenario(), parse_dates("2020-04-07:2020-04-07"), replications=1,
                 mechanisms=("en_route", "hourly_speed", "travel_spread"))
    assert v.incidents == 5


@pytest.mark.shared_data
def test_history_cli_prints_the_mechanisms_and_leaves_them_out_on_request(sf, capsys):
    from app.cli import main
    from shared_data import shared_path

    args = ["emergency", "history", str(shared_path(*CALLS)), "--stations", str(shared_path(*STATIONS)),
            "--replications", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "observed spread" in out and "sent on the road (returning or committed): 5.0% of calibration" in out
    assert "travel time by hour of day: slowest" in out and "turnout median in quarters" in out
    assert main(args + ["--without", "en_route", "--without", "hourly_speed", "--without", "hourly_turnout",
                        "--without", "travel_spread"]) == 0
    out = capsys.readouterr().out
    assert "lognormal spread" in out and "sent on the road" not in out and "turnout median" not in out
    calls, stations = sf
    v = validate(calls, stations, load_scenario(), replications=1, mechanisms=())
    assert f"simulated {v.simulated['p90_s']:6.1f} s" in out
