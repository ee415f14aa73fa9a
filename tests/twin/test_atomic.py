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
