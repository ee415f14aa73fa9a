"""Threshold queries without Qt (app/query.py): parsing what a user typed, matching, following the clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.query import COLOUR, HIGHLIGHT, LiveQuery, QueryError, evaluate, fields, parse
from app.view_model import ViewModel


@pytest.fixture
def model(demo_twin):
    """The demo city's view model with a view per non-empty layer (as a bound scene leaves it)."""
    m = ViewModel.for_twin(demo_twin)
    for name in m.columns:
        if name not in m.layers:
            m.add_layer(name)
    return m


def pressures(demo_twin, seed: int, missing: int = 40) -> pd.Series:
    """Junction pressures as the playback sends them: by id, some missing (NaN)."""
    ids = demo_twin["water_junctions"]["id"]
    values = np.random.default_rng(seed).uniform(0, 60, len(ids))
    values[:missing] = np.nan
    return pd.Series(values, index=ids.to_numpy())


def query(demo_twin, model, layer, field, op, text):
    frame = demo_twin[layer]
    q = parse(layer, field, op, text, fields(frame, layer, model))
    return evaluate(q, frame, model)


def test_a_column_threshold_matches_what_pandas_finds(demo_twin, model):
    j = demo_twin["water_junctions"]
    cut = float(j["elevation"].median())
    got = query(demo_twin, model, "water_junctions", "elevation", "<", f"{cut}")
    assert got.count == int((j["elevation"] < cut).sum()) > 0
    assert set(got.ids) == set(j.loc[j["elevation"] < cut, "id"])
    assert got.compared == len(j)
    assert str(got).startswith(f"{got.count:,} of {len(j):,} water junctions match elevation < ")
    # the unit comes from the schema ("node elevation ..., m")
    assert fields(j, "water_junctions")["elevation"].unit == "m"


def test_a_result_threshold_never_matches_a_missing_value(demo_twin, model):
    p = pressures(demo_twin, 1)
    model.show_values("water_junctions", "pressure", p, unit="m")
    below = query(demo_twin, model, "water_junctions", "pressure", "<", "20")
    assert below.count == int((p < 20).sum())
    assert set(below.ids) == set(p.index[p < 20])
    other = query(demo_twin, model, "water_junctions", "pressure", "!=", "20 m")
    # NaN != 20 is true in numpy; a missing pressure still never matches
    assert other.count == int(p.notna().sum()) == len(p) - 40
    assert str(below.query) == "pressure < 20 m"
    assert fields(demo_twin["water_junctions"], "water_junctions", model)["pressure"].label == "pressure (result, m)"


def test_a_value_in_another_unit_of_the_same_kind_is_converted(demo_twin, model):
    ids = demo_twin["water_junctions"]["id"].to_numpy()
    age_s = pd.Series(np.linspace(0, 5 * 86400, len(ids)), index=ids)
    model.show_values("water_junctions", "age", age_s, unit="s")
    got = query(demo_twin, model, "water_junctions", "age", ">", "48 h")
    assert got.query.value == 48 * 3600.0
    assert got.count == int((age_s > 48 * 3600).sum())
    pipes = demo_twin["water_pipes"]
    wide = query(demo_twin, model, "water_pipes", "diameter", ">=", "200 mm")
    assert wide.count == int((pipes["diameter"] >= 0.2).sum()) > 0


def test_a_text_column_is_compared_by_equality(demo_twin, model):
    b = demo_twin["buildings"]
    got = query(demo_twin, model, "buildings", "use", "==", "commercial")
    assert got.count == int((b["use"] == "commercial").sum()) > 0
    rest = query(demo_twin, model, "buildings", "use", "!=", "commercial")
    assert rest.count == int((b["use"].notna() & (b["use"] != "") & (b["use"] != "commercial")).sum())


@pytest.mark.parametrize("field, op, text, message", [
    ("pressure", "<", "abc", 'pressure needs a number (in m), not "abc"'),
    ("pressure", "<", "nan", 'pressure needs a number (in m), not "nan"'),
    ("pressure", "<", "1e400", 'pressure needs a finite number, not "1e400"'),
    ("pressure", "<", "", "type a value to compare pressure with"),
    ("pressure", "<", "20 kPa", '"20 kPa" cannot be compared with pressure, which is in m'),
    ("zone", "<", "3", "zone is text: compare it with == or !=, not <"),
    ("pressure", "=<", "20", 'unknown operator "=<" (operators: <, <=, >, >=, ==, !=)'),
])
def test_bad_input_gets_one_clear_message(demo_twin, model, field, op, text, message):
    model.show_values("water_junctions", "pressure", pressures(demo_twin, 2), unit="m")
    with pytest.raises(QueryError) as err:
        query(demo_twin, model, "water_junctions", field, op, text)
    assert str(err.value) == message


def test_an_unknown_field_is_named_with_the_fields_there_are(demo_twin, model):
    with pytest.raises(QueryError) as err:
        query(demo_twin, model, "water_junctions", "presure", "<", "20")
    assert str(err.value) == ('water_junctions has no field "presure" (fields: id, elevation, base_demand, '
                              'terrain_elevation, burial_depth, zone)')


def test_a_live_query_follows_the_values_the_clock_sends(demo_twin, model):
    live = LiveQuery(demo_twin, model)
    sent = []
    live.changed.connect(sent.append)
    model.show_values("water_junctions", "pressure", pressures(demo_twin, 3), unit="m")
    frame = demo_twin["water_junctions"]
    q = parse("water_junctions", "pressure", "<", "20", fields(frame, "water_junctions", model))
    first = live.set(q)
    h = model.highlights[HIGHLIGHT]
    assert (h.layer, h.colour, h.label) == ("water_junctions", COLOUR, "pressure < 20 m")
    assert h.ids == first.ids
    # the clock moves on: new pressures, the highlight follows without anyone asking
    later = pressures(demo_twin, 4, missing=0)
    model.show_values("water_junctions", "pressure", later, unit="m")
    assert live.matches.count == int((later < 20).sum())
    assert set(model.highlights[HIGHLIGHT].ids) == set(later.index[later < 20])
    assert set(model.highlights[HIGHLIGHT].ids) != set(first.ids)
    assert sent[-1] is live.matches and len(sent) == 2
    # values of another layer or result change nothing
    model.show_values("water_pipes", "flow", pd.Series([1.0], index=["x"]))
    assert len(sent) == 2
    # the result is no longer shown: the highlight goes and the panel is told why
    model.clear_values("water_junctions")
    assert HIGHLIGHT not in model.highlights
    assert isinstance(sent[-1], QueryError) and str(sent[-1]) == "pressure is no longer shown on water_junctions"
    # ... and comes back with it
    model.show_values("water_junctions", "pressure", later, unit="m")
    assert set(model.highlights[HIGHLIGHT].ids) == set(later.index[later < 20])
    live.close()
    assert HIGHLIGHT not in model.highlights
    model.show_values("water_junctions", "pressure", pressures(demo_twin, 5), unit="m")
    assert HIGHLIGHT not in model.highlights
