"""The project file: exact save -> load round trips, atomic saves, clear errors on damaged files."""

import json
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from shapely.geometry import LineString, Point, Polygon

from app.cli import main
from twin import project
from twin.errors import LayerError, ProjectError
from twin.model import Twin
from twin.network import network_layers, network_text, read_network
from twin.terrain import Terrain

CRS = "EPSG:3088"


@pytest.fixture(scope="module")
def small_twin(wntr_network_path):
    """Net3 placed in a metric CRS, with a layer of every column kind and a DEM."""
    wn = read_network(wntr_network_path("Net3.inp"))
    twin = Twin("Net3 town", CRS, network=wn, metadata={"lec_bands": {"red": 300, "orange": 150, "yellow": 60}})
    for name, frame in network_layers(wn, twin.crs).items():
        twin.set_layer(name, frame)
    twin.set_layer("buildings", gpd.GeoDataFrame(
        {"id": ["b1", "b2"], "height": [9.5, 31.0], "floors": [3, None], "population": [24, 180],
         "use": ["residential", "commercial"], "risk_level": ["", "orange"]},
        geometry=[Polygon([(0, 0), (10, 0), (10, 8), (0, 8)]), Polygon([(20, 0), (40, 0), (40, 15), (20, 15)])],
        crs=CRS))
    twin.set_layer("roads", gpd.GeoDataFrame(
        {"id": ["r1"], "road_class": ["primary"], "speed_kmh": [50.0], "oneway": [True], "lanes": [2],
         "name": ["长江路"]}, geometry=[LineString([(0, -5), (100, -5)])], crs=CRS))
    twin.set_layer("fire_stations", gpd.GeoDataFrame(
        {"id": ["fs1"], "name": ["Station 1"], "kind": ["micro_station"], "units": ['{"micro_engine": 1}']},
        geometry=[Point(50, 50)], crs=CRS))
    twin.set_layer("sites", gpd.GeoDataFrame(
        {"id": ["s1"], "name": ["Fuel depot"], "category": ["gas_station"], "lec_l": [6.0], "lec_e": [6.0],
         "lec_c": [15.0], "inspections": ['[{"date": "2026-03-01", "result": "pass"}]']},
        geometry=[Point(70, 20)], crs=CRS))
    twin.set_layer("drone_corridors", gpd.GeoDataFrame(
        {"id": ["c1"], "width_m": [40.0]}, geometry=[LineString([(0, 0, 80), (500, 300, 120)])], crs=CRS))
    times = pd.to_datetime(["2026-05-01T08:00:00.250Z", "2026-05-01T08:00:01Z"], format="ISO8601")
    twin.set_layer("drone_tracks", gpd.GeoDataFrame(
        {"id": ["t1-0", "t1-1"], "track_id": ["t1", "t1"], "time": times},
        geometry=[Point(0, 0, 60), Point(5, 3, 61.5)], crs=CRS))
    twin.set_layer("water_valves", gpd.GeoDataFrame(
        {"id": ["v1"], "valve_type": ["isolation"], "pipe_id": ["20"], "operable": [False]},
        geometry=[Point(1, 1)], crs=CRS))
    j = twin["water_junctions"]
    twin.terrain = Terrain.from_points(j.geometry.x, j.geometry.y, j.elevation + 1.5, twin.crs, cell=400)
    twin.terrain.heights[0, 0] = np.nan
    return twin


