"""Generic importers: GDAL vector files into a named layer, GDAL rasters as the DEM."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS
from shapely.geometry import LineString

from app.cli import main
from twin.crs import local_crs, parse_crs
from twin.errors import LayerError, SourceError
from twin.importers.raster import import_raster
from twin.importers.vector import import_vector
from twin.project import load, save

US_FOOT = 1200 / 3937


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("lifeline-twin import: error: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# ---------------------------------------------------------------- Micropolis: a shapefile with no .prj
def test_shapefile_without_prj_needs_crs(shared, tmp_path, capsys):
    shp = shared("micropolis", "gis", "hydrants_v1.shp")
    project = tmp_path / "m.gpkg"
    with pytest.raises(SourceError, match=r"hydrants_v1\.shp: the source has no CRS .*\.prj.*--crs"):
        import_vector(shp, "hydrants", project)
    assert main(["import", "vector", str(shp), "--layer", "hydrants", "--project", str(project)]) == 2
    _one_line_error(capsys, str(shp), "no CRS", "--crs")
    assert not project.exists()


def test_shapefile_with_a_wrong_crs_is_refused(shared, tmp_path, capsys):
    """Micropolis' local feet declared as degrees: named as no place on Earth, no project written."""
    shp = shared("micropolis", "gis", "hydrants_v1.shp")
    project = tmp_path / "m.gpkg"
    assert main(["import", "vector", str(shp), "--layer", "hydrants", "--project", str(project),
                 "--crs", "EPSG:4326"]) == 2
    _one_line_error(capsys, str(shp), "52 of 52 coordinates lie outside the area of use of --crs EPSG:4326",
                    "is no longitude and latitude on Earth", "local:ft")
    assert not project.exists()


