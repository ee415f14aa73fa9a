"""The OpenStreetMap importer: Helsinki's real extract, a small hand-written .osm file, the tag parsers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from app.cli import main
from twin.errors import SourceError
from twin.importers.osm import (DEFAULT_SPEED_KMH, DRIVABLE, building_height, import_osm, oneway_of,
                                parse_height_m, parse_levels, parse_other_tags, parse_speed_kmh)
from twin.project import load

_HELSINKI: dict = {}


@pytest.fixture
def helsinki(shared):
    """Helsinki imported once for the module (read-only: tests must not change it)."""
    path = shared("osm-helsinki", "Helsinki.osm.pbf")
    if path not in _HELSINKI:
        _HELSINKI[path] = import_osm(path)
    return _HELSINKI[path]


# ---------------------------------------------------------------- Helsinki
def test_helsinki_layers_crs_and_counts(helsinki):
    twin, report = helsinki
    assert twin.summary()["crs"] == "EPSG:32635"  # UTM 35N: Helsinki is at 24.9° E
    assert twin.crs.to_epsg() == 32635
    assert report.twin_crs == "EPSG:32635" and report.source_crs == "EPSG:4326"
    # The data README's 433 counts the raw file's building *ways*.  Of those GDAL builds 431 (2 have
    # no node left in the extract), 5 have a one-node ring and 6 a zero-area ring: 420 are imported,
    # with 62 of the 67 building relations (courtyard blocks) the README does not count: 482.
    assert report.counts == {"hydrants": 37, "buildings": 482, "roads": 979}
    stats = twin.metadata["osm_import"]
    assert stats["hydrants"] == 37
    assert stats["buildings_skipped"] == 12
    assert stats["highway_ways"] == 2504
    x0, y0, x1, y1 = twin.extent
    assert 385_000 < x0 < x1 < 387_000 and 6_671_000 < y0 < y1 < 6_674_000  # central Helsinki in UTM 35N


def test_helsinki_invalid_rings_are_repaired_or_skipped_and_counted(helsinki):
    twin, report = helsinki
    stats = twin.metadata["osm_import"]
    assert stats["invalid_rings"] == 11
    assert stats["invalid_rings_repaired"] + stats["invalid_rings_skipped"] == 11
    assert any(w.startswith("11 multipolygons have invalid rings") for w in report.warnings)
    # The five buildings among them have a single node left: nothing to rebuild, so they are skipped.
    ids = set(twin["buildings"]["id"])
    for lost in ("way/22499189", "way/76315833", "way/86943008", "way/123533053", "way/242553463"):
        assert lost not in ids
        assert lost in " ".join(report.skipped)
    # Self-intersecting footprints are repaired, not dropped: every footprint is a valid area.
    assert stats["buildings_repaired"] == 11
    geoms = twin["buildings"].geometry
    assert geoms.is_valid.all()
    assert set(geoms.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (geoms.area > 0).all()


def test_helsinki_building_heights_and_their_sources(helsinki):
    twin, report = helsinki
    b = twin["buildings"].set_index("id")
    assert twin.metadata["osm_import"]["buildings_height_from"] == {"height": 17, "levels": 149, "default": 316}
    assert (b["height_source"] == "height").sum() == 17
    assert "17 from height, 149 from building:levels × 3 m, 316 default" in " ".join(report.guessed)
    # building:levels=7, no height tag: 7 storeys × 3.0 m.
    assert b.loc["relation/5603", "levels_tag"] == "7"
    assert b.loc["relation/5603", "height"] == pytest.approx(21.0)
    assert b.loc["relation/5603", "floors"] == 7
    # Hotel Torni has both: height=70 wins over 13 levels.
    assert b.loc["way/123525580", "height"] == pytest.approx(70.0)
    assert b.loc["way/123525580", "floors"] == 13
    # Kamppi Chapel: "12.13 m".
    chapel = b[b["height_tag"] == "12.13 m"]
    assert len(chapel) == 1 and chapel["height"].iloc[0] == pytest.approx(12.13)
    # Defaults by type: building=yes is 3 storeys, retail 2.
    defaults = b[b["height_source"] == "default"]
    assert (defaults.loc[defaults["building_type"] == "yes", "height"] == 9.0).all()
    assert (defaults.loc[defaults["building_type"] == "retail", "height"] == 6.0).all()
    assert (b["height"] > 0).all()


def test_helsinki_roads_are_drivable_with_speeds(helsinki):
    twin, report = helsinki
    roads = twin["roads"]
    assert set(roads["road_class"]) <= DRIVABLE
    assert not roads["road_class"].isin(["footway", "cycleway", "steps", "path"]).any()
    stats = twin.metadata["osm_import"]
    assert stats["roads_not_drivable"]["footway"] == 1058
    assert sum(stats["roads_not_drivable"].values()) + stats["roads"] == stats["highway_ways"]
    assert "1525 of 2504 highway ways are not for vehicles: footway 1058" in " ".join(report.skipped)
    by_id = roads.set_index("id")
    # Mannerheimintie (primary): maxspeed=30, one-way carriageway with 4 lanes.
    assert by_id.loc["way/22906936", "road_class"] == "primary"
    assert by_id.loc["way/22906936", "speed_kmh"] == 30.0
    assert bool(by_id.loc["way/22906936", "oneway"]) and by_id.loc["way/22906936", "lanes"] == 4
    # A secondary street tagged 40.
    assert by_id.loc["way/14472962", "speed_kmh"] == 40.0
    # Without maxspeed the class default applies and says so.
    untagged = roads[roads["speed_source"] == "default"]
    assert len(untagged) == 216
    for cls in ("service", "pedestrian"):
        assert (untagged.loc[untagged["road_class"] == cls, "speed_kmh"] == DEFAULT_SPEED_KMH[cls]).all()
    assert (roads.loc[roads["speed_source"] == "maxspeed", "speed_kmh"]
            == roads.loc[roads["speed_source"] == "maxspeed", "maxspeed_tag"].astype(float)).all()


def test_helsinki_ids_are_osm_ids(helsinki):
    twin, _ = helsinki
    assert twin["buildings"]["id"].str.fullmatch(r"(way|relation)/\d+").all()
    assert twin["roads"]["id"].str.fullmatch(r"way/\d+").all()
    assert twin["hydrants"]["id"].str.fullmatch(r"node/\d+").all()
    assert "node/612037371" in set(twin["hydrants"]["id"])
    assert (twin["buildings"]["id"].str.startswith("relation/")).sum() > 50  # courtyard blocks are relations


# ---------------------------------------------------------------- a hand-written extract
SMALL_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="lifeline-twin test">
  <node id="1" lat="60.170" lon="24.940" version="1"/>
  <node id="2" lat="60.170" lon="24.941" version="1"/>
  <node id="3" lat="60.171" lon="24.941" version="1"/>
  <node id="4" lat="60.171" lon="24.940" version="1"/>
  <node id="6" lat="60.1705" lon="24.9420" version="1"/>
  <node id="5" lat="60.172" lon="24.942" version="1">
    <tag k="emergency" v="fire_hydrant"/><tag k="fire_hydrant:type" v="pillar"/></node>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="apartments"/><tag k="building:levels" v="4"/><tag k="roof:levels" v="1"/></way>
  <way id="11" version="1"><nd ref="1"/><nd ref="3"/><nd ref="2"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="yes"/><tag k="height" v="40'"/></way>
  <way id="12" version="1"><nd ref="1"/><nd ref="99"/><nd ref="98"/><nd ref="1"/><tag k="building" v="yes"/></way>
  <way id="13" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="primary"/><tag k="oneway" v="-1"/><tag k="maxspeed" v="30 mph"/>
    <tag k="name" v="Test &quot;Street&quot;, east"/></way>
  <way id="14" version="1"><nd ref="4"/><nd ref="3"/><tag k="highway" v="residential"/>
    <tag k="maxspeed" v="FI:urban"/><tag k="lanes" v="2"/></way>
  <way id="15" version="1"><nd ref="2"/><nd ref="6"/><tag k="highway" v="footway"/></way>
  <way id="16" version="1"><nd ref="3"/><nd ref="6"/><tag k="highway" v="service"/></way>
</osm>
"""


