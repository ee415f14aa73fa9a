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

from shared_data import shared_path  # noqa: E402


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
