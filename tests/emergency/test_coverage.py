"""Coverage within T minutes and MCLP station siting, checked against hand-counted grids."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from simulation.emergency.model import EmergencyModel
from twin.errors import LayerError

from .conftest import CRS, grid_twin

X0, Y0 = 500000.0, 3400000.0
N = 5


def town_with_buildings_at_nodes():
    """A 5 × 5 grid (20 s per block), one station on node (0, 0), a building 20 m east of every node."""
    twin = grid_twin(N, station_rows=[("fs1", "Corner", "station", {"engine": 1}, X0, Y0)])
    rows = []
    for i, j in itertools.product(range(N), range(N)):
        cx, cy = X0 + j * 200 + 20, Y0 + i * 200
        rows.append({"id": f"b{i}_{j}", "height": 9.0, "population": i * N + j + 1,
                     "geometry": box(cx - 5, cy - 5, cx + 5, cy + 5)})
    twin.set_layer("buildings", gpd.GeoDataFrame(rows, crs=CRS))
    return twin


def test_coverage_counts_buildings_and_people_within_t(exact):
    model = EmergencyModel.from_twin(town_with_buildings_at_nodes(), exact())
    cov = model.coverage(1.0)  # 60 s: 2 blocks (40 s) + the 20 m leg at 10 km/h (7.2 s); 3 blocks is too far
    near = [(i, j) for i, j in itertools.product(range(N), range(N)) if i + j <= 2]
    assert cov.buildings == 25 and cov.buildings_covered == len(near) == 6
    assert cov.population_covered == sum(i * N + j + 1 for i, j in near)
    assert cov.population == sum(range(1, 26))
    assert cov.best_s.min() == pytest.approx(7.2)
    assert cov.by_kind["station"]["building_share"] == pytest.approx(6 / 25)
    with pytest.raises(ValueError, match="no station of kind hospital"):
        model.coverage(1.0, ("hospital",))


def test_mclp_siting_matches_the_best_hand_placed_station(exact):
    model = EmergencyModel.from_twin(town_with_buildings_at_nodes(), exact())
    siting = model.site_stations(1, 1.0, candidates=400)
    pop = {(i, j): i * N + j + 1 for i, j in itertools.product(range(N), range(N))}
    old = {k for k in pop if k[0] + k[1] <= 2}

    def gain(c):
        return sum(p for k, p in pop.items() if k not in old and abs(k[0] - c[0]) + abs(k[1] - c[1]) <= 2)

    best = max(gain(c) for c in pop)
    total = sum(pop.values())
    assert siting.existing == 1 and siting.candidates == 25
    assert siting.before == pytest.approx(sum(pop[k] for k in old) / total)
    assert siting.after == pytest.approx((sum(pop[k] for k in old) + best) / total)
    row = siting.added.iloc[0]
    placed = (round((row.y - Y0) / 200), round((row.x - X0) / 200))
    assert gain(placed) == best == row.population_gained
    with pytest.raises(ValueError, match="--add must be at least 1"):
        model.site_stations(0, 1.0)


def test_siting_refuses_what_mclp_cannot_solve(exact):
    """Bad settings are one clear error, not PuLP's 'Infeasible' RuntimeError or a 0-minute 'solution'."""
    model = EmergencyModel.from_twin(town_with_buildings_at_nodes(), exact())
    with pytest.raises(ValueError, match=r"--candidates must be at least --add \(2\), got 1"):
        model.site_stations(2, 1.0, candidates=1)
    with pytest.raises(ValueError, match="minutes must be positive, got 0"):
        model.site_stations(1, 0.0)
    with pytest.raises(ValueError, match="unknown station kind 'hospital'"):
        model.site_stations(1, 1.0, kind="hospital")
    with pytest.raises(ValueError, match=r"only 25 reachable road node\(s\) to site 30 new station\(s\) on"):
        model.site_stations(30, 1.0, candidates=400)


def test_coverage_needs_buildings(exact):
    twin = grid_twin(3, station_rows=[("fs1", "Corner", "station", {"engine": 1}, X0, Y0)])
    twin.set_layer("buildings", twin["buildings"].iloc[:0])
    with pytest.raises(LayerError, match="layer 'buildings' is empty"):
        EmergencyModel.from_twin(twin, exact()).coverage(5)


def test_twin_without_roads_uses_straight_line_travel(exact):
    twin = grid_twin(3, station_rows=[("fs1", "Corner", "station", {"engine": 1}, X0, Y0)])
    twin.set_layer("roads", twin["roads"].iloc[:0])
    model = EmergencyModel.from_twin(twin, exact())
    assert model.graph is None
    assert any("no roads: travel time is t = 60 + 120·(d/km)^0.80 s" in n for n in model.notes)
    cov = model.coverage(3.0)
    d = np.hypot(cov.xy[:, 0] - X0, cov.xy[:, 1] - Y0)
    assert cov.best_s == pytest.approx(60 + 120 * (d / 1000) ** 0.8)
    with pytest.raises(LayerError, match="station siting needs the road graph"):
        model.site_stations(1, 3.0)
