"""Hydraulics stepped on the session clock equal the batch break analysis for the same changes (1e-3 m)."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.hydraulics.breaks import BREAK_DEMAND_MODEL, simulate_break
from simulation.hydraulics.system import load_system
from simulation.session.session import Session
from simulation.session.water import WaterNetwork

START = 1_780_272_000.0  # 2026-06-01T00:00:00Z


@pytest.mark.parametrize("network, pipe, at_h, isolate_after_h", [("Net3.inp", "125", 5.0, 2.0),
                                                                   ("ky10.inp", "P-100", 6.0, 1.0)])
def test_a_stepped_break_and_isolation_equal_the_batch_result(network, pipe, at_h, isolate_after_h,
                                                              wntr_network_path):
    system = load_system(wntr_network_path(network))
    hours = 12.0
    batch = simulate_break(system, pipe, at_h=at_h, hole_mm=80.0, isolate_after_h=isolate_after_h,
                           duration_h=hours)
    from simulation.hydraulics.solver import HYDSTEP, Solver

    with Solver(system.epanet) as probe:
        step = probe.time_param(HYDSTEP) or 3600
    session = Session(None, START, START + hours * 3600, step_s=step)
    water = WaterNetwork(system, demand_model=BREAK_DEMAND_MODEL)
    session.attach(water)
    water.break_pipe(pipe, START + at_h * 3600, hole_mm=80.0)
    stepped: dict[float, np.ndarray] = {}

    def keep():
        for t, p, _ in water.steps:
            stepped[t - START] = p.copy()

    t_iso = START + (at_h + isolate_after_h) * 3600
    while session.now < t_iso:
        session.step()
        keep()
    # the crew's changes at t_iso, as the response engine publishes them (the batch's timers)
    shutdown = batch.shutdown
    from simulation.hydraulics.segments import n_minus_one_valves

    valves = system.valves if len(system.valves) else n_minus_one_valves(system.network)
    by_id = valves.drop_duplicates("id").set_index(valves.drop_duplicates("id")["id"].astype(str))
    start_node = system.network.get_link(pipe).start_node_name
    for vid in shutdown["valves_to_close"]:
        link = str(by_id.loc[vid, "pipe_id"])
        if link == pipe:
            link = pipe if str(by_id.loc[vid, "node_id"]) == start_node else f"{pipe}-B"
        session.publish(t_iso, "valve_closed", "test", "water_valves", vid, link=link)
    session.publish(t_iso, "repair_done", "test", "water_pipes", pipe, pipe=pipe)  # the batch closes the hole
    while session.now < session.end:
        session.step()
        keep()
    ours = {t: stepped[t] for t in batch.pressure.index if t in stepped}
    assert len(ours) == len(batch.pressure.index)  # every report time of the batch was a stepped time
    cols = [water.solver.node_index[j] for j in batch.pressure.columns]
    worst = max(np.abs(ours[t][cols] - batch.pressure.loc[t].to_numpy()).max() for t in ours)
    assert worst < 1e-3
    # the changes mattered: the break and the isolation moved pressures by metres
    assert np.abs(batch.pressure.to_numpy() - batch.pressure.iloc[0].to_numpy()).max() > 1.0
