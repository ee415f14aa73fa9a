"""The storm and the gas network in the window: the wells, the streets and the gas mains coloured on the clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .waiting import wait

pytestmark = pytest.mark.qt

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _open(window, qapp, name):
    p = window.panels["scenario"]
    job = p.open_scenario(SCENARIOS / name)
    assert job is not None, window.log_panel.toPlainText()
    wait(qapp, lambda: p.playback is not None)
    return p


def _idle(window, qapp, p) -> None:
    wait(qapp, lambda: not window.work.busy and not (p.playback and p.playback.busy))
    qapp.processEvents()


def test_a_cloudburst_colours_the_wells_and_the_streets_and_marks_the_closed_roads(window, qapp):
    p = _open(window, qapp, "cloudburst.yaml")
    try:
        s = p.playback.session
        model = window.view_model
        model.clock.time = s.start + 1.5 * 3600            # 15:00, roads closed by the water
        _idle(window, qapp, p)
        s = p.playback.session
        assert s.now == model.clock.time
        result, depth = model.values["roads"]
        assert result == "water_depth" and float(depth.max()) >= 0.30
        closed = {r for r, f in s.state["road_speed_factor"].items() if f == 0.0}
        assert set(model.highlights["roads closed by water"].ids) == closed and closed
        wells, well_depth = model.values["manholes"]
        assert wells == "water_depth" and float(np.nanmax(well_depth.to_numpy())) > 1.0
        # the 3D view draws what the model holds: the roads coloured by their water
        assert window.scene.layers["roads"].colour_by == "water_depth"
        # back before the rain: the roads dry, no road closed
        model.clock.time = s.start + 0.25 * 3600
        _idle(window, qapp, p)
        assert float(model.values["roads"][1].max()) == 0.0
        assert "roads closed by water" not in model.highlights
    finally:
        model.clock.playing = False
        _idle(window, qapp, p)
        p.close_scenario()


def test_a_gas_main_shut_off_shows_without_pressure_in_the_window(window, qapp):
    p = _open(window, qapp, "gas-leak-network.yaml")
    try:
        model = window.view_model
        s = p.playback.session
        model.clock.time = s.start + 70 * 60               # 10:40: G0234 shut, its homes without gas
        _idle(window, qapp, p)
        result, share = model.values["gas_mains"]
        assert result == "pressure_share" and np.isnan(share["G0234"])
        assert window.scene.layers["gas_mains"].colour_by == "pressure_share"
    finally:
        model.clock.playing = False
        _idle(window, qapp, p)
        p.close_scenario()
