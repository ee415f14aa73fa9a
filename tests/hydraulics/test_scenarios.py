"""Breaks, water quality and retrofit plans on real networks."""

from __future__ import annotations

import json

import pytest

from simulation.hydraulics.breaks import simulate_break
from simulation.hydraulics.quality import contaminant, water_age
from simulation.hydraulics.retrofit import BREAK_RATES, break_rates, evaluate_plan, read_plan
from simulation.hydraulics.system import load_system
from twin.errors import SourceError


@pytest.fixture
def ltown(shared):
    return load_system(shared("ltown", "L-TOWN.inp"))


@pytest.fixture(scope="module")
def net3(wntr_network_path):
    return load_system(wntr_network_path("Net3.inp"))


def test_break_volume_and_isolation(ltown, tmp_path):
    b = simulate_break(ltown, "p343", at_h=1, hole_mm=80, isolate_after_h=1.5, duration_h=4)
    t = b.timeline.set_index("time_h")
    assert t.loc[:0.75, "leak_lps"].max() == 0 and t.loc[1.0:2.25, "leak_lps"].min() > 10
    assert t.loc[2.5:, "leak_lps"].max() == 0  # isolated: the leak stops
    mean_leak = t.loc[1.0:2.25, "leak_lps"].mean() / 1000
    assert b.volume_lost_m3 == pytest.approx(mean_leak * 1.5 * 3600, rel=0.02)
    assert b.shutdown["valves_to_close"] and t.loc[2.5:, "population_without_service"].min() > 0
    paths = b.write(tmp_path)
    assert (tmp_path / "break_timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "break.json").read_text())["volume_lost_m3"] == round(b.volume_lost_m3, 2)
    assert len(paths) == 4 and not list(tmp_path.glob(".*tmp*"))


def test_break_bad_input(ltown):
    with pytest.raises(KeyError, match="unknown pipe id 'nope'"):
        simulate_break(ltown, "nope")
    with pytest.raises(ValueError, match="outside the simulation"):
        simulate_break(ltown, "p343", at_h=500, duration_h=4)


def test_water_age_and_contaminant(net3):
    age = water_age(net3, duration_h=48)
    assert age.values.to_numpy().min() >= 0 and age.summary["max_age_h"] <= 48.0 + 1e-6
    c = contaminant(net3, "121", mass_mg_min=1000, start_h=2, hours=3, duration_h=24)
    j = c.junctions.set_index("id")
    assert j.loc["121", "exposed"] and 2.0 < j.loc["121", "arrival_h"] <= 3.0  # first report step after the start
    assert c.values.loc[: 1 * 3600].to_numpy().max() == 0  # nothing before the injection
    assert c.summary["population_exposed"] == pytest.approx(j.loc[j["exposed"], "population"].sum())
    assert 1 < c.summary["junctions_exposed"] < len(j)
    with pytest.raises(KeyError, match="unknown node id 'zz'"):
        contaminant(net3, "zz", mass_mg_min=1)


def test_plan_errors_name_file_and_line(net3, tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text("pipe_id,diameter_mm,material\n125,400,DI\nNOPE,300,PVC\n")
    with pytest.raises(KeyError, match=r"plan.csv: line 3: no pipe 'NOPE'"):
        read_plan(plan, net3)
    plan.write_text("pipe_id,diameter_mm\n125,-3\n")
    with pytest.raises(SourceError, match="line 2: diameter_mm must be a number > 0 and finite, not -3"):
        read_plan(plan, net3)
    plan.write_text("pipe;diameter\n125;300\n")  # wrong separator: the message names what it found
    with pytest.raises(SourceError, match=r"plan.csv: plan CSV has no column 'pipe_id' \(needs pipe_id, "
                                          r"diameter_mm; found pipe;diameter\)"):
        read_plan(plan, net3)
    y = tmp_path / "plan.yaml"
    y.write_text("name: x\npipes: []\n")
    with pytest.raises(SourceError, match="non-empty 'pipes' list"):
        read_plan(y, net3)
    y.write_text("pipes:\n  - id: '125'\n    diameter_mm: 400\nyear: soon\n")
    with pytest.raises(SourceError, match="plan.yaml: year must be a whole year such as 2030, not 'soon'"):
        read_plan(y, net3)
    y.write_text("pipes:\n  - id: '125'\n    diameter_mm: 400\nrepair_hours: a day\n")
    with pytest.raises(SourceError, match="plan.yaml: repair_hours must be a number of hours >= 0, not 'a day'"):
        read_plan(y, net3)


def test_retrofit_comparison(net3, tmp_path):
    y = tmp_path / "plan.yaml"
    y.write_text("name: upsize the river main\nyear: 2030\nrepair_hours: 10\nunit_costs: {300: 400, 600: 900}\n"
                 "pipes:\n  - {id: '125', diameter_mm: 600, material: DI}\n  - {id: '175', diameter_mm: 300, "
                 "material: PVC}\n")
    plan = read_plan(y, net3)
    res = evaluate_plan(net3, plan, sample=15, duration_h=24, fire_sample=10)
    t = res.table.set_index("metric")
    length = net3.network.get_link("125").length * 900 + net3.network.get_link("175").length * 400
    assert res.cost == pytest.approx(length)
    assert list(t.index) == ["min_pressure_m", "pressure_deficit_hours", "fire_flow_pass_rate",
                             "expected_people_hours_without_water_per_year", "todini_index", "cost"]
    # new DI/PVC pipes break far less than the unknown-material, 40-year-old ones they replace
    rates = break_rates(net3, 2030)
    assert rates["125"] > BREAK_RATES["DI"] / 100
    assert t.loc["expected_people_hours_without_water_per_year", "plan"] < \
        t.loc["expected_people_hours_without_water_per_year", "baseline"]
    assert 0 < t.loc["todini_index", "baseline"] < 1
    paths = res.write(tmp_path / "out")
    names = {p.name for p in paths}
    assert {"retrofit_comparison.csv", "retrofit.json", "retrofit_pressure.png", "retrofit_criticality.png",
            "retrofit_metrics.png"} <= names
    doc = json.loads((tmp_path / "out" / "retrofit.json").read_text())
    assert doc["metrics"]["cost"]["plan"] == pytest.approx(length, rel=1e-6)
