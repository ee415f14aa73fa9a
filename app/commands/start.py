"""``lifeline-twin start``: the main job on the built-in demo city.

With a display (and the desktop window installed) it opens the window on the
demo city.  Without one it runs headless: builds the demo project and runs each
step of ``STEPS`` on it, writing every output into one folder and printing
where.  Each step is ``(what it shows, "module:function")``; the function takes
``(twin, project_path, out_dir)`` and returns the paths it wrote.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

STEPS: list[tuple[str, str]] = [
    ("map of the town", "twin.town.drawing:showcase"),
    ("main burst at peak hour on one clock: event log, report", "app.commands.run:demo_step"),
    ("a year of emergencies, response KPIs", "simulation.emergency.report:showcase"),
    ("3D views", "app.commands.render:render_demo_views"),
    ("pipe criticality and fire flow", "app.commands.hydraulics:demo_step"),
]


def register(sub) -> None:
    p = sub.add_parser("start", help="run Lifeline Twin on the built-in demo city (window, or headless outputs)")
    p.add_argument("--out", default="lifeline-demo", help="folder for the headless outputs (default ./lifeline-demo)")
    p.add_argument("--headless", action="store_true", help="never open a window, even with a display")
    p.add_argument("--seed", type=int, default=7, help="demo city seed")
    p.set_defaults(func=run)


def run(args) -> int:
    from twin.demo import build_demo
    from twin.errors import ProjectError
    from twin.project import check_writable, save

    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: the seed must be 0 or more")
    out = Path(args.out).resolve()
    # An output folder that cannot be made is said before the city is built.
    if out.exists() and not out.is_dir():
        raise ProjectError(f"{out}: is a file, not a folder for the demo outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"{out}: cannot make the folder for the demo outputs ({exc.strerror or exc})") from None
    project = out / "demo.gpkg"
    check_writable(project)
    from twin.atomic import check_target

    check_target(project, "project")  # a user's own demo.gpkg is refused before the city is built
    t0 = time.perf_counter()
    twin = build_demo(seed=args.seed)
    save(twin, project)
    print(f"built the demo city {twin.name!r} in {time.perf_counter() - t0:.1f} s -> {project}")
    if os.environ.get("DISPLAY") and not args.headless:
        try:
            window = importlib.import_module("app.window")
        except ModuleNotFoundError:
            window = None
        if window is not None:
            return window.main([str(project)])
    written = [project]
    for what, step in STEPS:
        module, func = step.split(":")
        t1 = time.perf_counter()
        paths = getattr(importlib.import_module(module), func)(twin, project, out) or []
        written.extend(paths)
        print(f"  {what}: {len(paths)} file(s) in {time.perf_counter() - t1:.1f} s", file=sys.stderr)
    print(f"demo outputs in {out}:")
    for p in written:
        print(f"  {Path(p).relative_to(out) if Path(p).is_relative_to(out) else p}")
    return 0
