"""Layer schemas: validation errors name the layer, column and file; values are normalised."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon

from twin import schema
from twin.errors import LayerError
from twin.model import Twin

CRS = "EPSG:3088"


def pipes(**over):
    data = {"id": ["p1", "p2"], "start_node": ["a", "b"], "end_node": ["b", "c"],
            "diameter": [0.2, 0.15], "install_year": [1975, None]}
    data.update(over)
    geom = [LineString([(0, 0), (10, 0)]), LineString([(10, 0), (20, 5)])]
    return gpd.GeoDataFrame(data, geometry=geom, crs=CRS)


def test_every_layer_has_a_domain_and_terrain_is_listed():
    assert set(schema.LAYER_DOMAINS) == set(schema.SCHEMAS) | {"terrain"}
    assert len(schema.LAYER_DOMAINS) == 22
    assert schema.LAYER_DOMAINS["terrain"] == "ground"
    assert schema.LAYER_DOMAINS["drone_tracks"] == "low_altitude"
    assert schema.LAYER_DOMAINS["septic_tanks"] == "underground"
    assert list(schema.LAYER_DOMAINS.values()) == sorted(schema.LAYER_DOMAINS.values(),
                                                          key=schema.DOMAINS.index)


def test_validate_normalises_types_and_adds_optional_columns():
    out = schema.validate("water_pipes", pipes(), "net.gpkg")
    assert list(out.columns[:5]) == ["id", "start_node", "end_node", "length", "diameter"]
    assert str(out["install_year"].dtype) == "Int64"
    assert out["install_year"].iloc[0] == 1975 and pd.isna(out["install_year"].iloc[1])
    assert out["material"].isna().all() and out["burial_depth"].dtype == "float64"


def test_missing_required_column_names_layer_column_and_file():
    with pytest.raises(LayerError, match=r"city\.gpkg: layer 'water_pipes' is missing required column 'diameter'"):
        schema.validate("water_pipes", pipes().drop(columns="diameter"), "city.gpkg")


def test_wrong_type_names_the_column_and_value():
    with pytest.raises(LayerError, match=r"layer 'water_pipes' column 'diameter': expected numbers, found 'wide'"):
        schema.validate("water_pipes", pipes(diameter=[0.2, "wide"]), "x.gpkg")
    with pytest.raises(LayerError, match=r"column 'install_year': expected whole numbers, found 1975.5"):
        schema.validate("water_pipes", pipes(install_year=[1975.5, 1980]), "x.gpkg")


def test_missing_crs_duplicate_ids_and_wrong_geometry_are_refused():
    with pytest.raises(LayerError, match="has no CRS"):
        schema.validate("water_pipes", pipes().set_crs(None, allow_override=True), "x.gpkg")
    with pytest.raises(LayerError, match="column 'id' repeats 'p1'"):
        schema.validate("water_pipes", pipes(id=["p1", "p1"]), "x.gpkg")
    pts = gpd.GeoDataFrame({"id": ["b"], "height": [10.0]}, geometry=[Point(0, 0)], crs=CRS)
    with pytest.raises(LayerError, match="expects Polygon/MultiPolygon geometry, found Point"):
        schema.validate("buildings", pts, "x.gpkg")


def test_choices_are_enforced():
    mh = gpd.GeoDataFrame({"id": ["m1"], "well_type": ["volcano"]}, geometry=[Point(0, 0)], crs=CRS)
    with pytest.raises(LayerError, match="'volcano' is not one of sewer"):
        schema.validate("manholes", mh, "x.gpkg")


def test_lec_bands_give_four_levels_and_are_configurable():
    assert [schema.lec_risk_level(d) for d in (400, 200, 100, 30)] == ["red", "orange", "yellow", "blue"]
    assert schema.lec_risk_level(320) == "orange"  # D > 320 is red: the bound belongs to the lower band
    twin = Twin("t", CRS, metadata={"lec_bands": {"red": 100, "orange": 50, "yellow": 10}})
    sites = gpd.GeoDataFrame({"id": ["s1", "s2"], "name": ["gas station", "school"],
                              "category": ["gas_station", "school"], "lec_l": [3, 1], "lec_e": [6, 2],
                              "lec_c": [7, 3]}, geometry=[Point(0, 0), Point(1, 1)], crs=CRS)
    out = twin.set_layer("sites", sites)
    assert out["lec_d"].tolist() == [126.0, 6.0]
    assert out["risk_level"].tolist() == ["red", "blue"]


def test_twin_refuses_non_metric_crs_and_reprojects_layers():
    with pytest.raises(LayerError, match="not a projected CRS in metres"):
        Twin("t", "EPSG:4326")
    with pytest.raises(LayerError, match="not a projected CRS in metres"):
        Twin("t", "EPSG:3089")  # Kentucky Single Zone in US feet
    twin = Twin("t", "EPSG:3088")
    feet = pipes().set_crs("EPSG:3089", allow_override=True)
    twin.set_layer("water_pipes", feet)
    assert twin["water_pipes"].crs.to_epsg() == 3088
    # 10 ft of pipe became ~3.048 m
    assert twin["water_pipes"].geometry.iloc[0].length == pytest.approx(3.048, rel=1e-3)


def test_empty_layer_keeps_schema_and_feature_lookup():
    twin = Twin("t", CRS)
    assert list(twin["hydrants"].columns) == ["id", "node_id", "distance_to_node", "geometry"]
    twin.set_layer("water_pipes", pipes())
    assert twin.feature("water_pipes", "p2")["diameter"] == 0.15
    with pytest.raises(KeyError, match="no feature 'zz'"):
        twin.feature("water_pipes", "zz")
    with pytest.raises(LayerError, match="unknown layer 'pipes'"):
        twin.set_layer("pipes", pipes())


def test_json_fields_report_bad_json():
    assert schema.parse_json_field('{"engine": 2}', "x") == {"engine": 2}
    with pytest.raises(LayerError, match=r"fire_stations.units: not valid JSON"):
        schema.parse_json_field("{engine: 2}", "fire_stations.units")


def test_required_text_may_not_be_missing():
    line = [LineString([(0, 0), (10, 0)]), LineString([(10, 0), (20, 0)])]
    for value in (np.nan, None, pd.NA):
        roads = gpd.GeoDataFrame({"id": ["r1", "r2"], "road_class": ["primary", value], "speed_kmh": [50, 30]},
                                 geometry=line, crs=CRS)
        with pytest.raises(LayerError, match=r"^roads\.shp: layer 'roads' column 'road_class' is empty at row 1 "
                                             r"\(feature 'r2'\)$"):
            schema.validate("roads", roads, "roads.shp")
    with pytest.raises(LayerError, match=r"column 'start_node' is empty at row 0 \(feature 'p1'\)$"):
        schema.validate("water_pipes", pipes(start_node=[None, "b"]), "x.gpkg")
    # Optional text stays optional: empty name is kept as None, not refused.
    ok = schema.validate("roads", gpd.GeoDataFrame(
        {"id": ["r1"], "road_class": ["service"], "speed_kmh": [20], "name": [None]}, geometry=line[:1], crs=CRS))
    assert ok["name"].iloc[0] is None
    # An empty string is a value: a smoke detector's unit is "" (it reports alarm or not).
    smoke = gpd.GeoDataFrame({"id": ["s1"], "sensor_type": ["smoke"], "unit": [""]}, geometry=[Point(0, 0)], crs=CRS)
    assert schema.validate("sensors", smoke)["unit"].iloc[0] == ""


@pytest.mark.parametrize("layer, frame_kwargs, says", [
    ("water_pipes", {"diameter": [0.2, -0.15]}, r"column 'diameter': -0\.15 at row 1 \(feature 'p2'\); "
                                                r"the value must be above 0$"),
    ("water_pipes", {"diameter": [0.0, 0.15]}, r"column 'diameter': 0\.0 at row 0 \(feature 'p1'\); "
                                               r"the value must be above 0$"),
    ("water_pipes", {"length": [12.0, -3.0]}, r"column 'length': -3\.0 at row 1 \(feature 'p2'\); "
                                              r"the value must be at least 0$"),
])
def test_impossible_pipe_values_name_the_feature(layer, frame_kwargs, says):
    with pytest.raises(LayerError, match=r"^x\.gpkg: layer 'water_pipes' " + says):
        schema.validate(layer, pipes(**frame_kwargs), "x.gpkg")


def test_negative_sizes_and_upside_down_airspace_are_refused():
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    houses = gpd.GeoDataFrame({"id": ["b1", "b2"], "height": [6.0, -6.0]}, geometry=[square, square], crs=CRS)
    with pytest.raises(LayerError, match=r"column 'height': -6\.0 at row 1 \(feature 'b2'\); the value must be "
                                         r"at least 0$"):
        schema.validate("buildings", houses, "x.gpkg")
    houses["height"] = [6.0, 0.0]  # a zero height (unknown, flat ground feature) is allowed
    houses["population"] = [4, -1]
    with pytest.raises(LayerError, match=r"column 'population': -1 at row 1 \(feature 'b2'\)"):
        schema.validate("buildings", houses, "x.gpkg")
    zones = gpd.GeoDataFrame({"id": ["z1"], "kind": ["no_fly"], "floor_m": [300.0], "ceiling_m": [120.0]},
                             geometry=[square], crs=CRS)
    with pytest.raises(LayerError, match=r"^x\.gpkg: layer 'airspace_zones' feature 'z1': ceiling_m 120 is below "
                                         r"floor_m 300$"):
        schema.validate("airspace_zones", zones, "x.gpkg")
    zones["ceiling_m"] = [300.0]  # a zone of no thickness is odd but not impossible (a surface)
    assert schema.validate("airspace_zones", zones, "x.gpkg")["ceiling_m"].iloc[0] == 300.0
