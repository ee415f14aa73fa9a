"""Fixtures of the twin tests: small networks placed where their declared CRS is valid."""

from __future__ import annotations

import pytest
import wntr

from twin.network import transform_coordinates

#: Net1's schematic coordinates (0..70) moved into Kentucky Single Zone (ftUS, EPSG:3547),
#: next to ky4, so that ``--crs EPSG:3547`` is a true statement about them.
KENTUCKY_FT_OFFSET = (4_960_000.0, 3_900_000.0)


@pytest.fixture
def net1_ky(tmp_path, wntr_network_path):
    """Path of ``tmp_path/Net1.inp``: wntr's Net1 with coordinates inside EPSG:3547's area of use."""
    wn = wntr.network.read_inpfile(str(wntr_network_path("Net1.inp")))
    dx, dy = KENTUCKY_FT_OFFSET
    transform_coordinates(wn, lambda x, y: (x + dx, y + dy))
    path = tmp_path / "Net1.inp"
    wntr.network.write_inpfile(wn, str(path))
    return path
