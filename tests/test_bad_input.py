"""The bad-input suite: every command, malformed inputs the tests make themselves, one clear error each.

For each case: a non-zero exit, one to three lines on stderr naming the file
or the option, no traceback, and every file that existed before is
byte-identical afterwards.  Grows with every defect found.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import pytest

from app.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, words=()):
    """(command words, parser) for every leaf command."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words, parser
        return
    for name, child in subs[0].choices.items():
        yield from _commands(child, (*words, name))


def _numeric_options():
    out = []
    for words, parser in _commands(build_parser()):
        for action in parser._actions:
            if "number.<locals>.parse" in getattr(action.type, "__qualname__", ""):
                out.append((" ".join(words), action.option_strings[-1]))
    return out


NUMERIC = _numeric_options()


def test_every_numeric_option_is_bounded():
    # the walk found them all: every float/int option of every command (50 when this was written)
    assert len(NUMERIC) >= 50
    assert ("hydraulics fire-flow", "--flow") in NUMERIC and ("emergency run", "--days") in NUMERIC


def _emergency_conftest():
    import importlib.util

    spec = importlib.util.spec_from_file_location("emergency_conftest",
                                                  Path(__file__).parent / "emergency" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _fails_cleanly(argv, capsys, must_name: str, folder: Path | None = None):
    before = _snapshot(folder) if folder else {}
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code not in (0, None), argv
    assert 1 <= len(err) <= 3, err
    assert "Traceback" not in "\n".join(err)
    assert must_name in err[0], (must_name, err)
    if folder:
        assert _snapshot(folder) == before  # nothing that existed was changed
    return err[0]


@pytest.mark.parametrize("command, option", NUMERIC)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300"])
def test_numeric_options_refuse_non_finite_and_absurd_values(command, option, value, capsys, tmp_path):
    line = _fails_cleanly([*command.split(), f"{option}={value}"], capsys, f"argument {option}: ", tmp_path)
    assert value in line


def test_the_ranges_are_in_the_help(capsys):
    assert main(["hydraulics", "run", "--help"]) == 0
    assert "[>= 0 and <= 8784]" in " ".join(capsys.readouterr().out.split())


# ----------------------------------------------------------------------------- outputs
@pytest.fixture
def workdir(tmp_path, wntr_network_path, capsys):
    """A folder with a project, its network, a user's own GeoPackage and CSV, a damaged SQLite file."""
    import shutil

    import geopandas as gpd
    from shapely.geometry import Point

    net = tmp_path / "net1.inp"
    shutil.copy(wntr_network_path("Net1.inp"), net)
    assert main(["import", "inp", str(net), "--crs", "local:m", "-o", str(tmp_path / "city.gpkg")]) == 0
    from twin import project

    project.save(_emergency_conftest().grid_twin(4), tmp_path / "town.gpkg")  # roads, buildings, stations
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(0, 0)], crs="EPSG:3857").to_file(tmp_path / "theirs.gpkg")
    (tmp_path / "notes.csv").write_text("who,what\nme,mine\n")
    (tmp_path / "clip.mp4").write_text("not,a,movie\n")
    sqlite = (tmp_path / "city.gpkg").read_bytes()
    (tmp_path / "damaged.gpkg").write_bytes(sqlite[:4096] + b"\x00" * 8192)
    (tmp_path / "folder.gpkg").mkdir()
    capsys.readouterr()
    return tmp_path


OUTPUT_CASES = [
    # (argv with {d} for the folder, what the one line must name)
    (["sensors", "replay", "{d}/city.gpkg", "--from", "2026-01-01", "--to", "2026-01-02", "--log", "{d}/city.gpkg"],
     "--log is also the input"),
    (["sensors", "replay", "{d}/city.gpkg", "--from", "2026-01-01", "--to", "2026-01-02", "--log", "{d}/theirs.gpkg"],
     "exists and is a GeoPackage from another program"),
    (["hydraulics", "run", "{d}/city.gpkg", "--out", "{d}/notes.csv"], "--out is a file; a folder"),
    (["hydraulics", "run", "{d}/city.gpkg", "--out", "{d}/net1.inp"], "--out is a file; a folder"),
    (["emergency", "coverage", "{d}/city.gpkg", "--minutes", "5", "--out", "{d}/city.gpkg"], "--out is a file"),
    (["import", "inp", "{d}/net1.inp", "--crs", "local:m", "-o", "{d}/theirs.gpkg"],
     "exists and is a GeoPackage from another program"),
    (["import", "inp", "{d}/net1.inp", "--crs", "local:m", "-o", "{d}/damaged.gpkg"], "a damaged SQLite file"),
    (["import", "inp", "{d}/net1.inp", "--crs", "local:m", "-o", "{d}/net1.inp"], "--out is also the input"),
    (["import", "inp", "{d}/net1.inp", "--crs", "local:m", "-o", "{d}/folder.gpkg"], "is a folder"),
    (["demo", "-o", "{d}/notes.csv"], "exists and is a text (CSV) file"),
    (["render", "{d}/city.gpkg", "--out", "{d}/city.gpkg"], "--out is also the input"),
    (["render", "{d}/city.gpkg", "--out", "{d}/shot.png", "--movie", "{d}/clip.mp4"],
     "exists and is a text (CSV) file"),
    (["render", "{d}/city.gpkg", "--out", "{d}/notes.csv"], "exists and is a text (CSV) file"),
    (["start", "--headless", "--out", "{d}/notes.csv"], "notes.csv"),
]


