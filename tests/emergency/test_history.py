"""Dispatch records: reading the SF format, malformed rows, calibration and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.cli import main
from simulation.emergency.config import load_scenario
from simulation.emergency.history import parse_dates, read_calls, read_stations, validate
from twin.errors import SourceError

CALLS = ("sf-fire-2020", "calls_2020-04-07_2020-04-20.csv")
STATIONS = ("sf-fire-2020", "stations.csv")


@pytest.fixture
def broken_calls(shared, tmp_path):
    """The header and 40 real rows, with three rows broken on purpose."""
    lines = shared(*CALLS).read_text(encoding="utf-8").splitlines()[:41]
    header = lines[0].split(",")
    on_scene = header.index("On Scene DtTm")
    rows = lines[1:]
    # line 6: an impossible month; line 9: not a time at all; line 12: a broken location; line 15: cut short
    r = rows[4].split(",")
    r[on_scene] = "13/07/2020 11:55:30 PM"
    rows[4] = ",".join(r)
    r = rows[7].split(",")
    r[header.index("Dispatch DtTm")] = "yesterday"
    rows[7] = ",".join(r)
    rows[10] = rows[10].replace('"(37.', '"(thirty-seven ')
    rows[13] = ",".join(rows[13].split(",")[:5])
    path = tmp_path / "calls.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return path


def test_malformed_rows_are_counted_and_skipped_with_line_numbers(broken_calls):
    calls = read_calls(broken_calls)
    assert calls.rows == 40
    assert [n for n, _ in calls.skipped] == [6, 9, 12, 15]
    reasons = dict(calls.skipped)
    assert "On Scene DtTm '13/07/2020 11:55:30 PM' is not a valid time" in reasons[6]
    assert "Dispatch DtTm 'yesterday' is not MM/DD/YYYY hh:mm:ss AM" in reasons[9]
    assert "Location" in reasons[12]
    assert "fields instead of" in reasons[15]
    assert len(calls.responses) == 36
    assert calls.skipped_summary().startswith(f"{broken_calls}: skipped 4 of 40 rows")
    # empty timestamps are steps that did not happen, not errors
    assert calls.responses["on_scene"].isna().any()
    first = calls.responses.iloc[0]
    assert str(first["dispatch"]) == "2020-04-07 23:55:56"
    assert first["lat"] == pytest.approx(37.73217458500619)


def test_missing_columns_and_bad_stations_are_named(tmp_path):
    bad = tmp_path / "calls.csv"
    bad.write_text("Call Number,Unit ID\n1,E1\n")
    with pytest.raises(SourceError, match=r"calls.csv: missing column\(s\) .*'Incident Number'.*SF Fire"):
        read_calls(bad)
    st = tmp_path / "stations.csv"
    st.write_text("station,longitude,latitude\n1,-122.4,37.7\n2,east,37.8\n")
    with pytest.raises(SourceError, match=r"stations.csv: line 3 column 'longitude': 'east' is not a number"):
        read_stations(st)
    with pytest.raises(ValueError, match="expected FROM:TO"):
        parse_dates("2020-04-07")
    assert parse_dates("2020-04-07:2020-04-08")[1].day == 8


@pytest.mark.shared_data
def test_sf_validation_error_is_small(shared):
    calls = read_calls(shared(*CALLS))
    assert calls.rows == 10410 and not calls.skipped
    v = validate(calls, read_stations(shared(*STATIONS)), load_scenario(), replications=2)
    assert str(v.calibration[0]) == "2020-04-07" and str(v.calibration[1]) == "2020-04-13"
    assert 1000 < v.incidents < 1500
    # observed first-engine dispatch -> on scene over the second week (computed independently below)
    eng = calls.responses[(calls.responses["unit_type"] == "ENGINE") & calls.responses["on_scene"].notna()]
    eng = eng.assign(d2s=(eng["on_scene"] - eng["dispatch"]).dt.total_seconds())
    eng = eng[eng["d2s"] >= 0]
    first_day = eng.groupby("incident")["dispatch"].transform("min").dt.date
    eng = eng[eng.groupby("incident")["dispatch"].transform("min").dt.date.astype(str) > "2020-04-13"]
    first = eng.sort_values("on_scene").drop_duplicates("incident")
    assert len(first_day) > 0
    assert v.observed["median_s"] == pytest.approx(np.median(first["d2s"]), abs=0.1)
    fit = v.fit.params
    assert 0 < fit.a < 120 and fit.b > 50 and 0.2 < fit.c < 1.5
    err = v.errors()
    assert abs(err["median_s"]["error_pct"]) < 10
    assert abs(err["p90_s"]["error_pct"]) < 15


@pytest.mark.shared_data
def test_history_cli_json_is_exactly_the_three_keys(shared, capsys):
    code = main(["emergency", "history", str(shared(*CALLS)), "--stations", str(shared(*STATIONS)),
                 "--calibrate-on", "2020-04-07:2020-04-10", "--replications", "1", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["incidents", "observed", "simulated"]
    assert list(out["observed"]) == ["median_s", "p90_s"] and list(out["simulated"]) == ["median_s", "p90_s"]
    assert out["incidents"] > 1500  # 10 days validated
    code = main(["emergency", "history", str(shared(*CALLS)), "--stations", str(shared(*STATIONS)),
                 "--calibrate-on", "2021-01-01:2021-01-07"])
    assert code == 2
    assert "no ENGINE incident was dispatched in that range (records run 2020-04-07 to 2020-04-20)" \
        in capsys.readouterr().err


def test_history_cli_reports_skipped_lines(broken_calls, shared, capsys):
    code = main(["emergency", "history", str(broken_calls), "--stations", str(shared(*STATIONS))])
    err = capsys.readouterr().err.splitlines()
    # the skipped lines are named first; 40 rows of one evening leave nothing to validate on
    assert code == 2
    assert err[0].startswith("note: ") and "skipped 4 of 40 rows" in err[0] and "line 6:" in err[0]
    assert err[-1] == ("lifeline-twin emergency: error: --calibrate-on 2020-04-07:2020-04-13 covers every "
                       "incident: nothing is left to validate on")


@pytest.mark.shared_data
def test_validation_accepts_a_road_graph(shared):
    """No SF road graph ships offline: a 250 m street grid over the city in UTM 10N stands in."""
    from simulation.emergency.roads import RoadGraph

    from .conftest import grid_roads

    # SF spans about x 542-556 km, y 4176-4186 km in EPSG:32610
    roads = grid_roads(64, spacing=250.0, speed=40.0, x0=541000.0, y0=4173000.0).set_crs(32610, allow_override=True)
    graph = RoadGraph.from_roads(roads)
    calls = read_calls(shared(*CALLS))
    v = validate(calls, read_stations(shared(*STATIONS)), load_scenario(), replications=1,
                 road_graph=graph, crs="EPSG:32610")
    assert v.fit is None
    assert v.incidents > 1000
    # Manhattan driving at 40 km/h (34 km/h on residential streets) plus the calibrated turnout:
    # the same order as the observed times
    assert 0.5 * v.observed["median_s"] < v.simulated["median_s"] < 2 * v.observed["median_s"]
    straight = validate(calls, read_stations(shared(*STATIONS)), load_scenario(), replications=1)
    assert straight.simulated["median_s"] != v.simulated["median_s"]


@pytest.mark.shared_data
def test_validation_refuses_roads_of_another_city_and_no_replications(shared):
    """A project far from the records (the demo town vs SF) is one clear error, not a 'validation'
    of drives thousands of kilometres long; zero replications is refused before any work."""
    from simulation.emergency.roads import RoadGraph

    from .conftest import grid_roads

    # the same street grid as above, 300 km east of San Francisco
    roads = grid_roads(8, spacing=250.0, speed=40.0, x0=841000.0, y0=4173000.0).set_crs(32610, allow_override=True)
    calls, stations = read_calls(shared(*CALLS)), read_stations(shared(*STATIONS))
    with pytest.raises(ValueError, match=r"none of the \d+ stations is within 500 m of the project's roads "
                                         r"\(nearest \d+ m\): the project does not cover the records' city"):
        validate(calls, stations, load_scenario(), replications=1, road_graph=RoadGraph.from_roads(roads),
                 crs="EPSG:32610")
    with pytest.raises(ValueError, match="replications must be at least 1, got 0"):
        validate(calls, stations, load_scenario(), replications=0)
