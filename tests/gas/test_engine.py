"""The gas network on the session clock: events in and out, and stepping equal to a straight run."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.gas.conftest import CLOSE_AT, HOURLY, LEAK_AT, OPEN_AT, REPAIR_AT, START, line_twin, run_leak


def test_events_of_the_leak_run(leak_run):
    session, gas, _, _ = leak_run
    events = [(e.time, e.kind, e.feature) for e in session.log.events
              if e.kind not in ("readings_arrived", "valve_closed", "valve_opened", "repair_done")]
    assert events == [(LEAK_AT, "leak_started", "G0234"), (CLOSE_AT, "leak_stopped", "G0234"),
                      (CLOSE_AT, "gas_supply_lost", None), (OPEN_AT, "gas_supply_restored", None)]
    started = session.log.of("leak_started")[0]
    assert started.layer == "gas_mains" and started.value == pytest.approx(116.10, abs=0.01)   # L/s
    # the volume released: the leak's flow in force between the solves, from 10:05:20 to 10:30
    table = gas.leak_table()
    flows = table[(table["time_s"] >= LEAK_AT) & (table["time_s"] < CLOSE_AT)]
    spans = np.diff(np.r_[flows["time_s"].to_numpy(), CLOSE_AT])
    volume = float((flows["flow_lps"].to_numpy() / 1000.0 * spans).sum())
    stopped = session.log.of("leak_stopped")[0]
    # 116.10 L/s for 24 min 40 s
    assert stopped.value == pytest.approx(volume, rel=1e-12) and volume == pytest.approx(171.83, abs=0.01)
    lost, restored = session.log.of("gas_supply_lost")[0], session.log.of("gas_supply_restored")[0]
    assert (lost.value, lost.get("buildings"), lost.get("mains")) == (56.0, 37, ["G0177", "G0468"])
    assert (restored.value, restored.get("buildings")) == (56.0, 37)
    assert session.state["buildings_without_gas"] == set()
    assert session.state["gas_leaks"]["gas_mains/G0234"]["active"] is False


def test_solves_only_when_something_changes(leak_run):
    _, gas, _, _ = leak_run
    times = [(t - START) / 60.0 for t, _, _ in gas.results]
    # start, the hour (10:00), the leak (10:05:20), shut off (10:30), repair (10:50), the hour, reopened
    assert times == [0.0, 30.0, 35 + 1 / 3, 60.0, 80.0, 90.0, 100.0]
    timeline = gas.timeline_frame()
    assert timeline["demand_factor"].tolist() == [0.8, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9]
    assert timeline["people_without_gas"].tolist() == [0, 0, 0, 56, 56, 56, 0]


def test_stepping_equals_a_straight_run(leak_run, demo_grid):
    from simulation.gas.engine import solve_sequence
    from simulation.gas.leak import Leak, place_leak

    _, gas, _, _ = leak_run
    grid = copy.deepcopy(demo_grid)
    leak = place_leak(grid, Leak("G0234", 20.0, along=0.4))
    straight = solve_sequence(grid, [(leak, LEAK_AT)], [
        (START, "demand", HOURLY[9]), (START + 1800, "demand", HOURLY[10]), (CLOSE_AT, "valve_closed", "G0234"),
        (REPAIR_AT, "repair_done", "G0234"), (START + 5400, "demand", HOURLY[11]), (OPEN_AT, "valve_opened", "G0234")])
    assert [t for t, _ in straight] == [t for t, _, _ in gas.results]
    for (_, mine), (_, _, stepped) in zip(straight, gas.results):
        np.testing.assert_array_equal(stepped.p_bar, mine.p_bar)
        np.testing.assert_array_equal(stepped.mdot_pipe, mine.mdot_pipe)
        np.testing.assert_array_equal(stepped.leak_kg_s, mine.leak_kg_s)


def test_frames_of_five_minutes_give_the_same_run(leak_run, gas_twin, demo_grid):
    session, gas, migration, raised = leak_run
    session5, gas5, migration5, raised5 = run_leak(gas_twin, copy.deepcopy(demo_grid), step_s=300.0)
    assert [t for t, _, _ in gas5.results] == [t for t, _, _ in gas.results]
    for (_, _, a), (_, _, b) in zip(gas5.results, gas.results):
        np.testing.assert_array_equal(a.p_bar, b.p_bar)
    assert migration5.readings == migration.readings
    assert [(a.time, a.sensor_id, a.state, a.level) for a in raised5] == \
        [(a.time, a.sensor_id, a.state, a.level) for a in raised]
    key = lambda e: (e.time, e.kind, e.feature, e.value)   # noqa: E731
    assert [key(e) for e in session5.log.events if e.kind != "readings_arrived"] == \
        [key(e) for e in session.log.events if e.kind != "readings_arrived"]


def test_results_tables(leak_run):
    _, gas, _, _ = leak_run
    pressures = gas.pressure_table()
    assert pressures.shape == (7, 530)
    assert pressures["P395-medium_a"].to_numpy() == pytest.approx([350.0] * 7, abs=1e-9)    # the gate station
    assert np.isnan(pressures["G0234@0.4"].iloc[3])                                  # shut off: no pressure
    flows = gas.flow_table()
    assert flows.shape == (7, 517)
    leaks = gas.leak_table()
    assert leaks["flow_lps"].round(2).tolist() == [0.0, 0.0, 116.10, 0.0, 0.0, 0.0, 0.0]


def test_bad_hourly_factors_and_late_leaks():
    from simulation.gas.engine import GasNetwork
    from simulation.gas.network import GasNetworkError, gas_network
    from simulation.session.session import Session

    grid = gas_network(line_twin())
    with pytest.raises(GasNetworkError) as err:
        GasNetwork(grid, hourly_factors=[1.0] * 23)
    assert str(err.value) == "gas network: hourly_factors must be 24 numbers >= 0 (one per local hour)"
    engine = GasNetwork(grid)
    engine.leak("G2", 5000.0, 10.0)
    with pytest.raises(GasNetworkError) as err:
        engine.leak("G2", 6000.0, 10.0)
    assert str(err.value) == "gas network: gas main G2 leaks twice"
    with pytest.raises(GasNetworkError) as err:
        Session(None, 0.0, 3600.0).attach(engine)
    assert str(err.value) == "gas network: the leak on G2 at 5000.0 falls outside the session"


def test_main_pressures_on_the_clock(leak_run):
    """What the 3D view colours the gas mains by: kPa per main for the state in force at a clock time."""
    _, gas, _, _ = leak_run
    calm = gas.main_pressure(LEAK_AT - 1.0)
    leaking = gas.main_pressure(LEAK_AT + 600.0)
    shut = gas.main_pressure(CLOSE_AT + 60.0)
    assert len(calm) == 516 and calm.notna().all()
    assert calm["G0234"] == pytest.approx(149.615, abs=1e-3)
    assert leaking["G0234"] == pytest.approx(148.598, abs=1e-3)     # the hole draws it down 1 kPa
    # shut off: G0234, and the low-pressure mains G0177 and G0468 whose regulator only G0234 fed
    assert sorted(shut.index[shut.isna()]) == ["G0177", "G0234", "G0468"]
