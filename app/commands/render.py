"""``lifeline-twin render``: a picture (or a movie) of a project's 3D scene, with no display.

    lifeline-twin render city.gpkg --out city.png
    lifeline-twin render city.gpkg --out under.png --camera underground
    lifeline-twin render city.gpkg --out risk.png --color-by buildings:risk_level
    lifeline-twin render city.gpkg --out p.png --color-by water_junctions:pressure --time 06:00
    lifeline-twin render city.gpkg --out o.png --movie orbit.mp4 --orbit
    lifeline-twin render city.gpkg --out p.png --movie pressure.mp4 --series water_junctions:pressure

Rendering is off screen (VTK's EGL back end), so it runs on servers and in CI.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

DEFAULT_SIZE = (1600, 1000)
CAMERAS = ("top", "oblique", "street", "underground")


def register(sub) -> None:
    p = sub.add_parser("render", help="render the project's 3D scene to a PNG (and optionally a movie)")
    p.add_argument("project", help="project GeoPackage")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--layers", help="comma-separated layers to draw (default: every non-empty layer)")
    p.add_argument("--color-by", action="append", default=[], metavar="LAYER:FIELD",
                   help="colour a layer by a column or a hydraulic result (repeatable), "
                        "e.g. buildings:risk_level, water_junctions:pressure")
    p.add_argument("--camera", default="oblique",
                   help="top, oblique, street, underground, or a bookmark saved in the project")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="WIDTHxHEIGHT in pixels")
    p.add_argument("--time", default="0:00", help="time of day of hydraulic results, HH:MM (default 0:00)")
    p.add_argument("--exaggeration", type=float, default=1.0, help="vertical exaggeration (default 1)")
    p.add_argument("--underground-scale", type=float, default=None,
                   help="factor on burial depths and pipe sizes (default: from the town's size)")
    p.add_argument("--terrain-opacity", type=float, default=None,
                   help="0 (invisible) to 1 (opaque); default: 0.3 in the overview, 0.35 underground")
    p.add_argument("--no-legend", action="store_true", help="leave the legend out")
    p.add_argument("--movie", help="also write a movie (.mp4, .gif)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--orbit", action="store_true", help="movie: one turn around the town (default)")
    kind.add_argument("--series", metavar="LAYER:FIELD", help="movie: a hydraulic result over the day")
    p.add_argument("--fps", type=int, default=None, help="movie frames per second")
    p.add_argument("--frames", type=int, default=96, help="frames of an orbit movie (default 96)")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1600x1000")
    w, h = int(m.group(1)), int(m.group(2))
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise ValueError(f"--size {text!r}: width and height must be 64 to 8192 pixels")
    return w - w % 2, h - h % 2  # video encoders need even sizes


def parse_layer_field(text: str, option: str) -> tuple[str, str]:
    layer, sep, field = text.partition(":")
    if not sep or not layer or not field:
        raise ValueError(f"{option} {text!r}: expected LAYER:FIELD, e.g. buildings:risk_level")
    return layer.strip(), field.strip()


def parse_time(text: str) -> float:
    m = re.fullmatch(r"\s*(\d{1,3}):(\d{2})\s*", text)
    if not m or int(m.group(2)) >= 60:
        raise ValueError(f"--time {text!r}: expected HH:MM, e.g. 06:30")
    return int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0


def _write_png(scene, path: Path) -> Path:
    """Write the frame beside ``path`` then rename it over, so a reader never sees half a file."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: --out must be a .png file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.rendering-{os.getpid()}.png")
    try:
        # optimize: a few percent smaller for free, which matters for pictures kept in git
        Image.fromarray(scene.screenshot()).save(tmp, format="PNG", optimize=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def colour_layer(scene, layer: str, field: str, at_seconds: float = 0.0) -> None:
    """Colour by a column, else by a hydraulic result at ``at_seconds`` (nearest report step)."""
    from app.scene.timeline import HYDRAULIC_FIELDS, hydraulic_series

    frame = scene.twin[layer]
    scene.reveal(layer)
    if field in frame.columns or field not in HYDRAULIC_FIELDS.get(layer, {}):
        scene.color_by(layer, field)
        return
    series = hydraulic_series(scene.twin, layer, field)
    step = int(abs(series.values.index.to_numpy(dtype=float) - at_seconds).argmin())
    series.attach(scene)
    series.show(scene, step)
    scene.plotter.add_text(series.label(step), position="lower_left", font_size=12, color="black",
                           name="__clock__")


def build_scene(twin, *, layers=None, size=DEFAULT_SIZE, exaggeration=1.0, underground_scale=None,
                terrain_opacity=None, anti_aliasing=None):
    """The off-screen scene the command renders; empty-layer and geometry warnings go to stderr."""
    from app.scene import Scene
    from app.view_model import ViewModel

    scene = Scene(twin, layers=layers, window_size=size, vertical_exaggeration=exaggeration,
                  underground_scale=underground_scale, terrain_opacity=terrain_opacity,
                  anti_aliasing=anti_aliasing)
    # the picture is what a view model says, as in the window: views, colourings and series go through it
    return scene.bind(ViewModel())


def run(args) -> int:
    import sys

    from app.scene import SceneWarning
    from app.scene.movie import write_orbit, write_series
    from app.scene.timeline import hydraulic_series
    from twin.project import load

    size = parse_size(args.size)
    colourings = [parse_layer_field(c, "--color-by") for c in args.color_by]
    at = parse_time(args.time)
    series_spec = parse_layer_field(args.series, "--series") if args.series else None
    if args.frames < 2:
        raise ValueError(f"--frames {args.frames}: an orbit needs at least 2 frames")
    if args.movie and Path(args.movie).suffix.lower() not in (".mp4", ".mov", ".mkv", ".gif"):
        raise ValueError(f"{args.movie}: --movie must end in .mp4, .mov, .mkv or .gif")
    if args.terrain_opacity is not None and not 0.0 <= args.terrain_opacity <= 1.0:
        raise ValueError(f"--terrain-opacity {args.terrain_opacity}: must be between 0 and 1")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"{out}: --out must be a .png file")
    twin = load(args.project)
    layers = [s.strip() for s in args.layers.split(",") if s.strip()] if args.layers else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SceneWarning)
        scene = build_scene(twin, layers=layers, size=size, exaggeration=args.exaggeration,
                            underground_scale=args.underground_scale, terrain_opacity=args.terrain_opacity,
                            anti_aliasing="ssaa")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    try:
        if args.no_legend:
            scene.legend(False)
        if args.camera == "underground":
            scene.view("underground")
        else:
            scene.view("overview")
            if args.camera != "oblique":
                scene.camera(args.camera)
        for layer, field in colourings:
            colour_layer(scene, layer, field, at)
        _write_png(scene, out)
        print(f"wrote {out} ({size[0]}x{size[1]})")
        if args.movie:
            if series_spec:
                series = hydraulic_series(twin, *series_spec)
                scene.reveal(series.layer)
                path = write_series(scene, series, args.movie, fps=args.fps or 6)
                print(f"wrote {path} ({series.steps} steps of {series.layer}:{series.name})")
            else:
                path = write_orbit(scene, args.movie, frames=args.frames, fps=args.fps or 24)
                print(f"wrote {path} (camera orbit)")
        elif series_spec or args.orbit:
            raise ValueError("--orbit and --series describe a movie: add --movie OUT.mp4")
    finally:
        scene.close()
    return 0


def render_demo_views(twin, project_path, out_dir) -> list[Path]:
    """Start-job step: the demo city's overview and underground pictures."""
    out_dir = Path(out_dir)
    written = []
    for view, name in (("overview", "scene-overview.png"), ("underground", "scene-underground.png")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = build_scene(twin, anti_aliasing="ssaa")
        try:
            scene.view(view)
            written.append(_write_png(scene, out_dir / name))
        finally:
            scene.close()
    return written
