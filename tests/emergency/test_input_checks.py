"""Inputs checked as a domain expert would (issue 10, item 4): unknown keys in YAML files, numbers that are
not finite, duplicated rows, timestamps with UTC offsets, incidents and stations outside the city."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.emergency.config import load_scenario
from simulation.emergency.history import read_calls, read_stations, validate
from simulation.emergency.incidents import from_table
from simulation.hydraulics.retrofit import read_plan
from twin.errors import SourceError

from .conftest import grid_twin

HEADER = ("Call Number,Unit ID,Incident Number,Call Type,Received DtTm,Entry DtTm,Dispatch DtTm,Response DtTm,"
          "On Scene DtTm,Available DtTm,Priority,Unit Type,Location")


def _row(n: int, unit="E1", suffix="", loc="(37.7790, -122.4041)", minute=0):
    t = [f"04/07/2020 10:{minute + k:02d}:00 AM{suffix}" for k in range(6)]
    return f'{n},{unit},{1000 + n},Medical Incident,{",".join(t)},3,ENGINE,"{loc}"'


# ---------------------------------------------------------------------- YAML: unknown keys, NaN
def test_scenario_unknown_key_names_line_and_closest_key(tmp_path):
    text = (tmp_path / "s.yaml")
    base = load_scenario().model_dump(exclude_none=True)
    assert base  # the default scenario loads
    src = open(load_scenario.__globals__["DEFAULT_SCENARIO"], encoding="utf-8").read()
    text.write_text(src.replace("dispatch: {median: 20, p90: 45}", "dispatch: {medain: 20, p90: 45}", 1))
    with pytest.raises(SourceError) as err:
        load_scenario(text)
    line = src.splitlines().index("dispatch: {median: 20, p90: 45}") + 1
    assert str(err.value) == (f"{text}: field dispatch.medain: Extra inputs are not permitted (unknown key; "
                              "did you mean 'median'? known keys: empirical, fixed, mean, median, p90) "
                              f"(line {line})")
    text.write_text(src.replace("seed: 1", "sed: 1", 1))
    with pytest.raises(SourceError, match=r"field sed: Extra inputs are not permitted \(unknown key; did you mean "
                                          r"'seed'\?"):
        load_scenario(text)


def test_scenario_numbers_must_be_finite(tmp_path):
    src = open(load_scenario.__globals__["DEFAULT_SCENARIO"], encoding="utf-8").read()
    bad = tmp_path / "nan.yaml"
    bad.write_text(src.replace("dispatch: {median: 20, p90: 45}", "dispatch: {median: .nan, p90: 45}", 1))
    with pytest.raises(SourceError, match=r"nan.yaml: field dispatch.median: Input should be a finite number "
                                          r"\(line \d+\)"):
        load_scenario(bad)


def test_scenario_alarm_levels_are_the_schema_warning_levels(tmp_path):
    src = open(load_scenario.__globals__["DEFAULT_SCENARIO"], encoding="utf-8").read()
    bad = tmp_path / "levels.yaml"
    bad.write_text(src.replace("alarm_levels: [red, orange]", "alarm_levels: [red, amber]", 1))
    with pytest.raises(SourceError, match=r"alarm_levels: 'amber' is not a warning level \(red, orange, yellow, blue\)"):
        load_scenario(bad)


def test_retrofit_plan_refuses_misspelt_unit_costs(tmp_path):
    y = tmp_path / "plan.yaml"
    y.write_text("name: x\nunit_cost: {300: 400}\npipes:\n  - {id: '1', diameter_mm: 300}\n")
    with pytest.raises(SourceError) as err:
        read_plan(y)
    assert str(err.value) == (f"{y}: line 2: unknown key 'unit_cost' (did you mean 'unit_costs'? "
                              "known: name, year, repair_hours, unit_costs, pipes)")
    y.write_text("pipes:\n  - {id: '1', diameter_mm: 300}\n  - {id: '2', diameter_mm: 200, roughnes: 120}\n")
    with pytest.raises(SourceError, match=r"plan.yaml: line 3: pipes entry 2: unknown key 'roughnes' "
                                          r"\(did you mean 'roughness'\?"):
        read_plan(y)
    c = tmp_path / "plan.csv"
    c.write_text("pipe_id,diameter_mm,materal\n1,300,DI\n")
    with pytest.raises(SourceError, match=r"plan.csv: line 1: unknown column 'materal' \(did you mean 'material'\?"):
        read_plan(c)


@pytest.mark.parametrize("text, message", [
    ("repair_hours: .inf\npipes:\n  - {id: '1', diameter_mm: 300}\n",
     "repair_hours must be a finite number of hours, not inf"),
    ("unit_costs: {300: .nan}\npipes:\n  - {id: '1', diameter_mm: 300}\n",
     "unit_costs: 300 mm -> nan: diameters must be finite numbers > 0 and costs finite numbers >= 0"),
    ("pipes:\n  - {id: '1', diameter_mm: .inf}\n", "pipes entry 1: diameter_mm must be a number > 0 and finite, not inf"),
    ("pipes:\n  - {id: '1', diameter_mm: 300, roughness: .nan}\n",
     "pipes entry 1: roughness must be a finite number > 0, not nan"),
])
def test_retrofit_plan_numbers_must_be_finite(tmp_path, text, message):
    y = tmp_path / "plan.yaml"
    y.write_text(text)
    with pytest.raises(SourceError) as err:
        read_plan(y)
    assert str(err.value) == f"{y}: {message}"


def test_retrofit_csv_empty_roughness_is_none_given_but_inf_is_refused(tmp_path):
    c = tmp_path / "plan.csv"
    c.write_text("pipe_id,diameter_mm,material,roughness\n1,300,DI,\n2,200,PE,150\n")
    plan = read_plan(c)
    assert np.isnan(plan.pipes["roughness"].iloc[0]) and plan.pipes["roughness"].iloc[1] == 150.0
    c.write_text("pipe_id,diameter_mm,roughness\n1,300,inf\n")
    with pytest.raises(SourceError, match=r"plan.csv: line 2: roughness must be a finite number > 0, not inf"):
        read_plan(c)


# ---------------------------------------------------------------------- calls: duplicates, offsets
def test_duplicated_call_rows_are_reported_and_counted_once(tmp_path):
    path = tmp_path / "calls.csv"
    rows = [_row(n) for n in range(1, 6)]
    path.write_text("\n".join([HEADER, *rows, rows[1], rows[3], rows[1]]) + "\n")
    calls = read_calls(path)
    assert len(calls.responses) == 5 and calls.rows == 8
    assert calls.duplicates == [(7, 3), (8, 5), (9, 3)]
    assert calls.skipped_summary() == (f"{path}: skipped 3 of 8 rows, 3 duplicated (line 7: duplicate of line 3; "
                                       "line 8: duplicate of line 5; line 9: duplicate of line 3)")


def test_call_timestamps_with_offsets_are_converted_not_shifted(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join([HEADER, _row(1), _row(2)]) + "\n")
    offset = tmp_path / "offset.csv"
    # the second response written in another offset: 11:00 at -06:00 is 10:00 at -07:00
    second = _row(2, suffix=" -06:00").replace("10:", "11:")
    offset.write_text("\n".join([HEADER, _row(1, suffix=" -07:00"), second]) + "\n")
    a, b = read_calls(plain), read_calls(offset)
    assert not b.skipped
    for col in ("received", "dispatch", "on_scene", "available"):
        assert b.responses[col].tolist() == a.responses[col].tolist()
    assert b.notes == [f"{offset}: timestamps carry UTC offsets (-06:00, -07:00): converted to the instants "
                       "they name, written in UTC-07:00 (the first dispatch's offset)"]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([HEADER, _row(1), _row(2, suffix="Z")]) + "\n")
    with pytest.raises(SourceError) as err:
        read_calls(mixed)
    assert str(err.value) == (f"{mixed}: timestamps with a UTC offset (line 3) and without one (line 2) in one "
                              "file: the ones without cannot be placed in time; give every timestamp an offset "
                              "or none")


def test_stations_on_another_continent_are_not_validated(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("\n".join([HEADER, *(_row(n, minute=n) for n in range(1, 30))]) + "\n")
    stations = tmp_path / "stations.csv"
    stations.write_text("station,longitude,latitude\n1,27.5,-32.2\n2,27.6,-32.3\n")
    with pytest.raises(SourceError) as err:
        validate(read_calls(path), read_stations(stations), load_scenario(), replications=1)
    assert str(err.value) == (f"{path}: no station is within 50 km of any call: the calls span lon "
                              "-122.404..-122.404, lat 37.779..37.779, the stations lon 27.500..27.600, "
                              "lat -32.300..-32.200 (nearest 17,217 km): not the same city, nothing is validated")
    stations.write_text("station,longitude,latitude\n1,-122.4,37.7\n2,-222.4,37.8\n")
    with pytest.raises(SourceError, match=r"stations.csv: line 3 column 'longitude': -222.4 is not a longitude "
                                          r"\(-180..180 degrees\)"):
        read_stations(stations)
    stations.write_text("station,longitude,latitude\n1,-122.4,inf\n")
    with pytest.raises(SourceError, match=r"line 2 column 'latitude': inf is not a latitude"):
        read_stations(stations)


@pytest.mark.shared_data
def test_far_calls_and_stations_are_left_out_and_named(shared, tmp_path):
    lines = shared("sf-fire-2020", "calls_2020-04-07_2020-04-20.csv").read_text(encoding="utf-8").splitlines()
    # an engine response on the second evening (validated, not calibrated) moved about 1,100 km north
    i = next(k for k, line in enumerate(lines) if ",ENGINE," in line and "04/12/2020" in line.split(",")[8])
    lines[i] = lines[i].replace('"(37.', '"(47.')
    path = tmp_path / "calls.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stations = read_stations(shared("sf-fire-2020", "stations.csv"))
    far = pd.DataFrame({"station": ["999"], "longitude": [2.35], "latitude": [48.85]})  # Paris
    calls = read_calls(path)
    v = validate(calls, pd.concat([stations, far], ignore_index=True), load_scenario(), replications=1,
                 calibrate_on=(pd.Timestamp("2020-04-07").date(), pd.Timestamp("2020-04-10").date()))
    far_calls = [n for n in v.notes if "from every station left out" in n]
    assert far_calls == [f"{path}: 1 call more than 50 km from every station left out (line(s) {i + 1}; "
                         f"nearest station {far_calls[0].rsplit('station ', 1)[1]}"]
    assert "1 station(s) more than 50 km from every call left out (999)" in v.notes


# ---------------------------------------------------------------------- incident tables
def test_incident_table_offsets_duplicates_and_priorities(scenario):
    frame = pd.DataFrame({"time": ["2024-05-01T10:00:00+02:00", "2024-05-01T09:00:00Z", "2024-05-01T09:00:00Z"],
                          "type": ["medical", "gas_leak", "gas_leak"], "x": [1.0, 2.0, 2.0], "y": [3.0, 4.0, 4.0]})
    inc = from_table(frame, scenario, "calls.csv")
    # 10:00+02:00 is 08:00Z: one hour before the gas leak, not one hour after
    assert inc.time.tolist() == [0.0, 3600.0]
    assert [inc.type_names[k] for k in inc.kind] == ["medical", "gas_leak"]
    assert inc.notes == ["calls.csv: 1 duplicated row(s) dropped, each incident counted once (line 4 = line 3)"]
    mixed = frame.assign(time=["2024-05-01T10:00:00+02:00", "2024-05-01 09:00:00", "2024-05-01 09:30:00"])
    with pytest.raises(SourceError) as err:
        from_table(mixed, scenario, "calls.csv")
    assert str(err.value) == ("calls.csv: column 'time': times with a UTC offset (line 2: '2024-05-01T10:00:00+02:00') "
                              "and without one (line 3: '2024-05-01 09:00:00'): the ones without cannot be placed "
                              "in time; give every time an offset or none")
    with pytest.raises(SourceError, match=r"calls.csv: line 3 column 'priority': 'high' is not a whole number >= 1"):
        from_table(frame.assign(priority=[1, "high", 2]), scenario, "calls.csv")


def test_incidents_far_outside_the_city_are_refused_by_row(scenario):
    from simulation.emergency.model import EmergencyModel

    model = EmergencyModel.from_twin(grid_twin(), scenario)
    frame = pd.DataFrame({"time": [0, 60, 120], "type": ["medical"] * 3,
                          "x": [500300.0, 5003.0, 500500.0], "y": [3400300.0, 34003.0, 3400500.0]})
    incidents = from_table(frame, scenario, "inc.csv")
    with pytest.raises(ValueError) as err:
        model.simulate(1.0, 1, incidents=incidents)
    assert str(err.value).startswith("1 incident(s) more than 50 km from every one of the 6 stations (the stations "
                                     "span x 500010..501390, y 3400010..3401390 m): inc.csv:3 at (5003, 34003); ")
    ok = from_table(frame.drop(index=1), scenario, "inc.csv")
    assert len(model.simulate(1.0, 1, incidents=ok)) == 1
