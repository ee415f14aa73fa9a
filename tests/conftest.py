"""Fixtures shared by every test: real data, small real twins, a mosquitto broker on loopback.

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

import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402



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
