"""A year of incidents on the built-in demo city: the showcase of ``lifeline-twin start``."""

from __future__ import annotations

import json

import pytest

from simulation.emergency.config import load_scenario
from simulation.emergency.model import EmergencyModel


@pytest.fixture(scope="module")
def demo(demo_twin):
    return demo_twin


def test_demo_fleet_and_roads(demo):
    model = EmergencyModel.from_twin(demo, load_scenario())
    kinds = [s.kind for s in model.fleet.stations]
    assert 2 <= kinds.count("station") <= 3 and 8 <= kinds.count("micro_station") <= 12
    assert model.fleet.count("micro") == kinds.count("micro_station")  # micro_engine -> micro
    assert model.graph.n_nodes > 1000
    assert model.travel.unreachable_nodes == 0
    cov = model.coverage(5.0)
    assert 0.2 < cov.population_share < 1.0


def test_showcase_year_writes_kpis_and_plots(demo, tmp_path):
    from simulation.emergency.report import showcase

    # as the sensors drill step leaves it: the alarm log of the drill day (here one smoke alarm)
    smoke = demo["sensors"][demo["sensors"]["sensor_type"] == "smoke"]["id"].iloc[0]
    (tmp_path / "sensor_alarms.json").write_text(json.dumps({"alarms": [
        {"time": "2024-05-01T14:25:00Z", "level": "red", "state": "raised", "sensor_id": smoke,
         "sensor_type": "smoke", "message": "smoke above red"}]}))
    paths = showcase(demo, tmp_path / "demo.gpkg", tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["coverage.png", "drill_response.json", "kpis.json", "response_ecdf.png", "utilisation.png"]
    drill = json.loads((tmp_path / "emergency" / "drill_response.json").read_text())
    (row,) = drill["incidents"]
    assert row["type"] == "structure_fire" and row["reported_s"] == 14 * 3600 + 25 * 60
    assert row["false_alarm"] or (row["first_unit"] and row["response_s"] > row["call_processing_s"])
    report = json.loads((tmp_path / "emergency" / "kpis.json").read_text())
    assert report["days"] == 365 and report["replications"] == 3
    scenario = load_scenario()
    expected = 365 * sum(it.rate_per_day for it in scenario.incident_types.values())
    incidents = report["kpis"]["overall"]["incidents"]["mean"]
    assert abs(incidents - expected) < 4 * expected ** 0.5
    assert report["kpis"]["overall"]["unserved"]["mean"] == 0
    shares = {s["name"]: s["share"]["mean"] for s in report["kpis"]["standards"]}
    assert len(shares) == len(scenario.standards) and all(0 <= v <= 1 for v in shares.values())
    for p in paths:
        assert p.stat().st_size > 200
