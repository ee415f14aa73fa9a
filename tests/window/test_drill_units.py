"""Response units on the map in a drill: drawn where the run has them, right-click one to send it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .waiting import drill_clock as _clock, wait

pytestmark = pytest.mark.qt

DRILL = Path(__file__).resolve().parents[2] / "scenarios" / "drills" / "main-burst-drill.yaml"
DAY = "2026-06-01T"


def test_units_are_on_the_map_and_a_right_click_sends_one(window, qapp):
    p = window.panels["drill"]
    assert p.open_drill(DRILL) is not None, window.log_panel.toPlainText()
    wait(qapp, lambda: p.playback is not None)
    try:
        _clock(window, qapp, "07:10:00")
        vehicles = window.view_model.vehicles
        fleet = p.playback.session.state["units"]
        assert set(vehicles) == set(fleet) and len(vehicles) == 27
        assert {v.status for v in vehicles.values()} == {"at_station"}
        assert window.scene.VEHICLES in window.scene.plotter.actors
        crew = "FS15/water_crew-1"
        assert (vehicles[crew].x, vehicles[crew].y) == (fleet[crew]["x"], fleet[crew]["y"])
        # the burst's incident is open from 07:31: right-click the water crew on the map and send it
        sent_at = _clock(window, qapp, "07:40:00")
        menu = p.context_menu_at(*window.scene.vehicle_position(crew))
        texts = [a.text() for a in menu.actions() if a.text()]
        assert texts[:2] == [f"{crew}: at station", f"Dispatch {crew}"]
        next(a for a in menu.actions() if a.text() == f"Dispatch {crew}").trigger()
        _clock(window, qapp, "07:42:00")
        sent = [e for e in p.playback.session.log.of("unit_dispatched") if e.get("unit") == crew]
        assert len(sent) == 1 and sent[0].time == sent_at
        assert window.view_model.vehicles[crew].status == "dispatched"
        # a unit already sent is not offered again
        menu = p.context_menu_at(*window.scene.vehicle_position(crew))
        assert not next(a for a in menu.actions() if a.text() == f"Dispatch {crew}").isEnabled()
    finally:
        window.view_model.clock.playing = False
        wait(qapp, lambda: not window.work.busy and not (p.playback and p.playback.busy))
        p.close_drill()
        window.view_model.select(None)
    assert window.view_model.vehicles == {} and window.scene.VEHICLES not in window.scene.plotter.actors