@pytest.fixture
def small_osm(tmp_path):
    path = tmp_path / "small.osm"
    path.write_text(SMALL_OSM, encoding="utf-8")
    return path


def test_small_extract_every_rule(small_osm):
    twin, report = import_osm(small_osm, storey_height=3.5)
    assert twin.name == "small" and twin.crs.to_epsg() == 32635
    b = twin["buildings"].set_index("id")
    assert b.loc["way/10", "height"] == pytest.approx((4 + 1) * 3.5)  # levels + roof levels, × storey height
    assert b.loc["way/10", "use"] == "residential"
    # The bow-tie footprint (way 11) is repaired into a valid area, not dropped; 40 feet high.
    assert b.loc["way/11", "height"] == pytest.approx(12.192)
    assert b.loc["way/11", "geometry"].is_valid and b.loc["way/11", "geometry"].area > 0
    assert "way/12" not in b.index  # one node left: skipped and counted
    stats = twin.metadata["osm_import"]
    assert stats["invalid_rings"] == 1 and stats["invalid_rings_skipped"] == 1
    assert stats["buildings_repaired"] == 1 and stats["buildings_skipped"] == 1
    roads = twin["roads"].set_index("id")
    assert set(roads.index) == {"way/13", "way/14", "way/16"}  # the footway is left out
    assert roads.loc["way/13", "speed_kmh"] == pytest.approx(30 * 1.609344)
    assert roads.loc["way/13", "name"] == 'Test "Street", east'
    assert bool(roads.loc["way/13", "oneway"])
    # oneway=-1: drawn 1 -> 2 -> 3, driven 3 -> 2 -> 1, so the line now starts at node 3 (the NE corner).
    start = shapely.get_coordinates(roads.loc["way/13", "geometry"])[0]
    end = shapely.get_coordinates(roads.loc["way/13", "geometry"])[-1]
    assert start[1] > end[1]
    assert roads.loc["way/14", "speed_kmh"] == 50.0 and roads.loc["way/14", "speed_source"] == "maxspeed"
    assert roads.loc["way/14", "lanes"] == 2 and not bool(roads.loc["way/14", "oneway"])
    assert roads.loc["way/16", "speed_kmh"] == DEFAULT_SPEED_KMH["service"]
    assert "footway 1" in " ".join(report.skipped)
    h = twin["hydrants"]
    assert list(h["id"]) == ["node/5"] and h["hydrant_type"].iloc[0] == "pillar"


