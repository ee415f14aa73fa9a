"""The built-in demo city: reproducible, consistent with its network, and shaped like a town."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from app.cli import main as cli_main
from twin import project
from twin.demo import build_demo
from twin.network import network_text
from twin.schema import parse_json_field
from twin.town import airfield, drones, register, water
from twin.town.plan import LITRES_PER_PERSON_DAY


@pytest.fixture(scope="session")
def demo_project(demo_twin, tmp_path_factory):
    """The seed-7 demo city saved as a project file."""
    return project.save(demo_twin, tmp_path_factory.mktemp("demo") / "demo.gpkg")


def _inp(net) -> str:
    """The network's .inp text without WNTR's "; Created: <time>" stamp."""
    return "\n".join(line for line in net.text.splitlines() if not line.startswith("; Created"))


def _frames_equal(a, b) -> bool:
    return (list(a.columns) == list(b.columns)
            and a.drop(columns="geometry").equals(b.drop(columns="geometry"))
            and bool(shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all()))


# ---------------------------------------------------------------- reproducible

DIGEST = """
import hashlib, sys
from twin.demo import build_demo
from twin.network import network_text

def digest(twin):
    h = hashlib.sha256()
    for name, frame in twin.layers.items():
        h.update(name.encode())
        h.update(frame.drop(columns="geometry").to_csv().encode())
        h.update(b"".join(frame.geometry.to_wkb()))
    h.update(twin.terrain.heights.tobytes())
    h.update("\\n".join(l for l in twin.network.text.splitlines()
                         if not l.startswith("; Created")).encode())
    return h.hexdigest()