def test_micropolis_hydrants_in_local_feet(shared, tmp_path, capsys):
    shp = shared("micropolis", "gis", "hydrants_v1.shp")
    project = tmp_path / "m.gpkg"
    assert main(["import", "vector", str(shp), "--layer", "hydrants", "--project", str(project),
                 "--crs", "local:ft", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"hydrants": 52}
    assert any("scaled by 0.3048" in g for g in report["guessed"])
    assert any("ids from column 'ID'" in g for g in report["guessed"])
    twin = load(project)
    assert twin.crs.is_engineering and twin.crs.axis_info[0].unit_conversion_factor == 1.0
    raw = pyogrio.read_dataframe(shp).set_index("ID")
    h = twin["hydrants"].set_index("id")
    assert set(h.index) == set(raw.index) and "HY46" in h.index
    np.testing.assert_allclose(h.loc["HY46"].geometry.x, raw.loc["HY46", "X"] * 0.3048, rtol=1e-9)
    np.testing.assert_allclose(h.geometry.y.loc[raw.index], raw.geometry.y * 0.3048, rtol=1e-9)


def test_micropolis_buildings_with_mapping_and_scale(shared, tmp_path):
    shp = shared("micropolis", "gis", "buildings_v1.shp")
    twin, report = import_vector(shp, "buildings", tmp_path / "m.gpkg", crs="local:ft",
                                 mapping={"height": "HEIGHT", "population": "POP", "use": "FACILITY_T"},
                                 scale={"height": 0.3048})
    raw = pyogrio.read_dataframe(shp)
    b = twin["buildings"]
    assert len(b) == 868 == report.counts["buildings"]
    np.testing.assert_allclose(b["height"].to_numpy(), raw["HEIGHT"].to_numpy() * 0.3048)
    assert b["population"].sum() == raw["POP"].sum()
    assert b["use"].iloc[0] == "Single Family Re"
    assert "AREA" in b.columns  # unmapped source columns are kept as attributes
    np.testing.assert_allclose(b.geometry.area.sum(), raw.geometry.area.sum() * 0.3048 ** 2, rtol=1e-9)


def test_local_frame_cannot_join_a_georeferenced_project(shared, tmp_path):
    junctions = shared("ky4", "ky4_junctions.geojson")
    project = tmp_path / "k.gpkg"
    twin, _ = import_vector(junctions, "water_junctions", project, id_column="name")
    save(twin, project)
    with pytest.raises(SourceError, match="local frame .* no position on the earth"):
        import_vector(shared("micropolis", "gis", "hydrants_v1.shp"), "hydrants", project, crs="local:ft")


# ---------------------------------------------------------------- ky4 GeoJSON, CRS and mapping
def test_ky4_junctions_into_a_new_project(shared, tmp_path):
    src = shared("ky4", "ky4_junctions.geojson")
    twin, report = import_vector(src, "water_junctions", tmp_path / "k.gpkg", id_column="name")
    assert twin.crs.to_epsg() == 3546  # the metric sibling of Kentucky Single Zone (ftUS)
    assert report.source_crs == "EPSG:3547" and report.counts == {"water_junctions": 959}
    j = twin["water_junctions"].set_index("id")
    raw = gpd.read_file(src).set_index("name")
    expected = raw.to_crs(3546)
    np.testing.assert_allclose(j.loc["J-1"].geometry.x, expected.loc["J-1"].geometry.x, atol=1e-6)
    # The feet coordinates shrink by the US survey foot.
    span_ft = raw.total_bounds[2] - raw.total_bounds[0]
    span_m = j.total_bounds[2] - j.total_bounds[0]
    assert span_m == pytest.approx(span_ft * US_FOOT, rel=1e-3)
    assert j.loc["J-1", "elevation"] == pytest.approx(raw.loc["J-1", "elevation"])
    assert any("'elevation' used for 'elevation'" in g for g in report.guessed)
    assert "demand_pattern" in j.columns


def test_mapping_to_a_missing_column_lists_the_available_ones(shared, tmp_path, capsys):
    src = shared("ky4", "ky4_junctions.geojson")
    project = tmp_path / "k.gpkg"
    with pytest.raises(SourceError) as exc:
        import_vector(src, "water_junctions", project, mapping={"elevation": "ELEV_FT"})
    message = str(exc.value)
    assert str(src) in message and "'ELEV_FT'" in message
    assert "available columns: name, base_demand, demand_pattern, elevation" in message
    assert main(["import", "vector", str(src), "--layer", "water_junctions", "--project", str(project),
                 "--map", "elevation=ELEV_FT"]) == 2
    _one_line_error(capsys, "--map elevation=ELEV_FT", "available columns")


@pytest.mark.parametrize("args, fragment", [
    (["--layer", "pipes"], "unknown twin layer 'pipes'"),
    (["--layer", "water_junctions", "--map", "heigth=elevation"], "has no column 'heigth'"),
    (["--layer", "water_junctions", "--scale", "elevation=abc"], "--scale elevation=abc"),
    (["--layer", "water_junctions", "--id-column", "NAME"], "--id-column NAME: no column 'NAME'"),
    (["--layer", "water_junctions", "--source-layer", "nope"], "no layer 'nope'"),
    (["--layer", "water_junctions", "--crs", "EPSG:999999"], "--crs 'EPSG:999999'"),
    (["--layer", "water_pipes"], "layer 'water_pipes' needs column 'start_node': map a source column to it"),
    (["--layer", "buildings", "--map", "height=elevation"], "expects Polygon/MultiPolygon geometry"),
])
def test_cli_vector_errors_are_one_line(shared, tmp_path, capsys, args, fragment):
    src = shared("ky4", "ky4_junctions.geojson")
    project = tmp_path / "k.gpkg"
    assert main(["import", "vector", str(src), "--project", str(project), *args]) == 2
    _one_line_error(capsys, fragment)
    assert not project.exists()


def test_failed_import_leaves_the_project_untouched(shared, tmp_path, capsys):
    src = shared("ky4", "ky4_junctions.geojson")
    project = tmp_path / "k.gpkg"
    assert main(["import", "vector", str(src), "--layer", "water_junctions", "--project", str(project),
                 "--id-column", "name"]) == 0
    before = project.read_bytes()
    capsys.readouterr()
    # A bad mapping, a schema violation, a bad DEM: each fails before anything is written.
    nodata = tmp_path / "empty.tif"
    _all_nodata_raster(nodata)
    for argv in (["vector", str(src), "--layer", "water_junctions", "--map", "elevation=nope"],
                 ["vector", str(src), "--layer", "water_tanks", "--map", "elevation=demand_category"],
                 ["raster", str(nodata)]):
        assert main(["import", *argv, "--project", str(project)]) == 2
        capsys.readouterr()
        assert project.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".k.gpkg")] == []
    assert load(project).count("water_junctions") == 959


