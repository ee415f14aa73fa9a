"""A leak as a pressure-dependent outflow: the orifice rule, its solve in a network, closing the main."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from tests.gas.conftest import line_twin


def test_orifice_rule_choked_by_hand():
    """20 mm hole, 150 kPa gauge, 10 °C, natural gas (M = 16.604 g/mol): choked flow.

    ρ0 = 251,325 · 0.016604 / (8.314463 · 283.15) = 1.7726 kg/m³;
    ṁ = 0.61 · π·0.01² · sqrt(1.31 · 1.7726 · 251,325 · (2/2.31)^(2.31/0.31)) = 0.085578 kg/s.
    """
    from simulation.gas.leak import orifice_mass_flow

    assert orifice_mass_flow(1.5e5, 0.020, molar_mass=0.016604) == pytest.approx(0.0855783, rel=1e-6)
    # choked flow is proportional to the upstream absolute pressure
    assert orifice_mass_flow(3.0e5, 0.020) / orifice_mass_flow(1.5e5, 0.020) == pytest.approx(401325 / 251325)
    # and to the hole's area
    assert orifice_mass_flow(1.5e5, 0.040) == pytest.approx(4 * orifice_mass_flow(1.5e5, 0.020))


def test_orifice_rule_low_pressure_tends_to_the_incompressible_rule():
    from simulation.gas.leak import incompressible_mass_flow, orifice_mass_flow

    # 3 kPa in a low-pressure main: the compressible rule is 1.7 % below Q = Cd·A·sqrt(2Δp/ρ)
    assert orifice_mass_flow(3000.0, 0.02) / incompressible_mass_flow(3000.0, 0.02) == pytest.approx(0.98342, abs=1e-5)
    assert orifice_mass_flow(100.0, 0.02) / incompressible_mass_flow(100.0, 0.02) == pytest.approx(1.0, abs=1e-3)
    # 150 kPa: choked, the incompressible rule would overstate the leak by 63 %
    assert incompressible_mass_flow(1.5e5, 0.02) / orifice_mass_flow(1.5e5, 0.02) == pytest.approx(1.633, abs=1e-3)
    flows = [orifice_mass_flow(p, 0.02) for p in (0.0, 500.0, 3000.0, 5e4, 8.5e4, 1.5e5, 4e5)]
    assert flows[0] == 0.0 and all(b > a for a, b in zip(flows, flows[1:]))


def test_negative_hole_size():
    from simulation.gas.leak import Leak
    from simulation.gas.network import GasNetworkError

    with pytest.raises(GasNetworkError) as err:
        Leak("G2", -5.0)
    assert str(err.value) == "gas leak on G2: the hole size must be a number of mm above 0, not -5.0"
    with pytest.raises(GasNetworkError) as err:
        Leak("G2", 10.0, along=1.5)
    assert str(err.value) == ("gas leak on G2: along must be between 0 and 1 (a fraction of the main's length), "
                              "not 1.5")


def test_leak_on_a_main_not_in_the_network():
    from simulation.gas.leak import Leak, place_leak
    from simulation.gas.network import GasNetworkError, gas_network

    with pytest.raises(GasNetworkError) as err:
        place_leak(gas_network(line_twin()), Leak("G42", 10.0))
    assert str(err.value) == "gas leak on G42: no gas main of that id in the network"


def test_leak_flow_grows_with_the_source_pressure_and_matches_the_rule():
    from simulation.gas.leak import Leak, orifice_mass_flow, place_leak, solve
    from simulation.gas.network import gas_network

    grid = gas_network(line_twin())
    leak = place_leak(grid, Leak("G1", 20.0, along=0.5))
    assert leak.xy == (50.0, 0.0)
    leak.open = True
    flows, holes = [], []
    for p_bar in (0.5, 1.0, 1.5, 2.0, 3.0):
        grid.net.ext_grid.at[0, "p_bar"] = p_bar
        solution = solve(grid, [leak])
        p_hole = float(solution.p_bar[leak.junction])
        assert p_hole < p_bar                                  # the leak draws the main down
        rule = orifice_mass_flow(p_hole * 1e5, 0.020, molar_mass=grid.molar_mass)
        assert solution.leak_kg_s[0] == pytest.approx(rule, rel=1e-6)
        flows.append(float(solution.leak_kg_s[0]))
        holes.append(p_hole)
    assert all(b > a for a, b in zip(flows, flows[1:]))
    assert flows[2] == pytest.approx(0.085463, abs=1e-6)      # 150 kPa at the source: 116.6 L/s
    assert holes[2] == pytest.approx(1.49658, abs=1e-5)


def test_low_pressure_leak_converges_where_the_hole_draws_the_pressure_down():
    """A 50 mm hole in a 63 mm low-pressure main: the leak takes most of the pressure, the solve still settles."""
    from simulation.gas.leak import Leak, orifice_mass_flow, place_leak, solve
    from simulation.gas.network import gas_network

    grid = gas_network(line_twin())
    leak = place_leak(grid, Leak("G3", 50.0, along=0.5))
    leak.open = True
    solution = solve(grid, [leak])
    p_hole = float(solution.p_bar[leak.junction])
    assert 0 < p_hole < 0.03
    rule = orifice_mass_flow(p_hole * 1e5, 0.050, molar_mass=grid.molar_mass)
    assert solution.leak_kg_s[0] == pytest.approx(rule, rel=1e-6)
    assert solution.iterations < 30


def test_closing_the_leaking_main_stops_the_leak_and_cuts_its_customers():
    from simulation.gas.leak import Leak, place_leak, solve
    from simulation.gas.network import gas_network

    grid = gas_network(line_twin())
    leak = place_leak(grid, Leak("G2", 10.0, along=0.3))
    leak.open = True
    before = solve(grid, [leak])
    assert before.leak_kg_s[0] > 0
    grid.close("G2")
    after = solve(grid, [leak])
    assert after.leak_kg_s[0] == 0.0 and math.isnan(after.p_bar[leak.junction])
    c = grid.customers
    p = after.p_bar[c["junction"].to_numpy(int)]
    without = c["main"].isin(grid.closed).to_numpy() | ~(p >= grid.min_supply_bar)
    # B1 and B4 tap G2; B2 and B3 are fed round the other way, through the regulator at (300, 0)
    assert sorted(c["building"][without]) == ["B1", "B4"]
    assert c["people"][without].sum() == 26
    grid.open("G2")
    np.testing.assert_array_equal(solve(grid, [leak]).p_bar, before.p_bar)


def test_demo_closing_a_medium_main_cuts_exactly_the_districts_it_alone_feeds(demo_grid):
    """Who is without gas after G0234 is shut, against an independent walk of the network graph."""
    import networkx as nx

    from simulation.gas.leak import Leak, place_leak, solve

    grid = copy.deepcopy(demo_grid)
    leak = place_leak(grid, Leak("G0234", 20.0, along=0.4))
    leak.open = True
    grid.close("G0234")
    solution = solve(grid, [leak])
    assert solution.leak_kg_s[0] == 0.0
    c = grid.customers
    p = solution.p_bar[c["junction"].to_numpy(int)]
    without = set(c["building"][c["main"].isin(grid.closed).to_numpy() | ~(p >= grid.min_supply_bar)])
    # gas reaches a junction along mains in service, and through regulators from inlet to outlet only
    net = grid.net
    g = nx.DiGraph()
    for _, pipe in net.pipe[net.pipe["in_service"]].iterrows():
        g.add_edge(int(pipe["from_junction"]), int(pipe["to_junction"]))
        g.add_edge(int(pipe["to_junction"]), int(pipe["from_junction"]))
    g.add_edges_from(zip(grid.regulators["inlet"], grid.regulators["outlet"]))
    source = int(net.ext_grid.at[0, "junction"])
    fed = nx.descendants(g, source) | {source}
    expected = set(c["building"][~c["junction"].isin(fed).to_numpy()])
    assert without == expected
    assert len(without) == 37 and c["people"][c["building"].isin(without)].sum() == 56
