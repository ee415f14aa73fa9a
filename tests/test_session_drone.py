"""The drone chain on the session clock (issue 11, item 6): a drone track entering an airport obstacle
limitation surface or a no-fly zone -> airspace alert -> verification -> a ground unit to the entry point.

The shipped scenario (``scenarios/drone-airport.yaml``) runs on the shared demo city (demo seed 7, the
``demo_twin`` fixture); its times are checked against the flight's geometry and speed and the emergency
engine's travel model, computed here independently of the airspace engine.  The engine's own rules
(point in polygon and floor <= z <= ceiling, levels, recorded tracks) are checked on a tiny hand-made twin.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon

from simulation.session import report
from simulation.session.airspace import Airspace, recorded_flight, straight_flight
from simulation.session.scenario import build_session, load_scenario
from twin.errors import SourceError

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SAMPLE_S, SPEED, AGL, HOVER_S = 5.0, 15.0, 90.0, 600.0


@pytest.fixture(scope="module")
def drone(demo_twin):
    scenario, folder = load_scenario(SCENARIOS / "drone-airport.yaml")
    assert scenario.twin.demo_seed == 7  # the demo_twin fixture's city
    return scenario, build_session(scenario, folder, twin=demo_twin).run()


@pytest.fixture(scope="module")
def travel(demo_twin):
    from simulation.emergency.config import load_scenario as emergency_scenario
    from simulation.emergency.model import EmergencyModel

    return EmergencyModel.from_twin(demo_twin, emergency_scenario())


def _one(session, kind, **match):
    hits = [e for e in session.log.events if e.kind == kind and all(e.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (kind, match, hits)
    return hits[0]


def _airspace(session, kind=None):
    return [e for e in session.log.events if e.source == "airspace" and (kind is None or e.kind == kind)]


def _geometry(twin):
    """The flight's line (FS08 -> middle of the runway), its length and the zones by id."""
    stations = twin["fire_stations"].set_index("id")
    zones = twin["airspace_zones"].set_index("id")
    a = stations.geometry["FS08"]
    b = zones.geometry["AZ001"].centroid  # the inner horizontal surface is centred on the runway
    return shapely.LineString([a, b]), zones


# ------------------------------------------------------------------ the chain, end to end
def test_drone_enters_the_airport_surfaces_alert_then_engine_with_exact_times(drone, demo_twin, travel):
    scenario, session = drone
    line, zones = _geometry(demo_twin)
    start = scenario.clock_time("10:00", "flight")
    # the drone flies at 90 m above the ground, ~300-310 m on the datum near the airfield: under the
    # floor of the outer conical step (AZ004), inside the middle one (AZ003, floor 293.62 m)
    az3, az4 = zones.loc["AZ003"], zones.loc["AZ004"]
    d_entry = line.project(Point(shapely.get_coordinates(line.intersection(az3.geometry))[0]))
    crossing4 = line.intersection(az4.geometry)
    pts = [crossing4.interpolate(s) for s in np.arange(0.0, crossing4.length, 5.0)]
    z4 = demo_twin.terrain.sample([p.x for p in pts], [p.y for p in pts]) + AGL
    assert z4.max() < az4["floor_m"] - 1.0  # under conical step 3 all the way across
    # the first position sample (every 5 s from take-off) at or after the geometric entry into AZ003
    alert_at = start + math.ceil(d_entry / SPEED / SAMPLE_S) * SAMPLE_S
    alert = _airspace(session, "alarm_raised")[0]
    assert (alert.layer, alert.feature, alert.get("level"), alert.get("zone_kind")) == \
        ("airspace_zones", "AZ003", "red", "airport_surface")
    assert alert.time == alert_at and alert.get("track") == "UAV-1"
    seen = line.interpolate((alert_at - start) * SPEED)
    assert (alert.get("x"), alert.get("y")) == (round(seen.x, 2), round(seen.y, 2))
    z = float(demo_twin.terrain.sample(seen.x, seen.y)) + AGL
    assert alert.get("z") == pytest.approx(z, abs=0.01) and az3["floor_m"] + 5 < z < az3["ceiling_m"]
    # alert -> incident at once -> verification call (60 s) -> dispatch (20 s)
    opened = _one(session, "incident_opened", type="drone_conflict")
    assert opened.time == alert.time and opened.get("ref") == "airspace_zones/AZ003"
    assert opened.get("track") == "UAV-1" and opened.get("alarm_level") == "red"
    verified = _one(session, "alarm_acknowledged", incident=opened.feature)
    assert verified.time == alert.time + 60.0
    sent = _one(session, "unit_dispatched", incident=opened.feature)
    assert sent.time == alert.time + 60.0 + 20.0
    # the demo fleet has no police or patrol unit: the nearest engine, to the entry point, over the roads
    assert sent.get("unit_type") == "engine"
    sites = travel.travel.locate(np.array([[alert.get("x"), alert.get("y")]]))
    out = travel.travel.out_times(sites, 0)
    engines = [u for u in travel.fleet.units if u.type == "engine"]
    best = min(engines, key=lambda u: (out[u.station], u.index))
    seconds = float(out[best.station])
    assert sent.feature == travel.fleet.stations[best.station].id and sent.value == pytest.approx(seconds)
    arrived = _one(session, "unit_arrived", unit=sent.get("unit"))
    assert arrived.feature == opened.feature
    assert arrived.time == pytest.approx(sent.time + 65.0 + seconds, abs=1e-6)  # turnout + road travel
    # the drone hovers 10 min over the runway and flies back: out of AZ003 (its outermost red zone) at the
    # first sample after it crosses the boundary again
    length = line.length
    exit_t = (length / SPEED + HOVER_S + (length - d_entry) / SPEED)
    left_at = start + (math.floor(exit_t / SAMPLE_S) + 1) * SAMPLE_S
    last = _airspace(session, "alarm_cleared")[-1]
    assert (last.feature, last.time) == ("AZ003", left_at) and not last.get("ended")
    # the unit was there first: it waits for the drone to leave, then is released and the incident closes
    assert arrived.time < left_at
    released = _one(session, "unit_released", unit=sent.get("unit"))
    closed = [e for e in session.log.of("incident_closed") if e.feature == opened.feature][0]
    assert released.time == closed.time == max(arrived.time, left_at)
    assert closed.get("served") is True and closed.get("drone_left") is True
    assert len(session.log.of("incident_opened")) == 1  # later zones of the same track join the incident