def test_replacing_a_layer_says_so(shared, tmp_path):
    src = shared("ky4", "ky4_junctions.geojson")
    project = tmp_path / "k.gpkg"
    twin, _ = import_vector(src, "water_junctions", project, id_column="name")
    save(twin, project)
    twin, report = import_vector(src, "water_junctions", project, id_column="name")
    assert "layer 'water_junctions' held 959 features: replaced by the 959 from ky4_junctions.geojson" \
        in report.warnings
    assert twin.count("water_junctions") == 959


def test_repairs_and_skips_in_a_generic_file(tmp_path):
    """A bow-tie is repaired, a feature without geometry skipped, a collapsed ring skipped."""
    src = tmp_path / "blocks.geojson"
    features = [
        {"type": "Feature", "properties": {"code": "A", "h": 10},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}},
        {"type": "Feature", "properties": {"code": "B", "h": 12}, "geometry": None},
        {"type": "Feature", "properties": {"code": "C", "h": 7},
         "geometry": {"type": "Polygon", "coordinates": [[[20, 0], [30, 0], [30, 10], [20, 0]]]}},
        {"type": "Feature", "properties": {"code": "D", "h": 3},
         "geometry": {"type": "Polygon", "coordinates": [[[40, 0], [50, 0], [40, 0], [40, 0]]]}},
    ]
    src.write_text(json.dumps({"type": "FeatureCollection", "features": features,
                               "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3067"}}}))
    twin, report = import_vector(src, "buildings", tmp_path / "b.gpkg", mapping={"height": "h"},
                                 id_column="code")
    b = twin["buildings"].set_index("id")
    assert list(b.index) == ["A", "C"]
    assert b.loc["A", "geometry"].is_valid and b.loc["A", "geometry"].area == pytest.approx(50.0)
    assert twin.crs.to_epsg() == 3067
    assert "1 invalid polygons (self-intersections, touching rings) made valid: A" in report.repaired
    assert "1 features without geometry: B" in report.skipped
    assert "1 polygons with no area left after repair: D" in report.skipped


def test_parse_crs_and_local_frames():
    assert parse_crs("EPSG:3547").to_epsg() == 3547
    assert local_crs("ft").axis_info[0].unit_conversion_factor == 0.3048
    assert parse_crs("local:ftUS").axis_info[0].unit_conversion_factor == pytest.approx(US_FOOT)
    with pytest.raises(SourceError, match="unknown unit"):
        parse_crs("local:cubits")
    # every importer reads a typed CRS through this one function, and the refusal names the option given
    with pytest.raises(SourceError, match=r"^--to-crs local:cubits: unknown unit"):
        parse_crs("local:cubits", "--to-crs")
    with pytest.raises(SourceError, match=r"^--crs 'EPSG:99999999': not a coordinate reference system"):
        parse_crs("EPSG:99999999")


# ---------------------------------------------------------------- rasters
def _all_nodata_raster(path):
    data = np.full((20, 30), -9999.0, dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=1, dtype="float32",
                       crs="EPSG:3067", transform=Affine(10, 0, 380000, 0, -10, 6670000), nodata=-9999.0) as dst:
        dst.write(data, 1)


def test_all_nodata_raster_is_refused(tmp_path, capsys):
    tif = tmp_path / "empty.tif"
    _all_nodata_raster(tif)
    project = tmp_path / "p.gpkg"
    with pytest.raises(SourceError, match=r"empty\.tif: raster has no data \(every cell is nodata\)"):
        import_raster(tif, project)
    assert main(["import", "raster", str(tif), "--project", str(project)]) == 2
    _one_line_error(capsys, str(tif), "every cell is nodata")
    assert not project.exists()


def test_raster_without_crs_needs_one(tmp_path, capsys):
    tif = tmp_path / "nocrs.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32",
                       transform=Affine(2, 0, 0, 0, -2, 6), nodata=-1) as dst:
        dst.write(np.arange(12, dtype="float32").reshape(3, 4) + 10, 1)
    assert main(["import", "raster", str(tif), "--project", str(tmp_path / "p.gpkg")]) == 2
    _one_line_error(capsys, "no CRS", "--crs")
    twin, report = import_raster(tif, tmp_path / "p.gpkg", crs="local:ft", z_factor=0.3048)
    assert twin.terrain.cell_size == pytest.approx((2 * 0.3048, 2 * 0.3048))
    assert np.nanmax(twin.terrain.heights) == pytest.approx(21 * 0.3048)


