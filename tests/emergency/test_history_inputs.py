"""``emergency history`` inputs (review 10): impossible response times left out and counted, errors that
name the stations file with its line and field, calibration dates said as covered, duplicates said once.

The calls files are built here in the SF Fire "calls for service" format (a few of its columns)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from app.cli import main
from simulation.emergency.history import MAX_RESPONSE_S, parse_dates, read_calls, read_stations
from twin.errors import SourceError

HEADER = ("Call Number,Unit ID,Incident Number,Call Type,Received DtTm,Entry DtTm,Dispatch DtTm,Response DtTm,"
          "On Scene DtTm,Available DtTm,Priority,Unit Type,Location")
STATIONS = "station,longitude,latitude\n1,-122.40412016,37.779456525\n2,-122.409879161,37.797034113\n" \
           "3,-122.419320984,37.786641204\n"
T0 = datetime(2020, 4, 7, 0, 0, 0)


def _t(t: datetime) -> str:
    return t.strftime("%m/%d/%Y %I:%M:%S %p")


def _row(n: int, dispatch: datetime, on_scene_s: float, unit="E1", lat=37.7790, lon=-122.4041,
         turnout_s=60.0) -> str:
    """One engine response; on scene ``on_scene_s`` after dispatch (negative: before it)."""
    times = [dispatch - timedelta(seconds=40), dispatch - timedelta(seconds=20), dispatch,
             dispatch + timedelta(seconds=turnout_s), dispatch + timedelta(seconds=on_scene_s),
             dispatch + timedelta(seconds=max(on_scene_s, turnout_s) + 900)]
    return f'{n},{unit},{1000 + n},Medical Incident,{",".join(_t(t) for t in times)},3,ENGINE,"({lat}, {lon})"'


def _fortnight(tmp_path, bad: dict[int, float] | None = None):
    """14 days, 24 engine incidents a day around three stations; ``bad``: row index -> on-scene seconds."""
    rng = np.random.default_rng(5)
    rows = []
    for n in range(14 * 24):
        unit = f"E{n % 3 + 1}"
        st = [(37.779456525, -122.40412016), (37.797034113, -122.409879161), (37.786641204, -122.419320984)][n % 3]
        dlat, dlon = rng.uniform(-0.02, 0.02, 2)
        d_km = np.hypot(dlat * 111.0, dlon * 88.0)
        travel = 30 + 150 * d_km ** 0.5 * rng.uniform(0.8, 1.4)
        turnout = rng.uniform(40, 120)
        on_scene = (bad or {}).get(n, turnout + travel)
        rows.append(_row(n + 1, T0 + timedelta(hours=n, minutes=7), on_scene, unit, round(st[0] + dlat, 6),
                         round(st[1] + dlon, 6), turnout))
    path = tmp_path / "calls.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    stations = tmp_path / "stations.csv"
    stations.write_text(STATIONS)
    return path, stations


# ---------------------------------------------------------------------- 1. impossible times
def test_impossible_response_times_are_left_out_and_counted(tmp_path):
    path = tmp_path / "calls.csv"
    d = datetime(2020, 4, 7, 10, 0, 0)
    rows = [_row(1, d, 300), _row(2, d, -120), _row(3, d, MAX_RESPONSE_S), _row(4, d, MAX_RESPONSE_S + 1),
            _row(5, d, -1), _row(6, d, 10 * 86400), _row(7, d, 0)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    calls = read_calls(path)
    assert MAX_RESPONSE_S == 7200.0
    assert calls.rows == 7 and not calls.skipped
    assert calls.responses["line"].tolist() == [2, 4, 8]  # 2 h exactly and 0 s are possible
    assert calls.left_out == {"on_scene_before_dispatch": [3, 6], "on_scene_after_bound": [5, 7]}
    assert calls.left_out_summary() == {
        "on_scene_before_dispatch": {"rows": 2, "why": "on scene before dispatch", "first_line": 3},
        "on_scene_after_bound": {"rows": 2, "why": "on scene more than 2 hours after dispatch", "first_line": 5}}
    assert calls.left_out_text() == (f"{path}: left out 4 responses with impossible times: 2 on scene before "
                                     "dispatch (first line 3); 2 on scene more than 2 hours after dispatch "
                                     "(first line 5)")
    path.write_text("\n".join([HEADER, _row(1, d, 300), _row(2, d, 200)]) + "\n")
    clean = read_calls(path)
    assert clean.left_out == {} and clean.left_out_summary() == {} and clean.left_out_text() == ""


def test_history_cli_prints_what_was_left_out_in_text_and_json(tmp_path, capsys):
    calls, stations = _fortnight(tmp_path, bad={200: -300.0, 201: -5.0, 250: 10 * 86400.0})
    args = ["emergency", "history", str(calls), "--stations", str(stations), "--replications", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{calls}: left out 3 responses with impossible times: 2 on scene before dispatch "
                      "(first line 202); 1 on scene more than 2 hours after dispatch (first line 252)")
    assert out[1] == "calibrated on 168 incidents dispatched 2020-04-07..2020-04-13"
    # 336 incidents, 168 calibrated, 3 of the other 168 have no possible time left
    assert "validated on 165 other incidents: first-arriving engine, dispatch -> on scene" in out
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["incidents"] == 165
    assert summary["left_out"] == {
        "on_scene_before_dispatch": {"rows": 2, "why": "on scene before dispatch", "first_line": 202},
        "on_scene_after_bound": {"rows": 1, "why": "on scene more than 2 hours after dispatch", "first_line": 252}}


# ---------------------------------------------------------------------- 3. calibration dates
def test_calibration_dates_are_the_ones_covered_and_an_empty_option_is_refused(tmp_path, capsys):
    calls, stations = _fortnight(tmp_path)
    args = ["emergency", "history", str(calls), "--stations", str(stations), "--replications", "1"]
    assert main([*args, "--calibrate-on", "2020-03-01:2020-04-09"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("calibrated on 72 incidents dispatched 2020-04-07..2020-04-09 (--calibrate-on asked "
                      "2020-03-01..2020-04-09; the records start on 2020-04-07)")
    assert main([*args, "--calibrate-on", "2020-04-15:2020-05-30"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("calibrated on 144 incidents dispatched 2020-04-15..2020-04-20 (--calibrate-on asked "
                      "2020-04-15..2020-05-30; the records end on 2020-04-20)")
    assert main([*args, "--calibrate-on", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lifeline-twin emergency: error: --calibrate-on '': empty; expected FROM:TO as "
                   "YYYY-MM-DD:YYYY-MM-DD (leave the option out to calibrate on the first week)"]
    with pytest.raises(ValueError, match="--calibrate-on ' ': empty"):
        parse_dates(" ")
    assert parse_dates(None) is None
    assert parse_dates("2020-04-07:2020-04-08") == (date(2020, 4, 7), date(2020, 4, 8))


# ---------------------------------------------------------------------- 2. stations errors
@pytest.mark.parametrize("text, error", [
    ("", "{p}: empty file: expected the header station,longitude,latitude and one station a line"),
    ("station,longitude,latitude\n", "{p}: the stations file has a header and no stations"),
    ("station,longitude,latitude\n\n", "{p}: the stations file has a header and no stations"),
    (STATIONS + "4,,37.7\n", "{p}: line 5 column 'longitude': empty"),
    (STATIONS + "4,NaN,37.7\n", "{p}: line 5 column 'longitude': 'NaN' is not a number"),
    (STATIONS + "4,-122.4,nan\n", "{p}: line 5 column 'latitude': 'nan' is not a number"),
    (STATIONS + ",-122.4,37.7\n", "{p}: line 5 column 'station': empty"),
    (STATIONS + "4,-122.4\n", "{p}: line 5: 2 fields instead of 3"),
    (STATIONS + "03,-122.4,37.7\n", "{p}: line 5: station '3' is listed twice (first on line 4)"),
    ("station;longitude;latitude\n1;-122.4;37.7\n",
     "{p}: missing column(s) station, longitude, latitude (need station, longitude, latitude)"),
])
def test_stations_errors_name_the_stations_file_line_and_field(tmp_path, capsys, text, error):
    calls, _ = _fortnight(tmp_path)
    st = tmp_path / "st.csv"
    st.write_text(text)
    with pytest.raises(SourceError) as exc:
        read_stations(st)
    assert str(exc.value) == error.format(p=st)
    assert main(["emergency", "history", str(calls), "--stations", str(st)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"lifeline-twin emergency: error: {error.format(p=st)}"]


def test_stations_are_read_with_their_numbers(tmp_path):
    st = tmp_path / "st.csv"
    st.write_text(STATIONS + "\n07,-122.5,37.75\n")
    frame = read_stations(st)
    assert frame["station"].tolist() == ["1", "2", "3", "7"]
    assert frame["longitude"].tolist() == [-122.40412016, -122.409879161, -122.419320984, -122.5]
    assert frame["latitude"].dtype == float


# ---------------------------------------------------------------------- 4. duplicates said once
def test_duplicated_rows_are_reported_once(tmp_path, capsys):
    calls, stations = _fortnight(tmp_path)
    lines = calls.read_text().splitlines()
    calls.write_text("\n".join([*lines, lines[5], lines[9]]) + "\n")
    assert main(["emergency", "history", str(calls), "--stations", str(stations), "--replications", "1"]) == 0
    err = capsys.readouterr().err
    # one note, each repeated row named once (no second note in other words)
    assert err.strip().splitlines() == [f"note: {calls}: skipped 2 of 338 rows, 2 duplicated (line 338: duplicate "
                                        "of line 6; line 339: duplicate of line 10)"]