def test_every_alert_is_cleared_and_zones_follow_the_altitude(drone, demo_twin):
    _, session = drone
    raised = _airspace(session, "alarm_raised")
    cleared = _airspace(session, "alarm_cleared")
    assert len(raised) == len(cleared)
    assert [e.feature for e in raised][:3] == ["AZ003", "AZ002", "AZ001"]  # conical steps inward, then the IHS
    zones = demo_twin["airspace_zones"].set_index("id")
    for e in raised:
        zone = zones.loc[e.feature]
        assert zone["geometry"].intersects(Point(e.get("x"), e.get("y")))
        assert zone["floor_m"] <= e.get("z") <= zone["ceiling_m"] and e.get("agl") == AGL
        # at one instant the entry is published before the exit: never out of every zone in between
        same = [c for c in cleared if c.time == e.time]
        assert all(c.seq > e.seq for c in same)
    assert session.state["drones"]["UAV-1"]["status"] == "landed"


def test_the_report_tells_the_drone_chain(drone, tmp_path):
    scenario, session = drone
    doc = report.summary(session, scenario)
    chain = doc["chains"]["drone_conflict"]
    assert doc["lead_chain"] == "drone_conflict" and doc["chain_complete"] and doc["chain_in_order"]
    assert chain["complete"] and chain["in_order"]
    assert [r["step"] for r in chain["steps"]] == [
        "drone entered zone", "incident opened", "verified by call", "unit sent", "unit on scene",
        "drone left zone", "unit released", "incident closed"]
    at = {r["step"]: r["time_s"] for r in chain["steps"]}
    assert at["incident closed"] == max(at["unit on scene"], at["drone left zone"])
    assert (chain["zone"], chain["zone_kind"], chain["unit_type"], chain["track"]) == \
        ("AZ003", "airport_surface", "engine", "UAV-1")
    assert chain["minutes_in_zones"] == round((at["drone left zone"] - at["drone entered zone"]) / 60, 2)
    report.write(session, scenario, tmp_path)
    assert "The drone chain" in (tmp_path / "report.html").read_text()