"""


def test_same_seed_same_city_in_another_process(demo_twin):
    """Another interpreter (other hash seed, so other set and dict orders) builds the same city."""
    import os
    import subprocess
    import sys

    namespace: dict = {}
    exec(DIGEST, namespace)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", DIGEST + "print(digest(build_demo(seed=7)))"],
                         capture_output=True, text=True, env=env, check=True,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == namespace["digest"](demo_twin)


def test_other_seed_other_city(demo_twin):
    other = build_demo(seed=8)
    assert not np.array_equal(demo_twin.terrain.heights, other.terrain.heights)
    for name in ("buildings", "water_pipes", "sensors", "sites", "drone_tracks"):
        assert not _frames_equal(demo_twin[name], other[name]), name
    # The hydraulic model is ky10 whatever the seed.
    assert _inp(demo_twin.network) == _inp(other.network)


# ---------------------------------------------------------------- network and ground

def test_network_is_ky10_in_metres_and_consistent(demo_twin):
    assert demo_twin.crs.to_epsg() == 3088
    assert demo_twin.network_problems() == []
    assert len(demo_twin["water_junctions"]) == 920
    assert len(demo_twin["water_pipes"]) == 1043
    minx, miny, maxx, maxy = demo_twin["water_junctions"].total_bounds
    assert 28_000 < maxx - minx < 34_000 and 31_000 < maxy - miny < 36_000
    # Coordinates moved from feet to metres: a pipe's drawn length matches its modelled length.
    pipes = demo_twin["water_pipes"]
    ratio = pipes.geometry.length / pipes["length"]
    assert 0.9 < float(ratio.median()) < 1.1


def test_network_still_solves(demo_twin, tmp_path):
    import wntr

    sim = wntr.sim.EpanetSimulator(demo_twin.network.model)
    results = sim.run_sim(file_prefix=str(tmp_path / "demo"))
    pressure = results.node["pressure"].loc[:, demo_twin.network.model.junction_name_list]
    assert pressure.notna().all().all()
    # Served junctions have positive pressure (ky10 keeps a handful of dry high spots).
    assert float((pressure.iloc[0] > 0).mean()) > 0.95


def test_terrain_gives_the_junctions_their_cover(demo_twin):
    junctions = demo_twin["water_junctions"]
    cover = junctions["burial_depth"].to_numpy()
    assert demo_twin.terrain.cell_size == (25.0, 25.0)
    assert not np.isnan(demo_twin.terrain.heights).any()
    # The ground passes close to every junction's 1.2-1.5 m cover (ky10's outliers excepted).
    assert 1.2 < float(np.median(cover)) < 1.5
    assert float(np.mean((cover > 0.5) & (cover < 2.5))) > 0.9
    # Hills, not a plane: tens of metres of relief across the district.
    h = demo_twin.terrain.heights
    assert np.nanpercentile(h, 95) - np.nanpercentile(h, 5) > 50


# ---------------------------------------------------------------- streets

def test_roads_form_one_connected_graph(demo_twin):
    roads = demo_twin["roads"]
    geoms = roads.geometry.values
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(geoms, 0)),
                      shapely.get_coordinates(shapely.get_point(geoms, -1))])
    nodes, inverse = np.unique(np.round(ends, 3), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(roads)
    graph = coo_matrix((np.ones(n), (inverse[:n], inverse[n:])), shape=(len(nodes), len(nodes)))
    count, _ = connected_components(graph, directed=False)
    assert count == 1
    assert set(roads["road_class"]) >= {"primary", "secondary", "tertiary", "residential", "unclassified"}
    speeds = roads.groupby("road_class")["speed_kmh"].max()
    assert speeds["residential"] < speeds["secondary"] <= speeds["primary"]
    assert (roads["name"] == "Town Branch Bridge").sum() == 1


def test_streets_run_over_the_mains(demo_twin):
    pipes = demo_twin["water_pipes"]
    roads = demo_twin["roads"]
    mid = shapely.line_interpolate_point(pipes.geometry.values, 0.5, normalized=True)
    _, dist = shapely.STRtree(roads.geometry.values).query_nearest(mid, return_distance=True, all_matches=False)
    # A second pipe between the same two junctions may take its own route (one street per pair).
    pair = pipes[["start_node", "end_node"]].apply(lambda r: tuple(sorted(r)), axis=1)
    single = ~pair.duplicated(keep=False).to_numpy()
    assert float(np.max(dist[single])) < 5.0
    assert single.mean() > 0.98


# ---------------------------------------------------------------- buildings and people

def test_population_matches_network_demand(demo_twin):
    wn = demo_twin.network.model
    demand = sum(ts.base_value * np.mean(wn.get_pattern(ts.pattern_name).multipliers)
                 for _, j in wn.junctions() for ts in j.demand_timeseries_list)
    expected = demand * 86400 * 1000 / LITRES_PER_PERSON_DAY
    buildings = demo_twin["buildings"]
    assert abs(buildings["population"].sum() - expected) / expected < 0.005
    # Every junction with demand serves a building; every building names a real junction.
    junctions = demo_twin["water_junctions"]
    with_demand = set(junctions.loc[junctions["base_demand"] > 0, "id"])
    assert with_demand <= set(buildings["junction_id"])
    assert set(buildings["junction_id"]) <= set(junctions["id"])
    # A junction's people live in its buildings: per-junction sums equal its demand's people.
    per_junction = buildings.groupby("junction_id")["population"].sum()
    people = (junctions.set_index("id")["base_demand"] * 86400 * 1000 / LITRES_PER_PERSON_DAY).round()
    assert (per_junction - people.reindex(per_junction.index)).abs().max() <= 1


def test_buildings_look_like_a_town(demo_twin):
    b = demo_twin["buildings"]
    assert 8_000 < len(b) < 25_000
    assert set(b["use"]) == {"residential", "commercial", "public", "industrial"}
    assert set(b["risk_level"]) == {"", "red", "orange", "yellow", "blue"}
    assert b.geometry.is_valid.all()
    area = b.geometry.area
    assert area.min() > 50 and area.max() < 2_500
    # Taller blocks in the centre, low houses outside it.
    cx, cy = demo_twin.metadata["demo"]["centre"]
    d = np.hypot(b.geometry.centroid.x - cx, b.geometry.centroid.y - cy)
    assert b.loc[d < 400, "height"].median() > 2 * b.loc[d > 3000, "height"].median()
    assert b["floors"].max() >= 7 and b.loc[d > 3000, "floors"].quantile(0.95) <= 2
    # No footprint on a carriageway, none on another.
    roads = demo_twin["roads"]
    hit, _ = shapely.STRtree(roads.geometry.values).query(b.geometry.values, predicate="intersects")
    assert len(hit) == 0
    left, right = shapely.STRtree(b.geometry.values).query(b.geometry.values, predicate="intersects")
    assert (left == right).all()
    ground = demo_twin.terrain.sample(b.geometry.centroid.x, b.geometry.centroid.y)
    assert np.allclose(b["base_elevation"], ground, atol=0.01)


# ---------------------------------------------------------------- water furniture

def test_hydrants_are_spaced_along_the_mains(demo_twin):
    hydrants = demo_twin["hydrants"]
    pipes = demo_twin["water_pipes"].set_index("id")
    junctions = set(demo_twin["water_junctions"]["id"])
    assert 800 < len(hydrants) < 3_000
    assert set(hydrants["node_id"]) <= junctions
    on = pipes.loc[hydrants["pipe_id"]]
    assert (on["diameter"].to_numpy() >= 0.147).all()
    assert ((hydrants["node_id"].to_numpy() == on["start_node"].to_numpy())
            | (hydrants["node_id"].to_numpy() == on["end_node"].to_numpy())).all()
    lines = on.geometry.values
    along = shapely.line_locate_point(lines, hydrants.geometry.values)
    frame = pd.DataFrame({"pipe": hydrants["pipe_id"].to_numpy(), "along": along,
                          "length": shapely.length(lines)})
    for pipe, group in frame.groupby("pipe"):
        stops = np.r_[0.0, np.sort(group["along"].to_numpy()), group["length"].iloc[0]]
        gaps = np.diff(stops)
        gaps[[0, -1]] *= 2  # from a pipe end to the first hydrant is half a spacing
        assert gaps.max() <= water.HYDRANT_SPACING_RURAL + 5.0, pipe
    # In town (here: mains within 1 km of the centre) the spacing is the urban one.
    cx, cy = demo_twin.metadata["demo"]["centre"]
    mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    frame["central"] = np.hypot(shapely.get_x(mid) - cx, shapely.get_y(mid) - cy) < 1000
    per_pipe = frame[frame["central"]].groupby("pipe").agg(n=("along", "size"), length=("length", "first"))
    assert len(per_pipe) > 20
    assert (per_pipe["length"] / per_pipe["n"]).max() <= water.HYDRANT_SPACING_TOWN + 1.0
    # Every main long enough carries at least one hydrant.
    mains = pipes[(pipes["diameter"] >= 0.147) & (pipes.geometry.length >= water.HYDRANT_SPACING_RURAL / 3)
                  & (pipes["start_node"].isin(junctions) | pipes["end_node"].isin(junctions))]
    assert set(mains.index) <= set(hydrants["pipe_id"])


def test_isolation_valves_follow_n_minus_one(demo_twin):
    valves = demo_twin["water_valves"]
    iso = valves[valves["valve_type"] == "isolation"]
    pipes = demo_twin["water_pipes"].set_index("id")
    assert set(iso["pipe_id"]) <= set(pipes.index)
    ends = pipes.loc[iso["pipe_id"], ["start_node", "end_node"]].to_numpy()
    assert ((iso["node_id"].to_numpy() == ends[:, 0]) | (iso["node_id"].to_numpy() == ends[:, 1])).all()
    wn = demo_twin.network.model
    degree = pd.concat([pipes["start_node"], pipes["end_node"]]).value_counts()
    per_node = iso["node_id"].value_counts()
    for node in wn.junction_name_list:
        assert per_node.get(node, 0) == max(degree.get(node, 0) - 1, 0), node
    for node in wn.tank_name_list + wn.reservoir_name_list:
        assert per_node.get(node, 0) == degree.get(node, 0), node
    # Each valve sits on its pipe, near the node it closes off.
    lines = pipes.loc[iso["pipe_id"]].geometry.values
    assert (shapely.distance(lines, iso.geometry.values) < 0.01).all()
    node_xy = demo_twin["water_junctions"].set_index("id").geometry
    sample = iso[iso["node_id"].isin(node_xy.index)].iloc[::50]
    assert (shapely.distance(node_xy.loc[sample["node_id"]].values, sample.geometry.values) <= 2.01).all()
    assert 0 < (~iso["operable"]).sum() < 0.1 * len(iso)
    # The network's own control valves are kept, linked to their EPANET links.
    assert set(valves["link_id"].dropna()) == set(wn.valve_name_list)


# ---------------------------------------------------------------- gas, sewers, wells

def test_gas_network_has_medium_ring_and_low_distribution(demo_twin):
    gas = demo_twin["gas_mains"]
    length = gas.geometry.length.groupby(gas["pressure_class"]).sum()
    assert set(length.index) == {"medium_a", "medium_b", "low"}
    assert length["medium_b"] > 10_000 and length["low"] > 10_000
    medium = shapely.line_merge(shapely.union_all(gas[gas["pressure_class"] == "medium_b"].geometry.values))
    # The medium-pressure grid closes at least one loop (a ring feeds from two sides).
    rings = shapely.polygonize(shapely.get_parts(shapely.node(medium)))
    assert len(shapely.get_parts(rings)) >= 1
    assert (gas.loc[gas["pressure_class"] == "low", "material"] == "PE").all()


def test_sewers_fall_downhill_between_real_manholes(demo_twin):
    sewers = demo_twin["sewers"]
    manholes = demo_twin["manholes"].set_index("id")
    assert set(sewers["kind"]) == {"sanitary", "storm"}
    assert (sewers["upstream_invert"] > sewers["downstream_invert"]).all()
    assert set(sewers["upstream_manhole"]) | set(sewers["downstream_manhole"]) <= set(manholes.index)
    # The pipe leaves and reaches its manholes at or above their inverts, below the ground.
    up = manholes.loc[sewers["upstream_manhole"]]
    down = manholes.loc[sewers["downstream_manhole"]]
    up_invert = up["rim_elevation"] - up["depth"]
    down_invert = down["rim_elevation"] - down["depth"]
    assert (sewers["upstream_invert"].to_numpy() >= up_invert.to_numpy() - 2e-3).all()
    assert (sewers["downstream_invert"].to_numpy() >= down_invert.to_numpy() - 2e-3).all()
    assert (sewers["upstream_invert"].to_numpy() < up["rim_elevation"].to_numpy() - 1.0).all()
    assert manholes.loc[manholes["well_type"].isin(["sewer", "storm"]), "depth"].max() < 8.0
    assert set(manholes["well_type"]) == {"sewer", "storm", "gas", "water"}
    # Manholes at most 80 m apart along a sewer, and the sewer's ends are its manholes.
    assert sewers.geometry.length.max() <= 80.5
    start = shapely.get_point(sewers.geometry.values, 0)
    assert (shapely.distance(start, up.geometry.values) < 0.05).all()
    # Where the ground falls along a sanitary sewer by more than the minimum slope, so does the pipe.
    sanitary = sewers[sewers["kind"] == "sanitary"]
    fall_ground = (manholes.loc[sanitary["upstream_manhole"], "rim_elevation"].to_numpy()
                   - manholes.loc[sanitary["downstream_manhole"], "rim_elevation"].to_numpy())
    assert float(np.mean(fall_ground > -0.5)) > 0.95


def test_septic_tanks_serve_unsewered_houses(demo_twin):
    tanks = demo_twin["septic_tanks"]
    buildings = demo_twin["buildings"].set_index("id")
    assert len(tanks) > 1_000
    assert set(tanks["building_id"]) <= set(buildings.index)
    served = buildings.loc[tanks["building_id"]]
    # Behind the house, a few metres from it, away from the sewers.
    gap = shapely.distance(served.geometry.values, tanks.geometry.values)
    assert (gap > 1.0).all() and (gap < 15.0).all()
    sewers = demo_twin["sewers"]
    _, dist = shapely.STRtree(sewers.geometry.values).query_nearest(tanks.geometry.values, return_distance=True,
                                                                    all_matches=False)
    assert float(np.median(dist)) > 500


def test_utility_tunnel_runs_under_an_arterial(demo_twin):
    tunnel = demo_twin["utility_tunnels"]
    assert len(tunnel) == 1
    line = tunnel.geometry.values[0]
    assert 800 < line.length <= 2_600 + 1
    primary = shapely.union_all(demo_twin["roads"].query("road_class == 'primary'").geometry.values)
    assert shapely.distance(shapely.segmentize(line, 20), primary) < 0.01


# ---------------------------------------------------------------- safety layers

def test_sites_span_all_four_risk_levels(demo_twin):
    sites = demo_twin["sites"]
    assert set(sites["risk_level"]) == {"red", "orange", "yellow", "blue"}
    assert np.allclose(sites["lec_d"], sites["lec_l"] * sites["lec_e"] * sites["lec_c"])
    for category in ("hospital", "school", "chemical plant", "gas station", "market", "airport"):
        assert category in set(sites["category"]), category
    for text, category, l in zip(sites["inspections"], sites["category"], sites["lec_l"]):
        records = parse_json_field(text, "inspections")
        assert records and all({"date", "inspector", "result", "notes"} <= set(r) for r in records)
        assert [r["date"] for r in records] == sorted(r["date"] for r in records)
        base_l, e, c, _ = register.LEC[category]
        open_finding = records[-1]["result"] == "corrective action required" and base_l * e * c <= 160
        expected = register.L_SCALE[register.L_SCALE.index(base_l) + 1] if open_finding else base_l
        assert l == expected, category
    assert sites["contact"].str.contains("555-01").all()
    plant = sites[sites["category"] == "chemical plant"].iloc[0]
    assert plant["risk_level"] == "red"
    hospital = sites[sites["category"] == "hospital"].iloc[0]
    assert demo_twin.feature("buildings", hospital["building_id"])["use"] == "public"
    # The works have their own lots: no house inside, little road across them.
    works = sites[sites["category"].isin(["water treatment plant", "wastewater treatment plant"])]
    assert len(works) == 2
    houses = demo_twin["buildings"].geometry.values
    roads = shapely.union_all(shapely.buffer(demo_twin["roads"].geometry.values, 6.0))
    for lot in works.geometry.values:
        assert not shapely.intersects(houses, lot).any()
        assert shapely.intersection(lot, roads).area < 0.2 * lot.area


def test_fire_stations_and_depots(demo_twin):
    stations = demo_twin["fire_stations"]
    kinds = stations["kind"].value_counts()
    assert 2 <= kinds["station"] <= 3
    assert 8 <= kinds["micro_station"] <= 12
    assert {"ems", "water_repair", "gas_emergency"} <= set(kinds.index)
    for units, kind in zip(stations["units"], stations["kind"]):
        spec = json.loads(units)
        assert spec and all(isinstance(v, int) and v > 0 for v in spec.values())
        if kind == "station":
            assert spec.get("engine", 0) >= 1
        if kind == "micro_station":
            assert spec == {"micro_engine": 1}
    # Micro stations are where people live: a town street within 200 m.
    micro = stations[stations["kind"] == "micro_station"]
    homes = demo_twin["buildings"].query("population > 0")
    _, dist = shapely.STRtree(homes.geometry.values).query_nearest(micro.geometry.values, return_distance=True,
                                                                   all_matches=False)
    assert dist.max() < 200


def test_cameras_watch_main_crossings(demo_twin):
    cameras = demo_twin["cameras"]
    assert 20 <= len(cameras) <= 60
    assert cameras["heading"].between(0, 360).all()
    major = demo_twin["roads"].query("road_class in ['primary', 'secondary']")
    _, dist = shapely.STRtree(major.geometry.values).query_nearest(cameras.geometry.values, return_distance=True,
                                                                   all_matches=False)
    assert dist.max() < 10


def test_sensors_sit_on_real_features(demo_twin):
    sensors = demo_twin["sensors"]
    assert 200 <= len(sensors) <= 600
    counts = sensors["sensor_type"].value_counts()
    for kind in ("pressure", "flow", "level", "methane", "water_level", "smoke", "strain"):
        assert counts.get(kind, 0) > 0, kind
    for (layer, fid) in zip(sensors["layer"], sensors["feature_id"]):
        assert fid in set(demo_twin[layer]["id"]) if layer else False
    assert set(sensors.loc[sensors["sensor_type"] == "methane", "layer"]) == {
        "manholes", "septic_tanks", "utility_tunnels"}
    for text, kind in zip(sensors["thresholds"], sensors["sensor_type"]):
        t = json.loads(text)
        assert t["direction"] in ("above", "below")
        levels = [t[k] for k in ("blue", "yellow", "orange", "red")]
        assert levels == sorted(levels, reverse=t["direction"] == "below"), (kind, levels)
        if kind == "methane":
            assert (t["yellow"], t["orange"]) == (25.0, 50.0)   # GB/T 50493-2019 level 1 and 2
    assert (sensors["period_s"] > 0).all()


def test_sensor_thresholds_load_in_the_alarm_engine(demo_twin):
    """The sensors engine reads every demo sensor and gets four graded levels from it."""
    from simulation.sensors.alarms import rules_for
    from simulation.sensors.registry import SensorRegistry

    registry = SensorRegistry.from_twin(demo_twin)
    assert len(registry) == len(demo_twin["sensors"])
    for sensor in registry:
        rules = rules_for(sensor)
        assert len(rules.thresholds) == 1
        assert set(rules.thresholds[0].levels) == {"blue", "yellow", "orange", "red"}


# ---------------------------------------------------------------- low altitude

def test_airfield_surfaces_follow_annex_14(demo_twin):
    zones = demo_twin["airspace_zones"]
    elevation = demo_twin.metadata["demo"]["airfield_elevation_m"]
    surfaces = zones[zones["kind"] == "airport_surface"]
    ihs = surfaces[surfaces["name"] == "inner horizontal surface"].iloc[0]
    assert ihs["floor_m"] == pytest.approx(elevation + 45.0, abs=0.01)
    assert (zones["floor_m"] < zones["ceiling_m"]).all()
    # Sloping surfaces step up away from the runway.
    for prefix in ("approach surface", "take-off climb surface", "conical surface"):
        part = surfaces[surfaces["name"].str.startswith(prefix)]
        assert len(part) >= 3, prefix
        for _, group in part.groupby(part["name"].str.replace(r", step .*", "", regex=True)):
            assert group["floor_m"].is_monotonic_increasing
    runway = demo_twin["sites"].query("category == 'airport'").geometry.values[0]
    assert runway.area == pytest.approx(airfield.RUNWAY_LENGTH * airfield.RUNWAY_WIDTH, rel=1e-6)
    # Outside the town: no building on the strip, the centre outside the inner horizontal surface.
    assert not shapely.intersects(demo_twin["buildings"].geometry.values, runway.buffer(100)).any()
    cx, cy = demo_twin.metadata["demo"]["centre"]
    assert not shapely.contains_xy(ihs.geometry, cx, cy)
    assert set(zones["kind"]) == {"airport_surface", "no_fly"}


def test_drone_corridors_and_flights(demo_twin):
    corridors = demo_twin["drone_corridors"]
    tracks = demo_twin["drone_tracks"]
    zones = demo_twin["airspace_zones"]
    assert len(corridors) >= 3
    assert shapely.has_z(corridors.geometry.values).all()
    xyz = shapely.get_coordinates(corridors.geometry.values, include_z=True)
    ground = demo_twin.terrain.sample(xyz[:, 0], xyz[:, 1])
    agl = xyz[:, 2] - ground
    assert agl.min() >= drones.CRUISE_AGL - 0.01 and agl.max() < drones.CRUISE_AGL + 60
    forbidden = shapely.union_all(zones[(zones["kind"] == "no_fly")
                                        | (zones["name"] == "inner horizontal surface")].geometry.values)
    assert not shapely.intersects(corridors.geometry.values, forbidden).any()
    assert shapely.has_z(tracks.geometry.values).all()
    assert tracks["track_id"].nunique() >= 3
    for _, flight in tracks.groupby("track_id"):
        t = flight["time"]
        assert t.is_monotonic_increasing and (t.diff().dropna() == pd.Timedelta(seconds=2)).all()
        step = np.hypot(*np.diff(shapely.get_coordinates(flight.geometry.values), axis=0).T)
        assert np.median(step) == pytest.approx(drones.CRUISE_SPEED * drones.TRACK_STEP_S, rel=0.2)


# ---------------------------------------------------------------- project file and CLI

def test_every_layer_is_populated(demo_twin):
    empty = [name for name, entry in demo_twin.summary()["layers"].items() if entry["count"] == 0]
    assert empty == []


def test_save_load_round_trip(demo_twin, demo_project):
    loaded = project.load(demo_project)
    assert loaded.name == demo_twin.name and loaded.crs == demo_twin.crs
    for name, frame in demo_twin.layers.items():
        assert _frames_equal(frame, loaded[name]), name
    assert project.terrain_equal(demo_twin.terrain, loaded.terrain)
    assert _inp(loaded.network) == _inp(demo_twin.network)
    assert loaded.metadata["demo"] == demo_twin.metadata["demo"]


def test_demo_command_writes_the_project(demo_twin, tmp_path, monkeypatch, capsys):
    import twin.demo

    seeds = []

    def built(seed=7):
        seeds.append(seed)
        return demo_twin
    monkeypatch.setattr(twin.demo, "build_demo", built)
    out = tmp_path / "city.gpkg"
    assert cli_main(["demo", "-o", str(out), "--seed", "7"]) == 0
    line = capsys.readouterr().out.strip()
    assert seeds == [7]
    assert out.exists() and line.startswith(f"demo town (seed 7) -> {out}")
    assert f"buildings {len(demo_twin['buildings'])}" in line and "population" in line and " s" in line
    assert cli_main(["demo", "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layers"]["sensors"] == len(demo_twin["sensors"])
    assert summary["population"] == int(demo_twin["buildings"]["population"].sum())


def test_demo_command_refuses_a_non_gpkg_output_before_building(tmp_path, capsys, monkeypatch):
    import twin.demo

    def never(seed=7):
        raise AssertionError("built the city for an output it cannot write")
    monkeypatch.setattr(twin.demo, "build_demo", never)
    assert cli_main(["demo", "-o", str(tmp_path / "city.shp")]) == 2
    err = capsys.readouterr().err
    assert "city.shp" in err and ".gpkg" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "city.shp").exists()


def test_plan_drawing_of_the_demo(demo_twin, tmp_path):
    from PIL import Image

    from twin.town.drawing import showcase

    (png,) = showcase(demo_twin, tmp_path / "demo.gpkg", tmp_path)
    assert png.name == "demo-town-map.png"
    with Image.open(png) as image:
        assert image.size == (1800, 900)
        pixels = np.asarray(image.convert("RGB"))
    # Not blank: the terrain, roads and buildings give thousands of colours.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
