"""Replications of a scenario: seeded variations, distributions, failures recorded and the ensemble completes."""

from __future__ import annotations

import json

import pytest

from simulation.session import ensemble
from simulation.session.scenario import load_scenario
from twin import project

SCENARIO = """\
name: Burst ensemble (test)
twin:
  project: demo.gpkg
start: "2026-06-01T06:00:00Z"
duration_h: 4
step_s: 60
seed: 5
breaks:
  - at: "07:30"
    pipe: P-83
    hole_mm: 150
response:
  isolate_min: 20
  repair_h: 1
"""


@pytest.fixture(scope="module")
def scenario(demo_twin, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    project.save(demo_twin, folder / "demo.gpkg")
    (folder / "s.yaml").write_text(SCENARIO)
    return load_scenario(folder / "s.yaml")


def test_variations_are_seeded_and_replication_zero_is_the_scenario(scenario):
    s, _ = scenario
    assert ensemble.vary(s, 0) is s
    a, b = ensemble.vary(s, 3), ensemble.vary(s, 3)
    assert a == b and a != ensemble.vary(s, 4)
    t = a.break_time(a.breaks[0]) - s.break_time(s.breaks[0])
    assert abs(t) <= 30 * 60 and t % 60 == 0 and a.seed == s.seed + 3


def test_an_ensemble_reports_distributions_and_records_a_failed_replication(scenario, tmp_path, monkeypatch):
    s, folder = scenario
    real = ensemble.ReplicationStudy.evaluate

    def flaky(self, twin, k):
        if k == 1:
            raise RuntimeError("crew radio down")
        return real(self, twin, k)

    monkeypatch.setattr(ensemble.ReplicationStudy, "evaluate", flaky)
    table, meta = ensemble.ensemble(s, folder, 3, workers=0)
    assert list(table["replication"]) == [0, 1, 2] and meta["failed"] == 1
    assert "crew radio down" in table.loc[1, "error"]
    ok = table[table["error"] == ""]
    assert ok["chain_complete"].all() and (ok["minutes_break_to_isolation"] > 0).all()
    paths = ensemble.write(table, meta, s, tmp_path)
    doc = json.loads((tmp_path / "ensemble.json").read_text())
    assert doc["distribution"]["volume_lost_m3"]["n"] == 2 and doc["failed"] == 1
    assert "data:image/png;base64," in (tmp_path / "ensemble.html").read_text()
    assert sorted(p.name for p in paths) == ["ensemble.csv", "ensemble.html", "ensemble.json"]