def test_a_drone_that_leaves_before_the_unit_arrives_closes_at_the_arrival(demo_twin, tmp_path):
    text = (SCENARIOS / "drone-airport.yaml").read_text().replace("hover_min: 10", "hover_min: 0")
    path = tmp_path / "short.yaml"
    path.write_text(text)
    scenario, folder = load_scenario(path)
    session = build_session(scenario, folder, twin=demo_twin).run()
    left = _airspace(session, "alarm_cleared")[-1]
    arrived = session.log.of("unit_arrived")[0]
    closed = session.log.of("incident_closed")[0]
    assert left.time < arrived.time
    assert closed.time == arrived.time and closed.get("drone_left") is True
    assert report.summary(session, scenario)["chains"]["drone_conflict"]["in_order"]


def test_the_unit_is_released_after_the_hold_time_when_the_drone_stays(demo_twin):
    from dataclasses import replace

    scenario, folder = load_scenario(SCENARIOS / "drone-airport.yaml")
    session = build_session(scenario, folder, twin=demo_twin)
    response = [e for e in session.engines if e.name == "emergency"][0]
    response.plan = replace(response.plan, drone_hold_s=120.0)
    session.run()
    arrived = session.log.of("unit_arrived")[0]
    released, closed = session.log.of("unit_released")[0], session.log.of("incident_closed")[0]
    assert released.time == closed.time == arrived.time + 120.0
    assert closed.get("drone_left") is False and released.get("drone_left") is False
    assert _airspace(session, "alarm_cleared")[-1].time > closed.time  # the drone was still in the zone
    # the report's "drone left zone" comes after the close, as the close says it may
    assert report.summary(session, scenario)["chains"]["drone_conflict"]["complete"]


def test_flights_that_stay_outside_every_zone_raise_nothing(demo_twin, tmp_path):
    # a flight across town (Fire Station 1 to Fire Station 2 and back) and the demo's recorded corridor
    # flight DF001 replayed at 10:30: corridors are opened clear of the no-fly zones and the aerodrome
    text = (SCENARIOS / "drone-airport.yaml").read_text()
    head = text.split("drones:")[0]
    path = tmp_path / "outside.yaml"
    path.write_text(head + """drones:
  - at: "10:00"
    from: FS01
    to: FS02
    agl_m: 120
    back: true
  - at: "10:30"
    track: DF001
""")
    scenario, folder = load_scenario(path)
    session = build_session(scenario, folder, twin=demo_twin).run()
    assert _airspace(session) == []
    assert not [e for e in session.log.of("incident_opened") if e.get("type") == "drone_conflict"]
    assert "drone_conflict" not in report.summary(session, scenario)["chains"]
    assert session.state["drones"]["UAV-1"]["status"] == "landed"
    assert session.state["drones"]["DF001"]["status"] == "landed"
    engine = [e for e in session.engines if e.name == "airspace"][0]
    df001 = engine.flights[1]
    tracks = demo_twin["drone_tracks"]
    n = int((tracks["track_id"] == "DF001").sum())
    assert df001.start == scenario.clock_time("10:30", "") and df001.kind == "recorded" and len(df001.times) == n


# ------------------------------------------------------------------ the engine's rules on a tiny twin
class _Flat:
    """Flat ground at 100 m."""

    def sample(self, x, y):
        return np.full(np.shape(np.asarray(x, float)), 100.0)


class _Twin:
    def __init__(self, zones, tracks=None):
        crs = "EPSG:3857"
        self.layers = {"airspace_zones": gpd.GeoDataFrame(zones, geometry="geometry", crs=crs),
                       "drone_tracks": gpd.GeoDataFrame(tracks or {"id": [], "track_id": [], "time": [],
                                                                   "geometry": []}, geometry="geometry", crs=crs)}
        self.terrain = _Flat()

    def __getitem__(self, name):
        return self.layers[name]


def _square(x0, x1):
    return Polygon([(x0, -100), (x1, -100), (x1, 100), (x0, 100)])


class _Session:
    def __init__(self):
        self.events, self.state = [], {}

    def publish(self, time, kind, source, layer=None, feature=None, value=None, message="", **data):
        self.events.append((time, kind, feature, data))


def _run(engine, until=10_000.0):
    s = _Session()
    engine.attach(s)
    engine.advance_to(until)
    return s.events