def test_ky4_dem_into_a_new_project_converted_from_feet(shared, tmp_path):
    tif = shared("ky4", "ky4_elevation.tif")
    twin, report = import_raster(tif, tmp_path / "d.gpkg")
    with rasterio.open(tif) as src:
        raw = src.read(1, masked=True).astype(float).filled(np.nan)
    assert twin.crs.to_epsg() == 3546 and twin.terrain.crs.to_epsg() == 3546
    # Nothing says which unit the heights are in: the CRS's US feet is the reported guess.
    assert any("heights taken as US survey foot like the raster's CRS" in g for g in report.guessed)
    assert np.nanmedian(twin.terrain.heights) == pytest.approx(np.nanmedian(raw) * US_FOOT, rel=0.01)
    assert twin.terrain.cell_size[0] == pytest.approx(90.98 * US_FOOT, rel=0.01)
    # An explicit factor is obeyed.
    twin1, report1 = import_raster(tif, tmp_path / "d1.gpkg", z_factor=1.0)
    assert np.nanmax(twin1.terrain.heights) == pytest.approx(np.nanmax(raw), rel=0.01)
    assert not any("heights taken" in g for g in report1.guessed)


def test_ky4_dem_unit_is_checked_against_the_junctions(shared, tmp_path, capsys):
    """ky4's DEM is in metres although its CRS is in feet: the junction elevations tell."""
    project = tmp_path / "k.gpkg"
    assert main(["import", "vector", str(shared("ky4", "ky4_junctions.geojson")), "--layer",
                 "water_junctions", "--project", str(project), "--id-column", "name"]) == 0
    capsys.readouterr()
    tif = shared("ky4", "ky4_elevation.tif")
    assert main(["import", "raster", str(tif), "--project", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"water_junctions": 959, "terrain": 1}
    assert any("heights taken as metres: they agree with 959 water node elevations" in g
               for g in report["guessed"])
    twin = load(project)
    j = twin["water_junctions"]
    diff = (j["terrain_elevation"] - j["elevation"]).abs()
    assert diff.median() < 2.0  # metres against metres
    assert (j["burial_depth"] == j["terrain_elevation"] - j["elevation"]).all()


def test_replacing_the_dem_says_so(shared, tmp_path):
    tif = shared("ky4", "ky4_elevation.tif")
    project = tmp_path / "d.gpkg"
    twin, _ = import_raster(tif, project, z_factor=1.0)
    save(twin, project)
    _, report = import_raster(tif, project, z_factor=1.0)
    assert any("DEM" in w and "is replaced" in w for w in report.warnings)


def test_unknown_layer_is_a_layer_error(tmp_path):
    with pytest.raises(LayerError, match="unknown twin layer 'roadz'"):
        import_vector(tmp_path / "x.geojson", "roadz", tmp_path / "p.gpkg")


def test_multipoints_become_points_in_order(tmp_path):
    src = tmp_path / "hydrants.geojson"
    src.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3067"}},
        "features": [
            {"type": "Feature", "properties": {"id": "a"},
             "geometry": {"type": "MultiPoint", "coordinates": [[385500, 6672000]]}},
            {"type": "Feature", "properties": {"id": "b"},
             "geometry": {"type": "MultiPoint", "coordinates": [[385600, 6672000], [385700, 6672000]]}},
            {"type": "Feature", "properties": {"id": "c"},
             "geometry": {"type": "Point", "coordinates": [385800, 6672000]}}]}))
    twin, report = import_vector(src, "hydrants", tmp_path / "h.gpkg")
    h = twin["hydrants"]
    assert list(h["id"]) == ["a", "b/1", "b/2", "c"]
    assert list(h.geometry.x) == [385500, 385600, 385700, 385800]
    assert set(h.geom_type) == {"Point"}
    assert "1 multi-point features split into one point each (ids '<id>/1', '<id>/2', ...)" in report.guessed


