"""Where the public data sets live, and how tests that need them skip or fail.

Data from ``../shared/data`` is read in place, never copied into the project.
When that folder is absent, tests needing it are skipped with the reason; with
``CI=true`` they fail instead, so CI can never pass by skipping them.  Test
modules import ``shared_path`` from here (``conftest`` is not importable by
name: every test folder may have its own).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path inside ../shared/data; skip (or fail under CI=true) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"real data {path} is absent"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true: CI must run the real-data tests")
        pytest.skip(reason)
    return path
