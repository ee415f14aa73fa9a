"""The README's pictures of the desktop window, taken from the window itself on the demo city.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python docs/window_pictures.py [--out assets]

Opens the window (1600 x 1000) on the demo city (seed 7), then:

* ``window-burst.png``: the main-burst scenario at 07:52, the burst's red
  alarms in the alarm panel, junction pressures on the 3D view and sensor
  PT001 plotted over the model;
* ``window-underground.png``: the same moment in underground mode from the
  underground camera, with a threshold query (pressure < 20 m) highlighted.

Pictures are written atomically and only over pictures (never over another kind of file).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
os.environ["LIFELINE_TWIN_NO_DIALOGS"] = "1"


def wait(app, until, timeout_s: float = 180.0, what: str = "") -> None:
    t0 = time.monotonic()
    while not until():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"window pictures: gave up waiting for {what}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "assets"), help="folder for the pictures (default assets/)")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        sys.exit("window_pictures: needs a display; run under xvfb-run")
    out = Path(args.out)
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.window import build_window
    from twin.demo import build_demo

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = build_window(settings=settings)
        window.resize(1600, 1000)
        window.show()
        window.open_twin(build_demo(seed=7))
        app.processEvents()
        scenario = window.panels["scenario"]
        scenario.open_scenario(ROOT / "scenarios" / "main-burst.yaml")
        wait(app, lambda: scenario.playback is not None and not window.work.busy, what="the scenario to open")
        pb = scenario.playback
        clock = window.view_model.clock
        clock.time = pb.session.start + 7 * 3600 + 52 * 60
        wait(app, lambda: not window.work.busy and pb.session.now >= clock.time - 1, what="07:52")
        app.processEvents()
        window.docks["alarms"].raise_()
        window.view_model.select("sensors", "PT001")
        window.set_camera("oblique")
        app.processEvents()
        pictures = [window.save_screenshot(out / "window-burst.png")]

        window.view_model.select(None)
        query = window.panels["query"]
        window.docks["query"].raise_()
        query.layer_box.setCurrentIndex(query.layer_box.findData("water_junctions"))
        query.field_box.setCurrentIndex(query.field_box.findData("pressure"))
        query.op_box.setCurrentText("<")
        query.value_box.setText("20")
        query.run_button.click()
        window.view_model.ground.underground = True
        window.set_camera("underground")
        app.processEvents()
        pictures.append(window.save_screenshot(out / "window-underground.png"))
        window.modified = False
        window.close()
    for p in pictures:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
