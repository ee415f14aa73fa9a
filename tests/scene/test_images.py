"""Image regression of the demo city: default view, underground view, risk colouring.

Each view is rendered off screen at a fixed size, with the preset camera and no
anti-aliasing (no sampling randomness), and compared with its committed baseline
by ``pyvista.compare_images`` (VTK's image difference: mean per-pixel error after
a small neighbourhood search, which absorbs one-pixel GL rasterisation shifts).

TOLERANCE: an error up to 60 passes.  Re-rendering on this machine gives 0; a
different Mesa build moves edges by a pixel (error ~10-30); a real change is far
above it (the risk colouring differs from the default view by several hundred,
asserted below so the tolerance can never hide one).

After an intended change of the scene or the demo city, refresh the baselines:
    LIFELINE_UPDATE_BASELINES=1 .venv/bin/python -m pytest tests/scene/test_images.py
and look at them before committing.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

BASELINES = Path(__file__).parent / "baselines"
SIZE = (640, 400)  # baselines stay under 300 KB
TOLERANCE = 60.0
UPDATE = os.environ.get("LIFELINE_UPDATE_BASELINES") == "1"


@pytest.fixture(scope="module")
def demo():
    from twin.demo import build_demo

    return build_demo(seed=7)


def render_view(twin, view: str) -> np.ndarray:
    from app.scene import Scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = Scene(twin, window_size=SIZE)
    try:
        scene.view(view)
        return scene.screenshot()
    finally:
        scene.close()


def image_error(a: np.ndarray, b, tmp: Path) -> float:
    """``pyvista.compare_images`` of an RGB array with another array or a PNG file."""
    import imageio.v2 as imageio

    first = tmp / "candidate.png"
    imageio.imwrite(first, a)
    if isinstance(b, np.ndarray):
        second = tmp / "other.png"
        imageio.imwrite(second, b)
        b = second
    return float(pv.compare_images(str(first), str(b)))


def check(image: np.ndarray, name: str, tmp: Path) -> float:
    path = BASELINES / f"{name}.png"
    if UPDATE:
        import imageio.v2 as imageio

        BASELINES.mkdir(exist_ok=True)
        imageio.imwrite(path, image)
    assert path.exists(), (f"no baseline {path}; create it with LIFELINE_UPDATE_BASELINES=1 "
                           "and look at it before committing")
    error = image_error(image, path, tmp)
    assert error <= TOLERANCE, f"{name}: image error {error:.1f} > tolerance {TOLERANCE}"
    return error


@pytest.fixture(scope="module")
def overview(demo):
    return render_view(demo, "overview")


def test_default_view_matches_baseline(overview, tmp_path):
    assert overview.shape == (SIZE[1], SIZE[0], 3)
    check(overview, "demo-overview", tmp_path)


def test_underground_view_matches_baseline(demo, tmp_path):
    check(render_view(demo, "underground"), "demo-underground", tmp_path)


def test_risk_colouring_matches_baseline_and_differs_from_default(demo, overview, tmp_path):
    risk = render_view(demo, "risk")
    check(risk, "demo-risk", tmp_path)
    # the tolerance is far below what a real change costs
    assert image_error(risk, overview, tmp_path) > 4 * TOLERANCE
    # the four warning colours are on screen
    from app.scene.palette import RISK_COLOURS

    pixels = risk.reshape(-1, 3).astype(int)
    # (within 60 of the palette colour summed over R, G and B: faces are shaded)
    present = [lvl for lvl, c in RISK_COLOURS.items()
               if (np.abs(pixels - np.array(pv.Color(c).int_rgb)).sum(axis=1) < 60).sum() > 5]
    assert present == ["red", "orange", "yellow", "blue"], present
