"""The twin's gas mains as a pandapipes network: the demo city, a small twin, and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from tests.gas.conftest import line_twin


def test_demo_city_builds_and_solves(demo_grid):
    from simulation.gas.leak import solve
    from simulation.gas.network import CLASS_RANGE_MPA

    grid = copy.deepcopy(demo_grid)
    assert (len(grid.net.junction), len(grid.net.pipe), len(grid.regulators), len(grid.customers)) == (529, 516, 130,
                                                                                                       3022)
    assert grid.customers["households"].sum() == pytest.approx(7388.49, abs=0.01)
    assert grid.customers["people"].sum() == 4545
    solution = solve(grid)
    p_kpa = pd.Series(solution.p_bar * 100.0, index=grid.net.junction.index)
    by_class = p_kpa.groupby(grid.junctions["pressure_class"]).agg(["min", "max"])
    # the source holds medium A at 350 kPa; the regulators hold medium B at 150 kPa and low at 3.0 kPa
    assert grid.net.ext_grid.at[0, "p_bar"] == 3.5
    assert by_class.loc["medium_a", "max"] == pytest.approx(350.0)
    assert by_class.loc["medium_b", "max"] == pytest.approx(150.0)
    assert by_class.loc["low", "max"] == pytest.approx(3.0)
    for klass, (lo, hi) in CLASS_RANGE_MPA.items():
        if klass in by_class.index:   # every junction within its GB 50028 class
            assert lo * 1000 <= by_class.loc[klass, "min"] and by_class.loc[klass, "max"] <= hi * 1000
    assert by_class.loc["low", "min"] == pytest.approx(2.949, abs=1e-3)
    # every customer supplied: no junction serving one below 1.5 kPa or without pressure
    served = solution.p_bar[grid.customers["junction"].to_numpy(int)]
    assert np.isfinite(served).all() and served.min() >= grid.min_supply_bar
    # the gas drawn at the gate station is the customers' design hour
    assert -float(grid.net.res_ext_grid.at[0, "mdot_kg_per_s"]) == pytest.approx(
        grid.customers["demand_kg_s"].sum(), rel=1e-6)
    assert grid.customers["demand_kg_s"].sum() == pytest.approx(0.123723, rel=1e-5)


def test_demo_city_gas_mains_are_one_network_with_the_joins_after_the_laid_mains(demo_twin):
    """The mains as laid fall into pieces with the streets; the town builder joins them along the roads."""
    from twin.town.gas import join_sections

    mains = demo_twin["gas_mains"]
    laid = mains[mains["id"] <= "G0487"]
    joins = mains[mains["id"] > "G0487"]
    assert len(laid) == 487 and len(joins) == 29
    assert set(joins["pressure_class"]) == {"medium_b"} and set(joins["diameter"]) == {0.160}
    sites = demo_twin["sites"]
    gate = sites[sites["category"] == "gas gate station"].geometry.values[0]
    import numpy as np

    again = join_sections(laid.reset_index(drop=True), demo_twin["roads"], np.asarray(gate.coords[0]))
    assert again["id"].tolist() == mains["id"].tolist()
    from simulation.gas.network import GasNetworkError, gas_network

    with pytest.raises(GasNetworkError) as err:     # the mains as laid: what no source reaches is named
        bare = demo_twin.__class__.__new__(demo_twin.__class__)
        bare.__dict__.update(demo_twin.__dict__)
        bare.layers = dict(demo_twin.layers)
        bare.layers["gas_mains"] = laid
        gas_network(bare)
    assert str(err.value).startswith("gas network: 425 gas main(s) in 47 isolated section(s) that no source "
                                     "reaches: G0001, G0002,")


def test_small_twin_tables():
    from simulation.gas.network import DemandRule, gas_network

    grid = gas_network(line_twin())
    assert grid.junctions[["pressure_class", "x", "y"]].values.tolist() == [
        ["medium_b", 0.0, 0.0], ["medium_b", 100.0, 0.0], ["low", 100.0, 0.0], ["low", 200.0, 0.0],
        ["medium_b", 300.0, 0.0], ["low", 300.0, 0.0], ["low", 200.0, 100.0]]
    assert grid.regulators[["inlet", "outlet", "set_bar"]].values.tolist() == [[1, 2, 0.03], [4, 5, 0.03]]
    assert grid.net.pipe["k_mm"].tolist() == [0.1, 0.01, 0.01, 0.01, 0.01]
    assert grid.net.pipe.at[4, "length_km"] == pytest.approx(0.4)   # G5 along its bends
    c = grid.customers.set_index("building")
    assert c["main"].to_dict() == {"B1": "G2", "B2": "G3", "B3": "G4", "B4": "G2"}
    assert c["junction"].to_dict() == {"B1": 2, "B2": 3, "B3": 6, "B4": 2}   # the nearer end of the main
    assert c.at["B1", "households"] == pytest.approx(26 / 2.62)
    assert c.at["B4", "households"] == pytest.approx(2.0)        # 200 m² commercial: 2 household-equivalents
    assert DemandRule().household_peak_m3h == pytest.approx(0.0822489, rel=1e-6)
    rho_n = grid.normal_density
    assert c.at["B1", "demand_kg_s"] == pytest.approx(26 / 2.62 * 0.0822489 / 3600 * rho_n, rel=1e-6)


def test_no_source():
    from simulation.gas.network import GasNetworkError, gas_network

    with pytest.raises(GasNetworkError) as err:
        gas_network(line_twin(gate=False))
    assert str(err.value) == ("gas network: no source (no site of category 'gas gate station' in the twin, and no "
                              "source point given)")
    with pytest.raises(GasNetworkError) as err:
        gas_network(line_twin(), sources=[(1000.0, 0.0)])
    assert str(err.value) == ("gas network: no source (the gas gate station at (1000.0, 0.0) is 700.0 m from the "
                              "nearest main end; it must be within 50 m)")


def test_isolated_section_names_its_mains():
    from simulation.gas.network import GasNetworkError, gas_network

    with pytest.raises(GasNetworkError) as err:
        gas_network(line_twin(isolated=True))
    assert str(err.value) == "gas network: 1 gas main(s) in 1 isolated section(s) that no source reaches: G9"


def test_a_section_fed_only_through_a_regulator_upwards_is_isolated():
    """Gas goes down through a regulator, never up: a medium main beyond a low district is not fed."""
    import geopandas as gpd
    from shapely.geometry import LineString

    from simulation.gas.network import GasNetworkError, gas_network

    twin = line_twin()
    mains = twin["gas_mains"]
    twin["gas_mains"] = gpd.GeoDataFrame(pd.concat([mains, gpd.GeoDataFrame(
        {"id": ["G7"], "pressure_class": ["medium_b"], "diameter": [0.1]},
        geometry=[LineString([(200, 100), (300, 100)])], crs=mains.crs)], ignore_index=True), crs=mains.crs)
    with pytest.raises(GasNetworkError) as err:
        gas_network(twin)
    assert str(err.value) == "gas network: 1 gas main(s) in 1 isolated section(s) that no source reaches: G7"


def test_main_without_a_diameter():
    from simulation.gas.network import GasNetworkError, gas_network

    twin = line_twin()
    mains = twin["gas_mains"].copy()
    mains.loc[mains["id"].isin(["G3", "G4"]), "diameter"] = np.nan
    twin["gas_mains"] = mains
    with pytest.raises(GasNetworkError) as err:
        gas_network(twin)
    assert str(err.value) == "gas network: 2 gas main(s) without a diameter: G3, G4"