def test_cli_imports_osm_and_writes_a_project(small_osm, tmp_path, capsys):
    out = tmp_path / "small.gpkg"
    assert main(["import", "osm", str(small_osm), "-o", str(out), "--json", "--name", "Kluuvi"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"hydrants": 1, "buildings": 2, "roads": 3}
    assert report["twin_crs"] == "EPSG:32635"
    twin = load(out)
    assert twin.name == "Kluuvi"
    assert twin.feature("roads", "way/13")["speed_source"] == "maxspeed"
    assert twin.metadata["osm_import"]["invalid_rings_skipped"] == 1


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    (b"\x00\x01 this is not OpenStreetMap data \xff" * 10, "not an OpenStreetMap file"),
])
def test_cli_bad_osm_file_is_one_line_exit_2(tmp_path, capsys, content, expected):
    src = tmp_path / "broken.osm.pbf"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "x.gpkg"
    assert main(["import", "osm", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(src) in err and expected in err
    assert not out.exists()


def test_bad_storey_height_or_target_crs_is_refused(small_osm):
    with pytest.raises(SourceError, match="storey-height"):
        import_osm(small_osm, storey_height=0)
    with pytest.raises(SourceError, match="on the earth.*EPSG:32635"):
        import_osm(small_osm, to_crs="local:m")


def test_other_target_crs(small_osm):
    twin, report = import_osm(small_osm, to_crs="EPSG:3067")  # ETRS-TM35FIN, what Finnish cities use
    assert report.twin_crs == "EPSG:3067"
    x, y = twin["hydrants"].geometry.iloc[0].coords[0]
    assert 385_000 < x < 387_000 and 6_671_000 < y < 6_674_000


# ---------------------------------------------------------------- tag parsers
def test_other_tags_hstore_parsing():
    text = r'"name"=>"A \"quoted\" name, with comma","height"=>"12 m","note"=>NULL,"a=>b"=>"x\\y"'
    assert parse_other_tags(text) == {"name": 'A "quoted" name, with comma', "height": "12 m", "a=>b": "x\\y"}
    assert parse_other_tags(None) == {} and parse_other_tags(float("nan")) == {}
    assert parse_other_tags('"ok"=>"1","broken=>"2') == {"ok": "1"}


@pytest.mark.parametrize("text, metres", [
    ("12", 12.0), ("12 m", 12.0), ("12.13 m", 12.13), ("12,5", 12.5), ("40'", 12.192),
    ("40 ft", 12.192), ("12'6\"", 12 * 0.3048 + 6 * 0.0254), ("3 metres", 3.0),
    ("tall", None), ("", None), ("-3", None), ("0", None), ("5000", None), (None, None),
])
def test_height_parsing(text, metres):
    got = parse_height_m(text)
    assert got == (pytest.approx(metres) if metres is not None else None)


def test_levels_and_height_order():
    assert parse_levels("3;5") == 5 and parse_levels("2.5") == 2.5 and parse_levels("x") is None
    assert parse_levels("0") is None
    assert building_height({"building": "yes", "building:levels": "7"}, 3.0) == (21.0, "levels", 7.0)
    assert building_height({"building": "yes", "building:levels": "7", "height": "30"})[:2] == (30.0, "height")
    assert building_height({"building": "yes", "building:levels": "7", "height": "??"})[:2] == (21.0, "levels")
    assert building_height({"building": "church"})[:2] == (15.0, "default")
    assert building_height({"building": "apartments"}, 2.8)[:2] == (pytest.approx(14.0), "default")


@pytest.mark.parametrize("text, kmh", [
    ("50", 50.0), ("50 km/h", 50.0), ("30 mph", 48.28032), ("FI:urban", 50.0), ("FI:rural", 80.0),
    ("DE:zone30", 30.0), ("DE:zone:30", 30.0), ("GB:nsl_single", 96.56064), ("XX:urban", 50.0),
    ("walk", 6.0), ("50;30", 30.0), ("none", None), ("signals", None), ("fast", None),
])
def test_speed_parsing(text, kmh):
    got = parse_speed_kmh(text)
    assert got == (pytest.approx(kmh) if kmh is not None else None)


def test_oneway_rules():
    assert oneway_of({"oneway": "-1"}) == (True, True)
    assert oneway_of({"oneway": "yes"}) == (True, False)
    assert oneway_of({"oneway": "no", "highway": "motorway"}) == (False, False)
    assert oneway_of({"highway": "motorway"}) == (True, False)
    assert oneway_of({"junction": "roundabout", "highway": "primary"}) == (True, False)
    assert oneway_of({"highway": "primary"}) == (False, False)