def test_save_load_round_trips_every_layer_crs_terrain_and_network(small_twin, tmp_path):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    back = project.load(path)
    assert back.name == "Net3 town" and back.crs.equals(small_twin.crs)
    assert back.metadata["lec_bands"] == {"red": 300, "orange": 150, "yellow": 60}
    for name, frame in small_twin.layers.items():
        other = back[name]
        assert_frame_equal(frame.drop(columns="geometry"), other.drop(columns="geometry"), check_exact=True)
        assert frame.geometry.geom_equals_exact(other.geometry, 0).all(), name
        assert list(frame.geometry.has_z) == list(other.geometry.has_z), name
    assert back["drone_tracks"]["time"].iloc[0] == pd.Timestamp("2026-05-01T08:00:00.250Z")
    assert back["sites"]["risk_level"].tolist() == ["red"]  # 540 > 300 with the project's bands
    assert project.terrain_equal(small_twin.terrain, back.terrain)
    assert np.isnan(back.terrain.heights[0, 0])
    assert back.network.text == small_twin.network.text
    assert back.network_problems() == []


def test_save_is_atomic_a_failure_keeps_the_previous_file(small_twin, tmp_path, monkeypatch):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    before = path.read_bytes()

    def crash(twin, tmp):
        tmp.write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(project, "_write", crash)
    with pytest.raises(OSError, match="disk full"):
        project.save(small_twin, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]


def test_empty_twin_round_trips(tmp_path):
    path = project.save(Twin("empty", CRS), tmp_path / "empty.gpkg")
    back = project.load(path)
    assert back.terrain is None and back.network is None
    assert all(len(f) == 0 for f in back.layers.values())


def test_truncated_file_is_one_clear_error(small_twin, tmp_path):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(ProjectError, match=r"cut\.gpkg: the file is damaged or truncated"):
        project.load(cut)


def test_not_a_project_errors(tmp_path):
    text = tmp_path / "notes.gpkg"
    text.write_text("hello")
    with pytest.raises(ProjectError, match="not a GeoPackage"):
        project.load(text)
    plain = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=CRS).to_file(plain, layer="x")
    with pytest.raises(ProjectError, match="not a Lifeline Twin project"):
        project.load(plain)
    with pytest.raises(ProjectError, match="no such project file"):
        project.load(tmp_path / "missing.gpkg")


def test_newer_format_is_refused(small_twin, tmp_path):
    path = project.save(Twin("t", CRS), tmp_path / "t.gpkg")
    con = sqlite3.connect(path)
    con.execute("UPDATE lifeline_metadata SET value='99' WHERE key='format_version'")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="newer Lifeline Twin"):
        project.load(path)


def test_bad_layer_in_file_names_the_file_layer_and_column(small_twin, tmp_path):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE buildings RENAME COLUMN height TO hgt")
    con.commit()
    con.close()
    with pytest.raises(LayerError, match=r"city\.gpkg: layer 'buildings' is missing required column 'height'$"):
        project.load(path)


def test_info_json_lists_every_layer(small_twin, tmp_path, capsys):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "Net3 town" and info["crs"] == "EPSG:3088" and info["units"] == "m"
    assert len(info["layers"]) == 22
    assert info["layers"]["water_junctions"] == {"domain": "underground", "count": 92}
    assert info["layers"]["gas_mains"] == {"domain": "underground", "count": 0}
    assert info["layers"]["terrain"]["count"] == 1
    assert info["layers"]["drone_tracks"] == {"domain": "low_altitude", "count": 2}
    minx, miny, maxx, maxy = info["extent"]
    assert minx < maxx and miny < maxy


def test_info_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.gpkg" in err and "Traceback" not in err


