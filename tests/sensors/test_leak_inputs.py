"""detect-leaks on files nobody tuned it for: dates, units, bad rows and misleading errors (review 10)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from simulation.sensors.leaks import inflow_from_files, read_battledim_csv

PREFIX = "lifeline-twin sensors: error: "


def _hourly(days: int, start="2021-01-01", fmt="%Y-%m-%d %H:%M", value=lambda i: 10.0 + (i % 24) / 4):
    times = pd.date_range(start, periods=days * 24, freq="h")
    return [(t.strftime(fmt), value(i)) for i, t in enumerate(times)]


def _write(tmp_path, rows, header="Timestamp;flow", name="f.csv", sep=";", decimal=","):
    lines = [header] + [f"{t}{sep}{v if isinstance(v, str) else str(v).replace('.', decimal)}" for t, v in rows]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _fails(argv, capsys) -> str:
    assert main(["sensors", "detect-leaks", *map(str, argv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


# ---------------------------------------------------------------------------------- A: day-first dates
def test_ambiguous_slash_dates_are_refused_naming_the_line(tmp_path, capsys):
    path = _write(tmp_path, _hourly(12, fmt="%d/%m/%Y %H:%M"))   # 01/01 .. 12/01: both readings fit
    assert _fails([path], capsys) == (
        f"{PREFIX}{path}: line 26: ambiguous date '02/01/2021 00:00': day-first it is 2021-01-02, month-first "
        "2021-02-01, and both read every row; give --dayfirst or --monthfirst, or write ISO 8601 dates (YYYY-MM-DD)")


def test_dayfirst_and_monthfirst_options_decide(tmp_path):
    path = _write(tmp_path, _hourly(12, fmt="%d/%m/%Y %H:%M"))
    info: dict = {}
    frame = read_battledim_csv(path, dayfirst=True, info=info)
    assert frame.index[24] == pd.Timestamp("2021-01-02 00:00", tz="UTC")
    assert info["notes"] == ["dates read day-first (DD/MM/YYYY) as asked"]
    assert read_battledim_csv(path, dayfirst=False).index[24] == pd.Timestamp("2021-02-01 00:00", tz="UTC")


def test_dayfirst_cli_option_runs(tmp_path, capsys):
    path = _write(tmp_path, _hourly(12, fmt="%d/%m/%Y %H:%M"))
    assert main(["sensors", "detect-leaks", str(path), "--dayfirst", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["notes"][0] == "dates read day-first (DD/MM/YYYY) as asked"
    assert doc["days_without_data"] == []


def test_the_only_reading_that_parses_every_row_is_used_and_said(tmp_path):
    path = _write(tmp_path, _hourly(14, fmt="%d/%m/%Y %H:%M"))   # 13/01 is no month
    info: dict = {}
    frame = read_battledim_csv(path, info=info)
    assert frame.index[24] == pd.Timestamp("2021-01-02", tz="UTC")
    assert info["notes"] == ["dates read day-first (DD/MM/YYYY): the only reading of line 290 ('13/01/2021 00:00')"]


def test_the_only_reading_in_time_order_is_used_and_said(tmp_path):
    # 1-12 January and 1-12 February, day-first: month-first parses every row but jumps back
    rows = _hourly(12, fmt="%d/%m/%Y %H:%M") + _hourly(12, start="2021-02-01", fmt="%d/%m/%Y %H:%M")
    info: dict = {}
    frame = read_battledim_csv(_write(tmp_path, rows), info=info)
    assert frame.index[-1] == pd.Timestamp("2021-02-12 23:00", tz="UTC")
    assert info["notes"] == ["dates read day-first (DD/MM/YYYY): the only reading that keeps the rows in time order"]


def test_a_forced_order_that_does_not_fit_names_the_line(tmp_path, capsys):
    path = _write(tmp_path, _hourly(14, fmt="%d/%m/%Y %H:%M"))
    assert _fails([path, "--monthfirst"], capsys) == (
        f"{PREFIX}{path}: line 290: not a MM/DD/YYYY (--monthfirst) date: '13/01/2021 00:00'")


# ---------------------------------------------------------------------------------------- B: units
@pytest.mark.parametrize("unit, factor", [("L/s", 3.6), ("l/s", 3.6), ("lps", 3.6), ("m3/s", 3600.0),
                                          ("m³/s", 3600.0), ("m3/h", 1.0), ("m³/h", 1.0),
                                          ("gpm", 0.2271247), ("MGD", 157.725491)])  # the importers' table
def test_a_unit_in_the_header_is_converted(tmp_path, unit, factor):
    path = _write(tmp_path, _hourly(5), header=f"Timestamp;DMA 3 ({unit})")
    info: dict = {}
    frame = read_battledim_csv(path, info=info)
    assert frame.iloc[1, 0] == pytest.approx(10.25 * factor)
    assert info["units"] == {f"DMA 3 ({unit})": unit}


def test_an_unknown_unit_is_an_error_naming_the_column(tmp_path, capsys):
    path = _write(tmp_path, _hourly(5), header="Timestamp;DMA 3 (kPa)")   # a pressure, not a flow
    assert _fails([path], capsys) == (
        f"{PREFIX}{path}: column 'DMA 3 (kPa)': unknown unit 'kPa' (give L/s, m3/s or m3/h, or no unit for m3/h)")


def test_no_unit_is_said_in_text_and_json(tmp_path, capsys):
    path = _write(tmp_path, _hourly(5))
    assert main(["sensors", "detect-leaks", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  note: flow units: none in the column headers, m3/h assumed\n" in out
    assert main(["sensors", "detect-leaks", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["units"] == {"flow": "m3/h (assumed)"}
    assert doc["notes"][0] == "flow units: none in the column headers, m3/h assumed"
    path = _write(tmp_path, _hourly(5), header="Timestamp;DMA 3 (L/s)", name="ls.csv")
    assert main(["sensors", "detect-leaks", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["units"] == {"DMA 3 (L/s)": "L/s"}
    assert doc["notes"][0] == "flow units: DMA 3 (L/s) in L/s, converted to m3/h"


# ------------------------------------------------------------------------------------- C: bad rows
def test_a_duplicated_timestamp_names_both_lines(tmp_path, capsys):
    rows = _hourly(5)
    rows.insert(10, rows[9])
    path = _write(tmp_path, rows)
    assert _fails([path], capsys) == f"{PREFIX}{path}: line 12: timestamp '2021-01-01 09:00' repeats line 11"


def test_a_row_out_of_order_names_the_line_it_precedes(tmp_path, capsys):
    rows = _hourly(5)
    rows[10], rows[11] = rows[11], rows[10]
    path = _write(tmp_path, rows)
    assert _fails([path], capsys) == (f"{PREFIX}{path}: line 13: timestamp '2021-01-01 10:00' is earlier than "
                                      "line 12 ('2021-01-01 11:00'): rows must be in time order")


def test_inf_is_an_error_naming_the_line(tmp_path, capsys):
    rows = _hourly(5)
    rows[3] = (rows[3][0], "inf")
    path = _write(tmp_path, rows)
    assert _fails([path], capsys) == f"{PREFIX}{path}: line 5, column 'flow': not a finite number: 'inf'"


def test_nan_and_gaps_are_missing_counted_and_reported(tmp_path, capsys):
    rows = _hourly(8)
    rows[5] = (rows[5][0], "NaN")
    rows[6] = (rows[6][0], "")
    del rows[48:72]          # 3 January: no data at all
    path = _write(tmp_path, rows)
    info: dict = {}
    series, _ = inflow_from_files(path, info=info)
    assert int(series.isna().sum()) == 2 and len(series) == 8 * 24 - 24
    assert (info["missing_steps"], info["gap_steps"], info["days_without_data"]) == (2, 24, ["2021-01-03"])
    assert main(["sensors", "detect-leaks", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["missing_steps"], doc["gap_steps"], doc["days_without_data"]) == (2, 24, ["2021-01-03"])
    assert "2021-01-03" in doc["untested_days"]
    assert ("2 of 168 steps have no net inflow (NaN or empty cells, or no level difference): treated as "
            "missing") in doc["notes"]
    assert main(["sensors", "detect-leaks", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  note: 24 steps missing from the time series (gaps): treated as missing\n" in out
    assert "  1 day(s) not tested (no data): 2021-01-03\n" in out


def test_negative_net_inflow_is_counted_and_kept(tmp_path, capsys):
    rows = _hourly(5, value=lambda i: -1.5 if i in (3, 4, 5) else 10.0)
    path = _write(tmp_path, rows)
    assert main(["sensors", "detect-leaks", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["negative_steps"] == 3
    assert ("3 steps of negative net inflow (a meter or balance problem): kept as they are") in doc["notes"]


# ------------------------------------------------------------------------------- D: clear errors
def test_a_comma_separated_file_is_read(tmp_path):
    path = _write(tmp_path, _hourly(5), header="Timestamp,flow", sep=",", decimal=".")
    frame = read_battledim_csv(path)
    assert len(frame) == 120 and frame["flow"].iloc[1] == 10.25


def test_no_time_column_is_said(tmp_path, capsys):
    path = tmp_path / "f.csv"
    path.write_text("p227;p235\n88,14;90,89\n82,9;83,3\n", encoding="utf-8")
    assert _fails([path], capsys) == (f"{PREFIX}{path}: no time column: the first column 'p227' holds numbers "
                                      "('88,14' on line 2), not timestamps; the first column must be the time")


def test_differing_utc_offsets_are_said(tmp_path, capsys):
    rows = _hourly(5)
    rows[10] = ("2021-01-01 10:00+05:00", rows[10][1])
    path = _write(tmp_path, rows)
    assert _fails([path], capsys) == (
        f"{PREFIX}{path}: line 12: UTC offset +0500 of '2021-01-01 10:00+05:00' differs from line 2's (none): "
        "give every timestamp the same offset, or none")


# ---------------------------------------------------------------------------- E: local time
def test_an_offset_keeps_the_night_in_local_time(tmp_path, capsys):
    path = _write(tmp_path, _hourly(5, fmt="%Y-%m-%dT%H:%M:00+02:00"))
    frame = read_battledim_csv(path)
    assert frame.index[0].utcoffset() == pd.Timedelta(hours=2) and frame.index[0].hour == 0
    assert main(["sensors", "detect-leaks", str(path)]) == 0
    assert ("  note: timestamps at UTC offset +0200: the night window is in that local time; times are printed "
            "in UTC\n") in capsys.readouterr().out
    assert np.isfinite(frame["flow"]).all()


def test_a_repeated_hour_at_the_clock_change_says_what_to_do(tmp_path, capsys):
    rows = _hourly(5, start="2021-10-30")
    rows.insert(27, rows[26])   # 31 October 02:00 local time, twice
    path = _write(tmp_path, rows)
    assert _fails([path], capsys) == (
        f"{PREFIX}{path}: line 29: timestamp '2021-10-31 02:00' repeats line 28 (local time repeated when the "
        "clocks went back? give --timezone, or the times in UTC or with their UTC offset)")


def test_with_its_time_zone_the_repeated_hour_is_placed_and_the_night_is_local(tmp_path, capsys):
    """Naive local times across the autumn clock change (02:00 twice): --timezone places them as the BWDF
    importer does, one hour apart in UTC, and the night window follows the zone's clock."""
    from simulation.sensors.leaks import read_battledim_csv

    rows = _hourly(5, start="2021-10-30")
    rows.insert(27, rows[26])   # 31 October 02:00 local time, twice
    path = _write(tmp_path, rows)
    frame = read_battledim_csv(path, timezone="Europe/Rome")
    utc = frame.index.tz_convert("UTC")
    assert (np.diff(utc.asi8) == 3600 * 10**9).all()   # every hour once: summer 02:00, then winter 02:00
    assert [f"{t:%H:%M%z}" for t in frame.index[26:28]] == ["02:00+0200", "02:00+0100"]
    assert main(["sensors", "detect-leaks", str(path), "--timezone", "Europe/Rome"]) == 0
    assert "the night window is in Europe/Rome local time" in capsys.readouterr().out
    assert _fails([path, "--timezone", "Mars/Olympus"], capsys) == (
        f"{PREFIX}--timezone Mars/Olympus: not a time zone (give an IANA name such as Europe/Rome)")
