"""``hydraulics run`` reports the whole network, with units in every header and invalid values flagged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from epanet_reference import solve_file  # noqa: E402
from shared_data import shared_path  # noqa: E402


@pytest.fixture(scope="module")
def net3_run(tmp_path_factory, wntr_network_path):
    out = tmp_path_factory.mktemp("run")
    path = wntr_network_path("Net3.inp")
    assert main(["hydraulics", "run", str(path), "--out", str(out)]) == 0
    return path, out


def test_every_element_kind_has_its_table_with_units(net3_run):
    _, out = net3_run
    headers = {f.stem: f.read_text().splitlines()[0] for f in out.glob("*.csv")}
    assert headers == {
        "junctions": "time_s,id,pressure_m,head_m,demand_lps,flag",
        "pipes": "time_s,id,flow_lps,velocity_m_s,headloss_m_per_km,status",
        "tanks": "time_s,id,level_m,volume_m3,head_m,net_inflow_lps",
        "pumps": "time_s,id,flow_lps,status,head_gain_m,energy_kw",
        "valves": "time_s,id,type,flow_lps,status,headloss_m,setting,setting_unit",  # no valves: header only
    }
    tanks = pd.read_csv(out / "tanks.csv", dtype={"id": str})
    pumps = pd.read_csv(out / "pumps.csv", dtype={"id": str})
    assert sorted(tanks["id"].unique()) == ["1", "2", "3"] and sorted(pumps["id"].unique()) == ["10", "335"]
    assert set(pumps["status"]) == {"OPEN", "CLOSED"}
    assert (pumps.loc[pumps["status"] == "CLOSED", "energy_kw"] == 0).all()
    assert (pumps.loc[pumps["status"] == "OPEN", "energy_kw"] > 0).all()


def test_tank_and_pump_values_are_epanets(net3_run):
    path, out = net3_run
    times, heads, flows, nodes, links = solve_file(path)
    tanks = pd.read_csv(out / "tanks.csv", dtype={"id": str}).pivot(index="time_s", columns="id")
    pumps = pd.read_csv(out / "pumps.csv", dtype={"id": str}).pivot(index="time_s", columns="id")
    np.testing.assert_allclose(tanks["head_m"]["1"].to_numpy(), heads[:, nodes.index("1")], atol=1e-6)
    np.testing.assert_allclose(pumps["flow_lps"]["335"].to_numpy(), flows[:, links.index("335")], atol=1e-6)
    # level is head above the tank's bottom (Net3 tank 1: elevation 131.9 ft), volume grows with it
    np.testing.assert_allclose(tanks["level_m"]["1"], tanks["head_m"]["1"] - 131.9 * 0.3048, atol=1e-6)
    v = tanks["volume_m3"]["1"].to_numpy()
    lv = tanks["level_m"]["1"].to_numpy()
    assert np.all(np.diff(v)[np.diff(lv) > 1e-6] > 0)


def test_negative_pressures_are_flagged_and_us_units_noted(net3_run, capsys):
    _, out = net3_run
    summary = json.loads((out / "summary.json").read_text())
    junctions = pd.read_csv(out / "junctions.csv", dtype={"id": str}, keep_default_na=False)
    negative = junctions[junctions["pressure_m"] < 0]
    assert len(negative) == summary["negative_pressures"]["junction_steps"] > 0
    assert (negative["flag"] == "negative pressure in a demand-driven run: not physical").all()
    assert (junctions.loc[junctions["pressure_m"] >= 0, "flag"] == "").all()
    assert summary["negative_pressures"]["valid"] is False
    assert summary["note"] == "the network is in US units (GPM); every value here is converted to SI (m, L/s, m3)"
    assert summary["units"]["flow"] == "L/s"


def test_the_printed_lines_never_show_a_negative_pressure_as_a_plain_result(wntr_network_path, tmp_path, capsys):
    assert main(["hydraulics", "run", str(wntr_network_path("Net3.inp")), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "NOT VALID: 1 junction(s) have negative pressure at some time (lowest -0.659 m at 10)" in text
    assert "lowest pressure -" not in text


@pytest.mark.shared_data
def test_valves_with_settings_in_si(tmp_path):
    path = shared_path("networks", "CTOWN.INP")  # LPS: three PRVs and an FCV
    assert main(["hydraulics", "run", str(path), "--duration", "2", "--out", str(tmp_path)]) == 0
    valves = pd.read_csv(tmp_path / "valves.csv")
    assert valves.columns.tolist() == ["time_s", "id", "type", "flow_lps", "status", "headloss_m", "setting",
                                       "setting_unit"]
    kinds = valves.drop_duplicates("id").set_index("id")
    assert len(kinds) == 4 and sorted(kinds["type"]) == ["FCV", "PRV", "PRV", "PRV"]
    assert set(valves.loc[valves["type"] == "PRV", "setting_unit"]) == {"m"}
    assert set(valves.loc[valves["type"] == "FCV", "setting_unit"]) == {"L/s"}
    times, _, flows, _, links = solve_file(path)
    first = valves[valves["time_s"] == 0].set_index("id")
    for vid, row in first.iterrows():
        assert row["flow_lps"] == pytest.approx(flows[0, links.index(vid)], abs=1e-6)
