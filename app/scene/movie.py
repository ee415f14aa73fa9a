"""Movies of a scene: a camera orbit, or a result series played step by step (MP4 via imageio-ffmpeg).

Frames come from the scene's own plotter, so a movie shows exactly what a
screenshot would; results are written in place between frames (no rebuild).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.scene.timeline import ResultSeries


def writer(path: Path, fps: int):
    """An imageio writer for ``path`` (.mp4, .mov, .mkv or .gif) at ``fps`` frames/s."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".mov", ".mkv", ".gif"):
        raise ValueError(f"{path}: a movie must end in .mp4, .mov, .mkv or .gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        return imageio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)
    # macro_block_size=1 keeps the frame size the user asked for; libx264 needs even sizes,
    # which the render command enforces.
    return imageio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=1,
                              pixelformat="yuv420p")


def write_orbit(scene, path, frames: int = 96, fps: int = 24) -> Path:
    """One full turn of the camera around its focal point."""
    cam = scene.plotter.camera
    focal = np.array(cam.focal_point)
    pos = np.array(cam.position)
    rel = pos - focal
    radius = float(np.hypot(rel[0], rel[1]))
    start = float(np.arctan2(rel[1], rel[0]))
    with writer(path, fps) as out:
        for i in range(frames):
            a = start + 2 * np.pi * i / frames
            cam.position = (focal[0] + radius * np.cos(a), focal[1] + radius * np.sin(a), pos[2])
            cam.focal_point = tuple(focal)
            cam.up = (0, 0, 1)
            scene.plotter.renderer.ResetCameraClippingRange()
            out.append_data(scene.screenshot())
    cam.position = tuple(pos)
    return Path(path)


def write_series(scene, series: ResultSeries, path, fps: int = 6, cmap: str | None = None) -> Path:
    """Every step of ``series`` on its layer, with the time in the corner."""
    series.attach(scene, cmap=cmap)
    with writer(path, fps) as out:
        for step in range(series.steps):
            series.show(scene, step)
            scene.plotter.add_text(series.label(step), position="lower_left", font_size=12,
                                   color="black", name="__clock__")
            out.append_data(scene.screenshot())
    scene.plotter.remove_actor("__clock__")
    return Path(path)
