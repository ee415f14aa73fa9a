"""A SWMM file SWMM rejects: one clear error with SWMM's own code and message, nothing saved changed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from twin.errors import SourceError
from twin.importers.swmm import SWMM_ENGINE, import_swmm

from tests.shared_data import shared_path


@pytest.fixture
def corrupted(tmp_path):
    """A copy of Example2 whose first junction's invert is not a number."""
    text = shared_path("swmm", "Example2.inp").read_text()
    bad = text.replace("  80408            124.6 ", "  80408            12x.6 ", 1)
    assert bad != text
    path = tmp_path / "Example2-bad.inp"
    path.write_text(bad)
    return path


@pytest.mark.shared_data
def test_swmm_rejects_the_file_with_its_own_error(corrupted):
    with pytest.raises(SourceError) as err:
        import_swmm(corrupted, "local:ft")
    assert str(err.value) == (f"{corrupted}: SWMM rejects the file: ERROR 211: invalid number 12x.6 at line 31 "
                              "of [JUNC] section: 80408            12x.6      13.4       0          0          0")
    assert SWMM_ENGINE.holder is None


@pytest.mark.shared_data
def test_a_rejected_import_leaves_the_project_as_it_was(corrupted, tmp_path):
    from app.commands import import_

    project = tmp_path / "city.gpkg"
    good = argparse.Namespace(kind="swmm", model=str(shared_path("swmm", "Example2.inp")), crs="local:ft",
                              to_crs=None, name=None, out=str(project), json=True)
    assert import_.run(good) == 0
    before = project.read_bytes()
    bad = argparse.Namespace(**{**vars(good), "model": str(corrupted)})
    with pytest.raises(SourceError, match="SWMM rejects the file: ERROR 211"):
        import_.run(bad)
    assert project.read_bytes() == before