def test_folders_and_unwritable_places_are_one_clear_error(small_twin, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "looks_like.gpkg"
    folder.mkdir()
    with pytest.raises(ProjectError, match=r"looks_like\.gpkg: is a folder, not a project file$"):
        project.load(folder)
    with pytest.raises(ProjectError, match=r"looks_like\.gpkg: is a folder, not a project file$"):
        project.save(small_twin, folder)
    assert main(["info", str(folder)]) == 2
    assert capsys.readouterr().err == f"lifeline-twin info: error: {folder}: is a folder, not a project file\n"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ProjectError, match=f"cannot write the project: {a_file} is a file, not a folder$"):
        project.save(small_twin, a_file / "city.gpkg")

    # A read-only folder (simulated: the tests may run as root, who writes anywhere).
    existing = project.save(small_twin, tmp_path / "city.gpkg")
    before = existing.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(project.tempfile, "mkstemp", refuse)
    with pytest.raises(ProjectError, match=f"^{existing}: cannot write the project in {tmp_path} "
                                           r"\(Permission denied\)$"):
        project.save(small_twin, existing)
    assert existing.read_bytes() == before
    assert main(["demo", "-o", str(existing)]) == 2  # refused before the town is built
    assert capsys.readouterr().err.strip().splitlines() == [
        f"lifeline-twin demo: error: {existing}: cannot write the project in {tmp_path} (Permission denied)"]
    assert existing.read_bytes() == before


def test_sensors_and_links_to_missing_features_are_warned_not_lost(small_twin, tmp_path, capsys):
    from twin.errors import LayerError as _LayerError

    twin = project.load(project.save(small_twin, tmp_path / "city.gpkg"))
    assert twin.reference_problems() == []
    sensors = gpd.GeoDataFrame(
        {"id": ["P1", "P2", "P3", "P4"], "sensor_type": ["pressure", "flow", "pressure", "level"],
         "unit": ["m", "m3/h", "m", "m"], "layer": ["water_junctions", "water_pipes", "water_junctions", None],
         "feature_id": ["10", "no-such-pipe", "ghost", "2"]},
        geometry=[Point(0, 0)] * 4, crs=CRS)
    twin.set_layer("sensors", sensors)
    twin.set_layer("hydrants", gpd.GeoDataFrame({"id": ["h1"], "node_id": ["J-404"]}, geometry=[Point(1, 1)],
                                                crs=CRS))
    assert twin.reference_problems() == [
        "hydrants: 1 features name a node_id that is not in water_junctions or water_tanks or water_reservoirs: "
        "h1 -> 'J-404'",
        "sensors: 1 sensors give a feature_id but no layer: P4",
        "sensors: 2 sensors sit on features that are not in the twin: P3 -> water_junctions 'ghost', "
        "P2 -> water_pipes 'no-such-pipe'",
    ]
    path = project.save(twin, tmp_path / "city.gpkg")
    assert len(project.load(path)["sensors"]) == 4  # kept: the pipes may be imported later
    assert main(["info", str(path)]) == 0
    warned = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: ")]
    assert warned == [f"warning: {p}" for p in twin.reference_problems()]
    # A layer name that is no layer at all is a typo in the data: refused, naming it.
    sensors["layer"] = ["water_junctions", "water_pipe", None, None]
    with pytest.raises(_LayerError, match=r"column 'layer': 'water_pipe' \(feature 'P2'\) is not a layer of "
                                          r"the twin \(layers: terrain, water_junctions"):
        twin.set_layer("sensors", sensors, source="s.geojson")


def test_round_trip_edge_cases(tmp_path):
    """Unicode and quotes in names, '' kept apart from None, extra columns, a terrain with no nodata cell."""
    from affine import Affine

    twin = Twin("Zürich–東京 \"Süd\" 'x'", CRS, metadata={"note": "ünï", "empty": "", "none": None})
    square = Polygon([(0, 0), (10, 0), (10, 8), (0, 8)])
    twin.set_layer("buildings", gpd.GeoDataFrame(
        {"id": ["b1", "bâtiment 2", "3"], "height": [9.5, 31.0, 0.0], "floors": [3, None, 1],
         "use": ["residential", "", None], "owner": ["Müller", "", None], "survey_year": [1990, None, 2001]},
        geometry=[square] * 3, crs=CRS))
    heights = np.arange(12, dtype=float).reshape(3, 4) + 100.25  # every cell known
    twin.terrain = Terrain(heights, Affine(10, 0, 0, 0, -10, 100), twin.crs)
    back = project.load(project.save(twin, tmp_path / "edge.gpkg"))
    assert back.name == twin.name
    assert {k: back.metadata[k] for k in ("note", "empty", "none")} == {"note": "ünï", "empty": "", "none": None}
    a, b = twin["buildings"], back["buildings"]
    assert list(b.columns) == list(a.columns)  # extra columns kept, in order
    assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), check_exact=True)
    for column, first in (("use", "residential"), ("owner", "Müller")):  # '' stays '', missing stays missing
        assert b[column].iloc[0] == first and b[column].iloc[1] == "" and pd.isna(b[column].iloc[2])
    assert not np.isnan(back.terrain.heights).any()  # no cell became nodata on the way
    np.testing.assert_array_equal(back.terrain.heights, heights)
    assert back.terrain.transform == twin.terrain.transform


