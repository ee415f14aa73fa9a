"""The other lifelines on the session clock (issue 14, item 5), end to end from their shipped scenarios.

* cloudburst -> drains surcharged and flooding (SWMM) -> roads under water and
  closed -> the fire engine detours -> the response against the same dry day;
* a hole in a gas main (pandapipes) -> methane into the sewer well beside it ->
  alarm -> gas crew shuts the main -> customers without gas -> repair -> gas back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from simulation.session import report
from simulation.session.scenario import build_session, load_scenario
from simulation.session.values import layer_values
from twin.errors import SourceError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _load(name):
    scenario, folder = load_scenario(SCENARIOS / name)
    assert scenario.twin.demo_seed == 7  # the demo_twin fixture's city
    return scenario, folder


@pytest.fixture(scope="module")
def storm(demo_twin):
    scenario, folder = _load("cloudburst.yaml")
    session = build_session(scenario, folder, twin=demo_twin)
    # at the storm's worst (14:55): what the 3D view is given
    session.advance_to(scenario.clock_time("14:55", "peak"))
    peak = {(v.layer, v.field): v for v in layer_values(session)}
    factors = dict(session.state["road_speed_factor"])
    session.run()
    dry = build_session(scenario.model_copy(update={"rain": None, "drainage": None}), folder, twin=demo_twin).run()
    return scenario, session, dry, peak, factors


@pytest.fixture(scope="module")
def gas(demo_twin):
    scenario, folder = _load("gas-leak-network.yaml")
    return scenario, build_session(scenario, folder, twin=demo_twin).run()


def _kinds(session, *kinds):
    return [e for e in session.log.events if e.kind in kinds]


# ------------------------------------------------------------------ the storm
def test_the_storm_floods_the_streets_in_order_and_they_clear(storm):
    scenario, session, _, _, _ = storm
    doc = report.summary(session, scenario)
    chain = doc["chains"]["storm"]
    assert doc["lead_chain"] == "storm" and chain["in_order"]
    at = {r["step"]: r["time_s"] for r in chain["steps"]}
    rain = scenario.clock_time("14:00", "rain")
    assert at["rain started"] == rain and at["rain stopped"] == rain + 7200.0
    assert rain < at["first manhole surcharged"] <= at["first manhole flooding"] <= at["first road flooded"]
    assert at["first road flooded"] < at["first road closed"] < at["rain stopped"]
    # the rain fallen is the design storm's depth (30-year, 2 h: 100.3 mm)
    assert chain["rain_mm"] == pytest.approx(100.3, abs=0.05)
    assert chain["roads_closed"] > 0 and chain["roads_flooded"] >= chain["roads_closed"]
    # the state, the events and the report agree on the roads still under water at the end (none here:
    # half an hour after the rain the drains have taken the water back) and on the last road clear
    still = set(session.state["road_speed_factor"])
    last = {}
    for e in _kinds(session, "road_flooded", "road_closed", "road_reopened"):
        last[e.feature] = e.kind
    assert still == {r for r, k in last.items() if k != "road_reopened"}
    assert chain["roads_under_water_at_end"] == len(still) == 0
    assert at["last road clear"] == max(e.time for e in _kinds(session, "road_reopened"))


def test_a_closed_road_is_a_road_of_30_cm_or_more_and_its_factor_is_zero(storm):
    _, session, _, peak, factors = storm
    depth = peak[("roads", "water_depth")].values
    closed = {r for r, f in factors.items() if f == 0.0}
    assert closed and closed == set(depth.index[depth >= 0.30])
    slowed = {r: f for r, f in factors.items() if 0.0 < f < 1.0}
    # Pregnolato et al. (2017): v(w) = 0.0009 w^2 - 0.5529 w + 86.9448 km/h, w in mm, over v(0)
    for road, f in list(slowed.items())[:20]:
        w = depth[road] * 1000.0
        assert f == pytest.approx((0.0009 * w * w - 0.5529 * w + 86.9448) / 86.9448, rel=1e-9)
    # the wells: water depth in every storm manhole, some surcharged to the rim
    wells = peak[("manholes", "water_depth")].values
    assert len(wells) == int((session.twin["manholes"]["id"].str.startswith("MH-D")).sum())
    assert float(wells.max()) > 1.0


def test_the_fire_engine_detours_round_the_water_and_the_report_sets_it_against_a_dry_day(storm):
    scenario, session, dry, _, _ = storm
    sent = [e for e in _kinds(session, "unit_dispatched") if e.get("unit_type") == "engine"]
    assert len(sent) == 1 and sent[0].get("roads_flooded") > 0
    engine = sent[0]
    # on a dry day the nearest engine (Central) goes; in the storm every way from it is under water,
    # and the engine that can get there takes minutes longer than its own dry trip
    dry_engine = [e for e in _kinds(dry, "unit_dispatched") if e.get("unit_type") == "engine"][0]
    assert dry_engine.get("unit") == "FS01/engine-1" and engine.get("unit") != "FS01/engine-1"
    assert engine.value > engine.get("dry_travel_s") + 300
    assert "dry_travel_s" not in dry_engine.data and dict(dry_engine.data).get("roads_flooded") is None
    doc = report.summary(session, scenario, dry)
    rows = {(r["chain"], r["step"]): r for r in doc["dry_day"]}
    on_scene = rows[("fire", "fire station on scene")]
    assert on_scene["extra_min"] == pytest.approx(on_scene["storm_min"] - on_scene["dry_min"])
    assert on_scene["extra_min"] > 10
    # the micro station round the corner is not held up
    assert rows[("fire", "micro on scene")]["extra_min"] == 0.0
    trips = doc["chains"]["storm"]["trips"]
    assert [t["unit"] for t in trips] == [e.get("unit") for e in _kinds(session, "unit_dispatched")]


def test_the_run_command_runs_the_dry_day_and_writes_the_storm_report(tmp_path, capsys):
    out = tmp_path / "storm"
    assert main(["run", str(SCENARIOS / "cloudburst.yaml"), "--out", str(out), "--no-pictures"]) == 0
    printed = capsys.readouterr().out
    assert "first road closed" in printed and "storm vs dry day, fire, fire station on scene" in printed
    page = (out / "report.html").read_text()
    for heading in ("The storm chain", "During the storm against a dry day", "against the same trip on dry roads",
                    "<h2>The storm</h2>"):
        assert heading in page


# ------------------------------------------------------------------ gas on the network
def test_gas_leak_on_the_network_to_customers_without_gas_and_back(gas):
    scenario, session = gas
    leak = [e for e in _kinds(session, "leak_started") if e.layer == "gas_mains"]
    assert len(leak) == 1 and leak[0].feature == "G0234" and leak[0].source == "gas"
    assert leak[0].time == scenario.clock_time("10:05", "leak") and leak[0].value > 0
    shut = [e for e in _kinds(session, "valve_closed") if e.layer == "gas_mains"]
    assert len(shut) == 1 and shut[0].feature == "G0234"
    stopped = [e for e in _kinds(session, "leak_stopped") if e.layer == "gas_mains"][0]
    lost = _kinds(session, "gas_supply_lost")
    repaired = [e for e in _kinds(session, "repair_done") if e.layer == "gas_mains"]
    opened = [e for e in _kinds(session, "valve_opened") if e.layer == "gas_mains"]
    back = _kinds(session, "gas_supply_restored")
    assert len(lost) == len(repaired) == len(opened) == len(back) == 1
    # applied at the start of the gas network's next frame (within the 60 s step)
    assert shut[0].time < stopped.time <= shut[0].time + 60 and lost[0].time == stopped.time
    assert repaired[0].time == pytest.approx(shut[0].time + 3600.0) and opened[0].time == repaired[0].time
    assert opened[0].time < back[0].time <= opened[0].time + 60
    # the same customers lose gas and get it back: those on the mains fed through the shut one
    assert lost[0].value == back[0].value > 0 and lost[0].get("mains") == back[0].get("mains") == ["G0177", "G0468"]
    assert lost[0].get("buildings") == back[0].get("buildings") == 37
    assert not session.state["buildings_without_gas"]
    # the methane alarm came from the well beside the leak, tagged as the gas main's
    inc = _kinds(session, "incident_opened")[0]
    assert inc.get("ref") == "manholes/MH-S00553" and "G0234" in inc.get("reason")
    doc = report.summary(session, scenario)
    chain = doc["chains"]["gas_leak"]
    assert chain["complete"] and chain["in_order"]
    assert [r["step"] for r in chain["steps"]][-3:] == ["customers without gas", "main repaired", "gas restored"]
    assert chain["people_without_gas"] == lost[0].value
    assert chain["hours_without_gas"] == pytest.approx((back[0].time - lost[0].time) / 3600.0, abs=0.01)


def test_the_gas_network_colours_the_mains_by_pressure(gas, demo_twin):
    scenario, folder = _load("gas-leak-network.yaml")
    session = build_session(scenario, folder, twin=demo_twin)
    session.advance_to(scenario.clock_time("10:40", "shut"))       # G0234 shut off
    values = {(v.layer, v.field): v for v in layer_values(session)}
    share = values[("gas_mains", "pressure_share")].values
    assert np.isnan(share["G0234"])                                  # shut: no pressure
    rest = share.drop("G0234").dropna()
    assert len(rest) > 400 and float(rest.min()) > 90 and float(rest.max()) <= 100.0 + 1e-9


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("section, says", [
    ("gas_leak:\n  - {at: '10:05', near: G0234, hole_mm: 20, flow_lps: 50}\n",
     "a leak with hole_mm takes its flow from the gas network: no flow_lps"),
    ("rain: {at: '10:00', formula: {A1: 12, C: 0.8, b: 8, n: 0.7}, gauge: rain.csv}\n",
     "give a design storm (at and formula) or a rain gauge series (gauge), not both"),
    ("rain: {at: '10:00', formula: {A1: -12, C: 0.8, b: 8, n: 0.7}}\n",
     "field rain.formula.A1: Input should be greater than 0"),
    ("rain: {at: '23:00', formula: {A1: 12, C: 0.8, b: 8, n: 0.7}}\n",
     "rain: the design storm at '23:00' falls outside the run"),
    ("gas: {soil: peat}\n", "unknown soil 'peat' (known: "),
])
def test_a_bad_lifeline_section_gives_one_error_naming_the_field(tmp_path, section, says):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntwin: {demo_seed: 7}\nstart: '2026-06-01T09:00:00Z'\nduration_h: 2\n" + section)
    with pytest.raises(SourceError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: ") and says in str(err.value)
    assert "\n" not in str(err.value)


def test_drainage_without_rain_on_a_town_without_a_swmm_model_is_refused(tmp_path, demo_twin):
    path = tmp_path / "dry.yaml"
    path.write_text("name: dry\ntwin: {demo_seed: 7}\nstart: '2026-06-01T09:00:00Z'\nduration_h: 1\ndrainage: {}\n")
    scenario, folder = load_scenario(path)
    with pytest.raises(ValueError, match="drainage: the twin has no SWMM model and the scenario no rain"):
        build_session(scenario, folder, twin=demo_twin)
