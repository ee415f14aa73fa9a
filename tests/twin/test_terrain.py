"""Terrain sampling: bilinear between cell centres, the edge height held to the border, NaN outside."""

import numpy as np
import pytest
from affine import Affine

from twin.terrain import Terrain


@pytest.fixture
def ramp():
    """3 columns of 10 m cells rising 100 m a column eastwards; 2 rows, so north-south is flat."""
    return Terrain(np.array([[0.0, 100.0, 200.0], [0.0, 100.0, 200.0]]), Affine(10, 0, 0, 0, -10, 20), "EPSG:3088")


def test_bilinear_between_centres(ramp):
    x = [5.0, 10.0, 12.5, 15.0, 25.0]
    assert ramp.sample(x, [10.0] * 5).tolist() == [0.0, 50.0, 75.0, 100.0, 200.0]


def test_outer_half_cells_hold_the_edge_height(ramp):
    # West of the first centre (x < 5) and east of the last (x > 25) the edge cell's height holds.
    assert ramp.sample([0.0, 0.5, 2.0, 4.9], [10.0] * 4).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert ramp.sample([25.1, 29.5, 30.0], [10.0] * 3).tolist() == [200.0, 200.0, 200.0]
    north_south = Terrain(np.array([[0.0, 0.0], [100.0, 100.0], [200.0, 200.0]]),
                          Affine(10, 0, 0, 0, -10, 30), "EPSG:3088")
    # North of the first row's centre (y > 25) and south of the last (y < 5).
    assert north_south.sample([10.0] * 6, [30.0, 29.5, 26.0, 20.0, 15.0, 0.5]).tolist() == \
        [0.0, 0.0, 0.0, 50.0, 100.0, 200.0]


def test_outside_the_grid_and_next_to_nodata_is_nan(ramp):
    out = ramp.sample([-0.1, 30.1, 15.0, 15.0], [10.0, 10.0, 20.1, -0.1])
    assert np.isnan(out).all()
    holed = Terrain(ramp.heights.copy(), ramp.transform, ramp.crs)
    holed.heights[0, 2] = np.nan
    z = holed.sample([5.0, 20.0, 25.0], [15.0, 15.0, 15.0])
    assert z[0] == 0.0 and np.isnan(z[1]) and np.isnan(z[2])