def test_output_over_a_geopackage_that_is_not_a_project_is_refused(small_twin, tmp_path, capsys,
                                                                     wntr_network_path):
    theirs = tmp_path / "parcels.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=CRS).to_file(theirs, layer="parcels")
    before = theirs.read_bytes()
    with pytest.raises(ProjectError, match=r"parcels\.gpkg: exists and is not a Lifeline Twin project; "
                                           r"refusing to write over it"):
        project.replaceable_layers(theirs)
    net = str(wntr_network_path("Net1.inp"))
    assert main(["import", "inp", net, "--crs", "local:ft", "-o", str(theirs)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["demo", "-o", str(theirs)]) == 2  # refused before building the town
    assert "not a Lifeline Twin project" in capsys.readouterr().err
    assert theirs.read_bytes() == before
    # A project is replaced, and the report says which of its layers the new one lacks.
    ours = project.save(small_twin, tmp_path / "city.gpkg")
    assert project.replaceable_layers(ours)[:3] == ["buildings", "drone_corridors", "drone_tracks"]
    assert main(["import", "inp", net, "--crs", "local:ft", "-o", str(ours), "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert warnings == [f"{ours} existed and was replaced; its buildings, drone_corridors, drone_tracks, "
                        "fire_stations, roads, sites, terrain, water_valves are not in the new project (add "
                        "layers to a project with 'import vector --project')"]


@pytest.mark.parametrize("key, value, says", [
    ("crs_wkt", '"not a crs"', "metadata 'crs_wkt' is not a CRS pyproj can read"),
    ("name", "{broken", "metadata 'name' is not valid JSON"),
])
def test_damaged_metadata_is_one_clear_error(tmp_path, key, value, says):
    path = project.save(Twin("t", CRS), tmp_path / "t.gpkg")
    con = sqlite3.connect(path)
    con.execute("UPDATE lifeline_metadata SET value=? WHERE key=?", (value, key))
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match=f"^{path}: {says}"):
        project.load(path)


def test_saving_never_drops_tables_another_program_added(small_twin, tmp_path):
    path = project.save(small_twin, tmp_path / "city.gpkg")
    assert project.foreign_tables(path) == []
    gpd.GeoDataFrame({"owner": ["A"]}, geometry=[Point(0, 0)], crs=CRS).to_file(path, layer="parcels", mode="a")
    before = path.read_bytes()
    twin = project.load(path)  # a project with an extra table still loads
    with pytest.raises(ProjectError, match=r"city\.gpkg: holds tables that are not twin layers \(parcels\), "
                                           r"added by another program; saving would drop them"):
        project.save(twin, path)
    assert path.read_bytes() == before
    assert project.save(twin, tmp_path / "copy.gpkg").exists()  # saving elsewhere is fine


def test_usage_mistakes_are_one_line(capsys):
    assert main(["import", "inp", "net.inp", "-o", "out.gpkg"]) == 2  # argparse's exit code, returned
    err = capsys.readouterr().err
    assert err == ("lifeline-twin import inp: error: the following arguments are required: --crs "
                   "(see lifeline-twin import inp --help)\n")
