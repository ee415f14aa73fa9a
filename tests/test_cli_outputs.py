"""An output folder that cannot be made (a read-only or full disk) is one clear error, not an internal one."""

from __future__ import annotations

import errno
from pathlib import Path

import wntr

from app.cli import main

NET1 = Path(wntr.__file__).parent / "library" / "networks" / "Net1.inp"


def test_an_output_folder_on_a_read_only_disk_is_one_error_naming_it(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ro" / "sub"

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["hydraulics", "run", str(NET1), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"lifeline-twin hydraulics: error: {out}: cannot write there (Read-only file system)\n"
    assert not (tmp_path / "ro").exists()
