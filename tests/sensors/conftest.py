"""Fixtures for the sensor tests: a real mosquitto broker on loopback and a small twin with sensors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

MOSQUITTO = os.environ.get("LIFELINE_MOSQUITTO", "/usr/sbin/mosquitto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mosquitto(tmp_path):
    """A mosquitto broker on 127.0.0.1:<free port>; yields (host, port, stop, start)."""
    exe = MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")
    if not exe:
        reason = "mosquitto is not installed (./bootstrap install puts it in /usr/sbin)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}, and CI=true: CI must run the live MQTT tests")
        pytest.skip(reason)
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    procs = []

    def start():
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return proc
            except OSError:
                time.sleep(0.05)
        proc.kill()
        pytest.fail(f"mosquitto did not listen on port {port}")

    def stop():
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(5)

    start()
    yield "127.0.0.1", port, stop, start
    stop()


@pytest.fixture
def sensor_twin():
    """A small metric twin: manholes (sewer, gas), a septic tank, one gas main, and sensors on them."""
    from twin.model import Twin

    crs = "EPSG:32650"
    twin = Twin("sensor-town", crs)
    twin.set_layer("gas_mains", gpd.GeoDataFrame(
        {"id": ["G1"], "pressure_class": ["medium_b"]},
        geometry=[LineString([(0, 0), (100, 0)])], crs=crs))
    twin.set_layer("manholes", gpd.GeoDataFrame(
        {"id": ["MH-near", "MH-far", "MH-gas", "MH-eth"], "well_type": ["sewer", "sewer", "gas", "telecom"]},
        geometry=[Point(50, 4), Point(50, 80), Point(10, 1), Point(60, 300)], crs=crs))
    twin.set_layer("septic_tanks", gpd.GeoDataFrame(
        {"id": ["ST1"]}, geometry=[Point(200, 200)], crs=crs))
    rows = [
        ("CH4-near", "methane", "%LEL", "manholes", "MH-near", 60.0, None, (50, 4)),
        ("CH4-far", "methane", "%LEL", "manholes", "MH-far", 60.0, None, (50, 80)),
        ("CH4-gaswell", "methane", "%LEL", "manholes", "MH-gas", 60.0, None, (10, 1)),
        ("CH4-septic", "methane", "%LEL", "septic_tanks", "ST1", 60.0, None, (200, 200)),
        ("CH4-eth", "methane", "%LEL", "manholes", "MH-eth", 60.0, None, (60, 300)),
        ("C2H6-eth", "ethane", "ppm", "manholes", "MH-eth", 60.0, None, (60, 300)),
        ("PT-1", "pressure", "m", "water_junctions", "J1", 300.0, None, (5, 5)),
        ("PT-2", "pressure", "m", "water_junctions", "J2", 300.0, '{"low": {"red": 8}, "debounce": 1}', (6, 6)),
        ("SM-1", "smoke", "%obs/m", "buildings", "B1", 10.0, None, (7, 7)),
    ]
    twin.set_layer("sensors", gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "sensor_type": [r[1] for r in rows], "unit": [r[2] for r in rows],
         "layer": [r[3] for r in rows], "feature_id": [r[4] for r in rows], "period_s": [r[5] for r in rows],
         "thresholds": [r[6] for r in rows]},
        geometry=[Point(*r[7]) for r in rows], crs=crs))
    return twin
