"""Saves keep what they do not understand: other programs' tables, the file's mode and links,
one writer at a time, no litter from killed saves, and file names that are not UTF-8."""

import os
import sqlite3
import subprocess
import sys
import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from twin import project
from twin.errors import ProjectError
from twin.model import Twin
from twin.terrain import Terrain

CRS = "EPSG:3088"

#: The table QGIS makes when a style is saved "in the datasource database" of a GeoPackage.
QGIS_LAYER_STYLES = """CREATE TABLE "layer_styles" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "f_table_catalog" TEXT(256), "f_table_schema" TEXT(256),
    "f_table_name" TEXT(256), "f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT,
    "styleSLD" TEXT, "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30),
    "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


def small_twin(name="town"):
    twin = Twin(name, CRS)
    twin.set_layer("fire_stations", gpd.GeoDataFrame(
        {"id": ["fs1", "fs2"], "name": ["Station 1", "站 2"], "kind": ["micro_station", "station"],
         "units": ['{"micro_engine": 1}', "{}"]}, geometry=[Point(50, 50), Point(150, 80)], crs=CRS))
    twin.terrain = Terrain.from_points(np.array([0.0, 200, 0, 200]), np.array([0.0, 0, 200, 200]),
                                       np.array([1.0, 2, 3, 4]), twin.crs, cell=50)
    return twin


def add_foreign_tables(path):
    """What other programs add to a project: a plain table, a GDAL attribute layer, QGIS styles, metadata."""
    pyogrio.write_dataframe(pd.DataFrame({"site": ["s1", "s2", "s3"], "score": [1.5, 2.0, None]}), path,
                            layer="inspections", driver="GPKG", layer_metadata={"AUTHOR": "inspector"})
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB, weight REAL)")
    con.execute("CREATE INDEX notes_body ON notes (body)")
    con.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)",
                    [(3, "valve 12 sticks", b"\x00\xff\x10", 0.1), (7, "ポンプ", None, 2.5)])
    con.execute("CREATE TABLE log (at TEXT, what)")  # no primary key: rowids must survive too
    con.executemany("INSERT INTO log VALUES (?, ?)", [("08:00", 1), ("08:01", "x"), ("08:02", 3.25)])
    con.execute("DELETE FROM log WHERE what = 1")
    con.execute("CREATE VIEW long_notes AS SELECT id, body FROM notes WHERE length(body) > 5")
    con.execute(QGIS_LAYER_STYLES)
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                "VALUES ('layer_styles', 'attributes', 'layer_styles', '', '2026-05-01T08:00:00.000Z')")
    con.execute("INSERT INTO gpkg_ogr_contents VALUES ('layer_styles', 2)")
    con.executemany("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                    "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                    "VALUES ('', '', ?, 'geom', ?, ?, '', ?, '', '', NULL, '2026-05-01T08:00:00.000Z')",
                    [("fire_stations", "stations", "<qgis version='3.34'><renderer-v2/></qgis>", 1),
                     ("fire_stations", "stations bw", "<qgis version='3.34'/>", 0)])
    con.execute("INSERT INTO gpkg_metadata (id, md_scope, md_standard_uri, mime_type, metadata) VALUES "
                "(7, 'dataset', 'http://mrcc.com/qgis.dtd', 'text/xml', '<qgis><abstract>Stations</abstract></qgis>')")
    con.execute("INSERT INTO gpkg_metadata_reference VALUES "
                "('table', 'fire_stations', NULL, NULL, '2026-05-01T08:00:00.000Z', 7, NULL)")
    con.commit()
    con.close()


FOREIGN = ["inspections", "layer_styles", "log", "long_notes", "notes"]


def snapshot(path):
    """Everything the foreign tables are in the file: SQL, rows with rowids, registrations, metadata."""
    con = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(FOREIGN))
        shot = {"sql": sorted(con.execute(f"SELECT type, name, tbl_name, sql FROM sqlite_master "
                                          f"WHERE tbl_name IN ({marks})", FOREIGN).fetchall(), key=repr)}
        for table in FOREIGN:
            rowid = "" if table == "long_notes" else "rowid, "
            shot[table] = con.execute(f"SELECT {rowid}* FROM {table}").fetchall()
        for table in ("gpkg_contents", "gpkg_ogr_contents", "sqlite_sequence"):
            key = "name" if table == "sqlite_sequence" else "table_name"
            shot[table] = sorted(con.execute(f"SELECT * FROM {table} WHERE {key} IN ({marks})", FOREIGN).fetchall())
        shot["metadata"] = con.execute("SELECT * FROM gpkg_metadata ORDER BY id").fetchall()
        shot["references"] = con.execute("SELECT * FROM gpkg_metadata_reference ORDER BY rowid").fetchall()
        shot["extensions"] = sorted(con.execute("SELECT * FROM gpkg_extensions WHERE table_name LIKE 'gpkg_meta%'"))
    finally:
        con.close()
    return shot


def test_a_resave_keeps_other_programs_tables_rows_and_registrations(tmp_path):
    path = project.save(small_twin(), tmp_path / "city.gpkg")
    add_foreign_tables(path)
    before = snapshot(path)
    assert before["metadata"][0][2] == "http://gdal.org" and len(before["metadata"]) == 2  # GDAL's and QGIS's
    assert project.foreign_tables(path) == sorted(FOREIGN + ["gpkg_metadata", "gpkg_metadata_reference"])

    twin = project.load(path)
    twin.name = "renamed town"
    twin.set_layer("fire_stations", twin["fire_stations"].iloc[:1])
    project.save(twin, path)

    assert snapshot(path) == before
    back = project.load(path)
    assert back.name == "renamed town" and back["fire_stations"]["id"].tolist() == ["fs1"]
    assert project.terrain_equal(back.terrain, twin.terrain)
    layers = dict(pyogrio.list_layers(path))  # as QGIS lists them, through GDAL
    assert {"inspections", "layer_styles", "fire_stations"} <= set(layers) and layers["layer_styles"] is None
    frame = pyogrio.read_dataframe(path, layer="inspections")
    assert frame["site"].tolist() == ["s1", "s2", "s3"] and frame["score"].tolist()[:2] == [1.5, 2.0]
    assert pyogrio.read_info(path, layer="layer_styles")["features"] == 2
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.execute("INSERT INTO inspections (site, score) VALUES ('s4', 4.0)")  # GDAL's count trigger still runs
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='inspections'").fetchone() \
            == (4,)
        assert con.execute("SELECT * FROM long_notes").fetchall() == [(3, "valve 12 sticks")]
    finally:
        con.close()
    # A project without them is left without them.
    fresh = project.save(small_twin(), tmp_path / "fresh.gpkg")
    assert project.foreign_tables(fresh) == []


def test_another_programs_map_layers_are_refused_naming_them(tmp_path):
    path = project.save(small_twin(), tmp_path / "city.gpkg")
    add_foreign_tables(path)
    gpd.GeoDataFrame({"owner": ["A"]}, geometry=[Point(0, 0)], crs=CRS).to_file(path, layer="parcels", mode="a")
    before = path.read_bytes()
    with pytest.raises(ProjectError) as refused:
        project.save(project.load(path), path)
    assert str(refused.value) == (
        f"{path}: holds tables that are not twin layers (parcels), added by another program; saving would drop "
        "them: Lifeline Twin keeps other programs' attribute tables, styles and metadata, but not their map "
        "layers (feature, tile or virtual tables); copy them to another file and remove them from the project "
        "first")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]


def test_a_resave_keeps_the_mode_and_writes_through_a_symlink(tmp_path):
    real_dir, link_dir = tmp_path / "data", tmp_path / "work"
    real_dir.mkdir()
    link_dir.mkdir()
    real = project.save(small_twin("first"), real_dir / "city.gpkg")
    os.chmod(real, 0o640)
    link = link_dir / "city.gpkg"
    link.symlink_to(real)

    project.save(small_twin("second"), link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert project.load(real).name == "second"
    assert oct(os.stat(real).st_mode & 0o7777) == oct(0o640)
    assert sorted(p.name for p in real_dir.iterdir()) == ["city.gpkg"]
    assert sorted(p.name for p in link_dir.iterdir()) == ["city.gpkg"]

    os.chmod(real, 0o604)
    twin = project.load(link)
    project.save(twin, link)  # loaded through the link: its stamp is the target's
    assert oct(os.stat(real).st_mode & 0o7777) == oct(0o604) and link.is_symlink()


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_save_while_one_holds_the_lock_is_refused(tmp_path):
    path = project.save(small_twin("first"), tmp_path / "city.gpkg")
    before = path.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "city.gpkg.lock")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(ProjectError) as refused:
            project.save(small_twin("second"), path)
        assert str(refused.value) == (
            f"{path}: another save of this project is in progress (pid {holder.pid}); nothing was saved: wait "
            "for it to finish, then load the project again (saving now would overwrite what it writes)")
        assert path.read_bytes() == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    project.save(small_twin("second"), path)
    assert project.load(path).name == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.gpkg"]  # the lock file is not left behind


def test_two_concurrent_saves_in_one_process_cannot_both_succeed(tmp_path, monkeypatch):
    path = project.save(small_twin("first"), tmp_path / "city.gpkg")
    writing, finish = threading.Event(), threading.Event()
    real_write = project._write

    def slow_write(twin, tmp):
        writing.set()
        assert finish.wait(60)
        real_write(twin, tmp)

    monkeypatch.setattr(project, "_write", slow_write)
    errors = []
    first = threading.Thread(target=lambda: errors.append(project.save(small_twin("slow"), path)))
    first.start()
    try:
        assert writing.wait(60)
        monkeypatch.setattr(project, "_write", real_write)
        with pytest.raises(ProjectError, match=rf"^{path}: another save of this project is in progress "
                                               rf"\(pid {os.getpid()}\); nothing was saved"):
            project.save(small_twin("fast"), path)
    finally:
        finish.set()
        first.join(60)
    assert errors == [path]
    assert project.load(path).name == "slow"


def test_saving_over_a_change_made_since_loading_is_refused(tmp_path):
    path = project.save(small_twin("first"), tmp_path / "city.gpkg")
    mine, theirs = project.load(path), project.load(path)
    theirs.name = "theirs"
    project.save(theirs, path)
    before = path.read_bytes()
    mine.name = "mine"
    with pytest.raises(ProjectError, match=rf"^{path}: changed on disk since this twin was loaded from it "
                                           r"\(written at [0-9: -]+, by another program or another save\); saving "
                                           "would overwrite that change, so nothing was saved: load the project "
                                           "again and redo the edits, or save to another file$"):
        project.save(mine, path)
    assert path.read_bytes() == before
    project.save(theirs, path)  # the writer that won keeps saving: its stamp follows its saves
    project.save(theirs, path)
    assert project.save(mine, tmp_path / "mine.gpkg").exists()  # saving elsewhere is fine
    project.save(small_twin("built in memory"), path)  # a twin not loaded from it replaces it, as before
    assert project.load(path).name == "built in memory"
    other = project.save(small_twin("other"), tmp_path / "other.gpkg")
    project.save(project.load(path), other)  # over a project it was not loaded from: replaced
    assert project.load(other).name == "built in memory"


def test_temporary_files_of_killed_saves_are_removed_but_not_those_of_live_ones(tmp_path):
    path = project.save(small_twin("first"), tmp_path / "city.gpkg")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        stale = [tmp_path / f".city.{gone.pid}.tmp.gpkg", tmp_path / f".city.{gone.pid}.tmp.gpkg-journal"]
        live = tmp_path / f".city.{alive.pid}.tmp.gpkg"
        other = tmp_path / f".town.{gone.pid}.tmp.gpkg"  # another project's
        for p in (*stale, live, other):
            p.write_bytes(b"SQLite format 3\x00 half a file")
        project.save(small_twin("second"), path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["city.gpkg", live.name, other.name])
    finally:
        alive.stdin.close()
        alive.wait(timeout=30)
    assert project.load(path).name == "second"


def test_a_project_whose_name_is_not_utf8_opens_and_saves(tmp_path):
    folder = os.fsdecode(os.fsencode(tmp_path) + b"/d\xe9p\xf4t")
    name = os.path.join(folder, os.fsdecode(b"caf\xe9.gpkg"))
    try:
        os.mkdir(folder)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system does not take names that are not UTF-8")
    path = project.save(small_twin("café"), name)
    assert os.listdir(os.fsencode(folder)) == [b"caf\xe9.gpkg"]
    twin = project.load(path)
    assert twin.name == "café" and twin["fire_stations"]["id"].tolist() == ["fs1", "fs2"]
    assert project.terrain_equal(twin.terrain, small_twin().terrain)
    with sqlite3.connect(os.fsencode(path)) as con:  # another program adds a table
        con.execute("CREATE TABLE notes (body TEXT)")
        con.execute("INSERT INTO notes VALUES ('kept')")
    con.close()
    twin = project.load(path)
    twin.name = "café 2"
    os.chmod(path, 0o600)
    project.save(twin, path)
    assert project.load(path).name == "café 2"
    assert project.foreign_tables(path) == ["notes"]
    with sqlite3.connect(os.fsencode(path)) as con:
        assert con.execute("SELECT * FROM notes").fetchall() == [("kept",)]
    con.close()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(os.fsencode(folder)) == [b"caf\xe9.gpkg"]
