"""Playback in the window: frames per second while the main-burst day plays on the clock, against a trivial scene.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python bench/bench_playback.py [--frames 60]

The window (1600 x 1000, every panel) on the demo city with
``scenarios/main-burst.yaml`` open; from 07:20 the clock is moved one
session step (60 s of clock time) per frame, as the timeline does at x600
and 10 frames/s: the session advances, the pressures and highlights go to
the view model, the panels and plots follow, and the 3D view is rendered.
Each frame is timed until the window has painted it.  In the same run a
trivial scene (one sphere) in the same interactor is rendered as many times
(software OpenGL is slow: the ratio is the figure to compare across
machines).  Goal (issue 12): at least 10 frames/s on the demo city.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_API", "pyqt6")
os.environ["LIFELINE_TWIN_NO_DIALOGS"] = "1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        sys.exit("bench_playback: needs a display; run under xvfb-run")
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.window import build_window
    from twin.demo import build_demo

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = build_window(settings=QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(1600, 1000)
        window.show()
        window.open_twin(build_demo(seed=7))
        scenario = window.panels["scenario"]
        scenario.open_scenario(ROOT / "scenarios" / "main-burst.yaml")
        t0 = time.monotonic()
        while scenario.playback is None or window.work.busy:
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() - t0 > 180:
                sys.exit("bench_playback: the scenario did not open")
        pb = scenario.playback
        clock = window.view_model.clock
        start = pb.session.start + 7 * 3600 + 20 * 60
        clock.time = start
        while window.work.busy or pb.session.now < start - 1:
            app.processEvents()
            time.sleep(0.02)
        frames = []
        profile = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        for k in range(args.frames):
            t = time.perf_counter()
            clock.time = start + 60.0 * (k + 1)
            app.processEvents()   # the window paints the frame (one render of the 3D view)
            frames.append(time.perf_counter() - t)
        if profile is not None:
            import pstats

            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        plotter = window.interactor
        plotter.clear()
        import pyvista as pv

        plotter.add_mesh(pv.Sphere(), name="trivial")
        plotter.reset_camera()
        trivial = []
        for _ in range(args.frames):
            t = time.perf_counter()
            plotter.update()
            app.processEvents()
            trivial.append(time.perf_counter() - t)
        window.modified = False
        window.close()
    f, s = statistics.median(frames), statistics.median(trivial)
    print(f"main-burst playback, one 60 s step per frame: median frame {f * 1000:.0f} ms "
          f"({1 / f:.1f} frames/s), p90 {sorted(frames)[int(0.9 * len(frames))] * 1000:.0f} ms")
    print(f"trivial one-sphere frame in the same window: median {s * 1000:.0f} ms")
    print(f"ratio {f / s:.1f}; goal at least 10 frames/s: {'met' if 1 / f >= 10 else 'not met'}")


if __name__ == "__main__":
    main()
