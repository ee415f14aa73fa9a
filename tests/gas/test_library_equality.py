"""pandapipes' own example networks solve through the project exactly as through the library."""

from __future__ import annotations

import numpy as np
import pytest

EXAMPLES = ["gas_versatility", "gas_meshed_delta", "gas_meshed_two_valves", "gas_2eg_hnet", "schutterwald_gas"]


def _pair(name):
    import pandapipes.networks as nw

    return getattr(nw, name)(), getattr(nw, name)()


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_equals_library(name):
    import pandapipes as pp

    from simulation.gas.leak import solve
    from simulation.gas.network import GasGrid

    library, ours = _pair(name)
    pp.pipeflow(library)
    solution = solve(GasGrid(ours))
    assert library.converged and solution.iterations == 1
    np.testing.assert_array_equal(solution.p_bar, library.res_junction["p_bar"].to_numpy())
    np.testing.assert_array_equal(solution.mdot_pipe, library.res_pipe["mdot_from_kg_per_s"].to_numpy())
    assert np.isfinite(solution.p_bar).sum() >= 3


def test_schutterwald_values():
    """The Schutterwald town network (1,506 houses at 1 bar): its solution as pandapipes gives it."""
    from simulation.gas.leak import solve
    from simulation.gas.network import GasGrid

    import pandapipes.networks as nw

    net = nw.schutterwald_gas()
    solution = solve(GasGrid(net))
    assert len(solution.p_bar) == 2559
    assert solution.p_bar.max() == pytest.approx(1.0)            # the ext_grid
    assert solution.p_bar.min() == pytest.approx(0.97847, abs=1e-5)   # 2.15 kPa below it at the far end
    inflow = -float(net.res_ext_grid["mdot_kg_per_s"].sum())
    assert inflow == pytest.approx(float(net.sink["mdot_kg_per_s"].sum()), rel=1e-9)


def test_example_through_the_engine_on_a_session():
    """The engine's first solve of an example network (no twin) is the library's solution."""
    import pandapipes as pp

    from simulation.gas.engine import GasNetwork
    from simulation.gas.network import GasGrid
    from simulation.session.session import Session

    library, ours = _pair("gas_meshed_delta")
    pp.pipeflow(library)
    session = Session(None, 0.0, 600.0, step_s=60.0)
    engine = GasNetwork(GasGrid(ours))
    session.attach(engine)
    session.run()
    assert len(engine.results) == 1                 # nothing changed: one steady state all run
    table = engine.pressure_table()
    np.testing.assert_array_equal(table.iloc[0].to_numpy() / 100.0, library.res_junction["p_bar"].to_numpy())
