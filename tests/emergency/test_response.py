"""The closed loop: exact timestamps, dispatch rule, mutual aid, queues, priorities, shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulation.emergency.fleet import Fleet
from simulation.emergency.incidents import Incidents
from simulation.emergency.model import EmergencyModel
from simulation.emergency.response import ResponseSimulation
from simulation.emergency.results import combine, incident_times, summarise

from .conftest import grid_twin

X0, Y0 = 500000.0, 3400000.0


def town_with(rows, n=5):
    return grid_twin(n, station_rows=rows)


def incidents(scenario, rows):
    """rows: (time, type, priority, x, y)."""
    names = list(scenario.incident_types)
    t, typ, pr, x, y = zip(*rows)
    return Incidents(np.array(t, float), np.array([names.index(k) for k in typ]), names, np.array(pr),
                     np.column_stack([x, y]), np.array([f"test:{i}" for i in range(len(rows))], dtype=object))


def simulate(twin, scenario, rows, seed=1):
    model = EmergencyModel.from_twin(twin, scenario)
    sim = ResponseSimulation(scenario, model.fleet, model.travel, incidents(scenario, rows), seed=seed)
    return sim.run(horizon_s=86400.0)


TWO_EMS = [("ems1", "EMS West", "ems", {"ambulance": 1}, X0, Y0),
           ("ems2", "EMS East", "ems", {"ambulance": 1}, X0 + 800, Y0 + 800)]


def test_every_step_of_the_life_cycle_is_timestamped(exact):
    run = simulate(town_with(TWO_EMS), exact(), [(100, "medical", 1, X0 + 200, Y0)])
    inc = run.incidents.iloc[0]
    # report, verify (+30), request (+20), assign, turnout (+60), travel 200 m at 10 m/s, handle 1000, feedback 100
    assert [inc[s] for s in ("report", "verify", "request", "assign", "turnout", "on_scene", "handled", "close")] \
        == pytest.approx([100, 130, 150, 150, 210, 230, 1230, 1330])
    crew = run.crews.iloc[0]
    assert crew["unit_name"] == "ems1/ambulance-1" and not crew["mutual_aid"]
    assert crew["back"] == pytest.approx(1230 + 20)  # units return to their station
    t = incident_times(run).iloc[0]
    assert (t["call_processing_s"], t["queue_s"], t["turnout_s"], t["travel_s"], t["response_s"]) == \
        pytest.approx((50, 0, 60, 20, 130))


def test_nearest_busy_sends_mutual_aid_from_the_next_station(exact):
    run = simulate(town_with(TWO_EMS), exact(), [(100, "medical", 1, X0 + 200, Y0),
                                                 (101, "medical", 1, X0 + 200, Y0)])
    crews = run.crews.sort_values("incident")
    assert crews["unit_name"].tolist() == ["ems1/ambulance-1", "ems2/ambulance-1"]
    assert crews["mutual_aid"].tolist() == [False, True]
    second = run.incidents.iloc[1]
    assert second["on_scene"] - second["turnout"] == pytest.approx(140.0)  # (800,800) -> (200,0): 7 blocks


def test_queue_when_no_unit_is_free_and_priority_first(exact):
    one = TWO_EMS[:1]
    run = simulate(town_with(one), exact(), [(100, "medical", 2, X0 + 200, Y0),
                                             (110, "medical", 2, X0 + 200, Y0),
                                             (120, "medical", 1, X0 + 200, Y0)])
    inc = incident_times(run).set_index("incident")
    # the ambulance is back at 1250; the priority-1 call waiting since 170 goes first
    assert inc.loc[2, "assign"] == pytest.approx(1250)
    assert inc.loc[2, "queue_s"] == pytest.approx(1250 - 170)
    assert inc.loc[2, "on_scene"] == pytest.approx(1250 + 60 + 20)
    # ...and the priority-2 call after that crew is back: 1330 + 1000 handle + 20 return
    assert inc.loc[1, "assign"] == pytest.approx(2350)
    kpis = summarise(run, exact())
    assert kpis["queued_calls"]["incidents"] == 2
    assert kpis["overall"]["queued"] == 2
    assert kpis["queued_calls"]["mean_wait_s"] == pytest.approx(((1250 - 170) + (2350 - 160)) / 2)


def test_false_alarm_closes_at_verification(exact):
    sc = exact()
    data = sc.model_dump(exclude_none=True)
    data["incident_types"]["medical"]["false_alarm"] = 1.0
    from simulation.emergency.config import scenario_from_dict

    sc = scenario_from_dict(data)
    run = simulate(town_with(TWO_EMS), sc, [(100, "medical", 1, X0 + 200, Y0)])
    inc = run.incidents.iloc[0]
    assert inc["false_alarm"] and inc["close"] == pytest.approx(130)
    assert np.isnan(inc["request"]) and len(run.crews) == 0


def test_micro_station_goes_first_to_smoke_alarms(exact):
    sc = exact()
    data = sc.model_dump(exclude_none=True)
    data["incident_types"]["structure_fire"]["units"] = {"engine": 1}
    from simulation.emergency.config import scenario_from_dict

    sc = scenario_from_dict(data)
    rows = [("fs1", "Fire station", "station", {"engine": 1}, X0, Y0),
            ("ms1", "Micro", "micro_station", {"engine": 1}, X0 + 800, Y0 + 800)]
    run = simulate(town_with(rows), sc, [(0, "structure_fire", 1, X0 + 600, Y0 + 800)])
    crews = run.crews.sort_values("on_scene")
    assert crews["unit_type"].tolist() == ["micro", "engine"]
    assert crews["station_kind"].tolist() == ["micro_station", "station"]
    inc = run.incidents.iloc[0]
    assert inc["on_scene"] - inc["assign"] == pytest.approx(60 + 20)  # the micro crew, one block away
    stds = {s["name"]: s for s in summarise(run, sc)["standards"]}
    micro = stds["China: micro fire station on scene within 3 min"]
    assert micro["n"] == 1 and micro["share"] == 1.0
    fire = stds["China: fire station on scene within 5 min of dispatch"]
    assert fire["n"] == 1 and fire["share"] == 1.0  # 60 s + 7 blocks of 20 s = 200 s
    assert stds["NFPA 1710 first engine travel (240 s)"]["p90_s"] == pytest.approx(140)


def test_unit_off_shift_waits_for_the_shift(exact):
    sc = exact()
    data = sc.model_dump(exclude_none=True)
    data["unit_types"]["ambulance"]["on_duty"] = "08:00-20:00"
    data["unit_types"]["ambulance"]["off_duty"] = "off"
    from simulation.emergency.config import scenario_from_dict

    sc = scenario_from_dict(data)
    run = simulate(town_with(TWO_EMS[:1]), sc, [(7200, "medical", 1, X0 + 200, Y0)])
    inc = run.incidents.iloc[0]
    assert inc["assign"] == pytest.approx(8 * 3600)
    util = summarise(run, sc)["utilisation"]
    # busy 08:00 -> back 1080 s later, over a 12-hour shift
    assert util["mean"] == pytest.approx((60 + 20 + 1000 + 20) / (12 * 3600))


def test_on_call_crew_turns_out_slower_off_shift(exact):
    rows = [("wr1", "Water depot", "water_repair", {"water_crew": 1}, X0, Y0)]
    sc = exact()  # water crews: on duty 07:00-19:00, on call (+1800 s) otherwise
    run = simulate(town_with(rows), sc, [(3600, "water_main_break", 2, X0 + 200, Y0),
                                         (12 * 3600, "water_main_break", 2, X0 + 200, Y0)])
    t = incident_times(run).set_index("incident")["turnout_s"]
    assert t.tolist() == pytest.approx([60 + 1800, 60])


def test_incident_no_unit_can_serve_stays_unserved(exact):
    run = simulate(town_with(TWO_EMS), exact(), [(0, "gas_leak", 1, X0 + 200, Y0)])
    # gas crew -> engine -> micro: none in an ambulance-only fleet
    assert len(run.crews) == 0
    assert any("gas_leak: no unit of the fleet can serve it" in n for n in run.notes)
    kpis = summarise(run, exact())
    assert kpis["overall"]["unserved"] == 1


def test_replications_are_seeded_and_reproducible(town, scenario):
    model = EmergencyModel.from_twin(town, scenario)
    a = model.simulate(20, 2, seed=5)
    b = model.simulate(20, 2, seed=5)
    pd.testing.assert_frame_equal(a[0].incidents, b[0].incidents)
    pd.testing.assert_frame_equal(a[1].crews, b[1].crews)
    assert len(a[0].incidents) != len(a[1].incidents) or \
        not np.allclose(a[0].incidents["report"], a[1].incidents["report"])
    kpis = combine([summarise(r, scenario) for r in a])
    med = kpis["overall"]["response_s"]["median"]
    lo, hi = med["ci95"]
    assert lo < med["mean"] < hi
    single = [summarise(r, scenario)["overall"]["response_s"]["median"] for r in a]
    assert med["mean"] == pytest.approx(np.mean(single))
    inc = incident_times(a[0])
    served = inc[inc["on_scene"].notna()]
    parts = served[["call_processing_s", "queue_s", "turnout_s", "travel_s"]].sum(axis=1)
    assert np.allclose(parts, served["response_s"])


def test_fleet_rules_and_bad_units(scenario):
    from twin.errors import LayerError

    rows = [("a", "A", "station", 0, 0, '{"pumper": 2, "truck": 1}'),
            ("b", "B", "micro_station", 1, 1, '{"engine": 2}'),
            ("c", "C", "station", 2, 2, "{}"),
            ("d", "D", "ems", 3, 3, None)]
    fleet = Fleet.from_rows(rows, scenario)
    assert [u.type for u in fleet.units] == ["engine", "engine", "ladder", "micro", "micro", "ambulance", "ambulance"]
    assert "station 'c' (C) has no units: it dispatches nothing" in fleet.notes
    assert "1 ems station(s) list no units: gave each the default ambulance×2" in fleet.notes
    with pytest.raises(LayerError, match=r"feature 'x' column 'units': unknown unit type 'hovercraft'"):
        Fleet.from_rows([("x", "X", "station", 0, 0, '{"hovercraft": 1}')], scenario)
    with pytest.raises(LayerError, match=r"feature 'x' column 'units': not valid JSON"):
        Fleet.from_rows([("x", "X", "station", 0, 0, '{"engine": ')], scenario)
    with pytest.raises(LayerError, match=r"count of 'engine' must be a whole number"):
        Fleet.from_rows([("x", "X", "station", 0, 0, '{"engine": -1}')], scenario)
    with pytest.raises(LayerError, match="no station has any unit"):
        Fleet.from_rows([("x", "X", "station", 0, 0, "{}")], scenario)
    slots, notes = Fleet.from_rows(rows[:1], scenario).assignments(scenario)
    assert slots["structure_fire"] == ["engine", "engine", "ladder"]
    assert slots["medical"] == ["engine"]
    assert "medical: no ambulance in the fleet, sending engine instead" in notes


def test_full_alarm_fails_when_a_unit_never_arrives(exact):
    from simulation.emergency.config import scenario_from_dict

    data = exact().model_dump(exclude_none=True)
    data["incident_types"]["structure_fire"]["units"] = {"engine": 2}
    data["incident_types"]["structure_fire"]["micro_first"] = False
    sc = scenario_from_dict(data)
    rows = [("fs1", "One engine", "station", {"engine": 1}, X0, Y0),
            ("fs2", "Two engines", "station", {"engine": 2}, X0 + 800, Y0 + 800)]
    # fire 1 near fs1 gets fs1's engine and one of fs2's; fire 2 gets the other fs2 engine and waits
    # for a second one that is still busy when it is handled
    run = simulate(town_with(rows), sc, [(0, "structure_fire", 1, X0 + 200, Y0),
                                         (10, "structure_fire", 1, X0 + 800, Y0 + 600)])
    inc = run.incidents.set_index("incident")
    assert inc["unfilled_slots"].tolist() == [0, 1]
    stds = {s["name"]: s for s in summarise(run, sc)["standards"]}
    full = stds["NFPA 1710 full alarm travel (480 s)"]
    assert full["n"] == 2 and full["share"] == 0.5
    first = stds["NFPA 1710 first engine travel (240 s)"]
    assert first["n"] == 2 and first["share"] == 1.0


def test_combined_intervals_stay_within_bounds():
    shares = [{"standards": [{"name": "s", "share": v}], "mutual_aid_share": v, "overall": {"queued": q}}
              for v, q in ((0.5, 0), (0.99, 9))]
    out = combine(shares)
    s = out["standards"][0]["share"]
    assert s["mean"] == pytest.approx(0.745)
    assert s["ci95"] == [0.0, 1.0]  # a share's interval never leaves [0, 1]
    assert out["mutual_aid_share"]["ci95"][1] == 1.0
    q = out["overall"]["queued"]
    assert q["ci95"][0] == 0.0 and q["ci95"][1] > 9  # counts never go negative
