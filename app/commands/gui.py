"""``lifeline-twin gui [PROJECT.gpkg] [--demo] [--screenshot PATH --quit-after SECONDS]``: the desktop window."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop window (on a project, or on the demo city)")
    p.add_argument("project", nargs="?", help="project GeoPackage to open")
    p.add_argument("--demo", action="store_true", help="open the built-in demo city")
    p.add_argument("--seed", type=int, default=7, help="demo city seed (with --demo)")
    p.add_argument("--scenario", help="a scenario file (scenarios/*.yaml) to open on the clock")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the whole window once it is drawn")
    p.add_argument("--quit-after", type=float, metavar="SECONDS",
                   help="close the window this many seconds after it is drawn (with --screenshot: after saving)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.project and args.demo:
        raise ValueError("gui: give a project or --demo, not both")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("lifeline-twin gui: no display (set DISPLAY, or run under xvfb-run)", file=sys.stderr)
        return 2
    project = Path(args.project) if args.project else None
    if args.scenario:
        from simulation.session.scenario import load_scenario

        scenario, folder = load_scenario(args.scenario)   # a bad file is one clear error, before any window
        if project is None and not args.demo:   # no city given: the scenario's own
            if scenario.twin.demo_seed is not None:
                args.demo, args.seed = True, scenario.twin.demo_seed
            else:
                project = folder / scenario.twin.project
    if project is not None and not project.is_file():
        raise FileNotFoundError(f"{project}: no such project file")
    if args.screenshot:
        from twin.atomic import check_target

        check_target(args.screenshot, "png")
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from app.window import build_window

    marks["imports"] = time.perf_counter() - t0

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = build_window()
    window.show()
    marks["window"] = time.perf_counter() - t0 - marks["imports"]
    code = {"value": 0}

    def finish() -> None:
        if args.screenshot:
            window.save_screenshot(args.screenshot)
        total = time.perf_counter() - t0
        spawned = os.environ.get("LIFELINE_TWIN_SPAWNED_AT")  # set by bench/bench_launch.py
        since = f"; {time.time() - float(spawned):.2f} s since the process was started" if spawned else ""
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in marks.items())
        print(f"window drawn in {total:.2f} s ({parts}{since})", file=sys.stderr)
        if args.quit_after is not None:
            window.modified = False
            QTimer.singleShot(int(args.quit_after * 1000), window.close)

    opening: dict[str, float] = {}

    def opened(_twin) -> None:
        marks["scene"] = window.last_open_s
        window.twin_opened.disconnect(opened)   # the city of the command line only, not one opened later
        if not args.scenario:
            QTimer.singleShot(0, finish)
            return
        panel = window.panels["scenario"]
        panel.playback_changed.connect(scenario_opened)
        panel.scenario_failed.connect(failed)
        opening["since"] = time.perf_counter()
        panel.open_scenario(args.scenario)

    def scenario_opened(playback) -> None:
        if playback is not None:
            window.panels["scenario"].playback_changed.disconnect(scenario_opened)
            marks["scenario"] = time.perf_counter() - opening["since"]
            QTimer.singleShot(0, finish)

    def failed(text: str) -> None:
        print(f"lifeline-twin gui: {text}", file=sys.stderr)
        code["value"] = 1
        if args.quit_after is not None:
            window.modified = False
            QTimer.singleShot(0, window.close)

    window.twin_opened.connect(opened)
    if project is not None:
        from twin.project import load

        def load_project(progress):
            t1 = time.perf_counter()
            twin = load(project)
            marks["project"] = time.perf_counter() - t1
            return twin

        window.work.start(f"opening {project.name}", load_project,
                          on_done=lambda twin: window.open_twin(twin, project), on_failed=failed)
    elif args.demo:
        from twin.demo import build_demo

        def build(progress):
            t1 = time.perf_counter()
            twin = build_demo(seed=args.seed)
            marks["demo city"] = time.perf_counter() - t1
            return twin

        window.work.start("building the demo city", build, on_done=window.open_twin, on_failed=failed)
    else:
        QTimer.singleShot(0, finish)
    app.exec()
    return code["value"]
