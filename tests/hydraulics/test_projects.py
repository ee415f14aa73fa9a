"""Hydraulics on projects: the demo city (buildings, hydrants, N-1 valves) and imported Micropolis (TCV valves)."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from simulation.hydraulics.criticality import criticality
from simulation.hydraulics.fire_flow import fire_flow
from simulation.hydraulics.segments import segment
from simulation.hydraulics.system import from_twin, load_system


@pytest.fixture(scope="module")
def demo():
    from twin.demo import build_demo

    return build_demo(seed=7)


def test_demo_city_population_hydrants_and_valves(demo, tmp_path):
    system = from_twin(demo)
    assert system.population_source == "buildings"
    assert system.population.sum() == pytest.approx(
        demo["buildings"][demo["buildings"]["junction_id"].notna()]["population"].sum())
    crit = criticality(system, sample=25, seed=2)
    top = crit.table.iloc[0]
    # people without service are the residents of the buildings on the junctions that lost pressure
    assert top["population_without_service"] > 0 and crit.failures.empty
    ff = fire_flow(system, sample=8, seed=1, duration_h=0)
    assert set(ff.table["id"]) <= set(demo["hydrants"]["id"]) and len(ff.table) == 8
    seg = segment(system)
    assert seg.valves["id"].nunique() == len(system.valves["id"].unique()) > 0
    assert seg.table()["population"].sum() == pytest.approx(system.population.sum())


def test_demo_showcase_step(demo, tmp_path):
    from app.commands.hydraulics import demo_step

    paths = demo_step(demo, tmp_path / "demo.gpkg", tmp_path)
    names = {p.name for p in paths}
    assert {"criticality.csv", "criticality.json", "criticality_pipes.gpkg", "fire_flow.json"} <= names
    doc = json.loads((tmp_path / "hydraulics" / "criticality.json").read_text())
    assert len(doc["pipes"]) == 20 and doc["scenarios"] == len(demo.network.model.pipe_name_list)


def test_micropolis_project_valves_are_its_tcvs(shared, tmp_path):
    from twin.importers.micropolis import import_micropolis
    from twin.project import save

    folder = shared("micropolis", "MICROPOLIS_v1.inp").parent
    result = import_micropolis(folder)
    twin = result[0] if isinstance(result, tuple) else result
    project = save(twin, tmp_path / "micropolis.gpkg")
    system = load_system(project)
    assert system.population_source == "buildings" and len(system.hydrants) == 52
    seg = segment(system)
    assert seg.valves["id"].nunique() >= 200 and seg.count > 300
    sd = seg.shutdown("MA460")
    assert sd["valves_to_close"] and len(sd["pipes_in_segment"]) < 20
    # valve ids are the layer's, so the crew can find them on the map
    assert set(sd["valves_to_close"]) <= set(twin["water_valves"]["id"])


def test_ctrl_c_stops_cleanly_and_writes_nothing(monkeypatch, capsys, wntr_network_path, tmp_path):
    import simulation.hydraulics.sweep as sweep_mod

    calls = {"n": 0}
    real = sweep_mod.run_batch

    def interrupted(study, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(study, batch)

    monkeypatch.setattr(sweep_mod, "run_batch", interrupted)
    code = main(["hydraulics", "criticality", str(wntr_network_path("Net3.inp")), "--workers", "0",
                 "--duration", "24", "--out", str(tmp_path / "out")])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_results_align_with_the_layers_for_the_scene(demo):
    from simulation.hydraulics import simulate

    res = simulate(from_twin(demo))
    junctions = demo["water_junctions"]
    times, values = res.layer_values(junctions, "pressure")
    assert values.shape == (len(times), len(junctions))
    first = junctions["id"].iloc[0]
    assert values[0, 0] == res.junction_frame("pressure")[first].iloc[0]
    times, flows = res.layer_values(demo["water_pipes"], "flow")
    assert flows.shape[1] == len(demo["water_pipes"]) and not (flows != flows).any()  # every pipe has a flow
    tidy = res.tidy("pipe")
    assert list(tidy.columns) == ["time_s", "id", "flow", "velocity", "headloss", "status"]
    assert len(tidy) == len(times) * len(res.pipes)
