"""``import_inp``: ky4 in EPSG:3547 with its GeoJSON layers and DEM, GIS joins, the report, round trip."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import wntr
from shared_data import shared_path
from pyproj import CRS
from shapely.geometry import LineString, Point

from app.cli import main
from twin import project
from twin.importers import ImportReport
from twin.importers.epanet import import_inp, lay_on_terrain

US_FT = 1200 / 3937


@pytest.fixture(scope="module")
def ky4():
    folder = shared_path("ky4")
    twin, report = import_inp(folder / "ky4.inp", crs="EPSG:3547", gis_dir=folder,
                              dem=folder / "ky4_elevation.tif")
    return twin, report


def test_counts_and_crs(ky4):
    twin, _ = ky4
    assert twin.crs.equals(CRS.from_epsg(3546))  # the metric sibling of Kentucky Single Zone (ftUS)
    assert {n: twin.count(n) for n in ("water_junctions", "water_pipes", "water_pumps", "water_tanks",
                                       "water_reservoirs", "water_valves", "terrain")} == {
        "water_junctions": 959, "water_pipes": 1156, "water_pumps": 2, "water_tanks": 4,
        "water_reservoirs": 1, "water_valves": 0, "terrain": 1}
    assert len(twin.network.model.junction_name_list) == 959
    assert twin.network_problems() == []


def test_values_in_metres(ky4):
    twin, _ = ky4
    pipe = twin.feature("water_pipes", "P-1")
    assert pipe["diameter"] == pytest.approx(6 * 0.0254)  # a 6-inch main
    assert pipe["length"] == pytest.approx(536.487929, abs=1e-5)
    assert (pipe["start_node"], pipe["end_node"]) == ("J-1", "J-34")
    # Same Lambert projection, false origin 4,921,250 ftUS = 1,500,000 m: a pure unit change.
    j1 = twin["water_junctions"].set_index("id").loc["J-1"]
    assert j1.geometry.x == pytest.approx(1_500_000 + (4971350 - 4921250) * US_FT, abs=0.01)
    assert j1.geometry.y == pytest.approx(1_000_000 + (3905604 - 3280833.333) * US_FT, abs=0.01)
    assert twin.network.model.get_node("J-1").coordinates == pytest.approx((j1.geometry.x, j1.geometry.y))


def test_hydraulic_elevations_untouched(ky4):
    twin, _ = ky4
    original = wntr.network.read_inpfile(str(shared_path("ky4", "ky4.inp")))
    for name in ("J-1", "J-595", "J-100"):
        assert twin.network.model.get_node(name).elevation == original.get_node(name).elevation
    frame = twin["water_junctions"].set_index("id")
    assert frame.loc["J-595", "elevation"] == original.get_node("J-595").elevation


def test_dem_gives_ground_and_burial_depth(ky4):
    twin, _ = ky4
    assert twin.terrain.crs.equals(twin.crs)
    j = twin["water_junctions"].set_index("id")
    assert j["terrain_elevation"].notna().all()
    # The DEM is metres (a USGS DEM): ground within metres of the node elevations, not 140 m off.
    assert j.loc["J-1", "terrain_elevation"] == pytest.approx(187.84, abs=0.05)
    assert np.allclose(j["burial_depth"], j["terrain_elevation"] - j["elevation"])
    assert np.median(np.abs(j["burial_depth"])) < 2.0
    p = twin["water_pipes"].set_index("id").loc["P-1"]
    expected = (j.loc["J-1", "burial_depth"] + j.loc["J-34", "burial_depth"]) / 2 - p["diameter"] / 2
    assert p["burial_depth"] == pytest.approx(expected)
    assert twin["water_pipes"]["burial_depth"].notna().all()


def test_dem_unit_decision_and_disagreements_reported(ky4):
    _, report = ky4
    unit = [g for g in report.guessed if g.startswith("ky4_elevation.tif: heights are in metres")]
    assert len(unit) == 1 and "US survey foot" in unit[0]
    big = [w for w in report.warnings if "junction elevations differ from the DEM by more than 5 m" in w]
    assert len(big) == 1
    assert big[0].startswith("DEM: 27 of 959 junction elevations")
    assert "worst: J-595 node 210.3 m vs DEM 192.7 m (+17.6 m)" in big[0]


def test_tolerance_changes_what_is_reported(ky4):
    twin, _ = ky4
    strict, loose = ImportReport("ky4"), ImportReport("ky4")
    lay_on_terrain(twin, strict, tolerance=2.0)
    lay_on_terrain(twin, loose, tolerance=20.0)
    assert any("by more than 2 m" in w for w in strict.warnings)
    assert not any("differ from the DEM" in w for w in loose.warnings)


def test_gis_layers_joined_by_id(ky4):
    _, report = ky4
    assert "ky4_junctions.geojson: 959 of 959 water_junctions matched by 'name'; no attributes beyond " \
           "the network's; positions agree within 0.00 m" in report.notes
    assert any(r.startswith("ky4_pipes.geojson: 1156 of 1156 water_pipes matched") for r in report.notes)


def test_report_text(ky4):
    _, report = ky4
    text = report.text()
    lines = text.splitlines()
    assert lines[0] == f"imported {shared_path('ky4', 'ky4.inp')}"
    assert lines[1] == "  CRS: EPSG:3547 -> EPSG:3546 (metres)"
    assert "  water_junctions         959" in lines
    assert f"  {'terrain':<18} {1:>8}" in lines
    assert any(line.startswith("  warning: DEM: 27 of 959") for line in lines)
    assert json.loads(json.dumps(report.as_dict()))["counts"]["water_pipes"] == 1156


def test_round_trip(ky4, tmp_path):
    twin, _ = ky4
    path = project.save(twin, tmp_path / "ky4.gpkg")
    back = project.load(path)
    assert back.crs.equals(twin.crs)
    for layer in ("water_junctions", "water_pipes", "water_pumps", "water_tanks", "water_reservoirs"):
        a = twin[layer].sort_values("id").reset_index(drop=True)
        b = back[layer].sort_values("id").reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                      pd.DataFrame(b.drop(columns="geometry")), check_dtype=False)
        assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-6).all()
    assert project.terrain_equal(twin.terrain, back.terrain)
    assert back.network.model.describe() == twin.network.model.describe()
    assert back.metadata["import"]["counts"]["water_junctions"] == 959


def _net1_gis(folder, crs="EPSG:3547"):
    """A GIS folder for Net1: junctions missing '10', one stray id, pipes with material and year."""
    wn = wntr.network.read_inpfile(str(folder.parent / "Net1.inp"))
    junctions = [(n, Point(wn.get_node(n).coordinates)) for n in wn.junction_name_list if n != "10"]
    junctions.append(("ghost", Point(0, 0)))
    gpd.GeoDataFrame({"name": [n for n, _ in junctions], "PRESSURE_ZONE": "north"},
                     geometry=[g for _, g in junctions], crs=crs).to_file(folder / "net1_junctions.geojson")
    names = wn.pipe_name_list
    lines = [LineString([wn.get_node(wn.get_link(n).start_node_name).coordinates,
                         wn.get_node(wn.get_link(n).end_node_name).coordinates]) for n in names]
    gpd.GeoDataFrame({"ID": names, "MATERIAL": "DI", "YEAR": 1987, "owner": "city"},
                     geometry=lines, crs=crs).to_file(folder / "net1_pipes.geojson")
    (folder / "readme.txt").write_text("not a layer")
    gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0, 0)], crs=crs).to_file(folder / "parcels.geojson")


def test_gis_join_attributes_and_mismatches(tmp_path, net1_ky):
    gis = tmp_path / "gis"
    gis.mkdir()
    _net1_gis(gis)
    twin, report = import_inp(tmp_path / "Net1.inp", crs="EPSG:3547", gis_dir=gis)
    pipes = twin["water_pipes"].set_index("id")
    assert (pipes["material"] == "DI").all()
    assert (pipes["install_year"] == 1987).all()
    assert (pipes["owner"] == "city").all()  # extra attributes travel along
    junctions = twin["water_junctions"].set_index("id")
    assert junctions.loc["11", "zone"] == "north"
    assert pd.isna(junctions.loc["10", "zone"])
    assert "net1_junctions.geojson: 1 features with no water_junctions element: ghost" in report.warnings
    assert "net1_junctions.geojson: 1 water_junctions elements missing from the GIS layer: 10" in report.warnings
    assert any(s.startswith("parcels.geojson: not a water-network layer") for s in report.skipped)


def test_cli_import_inp_json(tmp_path, capsys, net1_ky):
    out = tmp_path / "net1.gpkg"
    status = main(["import", "inp", str(net1_ky), "--crs", "EPSG:3547",
                   "-o", str(out), "--json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["twin_crs"] == "EPSG:3546"
    assert report["counts"] == {"water_junctions": 9, "water_pipes": 12, "water_pumps": 1,
                                "water_tanks": 1, "water_reservoirs": 1}
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["units"] == "m" and info["layers"]["water_pipes"]["count"] == 12


def test_dem_height_unit_follows_the_data(tmp_path):
    """A DEM in feet is read as feet, one in metres as metres; a stated unit is obeyed."""
    from affine import Affine

    from twin.errors import SourceError
    from twin.importers.epanet import dem_height_factor
    from twin.terrain import Terrain

    crs = CRS.from_epsg(3547)
    ground_m = np.linspace(150, 250, 100).reshape(10, 10)
    transform = Affine(100, 0, 4_950_000, 0, -100, 3_900_000)
    xs = 4_950_000 + 50 + 100 * np.arange(10)
    ys = np.full(10, 3_900_000 - 50 - 100 * 3)
    x_m, y_m = (xs - 4_921_250) * US_FT + 1_500_000, (ys - 3_280_833.333) * US_FT + 1_000_000
    z = ground_m[3, :] - 1.2  # nodes buried 1.2 m
    twin_crs = CRS.from_epsg(3546)
    in_feet = Terrain(ground_m / US_FT, transform, crs)
    report = ImportReport("t")
    assert dem_height_factor(tmp_path / "d.tif", in_feet, twin_crs, (x_m, y_m, z), "auto", report) == pytest.approx(US_FT)
    assert report.guessed[0].startswith("d.tif: heights are in US survey foot")
    in_metres = Terrain(ground_m, transform, crs)
    assert dem_height_factor(tmp_path / "d.tif", in_metres, twin_crs, (x_m, y_m, z), "auto", report) == 1.0
    assert dem_height_factor(tmp_path / "d.tif", in_metres, twin_crs, (x_m, y_m, z), "ft", report) == 0.3048
    with pytest.raises(SourceError, match="DEM height unit 'yards'"):
        dem_height_factor(tmp_path / "d.tif", in_metres, twin_crs, (x_m, y_m, z), "yards", report)
