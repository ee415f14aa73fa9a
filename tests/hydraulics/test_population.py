"""The population estimate of a bare network: computed only by analyses that report people, and right."""

from __future__ import annotations

import numpy as np
import pytest
import wntr

from simulation.hydraulics.results import simulate
from simulation.hydraulics.system import LITRES_PER_PERSON_DAY, demand_population, load_system


@pytest.mark.parametrize("name", ["Net1.inp", "Net3.inp", "ky10.inp"])
def test_equals_wntrs_average_expected_demand(name, wntr_network_path):
    wn = wntr.network.read_inpfile(str(wntr_network_path(name)))
    ours = demand_population(wn)
    theirs = wntr.metrics.average_expected_demand(wn).reindex(ours.index).fillna(0.0).clip(lower=0.0)
    np.testing.assert_array_equal(ours.to_numpy(), (theirs * 86400e3 / LITRES_PER_PERSON_DAY).round().to_numpy())
    assert ours.sum() > 0


@pytest.fixture
def one_second_patterns(tmp_path, wntr_network_path):
    """Net1 with a pattern step of one second and a day-long pattern (86,400 multipliers)."""
    text = wntr_network_path("Net1.inp").read_text()
    day = 0.5 + 0.5 * np.sin(np.arange(86400) * 2 * np.pi / 86400) ** 2
    rows = "\n".join(" 1 " + " ".join(f"{v:.4f}" for v in day[i:i + 12]) for i in range(0, 86400, 12))
    head, tail = text.split("[PATTERNS]", 1)
    tail = tail.split("[", 1)[1]
    text = head + "[PATTERNS]\n" + rows + "\n\n[" + tail
    text = text.replace(" Pattern Timestep   \t2:00", " Pattern Timestep 0:00:01").replace(
        " Duration           \t24:00", " Duration 1:00")
    path = tmp_path / "fine.inp"
    path.write_text(text)
    return path, float(day.mean())


def test_run_never_estimates_it(one_second_patterns):
    path, _ = one_second_patterns
    system = load_system(path)
    simulate(system, duration_h=0.01)
    assert system.people is None  # what `hydraulics run` does reports no people


def test_an_analysis_that_reports_people_estimates_it_from_the_pattern_mean(one_second_patterns):
    path, mean = one_second_patterns
    system = load_system(path)
    people = system.population
    j = system.network.get_node("11")
    expected = round(j.base_demand * mean * 86400e3 / LITRES_PER_PERSON_DAY)
    assert people["11"] == expected and system.people is people
    assert "estimated from average demand at 200 L/person/day" in system.population_note()