@pytest.mark.parametrize("argv, says", OUTPUT_CASES, ids=lambda v: " ".join(v[:2]) if isinstance(v, list) else v)
def test_outputs_never_overwrite_what_is_not_ours(argv, says, workdir, capsys):
    argv = [a.replace("{d}", str(workdir)) for a in argv]
    line = _fails_cleanly(argv, capsys, says, workdir)
    assert str(workdir) in line  # the path is named


def test_start_refuses_a_users_own_demo_gpkg_before_building(tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import Point

    folder = tmp_path / "out"
    folder.mkdir()
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(0, 0)], crs="EPSG:3857").to_file(folder / "demo.gpkg")
    line = _fails_cleanly(["start", "--headless", "--out", str(folder)], capsys, "demo.gpkg", folder)
    assert "a GeoPackage from another program" in line


# ----------------------------------------------------------------------------- malformed input files
def _corpus(folder: Path) -> dict[str, Path]:
    """Malformed files of every class, made here: name -> path."""
    import random

    made = {}

    def put(name, data):
        path = folder / name
        path.write_bytes(data)
        made[name.split(".")[0]] = path

    put("empty.csv", b"")
    put("binary.csv", bytes(random.Random(7).randrange(256) for _ in range(4096)))
    put("latin1.csv", "time,type,x,y\ncaf\xe9,na\xefve,1,2\n".encode("latin-1"))
    put("header.csv", b"time,type,x,y\n")
    put("nan.csv", b"time,type,x,y,diameter_mm,id\n2024-01-01T00:00:00Z,fire,nan,inf,nan,P1\n")
    put("dupes.csv", b"a,b\n1,2\n1,2\n1,2\n")
    put("truncated.gpkg", (folder / "city.gpkg").read_bytes()[:3000])
    put("picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(200))
    import geopandas as gpd
    from shapely.geometry import Point

    gpd.GeoDataFrame({"height": [10.0]}, geometry=[Point(1, 1)], crs="EPSG:3857").to_file(
        folder / "points.geojson", driver="GeoJSON")  # wrong geometry for buildings
    made["points"] = folder / "points.geojson"
    (folder / "afolder.csv").mkdir()
    made["afolder"] = folder / "afolder.csv"
    made["theirs"] = folder / "theirs.gpkg"
    return made


#: (command, with {f} for the bad file and {d} for the work folder)
FILE_SLOTS = [
    "info {f}",
    "hydraulics run {f}",
    "hydraulics criticality {f} --sample 1",
    "render {f} --out {d}/x.png",
    "emergency run {f} --days 1",
    "emergency coverage {f} --minutes 3",
    "emergency run {d}/town.gpkg --days 1 --incidents {f}",
    "emergency run {d}/town.gpkg --days 1 --alarms {f}",
    "emergency run {d}/town.gpkg --days 1 --scenario {f}",
    "emergency history {f} --stations {f}",
    "hydraulics retrofit {d}/city.gpkg --plan {f}",
    "hydraulics segments {d}/city.gpkg --valves {f}",
    "sensors import {f} --project {d}/city.gpkg",
    "sensors replay {f} --from 2026-01-01 --to 2026-01-02",
    "import inp {f} --crs local:m -o {d}/o.gpkg",
    "import osm {f} -o {d}/o2.gpkg",
    "import vector {f} --layer buildings --project {d}/city.gpkg",
    "import raster {f} --project {d}/city.gpkg",
    "import micropolis {f} -o {d}/m.gpkg",
    "hydraulics fire-flow {f} --sample 1",
    "hydraulics break {f} --pipe P1",
    "hydraulics quality {f}",
    "emergency site-stations {f} --add 1",
    "sensors detect-leaks {f}",
    "run {f} --out {d}/run-out",
]
KINDS = ["empty", "binary", "latin1", "header", "nan", "dupes", "truncated", "afolder", "theirs", "picture",
         "points"]
#: (slot, kind) pairs that are valid input, not malformed: skipped with the reason.
ACCEPTED = {
    ("sensors import {f} --project {d}/city.gpkg", "dupes"): "a wide table: two sensors a and b",
}


@pytest.mark.parametrize("slot", FILE_SLOTS)
def test_malformed_files_get_one_line_naming_them(slot, workdir, capsys):
    corpus = _corpus(workdir)
    problems = []
    for kind in KINDS:
        if (slot, kind) in ACCEPTED:
            continue
        bad = corpus[kind]
        argv = slot.replace("{f}", str(bad)).replace("{d}", str(workdir)).split()
        before = _snapshot(workdir)
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        where = bad.name
        if code in (0, None) or not 1 <= len(err) <= 3 or "Traceback" in "\n".join(err) \
                or where not in err[0] or "internal error" in err[0] or _snapshot(workdir) != before:
            problems.append(f"{kind}: exit {code}: {' | '.join(err)[:300]}")
    assert not problems, "\n".join(problems)