def test_point_in_polygon_and_between_floor_and_ceiling():
    zones = {"id": ["R1", "N1", "HIGH"], "kind": ["restricted", "no_fly", "airport_surface"],
             "name": ["range", "plant", "high"], "floor_m": [0.0, 0.0, 400.0], "ceiling_m": [1000.0, 1000.0, 900.0],
             "geometry": [_square(100, 200), _square(300, 400), _square(500, 600)]}
    twin = _Twin(zones)
    # 10 m/s along y = 0 at 50 m above the 100 m ground: z = 150, under HIGH's floor
    flight = straight_flight("D", 0.0, (0.0, 0.0), (700.0, 0.0), speed=10.0, agl=50.0)
    events = _run(Airspace(twin, [flight]))
    got = [(t, kind, zone, d["level"]) for t, kind, zone, d in events]
    # entry at x = 100 (t = 10 s, on a sample): seen at 10 s; out at x = 200 (t = 20, boundary counts): 25 s
    assert got == [(10.0, "alarm_raised", "R1", "orange"), (25.0, "alarm_cleared", "R1", "orange"),
                   (30.0, "alarm_raised", "N1", "red"), (45.0, "alarm_cleared", "N1", "red")]
    assert events[0][3]["z"] == 150.0 and events[0][3]["agl"] == 50.0 and events[0][3]["track"] == "D"
    assert flight.samples[-1] == 70.0 and len(flight.samples) == 15


def test_a_recorded_track_is_shifted_to_its_clock_time_and_its_z_used():
    zones = {"id": ["N1"], "kind": ["no_fly"], "name": [None], "floor_m": [0.0], "ceiling_m": [300.0],
             "geometry": [_square(100, 200)]}
    t0 = pd.Timestamp(datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc))
    pts = [(0, 0, 250), (150, 0, 250), (150, 0, 350), (300, 0, 350)]  # climbs out through the ceiling
    tracks = {"id": [f"P{i}" for i in range(4)], "track_id": ["T1"] * 4,
              "time": [t0 + pd.Timedelta(seconds=10 * i) for i in range(4)],
              "geometry": [Point(x, y, z) for x, y, z in pts]}
    twin = _Twin(zones, tracks)
    flight = recorded_flight(twin, "T1", 5000.0, sample_s=2.0)
    assert flight.start == 5000.0 and flight.end == 5030.0
    events = _run(Airspace(twin, [flight]))
    # x = 100 at 6.67 s -> seen at 8 s; z passes 300 m at 15 s (boundary inside) -> out at 16 s
    assert [(t - 5000.0, kind) for t, kind, *_ in events] == [(8.0, "alarm_raised"), (16.0, "alarm_cleared")]
    assert events[1][3]["ended"] is False


def test_a_flight_ending_inside_a_zone_is_cleared_at_its_end():
    zones = {"id": ["N1"], "kind": ["no_fly"], "name": ["x"], "floor_m": [0.0], "ceiling_m": [1000.0],
             "geometry": [_square(100, 200)]}
    flight = straight_flight("D", 0.0, (0.0, 0.0), (150.0, 0.0), speed=10.0, agl=50.0, sample_s=4.0)
    events = _run(Airspace(_Twin(zones), [flight]))
    assert [(t, kind) for t, kind, *_ in events] == [(12.0, "alarm_raised"), (15.0, "alarm_cleared")]
    assert events[1][3]["ended"] is True


def test_bad_flights_are_refused(demo_twin, tmp_path):
    text = (SCENARIOS / "drone-airport.yaml").read_text()
    cases = {"to: AZ001": ("to: NOPE", "drones: flight UAV-1: 'NOPE': no feature of that id"),
             "    drone: UAV-1\n": ("    drone: UAV-1\n    track: DF001\n", "a recorded track takes no"),
             'at: "10:00"': ('at: "12:00"', "drones: flight UAV-1 at '12:00' falls outside the run")}
    for old, (new, message) in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text.replace(old, new))
        with pytest.raises(SourceError, match=message):
            scenario, folder = load_scenario(path)
            build_session(scenario, folder, twin=demo_twin)


def test_the_drone_verification_and_dispatch_times_come_from_the_scenario(demo_twin):
    scenario, folder = load_scenario(SCENARIOS / "drone-airport.yaml")
    response = scenario.response.model_copy(update={"drone": scenario.response.drone.model_copy(
        update={"verify_s": 150.0, "dispatch_s": 45.0})})
    slow = scenario.model_copy(update={"response": response, "duration_h": 11.0})
    session = build_session(slow, folder, twin=demo_twin).run()
    opened = _one(session, "incident_opened", type="drone_conflict")
    assert _one(session, "alarm_acknowledged", incident=opened.feature).time == opened.time + 150.0
    assert _one(session, "unit_dispatched", incident=opened.feature).time == opened.time + 150.0 + 45.0
