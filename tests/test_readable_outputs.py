"""Outputs a planner can read (issue 10, item 9): minutes, plain numbers, units, keys, consistent counts.

These check what the outputs say (headers, titles, legend entries, axis labels),
not their pixels.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

@pytest.fixture(scope="module")
def town():
    from twin.demo import build_demo

    return build_demo(seed=7)


@pytest.fixture(scope="module")
def model(town):
    from simulation.emergency.config import load_scenario
    from simulation.emergency.model import EmergencyModel

    return EmergencyModel.from_twin(town, load_scenario())


@pytest.fixture(scope="module")
def run(model):
    return model.simulate(1.0, 1)[0]


def _no_scientific(text: str) -> None:
    assert not re.search(r"\d[eE][+-]\d", text), "scientific notation in a table for people"


# ---------------------------------------------------------------------- emergency tables
def test_incident_and_crew_tables_are_in_minutes_with_units_in_headers(run):
    from simulation.emergency.results import crew_table, incident_table, incident_times, to_csv

    inc = incident_table(run)
    for col in ("call_processing_min", "queue_min", "turnout_min", "travel_min", "response_min",
                "report_day", "report_time", "x_m", "y_m"):
        assert col in inc.columns
    assert not any(c.endswith("_s") for c in inc.columns)
    seconds = incident_times(run)["response_s"]
    assert np.allclose(inc["response_min"].dropna(), seconds.dropna() / 60.0)
    assert inc["report_time"].str.fullmatch(r"\d\d:\d\d:\d\d").all()
    crews = crew_table(run)
    assert {"turnout_min", "travel_min", "dispatch_to_scene_min", "busy_min", "dispatched_time"} <= set(crews)

    for frame in (inc, crews):
        text = to_csv(frame)
        _no_scientific(text)
        back = pd.read_csv(io.StringIO(text))
        assert list(back.columns) == list(frame.columns)


def test_to_csv_never_writes_scientific_notation():
    from simulation.emergency.results import to_csv

    text = to_csv(pd.DataFrame({"x_m": [1.7e6, 1e-7, 123456789.123], "response_min": [0.5, 1e12, np.nan]}))
    _no_scientific(text)
    assert "1700000.00" in text


# ---------------------------------------------------------------------- emergency plots
def _axis_labels(fig):
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_response_plot_is_in_minutes_and_every_axis_has_a_unit(run):
    from simulation.emergency.plots import response_ecdf_figure, utilisation_figure
    from simulation.emergency.results import utilisation

    fig = response_ecdf_figure(run.incidents, (300.0, 480.0))
    try:
        ax = fig.axes[0]
        assert "(min)" in ax.get_xlabel()
        assert "(%)" in ax.get_ylabel()
        served = run.incidents[run.incidents["on_scene"].notna()]
        resp_min = (served["on_scene"] - served["report"]).to_numpy() / 60.0
        black = ax.get_lines()[0]  # all incidents: its steps are the response times in minutes
        assert np.isclose(np.nanmax(black.get_xdata()), resp_min.max())
        assert {t.get_text().strip() for t in ax.texts} >= {"5 min", "8 min"}
    finally:
        plt.close(fig)
    fig = utilisation_figure(utilisation(run))
    try:
        assert "%" in fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    finally:
        plt.close(fig)


def test_coverage_map_counts_what_it_draws(model):
    from simulation.emergency.plots import coverage_figure

    cov = model.coverage(4.0)
    fig = coverage_figure(model, cov)
    try:
        ax = fig.axes[0]
        drawn = {c.get_gid(): len(c.get_offsets()) for c in ax.collections if c.get_gid()}
        title = ax.get_title()
        # the title's "colours count N micro stations + M stations" matches the filled markers
        for kind, n in fig.counted["counted"].items():
            assert drawn[f"counted:{kind}"] == n
            assert f"{n} {kind.replace('_', ' ')}" in title.replace("\n", " ")
        assert "micro_station" in fig.counted["counted"]  # coverage counts micro stations by default
        assert "(m)" in ax.get_xlabel() and "(m)" in ax.get_ylabel()
        bar = [a for a in fig.axes if a is not ax][0]
        assert "(min)" in bar.get_ylabel()
    finally:
        plt.close(fig)


def test_siting_map_title_counts_micro_stations_as_the_map_does(model):
    from simulation.emergency.plots import coverage_figure

    siting = model.site_stations(2, 5.0, "station", candidates=60)
    cov = model.coverage(5.0)
    title = f"2 new station(s): population within 5 min {siting.before:.0%} -> {siting.after:.0%}"
    fig = coverage_figure(model, cov, siting.added, title)
    try:
        ax = fig.axes[0]
        text = ax.get_title().replace("\n", " ")
        drawn = {c.get_gid(): len(c.get_offsets()) for c in ax.collections if c.get_gid()}
        n_micro = sum(1 for s in model.fleet.stations if s.kind == "micro_station")
        n_station = sum(1 for s in model.fleet.stations if s.kind == "station")
        assert n_micro > 0
        # the siting counts fire stations only: the map's colours do too, and says so
        assert drawn["counted:station"] == n_station == siting.existing
        assert "counted:micro_station" not in drawn
        assert drawn["not_counted:micro_station"] == n_micro
        assert drawn["proposed"] == len(siting.added) == 2
        assert f"colours count {n_station} stations + 2 proposed" in text
        assert f"{n_micro} micro stations" in text.split("not counted:")[1]
        # and the share the map's colours give is the one the siting found
        share = int(re.search(r"proposed: (\d+)% of population", text).group(1))
        assert abs(share - round(siting.after * 100)) <= 2
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"{n_micro} micro stations (not counted)" in labels
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------- retrofit
def _retrofit_inputs(todini=float("nan")):
    from simulation.hydraulics.retrofit import Plan

    plan = Plan("upsize", pd.DataFrame({"id": ["p1"], "diameter_mm": [300.0]}), currency="EUR")
    junction = pd.Series([10.0, 20.0, 30.0], index=["a", "b", "c"])
    metrics = {label: {"_junction_min": junction, "cost": 0.0 if label == "baseline" else 1234567.0}
               for label in ("baseline", "plan")}
    rows = [("min_pressure_m", 10.0, 12.0), ("pressure_deficit_hours", 5.0, 1.0),
            ("fire_flow_pass_rate", 0.5, 0.75), ("expected_people_hours_without_water_per_year", 2639.3, 2608.1),
            ("todini_index", todini, todini), ("cost", 0.0, 1234567.0)]
    table = pd.DataFrame([{"metric": m, "baseline": b, "plan": p, "change": p - b} for m, b, p in rows])
    pipes = pd.DataFrame({"id": ["p1", "p2"], "expected_people_hours_baseline": [900.0, 10.0],
                          "expected_people_hours_plan": [800.0, 10.0]})
    return plan, metrics, pipes, table


def test_retrofit_metrics_figure_has_no_empty_panel_and_names_the_currency():
    from simulation.hydraulics.retrofit import build_figures

    figs = build_figures(*_retrofit_inputs())
    try:
        metrics = figs["retrofit_metrics.png"]
        for ax in metrics.axes:
            heights = [p.get_height() for p in ax.patches]
            assert heights and any(h != 0 for h in heights), f"empty panel {ax.get_title()!r}"
            assert ax.get_ylabel(), f"panel {ax.get_title()!r} has no unit"
        assert len(metrics.axes) == 4  # Todini could not be computed: a note, not an empty panel
        head = metrics._suptitle.get_text()
        assert "1,234,567 EUR" in head and "Todini" in head
        for ax in metrics.axes:
            for t in ax.texts:
                _no_scientific(t.get_text())
        for name in ("retrofit_pressure.png", "retrofit_criticality.png"):
            ax = figs[name].axes[0]
            assert ax.get_xlabel() and ax.get_ylabel()
        assert "(m)" in figs["retrofit_pressure.png"].axes[0].get_xlabel()
    finally:
        for f in figs.values():
            plt.close(f)


def test_retrofit_tables_have_units_and_plain_numbers(tmp_path):
    from simulation.hydraulics.retrofit import RetrofitResult

    plan, metrics, pipes, table = _retrofit_inputs(0.25)
    res = RetrofitResult(plan, table, 1234567.0, {"pipes": pipes, "settings": {}}, {})
    res.write(tmp_path)
    comparison = (tmp_path / "retrofit_comparison.csv").read_text()
    _no_scientific(comparison)
    t = pd.read_csv(tmp_path / "retrofit_comparison.csv").set_index("metric")
    assert list(t.columns) == ["unit", "baseline", "plan", "change"]
    assert t.loc["cost", "unit"] == "EUR"
    assert t.loc["min_pressure_m", "unit"] == "m"
    assert t["unit"].notna().all()
    per_pipe = pd.read_csv(tmp_path / "retrofit_pipes.csv")
    assert "expected_people_hours_per_year_baseline" in per_pipe.columns
    assert per_pipe.columns[0] == "pipe_id"
    assert res.to_json()["currency"] == "EUR"


def test_retrofit_plan_currency_defaults_and_is_read(tmp_path):
    from simulation.hydraulics.retrofit import DEFAULT_CURRENCY, read_plan
    from twin.errors import SourceError

    csv = tmp_path / "plan.csv"
    csv.write_text("pipe_id,diameter_mm\np1,300\n")
    assert read_plan(csv).currency == DEFAULT_CURRENCY == "CNY"
    y = tmp_path / "plan.yaml"
    y.write_text("currency: usd\npipes:\n  - {id: p1, diameter_mm: 300}\n")
    assert read_plan(y).currency == "USD"
    y.write_text("currency: 12\npipes:\n  - {id: p1, diameter_mm: 300}\n")
    with pytest.raises(SourceError, match="currency must be a currency code"):
        read_plan(y)
