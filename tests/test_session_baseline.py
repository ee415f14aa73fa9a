"""The baseline EPANET run (the network without the session's events) is solved once and shared, unchanged.

Sessions with the same network, demand model, duration and step read one
:class:`~simulation.session.water.Baseline`: a warm run (the baseline already
solved by an earlier one), a run that finds it half solved and a seek back all
give the events of a cold run.
"""

from __future__ import annotations

import pytest

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.system import from_twin
from simulation.session.scenario import build_session, load_scenario
from simulation.session.water import baseline, clear_baselines
from twin.network import Edit

SCENARIO = """\
name: Main burst, short (test)
twin:
  demo_seed: 7
start: "2026-06-01T06:00:00Z"
duration_h: 4
step_s: 60
seed: 5
service_pressure_m: 14
breaks:
  - at: "07:30"
    pipe: P-83
    hole_mm: 150
response:
  isolate_min: 30
  repair_h: 1
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("baseline") / "burst.yaml"
    path.write_text(SCENARIO)
    return load_scenario(path)


def rows(session):
    return [e.row() for e in session.log.events]


def test_a_shared_baseline_gives_the_events_of_a_cold_run(scenario, demo_twin):
    s, folder = scenario
    system = from_twin(demo_twin)
    clear_baselines()
    cold = build_session(s, folder, twin=demo_twin, system=system).run()
    assert len(cold.log.of("service_lost")) > 0  # the baseline decides these
    warm = build_session(s, folder, twin=demo_twin, system=system).run()
    assert warm.water.baseline is cold.water.baseline
    assert rows(warm) == rows(cold)
    # a session that finds the baseline solved only part of the way steps it on from there
    clear_baselines()
    first = build_session(s, folder, twin=demo_twin, system=system)
    first.advance_to(first.start + 2 * 3600)
    second = build_session(s, folder, twin=demo_twin, system=system)
    assert second.water.baseline is first.water.baseline
    assert rows(second.run()) == rows(cold)
    assert rows(first.run()) == rows(cold)
    # seeking back re-runs the session from its start on the same baseline
    solved = first.water.baseline
    first = first.seek(first.start + 3600)
    assert first.water.baseline is solved
    assert rows(first) == [r for r in rows(cold) if r["time_s"] <= first.start + 3600]


def test_a_baseline_is_shared_only_by_the_same_network_demand_model_duration_and_step(demo_twin):
    system = from_twin(demo_twin)
    pdd = DemandModel(pdd=True)
    one = baseline(system, pdd, 3600, 60)
    assert baseline(from_twin(demo_twin), DemandModel(pdd=True), 3600, 60) is one  # equal content
    assert baseline(system, pdd, 7200, 60) is not one
    assert baseline(system, pdd, 3600, 30) is not one
    assert baseline(system, DemandModel(), 3600, 60) is not one
    pipe = system.network.pipe_name_list[0]
    edited = system.edited(Edit(pipe, "diameter", 0.3))
    assert baseline(edited, pdd, 3600, 60) is not one
    clear_baselines()
    assert baseline(system, pdd, 3600, 60) is not one
