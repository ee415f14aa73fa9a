"""``import_micropolis``: the virtual city's network, shapefiles and elevation grid, in metres."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shared_data import shared_path

from app.cli import main
from twin import project
from twin.importers.micropolis import FOOT_M, _Placement, import_micropolis


@pytest.fixture(scope="module")
def micropolis():
    return import_micropolis(shared_path("micropolis"))


@pytest.fixture(scope="module")
def saved(micropolis, tmp_path_factory):
    path = project.save(micropolis[0], tmp_path_factory.mktemp("micropolis") / "m.gpkg")
    return path, project.load(path)


def _gis(name):
    return gpd.read_file(shared_path("micropolis", "gis", name))


def test_counts(micropolis):
    twin, _ = micropolis
    counts = {n: twin.count(n) for n in ("water_junctions", "water_pipes", "water_pumps", "water_tanks",
                                         "water_reservoirs", "hydrants", "buildings", "roads", "terrain")}
    assert counts == {"water_junctions": 1574, "water_pipes": 1415, "water_pumps": 8, "water_tanks": 1,
                      "water_reservoirs": 2, "hydrants": 52, "buildings": 868, "roads": 22, "terrain": 1}
    assert twin.terrain.shape == (196, 216)
    assert twin.network_problems() == []


def test_local_metric_crs_and_coordinates(micropolis):
    twin, report = micropolis
    assert twin.crs.is_engineering and twin.crs.name == "Micropolis local grid"
    assert twin.crs.axis_info[0].unit_conversion_factor == 1.0
    # IN0 is at (4963.01, 4003.59) feet in the .inp.
    node = twin["water_junctions"].set_index("id").geometry.loc["IN0"]
    assert (node.x, node.y) == pytest.approx((4963.01 * 0.3048, 4003.59 * 0.3048))
    assert twin.network.model.get_node("IN0").coordinates == pytest.approx((node.x, node.y))
    # 8,650 ft backdrop: the town is about 2.6 km across, not 8.6 km.
    minx, miny, maxx, maxy = twin.extent
    assert 2400 < maxx - minx < 2700
    assert report.source_crs == "local grid in feet (no .prj)"
    assert any("coordinates are local feet with no .prj" in r and "UNITS Feet" in r for r in report.notes)


def test_rules_survive(micropolis):
    twin, _ = micropolis
    text = shared_path("micropolis", "MICROPOLIS_v1.inp").read_text(errors="replace")
    declared = re.findall(r"(?m)^\s*RULE\s+(\S+)", text)
    assert len(declared) == 7
    assert sorted(twin.network.model.control_name_list) == sorted(declared)
    rule = str(twin.network.model.get_control("1"))
    assert "CLOCKTIME >= 6:00:00 AM" in rule and "HSP#1 STATUS IS OPEN" in rule
    assert "CLOCKTIME >= 8:00:00 PM" in str(twin.network.model.get_control("5"))


def test_pipes_material_year_diameter(micropolis):
    twin, report = micropolis
    pipes = twin["water_pipes"].set_index("id")
    assert pipes.loc["MA460", ["material", "install_year", "pipe_role"]].tolist() == ["CI", 1910, "main"]
    assert pipes.loc["MA460", "diameter"] == pytest.approx(4 * 0.0254)
    assert pipes.loc["MA461", ["material", "install_year"]].tolist() == ["DI", 1980]
    assert pipes.loc["MA461", "diameter"] == pytest.approx(12 * 0.0254)
    assert pipes.loc["SC0", ["material", "install_year", "pipe_role"]].tolist() == ["copper", 1950, "service"]
    assert pipes.loc["HC1", "pipe_role"] == "hydrant_lateral"
    assert set(pipes["material"].dropna()) == {"CI", "DI", "AC", "copper", "plastic"}
    mains = [r for r in report.notes if "network mains lie on a GIS line of watermains_v0.shp" in r]
    assert len(mains) == 1
    matched = int(re.match(r"(\d+) of", mains[0]).group(1))
    assert matched > 500
    assert f"material agrees on {matched}" in mains[0] and f"install year agrees on {matched}" in mains[0]


def test_valves_reconciled(micropolis):
    twin, report = micropolis
    valves = twin["water_valves"]
    tcv = valves[valves["valve_type"] == "TCV"]
    assert len(tcv) == 196
    assert set(tcv["link_id"]) == set(twin.network.model.valve_name_list)
    assert (tcv["link_id"] == tcv["id"]).all()
    paired = tcv[tcv["gis_index"].notna()]
    assert len(paired) == 195 and paired["gis_distance"].max() < 10
    assert tcv.loc[tcv["gis_index"].isna(), "id"].tolist() == ["V1028"]
    isolation = valves[valves["valve_type"] == "isolation"]
    assert len(isolation) == 8
    assert isolation["pipe_id"].isin(twin["water_pipes"]["id"]).all()
    assert isolation["node_id"].isin(twin["water_junctions"]["id"]).all()
    # Every one of the 203 GIS valves is accounted for exactly once.
    used = valves["gis_index"].dropna().astype(int)
    assert sorted(used) == list(range(203))
    line = next(r for r in report.notes if r.startswith("valves_v0.shp: 203 GIS valves vs 196 TCV links"))
    assert "195 paired one-to-one" in line and "TCV V1028 has no GIS valve of its own" in line
    assert "8 GIS valves with no TCV link are isolation valves" in line


def test_hydrants_on_their_junctions(micropolis):
    twin, report = micropolis
    hydrants = twin["hydrants"].set_index("id")
    assert hydrants.loc["HY46", "node_id"] == "HY46"
    assert hydrants["node_id"].isin(twin["water_junctions"]["id"]).all()
    assert hydrants["distance_to_node"].max() < 20
    gis = _gis("hydrants_v1.shp").set_index("ID")
    assert hydrants.geometry.loc["HY46"].x == pytest.approx(gis.geometry.loc["HY46"].x * FOOT_M)


def test_buildings_in_metres_with_population_and_use(micropolis):
    twin, report = micropolis
    b = twin["buildings"].set_index("id")
    gis = _gis("buildings_v1.shp")
    assert b.loc["1", "height"] == pytest.approx(14 * 0.3048)
    assert b["height"].max() == pytest.approx(gis["HEIGHT"].max() * 0.3048)
    assert int(b["population"].sum()) == int(gis["POP"].sum())
    assert b.loc["1", "floors"] == 1
    assert b.loc[b["facility"] == "City Hall", "use"].tolist() == ["public"]
    assert b.loc[b["facility"] == "Warehouse", "use"].eq("industrial").all()
    assert b["zone"].notna().sum() >= 860
    assert b["junction_id"].isin(twin["water_junctions"]["id"]).all()
    # A building's area in m² is its area in ft² x 0.3048².
    assert b.geometry.loc["1"].area == pytest.approx(gis.geometry.iloc[0].area * 0.3048 ** 2)
    assert any(g.startswith("buildings: HEIGHT read as feet") for g in report.guessed)


def test_terrain_in_metres_and_burial_depths(micropolis):
    twin, report = micropolis
    assert np.nanmin(twin.terrain.heights) == pytest.approx(1000.0037 * 0.3048, abs=1e-3)
    assert np.nanmax(twin.terrain.heights) == pytest.approx(1068.998 * 0.3048, abs=1e-3)
    assert twin.terrain.cell_size == pytest.approx((40.935878 * 0.3048,) * 2)
    j = twin["water_junctions"]
    assert j["terrain_elevation"].notna().all()
    assert np.median(np.abs(j["burial_depth"])) < 0.5
    assert any(g.startswith("elevgrid: heights are in feet") for g in report.guessed)


def test_roads_guessed_and_reported(micropolis):
    twin, report = micropolis
    roads = twin["roads"]
    assert set(roads["road_class"]) == {"secondary", "residential"}
    assert set(roads["speed_kmh"]) == {56.0, 40.0}
    assert any(g.startswith("roads: the shapefile has no class or speed") for g in report.guessed)


def test_layers_without_schema_are_summarised(micropolis):
    _, report = micropolis
    text = report.text()
    for name in ("lots_v1.shp", "railroad_v1.shp", "streams_v1.shp", "waterbody_v1.shp",
                 "water_nodes_v0.shp", "watertower_v1.shp"):
        assert f"skipped: {name}:" in text
    assert "the water tower is network tank 'Tank'" in text


def test_round_trip(micropolis, saved):
    twin, _ = micropolis
    _, back = saved
    for layer in ("water_junctions", "water_pipes", "water_valves", "hydrants", "buildings", "roads"):
        a = twin[layer].sort_values("id").reset_index(drop=True)
        b = back[layer].sort_values("id").reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                      pd.DataFrame(b.drop(columns="geometry")), check_dtype=False)
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-6).all()
    assert back.crs.equals(twin.crs)
    assert project.terrain_equal(twin.terrain, back.terrain)
    assert sorted(back.network.model.control_name_list) == sorted(twin.network.model.control_name_list)


def test_cli_info_reports_done_when_counts(saved, capsys):
    path, _ = saved
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    layers = info["layers"]
    assert info["units"] == "m" and info["crs"] == "Micropolis local grid"
    assert (layers["buildings"]["count"], layers["hydrants"]["count"], layers["water_junctions"]["count"],
            layers["water_pipes"]["count"], layers["water_valves"]["count"]) == (868, 52, 1574, 1415, 204)


def test_placement_in_a_feet_crs():
    place = _Placement("EPSG:2277")  # NAD83 / Texas Central (ftUS)
    assert place.crs.to_epsg() == 32139
    x, y = place.xy(np.array([2_296_583.333]), np.array([9_842_500.0]))  # the false origin, in ftUS
    assert (float(x[0]), float(y[0])) == pytest.approx((700_000.0, 3_000_000.0), abs=0.01)


def test_valve_pairing_never_forces_a_far_match():
    """Two TCV links, three GIS valves: the far one must not be paired, it becomes an isolation valve."""
    import wntr
    from shapely.geometry import Point

    from twin.crs import local_metric_crs
    from twin.importers import ImportReport
    from twin.importers.micropolis import _valves
    from twin.model import Twin
    from twin.network import network_layers

    wn = wntr.network.WaterNetworkModel()
    for name, x in (("A", 0), ("B", 100), ("C", 101), ("D", 200), ("E", 201), ("F", 400)):
        wn.add_junction(name, elevation=10, coordinates=(x, 0))
    wn.add_pipe("P1", "A", "B", length=100, diameter=0.2)
    wn.add_valve("V1", "B", "C", diameter=0.2, valve_type="TCV", initial_setting=0)
    wn.add_pipe("P2", "C", "D", length=100, diameter=0.2)
    wn.add_valve("V2", "D", "E", diameter=0.2, valve_type="TCV", initial_setting=0)
    wn.add_pipe("P3", "E", "F", length=200, diameter=0.3)
    crs = local_metric_crs("test grid")
    twin = Twin("t", crs, network=wn)
    for layer, frame in network_layers(wn, crs).items():
        twin.set_layer(layer, frame)
    gis = gpd.GeoDataFrame(geometry=[Point(100.5, 1.0), Point(350, 2.0), Point(201.0, 0.5)], crs=crs)
    gis.attrs["file"] = "valves.shp"
    report = ImportReport("t")
    _valves(twin, gis, report)
    valves = twin["water_valves"].set_index("id")
    assert valves.loc["V1", "gis_index"] == 0 and valves.loc["V2", "gis_index"] == 2
    assert valves.loc["V1", "gis_distance"] == pytest.approx(1.0)
    assert valves.loc["GV1", ["valve_type", "pipe_id", "node_id"]].tolist() == ["isolation", "P3", "F"]
    assert valves.loc["GV1", "diameter"] == pytest.approx(0.3)
    assert valves.geometry.loc["GV1"].equals(Point(350, 0))  # snapped onto the pipe
    assert "2 paired one-to-one" in report.notes[0]