def test_missing_required_column_says_which_map_fixes_it(tmp_path, capsys):
    src = tmp_path / "mains.geojson"
    gpd.GeoDataFrame({"name": ["P1"], "from_node": ["A"], "to_node": ["B"], "diameter": [0.2]},
                     geometry=[LineString([(0, 0), (100, 0)])], crs="EPSG:3067").to_file(src)
    project = tmp_path / "p.gpkg"
    assert main(["import", "vector", str(src), "--layer", "water_pipes", "--project", str(project)]) == 2
    _one_line_error(capsys, f"{src}: layer 'water_pipes' needs column 'start_node': map a source column to it, "
                            "e.g. --map start_node=<column> (source columns: name, from_node, to_node, diameter)")
    assert not project.exists()
    assert main(["import", "vector", str(src), "--layer", "water_pipes", "--project", str(project),
                 "--map", "start_node=from_node", "--map", "end_node=to_node", "--id-column", "name"]) == 0
    assert load(project)["water_pipes"][["id", "start_node", "end_node"]].values.tolist() == [["P1", "A", "B"]]


def test_raster_with_a_wrong_crs_is_refused(tmp_path, capsys):
    """State-plane feet declared as UTM 16N metres: the grid would lie in the Atlantic."""
    tif = tmp_path / "dem.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32",
                       transform=Affine(30, 0, 4_960_000, 0, -30, 3_900_000), nodata=-1) as dst:
        dst.write(np.full((3, 4), 250.0, dtype="float32"), 1)
    project = tmp_path / "p.gpkg"
    assert main(["import", "raster", str(tif), "--crs", "EPSG:32616", "--project", str(project)]) == 2
    _one_line_error(capsys, f"{tif}: 4 of 4 coordinates lie outside the area of use of --crs EPSG:32616")
    assert not project.exists()
    twin, _ = import_raster(tif, project, crs="EPSG:3547", z_factor=0.3048)  # the right CRS is accepted
    assert twin.terrain is not None and twin.crs.to_epsg() == 3546


def test_new_project_crs_in_degrees_and_terrain_as_a_layer_name_the_fix(tmp_path, capsys):
    src = tmp_path / "h.geojson"
    gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(385_000, 6_672_000)], crs="EPSG:3067").to_file(src)
    project = tmp_path / "p.gpkg"
    assert main(["import", "vector", str(src), "--layer", "hydrants", "--project", str(project),
                 "--to-crs", "EPSG:4326"]) == 2
    _one_line_error(capsys, "--to-crs EPSG:4326: a project's CRS must be projected in metres (EPSG:4326 is not)")
    assert main(["import", "vector", str(src), "--layer", "terrain", "--project", str(project)]) == 2
    _one_line_error(capsys, "unknown twin layer 'terrain'", "the terrain is set with 'lifeline-twin import raster'")
    assert not project.exists()


def test_list_valued_attributes_are_kept_as_json(tmp_path):
    src = tmp_path / "lists.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "h1", "tags": ["a", "ä b"]},
         "geometry": {"type": "Point", "coordinates": [24.94, 60.17]}},
        {"type": "Feature", "properties": {"id": "h2", "tags": ["c"]},
         "geometry": {"type": "Point", "coordinates": [24.95, 60.17]}}]}))
    twin, _ = import_vector(src, "hydrants", tmp_path / "p.gpkg")
    save(twin, tmp_path / "p.gpkg")
    tags = load(tmp_path / "p.gpkg")["hydrants"].set_index("id")["tags"]
    assert [json.loads(tags[i]) for i in ("h1", "h2")] == [["a", "ä b"], ["c"]]


def test_an_empty_source_never_empties_a_project_layer(tmp_path, capsys):
    project = tmp_path / "p.gpkg"
    src = tmp_path / "pipes.gpkg"
    columns = {"start_node": ["a"], "end_node": ["b"], "diameter": [0.2]}
    gpd.GeoDataFrame(columns, geometry=[LineString([(385_000, 6_672_000), (385_100, 6_672_000)])],
                     crs="EPSG:3067").to_file(src, layer="pipes")
    assert main(["import", "vector", str(src), "--layer", "water_pipes", "--project", str(project)]) == 0
    before = project.read_bytes()
    empty = tmp_path / "none.gpkg"
    gpd.GeoDataFrame({k: gpd.pd.Series([], dtype=type(v[0])) for k, v in columns.items()},
                     geometry=gpd.GeoSeries([], crs="EPSG:3067")).to_file(empty, layer="pipes")
    capsys.readouterr()
    assert main(["import", "vector", str(empty), "--layer", "water_pipes", "--project", str(project)]) == 2
    _one_line_error(capsys, f"{empty}: no features to import into 'water_pipes' (the source layer is empty)")
    assert project.read_bytes() == before
    assert len(load(project)["water_pipes"]) == 1
