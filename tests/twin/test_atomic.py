"""Atomic replacement: the target is either the old file or the complete new one."""

import pytest

from twin import atomic


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "alarms.json"
    atomic.write(target, '{"alarms": []}')
    atomic.write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["alarms.json"]


def test_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "readings.parquet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic.replacing(target) as tmp:
            tmp.write_bytes(b"half")
            assert tmp.name.startswith(".") and tmp.suffix == ".tmp"
            raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["readings.parquet"]


def test_keep_suffix_for_format_sniffing_writers(tmp_path):
    with atomic.replacing(tmp_path / "city.gpkg", keep_suffix=True) as tmp:
        assert tmp.suffix == ".gpkg" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "city.gpkg").read_bytes() == b"x"
