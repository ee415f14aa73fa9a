"""Atomic replacement: the target is either the old file or the complete new one."""

import pytest

from twin import atomic


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "alarms.json"
    atomic.write(target, '{"alarms": []}')
    atomic.write(target, b'{"alarms": [1]}')
    assert target.read_bytes() == b'{"alarms": [1]}'
    assert [p.name for p in target.parent.iterdir()] == ["alarms.json"]


def test_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "readings.parquet"
    target.write_bytes(b"PAR1 old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic.replacing(target) as tmp:
            tmp.write_bytes(b"half")
            assert tmp.name.startswith(".") and tmp.suffix == ".tmp"
            raise RuntimeError("crash")
    assert target.read_bytes() == b"PAR1 old"
    assert [p.name for p in tmp_path.iterdir()] == ["readings.parquet"]


def test_keep_suffix_for_format_sniffing_writers(tmp_path):
    with atomic.replacing(tmp_path / "city.gpkg", keep_suffix=True) as tmp:
        assert tmp.suffix == ".gpkg" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "city.gpkg").read_bytes() == b"x"


@pytest.mark.parametrize("there, data, says", [
    (b"SQLite format 3\x00" + b"\x00" * 200, "time,level\n", "a damaged SQLite file"),
    (b"[TITLE]\n[JUNCTIONS]\n", "a,b\n", "an EPANET network (.inp)"),
    (b"\x89PNG\r\n", "a,b\n", "a PNG picture"),
    (b"a,b\n1,2\n", b"\x89PNG\r\n", "a text (CSV) file"),
    (b"PAR1xxxx", "a,b\n", "a Parquet file"),
])
def test_the_guard_refuses_a_file_of_another_kind(tmp_path, there, data, says):
    target = tmp_path / "out.csv"
    target.write_bytes(there)
    with pytest.raises(atomic.OutputRefused) as refused:
        atomic.write(target, data)
    assert str(refused.value).startswith(f"{target}: exists and is {says}")
    assert str(refused.value).endswith("refusing to write over it (choose another output, or move the file)")
    assert target.read_bytes() == there  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_the_guard_refuses_a_folder_and_a_file_on_the_way(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(atomic.OutputRefused, match="dir.csv: is a folder; a file is expected here"):
        atomic.write(tmp_path / "dir.csv", "a\n")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(atomic.OutputRefused, match="plain is a file, not a folder"):
        atomic.write(tmp_path / "plain" / "out.csv", "a\n")


def test_a_project_is_only_replaced_by_a_project(tmp_path):
    import sqlite3

    theirs = tmp_path / "theirs.gpkg"
    con = sqlite3.connect(theirs)
    con.execute("CREATE TABLE gpkg_contents (table_name TEXT)")
    con.commit()
    con.close()
    assert atomic.sniff(theirs) == "geopackage"
    with pytest.raises(atomic.OutputRefused, match="a GeoPackage from another program, not a Lifeline Twin project"):
        atomic.check_target(theirs, "project")


def test_someone_elses_csv_or_json_of_the_same_name_is_not_replaced(tmp_path):
    theirs = tmp_path / "pipes.csv"
    theirs.write_text("my,data\n1,2\n")
    with pytest.raises(atomic.OutputRefused) as refused:
        atomic.write(theirs, "time_s,id,flow_lps\n0,P1,3.5\n")
    assert str(refused.value) == (f"{theirs}: exists and is a CSV table this program did not write (its header "
                                  "'my,data' is not 'time_s,id,flow_lps'); refusing to write over it "
                                  "(choose another output, or move the file)")
    assert theirs.read_text() == "my,data\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pipes.csv"]  # no temporary file left
    summary = tmp_path / "summary.json"
    summary.write_text('{"owner": "me", "notes": []}')
    with pytest.raises(atomic.OutputRefused, match="its keys notes, owner are none of this output's"):
        atomic.write(summary, '{"network": "Net1", "lowest_pressure_m": 3.2}')
    assert summary.read_text() == '{"owner": "me", "notes": []}'


def test_an_earlier_output_of_the_same_table_is_replaced(tmp_path):
    # a table whose columns follow the network (one per junction) is still ours: the first column is the same
    target = tmp_path / "break_pressure.csv"
    atomic.write(target, "time_s,J1,J2\n0,30.0,31.0\n")
    atomic.write(target, "time_s,10,15,20\n0,40.0,41.0,42.0\n")
    assert target.read_text() == "time_s,10,15,20\n0,40.0,41.0,42.0\n"
    summary = tmp_path / "summary.json"
    atomic.write(summary, '{"network": "Net1", "lowest_pressure_m": 3.2}')
    atomic.write(summary, '{"network": "Net3", "notes": ["US units converted"]}')
    assert '"Net3"' in summary.read_text()


def test_a_target_that_cannot_be_written_is_refused_and_left_as_it_was(tmp_path, monkeypatch):
    import errno
    import os

    target = tmp_path / "junctions.csv"
    atomic.write(target, "time_s,id\n0,J1\n")

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(atomic.OutputRefused) as refused:
        atomic.write(target, "time_s,id\n0,J2\n")
    assert str(refused.value) == f"{target}: cannot write it (Read-only file system)"
    assert target.read_text() == "time_s,id\n0,J1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["junctions.csv"]


def _png(colour, size=(6, 4)) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_a_png_we_write_is_marked_and_still_a_picture_and_someone_elses_is_not_replaced(tmp_path):
    from PIL import Image

    ours = tmp_path / "validation.png"
    atomic.write(ours, _png("red"))
    assert atomic.png_is_ours(ours)
    with Image.open(ours) as im:   # the chunk's CRC is right: the picture still reads, the same pixels
        im.load()
        assert im.size == (6, 4) and im.getpixel((0, 0)) == (255, 0, 0)
        assert im.info["Lifeline-Twin"] == "written by Lifeline Twin"
    atomic.write(ours, _png("blue"))   # an earlier output of ours is replaced
    with Image.open(ours) as im:
        assert im.getpixel((0, 0)) == (0, 0, 255)
    assert ours.read_bytes().count(b"Lifeline-Twin") == 1
    theirs = tmp_path / "theirs.png"
    theirs.write_bytes(_png("green"))
    before = theirs.read_bytes()
    with pytest.raises(atomic.OutputRefused) as refused:
        atomic.write(theirs, _png("red"))
    assert str(refused.value) == (f"{theirs}: exists and is a PNG picture this program did not write; refusing "
                                  "to write over it (choose another output, or move the file)")
    assert theirs.read_bytes() == before
