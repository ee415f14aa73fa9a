"""Our in-memory EPANET engine against WNTR's EpanetSimulator, scenario by scenario.

Stock WNTR 1.5 runs EPANET 2.2; our engine runs EPANET 2.3 (owa-epanet).  On
Net3, L-Town and Micropolis (demand-driven) the two agree to 1e-3 m / 1e-3 flow units.  On ky10
(a PRV inlet, 0.1 m), NJ1 (flows, up to ~1 gpm, within NJ1's own ACCURACY
0.001) and pressure-driven runs (2.3 reworked PDA) the EPANET versions differ; there the reference is WNTR's own pipeline
(writer, binary reader, unit conversion) driving the EPANET 2.3 library, which
must match exactly, and the stock-2.2 difference is pinned so a regression shows.
"""

from __future__ import annotations

import numpy as np
import pytest
import wntr

from simulation.hydraulics import DemandModel, Solver, simulate
from simulation.hydraulics.results import results_from_run
from simulation.hydraulics.solver import _FLOW_TO_SI
from simulation.hydraulics.system import from_network
from twin.network import read_network


def _system(path, hours=None):
    wn = read_network(path)
    if hours is not None:
        wn.options.time.duration = int(hours * 3600)
    return from_network(wn, name=str(path))


def _closed(system, pipe):
    """Our engine with ``pipe`` held closed (modify, solve, restore) and the same in WNTR."""
    with Solver(system.epanet) as s:
        base = s.run(("pressure",), ("flow",))
        s.hold_closed(s.link(pipe))
        run = s.run(("pressure",), ("flow",))
        s.restore()
        again = s.run(("pressure",), ("flow",))
        ours = results_from_run(s, run, DemandModel(), "x")
    np.testing.assert_array_equal(base.nodes["pressure"], again.nodes["pressure"])  # restore is exact
    np.testing.assert_array_equal(base.links["flow"], again.links["flow"])
    system.network.get_link(pipe).initial_status = wntr.network.LinkStatus.Closed
    return ours


def _factor(system):
    return _FLOW_TO_SI[system.network.options.hydraulic.inpfile_units]


CASES = [  # name, how to find it, hours (None: the file's), a pipe to close
    ("Net3", "wntr", None, "105"),
    ("L-TOWN", "ltown", 6, "p300"),
    ("MICROPOLIS", "micropolis", 12, "MA460"),
]


def _path(kind, name, shared, wntr_network_path):
    if kind == "wntr":
        return wntr_network_path(f"{name}.inp")
    if kind == "ltown":
        return shared("ltown", "L-TOWN.inp")
    if kind == "micropolis":
        return shared("micropolis", "MICROPOLIS_v1.inp")
    return shared("networks", f"{name}.inp")


@pytest.mark.parametrize("name,kind,hours,pipe", CASES)
def test_equals_stock_wntr_epanet_simulator(name, kind, hours, pipe, shared, wntr_network_path, reference, same):
    system = _system(_path(kind, name, shared, wntr_network_path), hours)
    ours = simulate(system)
    dp, dq = same(ours, reference(system.network), flow_factor=_factor(system))
    assert len(ours.times) > 1
    closed = _closed(system, pipe)
    same(closed, reference(system.network), flow_factor=_factor(system))
    # the closure changes the hydraulics, so the comparison above was not trivially the baseline
    assert np.abs(closed.link_frame("flow")[pipe].to_numpy()).max() < 1e-9
    assert np.abs(closed.link_frame("flow").to_numpy() - ours.link_frame("flow").to_numpy()).max() > 1e-5


def test_pressure_driven_equals_wntr(wntr_network_path, reference, same):
    wn = read_network(wntr_network_path("Net3.inp"))
    wn.options.time.duration = 24 * 3600
    wn.options.hydraulic.demand_model = "PDD"
    wn.options.hydraulic.minimum_pressure = 5.0
    wn.options.hydraulic.required_pressure = 30.0
    wn.options.hydraulic.pressure_exponent = 0.5
    system = from_network(wn, name="Net3 PDD")  # a network the test builds in WNTR: WNTR writes its text
    ours = simulate(system)  # the network's own demand model
    assert ours.demand_model.pdd and abs(ours.demand_model.required_pressure - 30.0) < 0.01  # psi, 2 decimals
    ref = reference(wn, "2.3")
    same(ours, ref, flow_factor=_factor(system))
    # EPANET 2.3 reworked the pressure-driven solution: stock WNTR (2.2) differs by a few 0.01 gpm
    same(ours, reference(wn, "2.2"), pressure_tol=1e-2, flow_tol=0.1, flow_factor=_factor(system))
    delivered = ours.junction_frame("demand").to_numpy()
    np.testing.assert_allclose(delivered, ref.node["demand"][ours.junctions].to_numpy(), atol=1e-7)
    assert (delivered < ref.node["demand"][ours.junctions].to_numpy().max()).any()
    # set through the API instead of the file: WNTR writes the thresholds in psi with 2 decimals,
    # so the two differ by that rounding only
    wn.options.hydraulic.demand_model = "DDA"
    api = simulate(system, demand_model=DemandModel(pdd=True, min_pressure=5.0, required_pressure=30.0))
    same(api, ref, pressure_tol=5e-3, flow_tol=0.1, flow_factor=_factor(system))


def test_ky10_matches_wntr_pipeline_on_epanet23_and_pins_the_22_difference(wntr_network_path, reference, same):
    system = _system(wntr_network_path("ky10.inp"))
    ours = simulate(system)
    same(ours, reference(system.network, "2.3"), flow_factor=_factor(system))
    stock = reference(system.network, "2.2")
    dp = (ours.node_frame("pressure") - stock.node["pressure"][ours.node_frame("pressure").columns]).abs().max()
    # EPANET 2.3 changed how a PRV's inlet settles: only that node pair differs, by ~0.1 m
    assert set(dp[dp > 1e-3].index) <= {"I-RV-4", "O-Pump-11"}
    assert dp.max() < 0.15
    closed = _closed(system, "P-200")
    same(closed, reference(system.network, "2.3"), flow_factor=_factor(system))


def test_nj1_matches_wntr_pipeline_on_epanet23(shared, reference, same):
    system = _system(shared("networks", "NJ1.inp"), 2)
    ours = simulate(system)
    ff = _factor(system)
    same(ours, reference(system.network, "2.3"), flow_factor=ff)
    stock = reference(system.network, "2.2")
    # pressures agree with stock WNTR too; flows only to NJ1's ACCURACY (0.001 relative)
    cols = ours.node_frame("pressure").columns
    assert np.abs(ours.node_frame("pressure").to_numpy() - stock.node["pressure"][cols].to_numpy()).max() < 1e-3
    dq = np.abs(ours.link_frame("flow").to_numpy() - stock.link["flowrate"][ours.link_frame("flow").columns]
                .to_numpy()) / ff
    assert dq.max() < 1.5
    pipe = system.network.pipe_name_list[100]
    closed = _closed(system, pipe)
    same(closed, reference(system.network, "2.3"), flow_factor=ff)
