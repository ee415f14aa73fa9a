"""Fixtures shared by every test: real data, small real twins.

Data from ``../shared/data`` is read in place, never copied into the project.
When that folder is absent, tests needing it are skipped with the reason; with
``CI=true`` they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("PYTEST_QT_API", "pyqt6")

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


@pytest.fixture
def shared():
    """``shared("ky4", "ky4.inp")`` -> the path, skipping/failing as documented."""
    return shared_path


@pytest.fixture(scope="session")
def wntr_network_path():
    """Path of a network that ships inside the wntr package (Net3, ky10...)."""
    import wntr

    base = Path(wntr.__path__[0]) / "library" / "networks"

    def get(name: str) -> Path:
        return base / name

    return get


@pytest.fixture(scope="session")
def demo_twin():
    """The built-in demo city (seed 7), built once per test session.

    Shared by every test that asks for it: treat it as read-only, and
    ``copy.deepcopy`` it before changing layers or the network.
    """
    from twin.demo import build_demo

    return build_demo(seed=7)
