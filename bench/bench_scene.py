"""Bench of the 3D scene: build, first frame, frames (as built and overview), update, peak memory.

Cases, each in its own subprocess so peak memory (``ru_maxrss``) is the case's own:

* ``sphere``   the trivial scene: one sphere, same window size (the frame-time yardstick);
* ``demo``     the built-in demo city (``twin.demo.build_demo(seed=7)``);
* ``nj1``      NJ1 (../shared/data/networks/NJ1.inp, 16k links) with a DEM from its junctions;
* ``city100k`` a synthetic city: 100,000 pipe segments on a street grid, 50,000 buildings, a DEM.

"window" is the look the window draws, a playback frame of it (new pipe results, render): the same
scene with far buildings merged into blocks (``Scene(..., far_buildings=True)``, app/scene/lod.py); the
100k goal (a playback frame at most 5x the sphere's) is read on it.

Frame times are printed as ratios to the sphere frame measured in the same run,
because software GL (Mesa llvmpipe through EGL) makes absolute times meaningless
across machines.  Run:

    .venv/bin/python bench/bench_scene.py                 # every case, 1280x800
    .venv/bin/python bench/bench_scene.py --cases city100k --frames 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFELINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
GOALS = {"build_s": 10.0, "frame_ratio": 5.0, "update_ms": 20.0, "peak_mib": 2048.0}


# ---------------------------------------------------------------------- twins
def demo_twin():
    from twin.demo import build_demo

    return build_demo(seed=7)


def nj1_twin():
    from twin.crs import local_metric_crs
    from twin.model import Twin
    from twin.network import network_layers, read_network
    from twin.terrain import Terrain

    wn = read_network(SHARED / "networks" / "NJ1.inp")
    crs = local_metric_crs("NJ1")
    layers = network_layers(wn, crs)
    j = layers["water_junctions"]
    x, y = j.geometry.x.to_numpy(), j.geometry.y.to_numpy()
    span = max(np.ptp(x), np.ptp(y))
    terrain = Terrain.from_points(x, y, j["elevation"].to_numpy() + 1.5, crs, cell=span / 400, margin=span / 50)
    twin = Twin("NJ1", crs, terrain=terrain, network=wn)
    for name, frame in layers.items():
        if len(frame):
            twin.set_layer(name, frame)
    return twin


def city100k_twin(n_segments: int = 100_000, n_buildings: int = 50_000, spacing: float = 40.0):
    """A street grid whose edges are the pipe segments, one building per block, a hilly DEM."""
    import geopandas as gpd
    import shapely
    from affine import Affine

    from twin.crs import local_metric_crs
    from twin.model import Twin
    from twin.terrain import Terrain

    crs = local_metric_crs("synthetic city")
    n = int(np.ceil((1 + np.sqrt(1 + 2 * n_segments)) / 2))  # n*(n-1)*2 >= n_segments
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xs, ys = ii * spacing, jj * spacing
    h_a = np.column_stack([xs[:-1, :].ravel(), ys[:-1, :].ravel(), xs[1:, :].ravel(), ys[1:, :].ravel()])
    v_a = np.column_stack([xs[:, :-1].ravel(), ys[:, :-1].ravel(), xs[:, 1:].ravel(), ys[:, 1:].ravel()])
    seg = np.vstack([h_a, v_a])[:n_segments]
    lines = shapely.linestrings(seg.reshape(-1, 2, 2))
    rng = np.random.default_rng(1)
    pipes = gpd.GeoDataFrame({
        "id": [f"P{i}" for i in range(len(seg))], "start_node": "a", "end_node": "b",
        "diameter": rng.choice([0.1, 0.15, 0.2, 0.3], len(seg))}, geometry=lines, crs=crs)
    bx = (ii[:-1, :-1].ravel() + 0.5) * spacing
    by = (jj[:-1, :-1].ravel() + 0.5) * spacing
    bx, by = bx[:n_buildings], by[:n_buildings]
    half = spacing * 0.3
    buildings = gpd.GeoDataFrame({
        "id": [f"B{i}" for i in range(len(bx))], "height": rng.uniform(4, 40, len(bx)),
        "use": rng.choice(["residential", "commercial", "industrial", "public"], len(bx))},
        geometry=shapely.box(bx - half, by - half, bx + half, by + half), crs=crs)
    size = (n - 1) * spacing
    cell = 25.0
    cells = int(size / cell) + 2
    g = np.arange(cells) * cell
    gx, gy = np.meshgrid(g, g)
    heights = 100 + 15 * np.sin(gx / 900) * np.cos(gy / 700) + 5 * np.sin(gx / 210 + gy / 330)
    terrain = Terrain(heights[::-1], Affine(cell, 0, -cell / 2, 0, -cell, size + cell), crs)
    twin = Twin("synthetic city", crs, terrain=terrain)
    twin.set_layer("water_pipes", pipes)
    twin.set_layer("buildings", buildings)
    return twin


TWINS = {"demo": demo_twin, "nj1": nj1_twin, "city100k": city100k_twin}


# ---------------------------------------------------------------------- one case
def _frame_seconds(plotter, frames: int) -> float:
    """Median time of a frame: a small camera turn, render, and read back (so the GPU finished)."""
    times = []
    for _ in range(frames):
        plotter.camera.azimuth = plotter.camera.azimuth + 0.5
        t = time.perf_counter()
        plotter.render()
        plotter.screenshot(return_img=True)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run_case(name: str, size: tuple[int, int], frames: int) -> dict:
    import pyvista as pv

    warnings.simplefilter("ignore")
    if name == "sphere":
        p = pv.Plotter(off_screen=True, window_size=list(size))
        p.add_mesh(pv.Sphere())
        p.disable_anti_aliasing()
        t = time.perf_counter()
        p.render()
        p.screenshot(return_img=True)
        first = time.perf_counter() - t
        frame = _frame_seconds(p, frames)
        p.close()
        return {"case": name, "first_frame_s": first, "frame_s": frame,
                "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    from app.scene import Scene

    t = time.perf_counter()
    twin = TWINS[name]()
    twin_s = time.perf_counter() - t
    t = time.perf_counter()
    scene = Scene(twin, window_size=size)
    build = time.perf_counter() - t
    t = time.perf_counter()
    scene.render()
    scene.plotter.screenshot(return_img=True)
    first = time.perf_counter() - t
    frame = _frame_seconds(scene.plotter, frames)
    # the look `lifeline-twin render` writes by default: details hidden, ground and roads faded
    scene.view("overview")
    scene.render()
    overview_frame = _frame_seconds(scene.plotter, frames)
    layer = "water_pipes"
    n = len(scene.layers[layer].ids)
    rng = np.random.default_rng(0)
    steps = [rng.uniform(0, 100, n) for _ in range(6)]
    scene.set_result(layer, "pressure", steps[0])
    scene.color_by(layer, "pressure", clim=(0, 100))
    updates = []
    for values in steps[1:]:
        t = time.perf_counter()
        scene.set_result(layer, "pressure", values)
        updates.append(time.perf_counter() - t)
    t = time.perf_counter()
    scene.render()
    scene.plotter.screenshot(return_img=True)
    update_frame = time.perf_counter() - t
    counts = {k: int(v.mesh.n_cells) for k, v in scene.layers.items()}
    scene.close()
    # the window's look: the same scene with far buildings merged into blocks (app/scene/lod.py), a
    # playback frame (new pipe results, render) timed the same way
    scene = Scene(twin, window_size=size, far_buildings=True)
    scene.set_result(layer, "pressure", steps[0])
    scene.color_by(layer, "pressure", clim=(0, 100))
    scene.render()
    window_frames = []
    for values in steps[1:] * 2:
        scene.set_result(layer, "pressure", values)
        t = time.perf_counter()
        scene.render()
        scene.plotter.screenshot(return_img=True)
        window_frames.append(time.perf_counter() - t)
    far = scene.buildings_far
    pipes = twin["water_pipes"]
    segments = int(sum(len(g.coords) - 1 for g in pipes.geometry)) if len(pipes) < 200_000 else -1
    result = {"case": name, "twin_s": twin_s, "build_s": build, "first_frame_s": first, "frame_s": frame,
              "overview_frame_s": overview_frame,
              "update_ms": float(np.median(updates)) * 1000, "update_frame_s": update_frame,
              "window_frame_s": float(np.median(window_frames)), "far_blocks": far,
              "pipes": len(pipes), "pipe_segments": segments, "buildings": len(twin["buildings"]),
              "actors": scene.actor_count, "layers": len(scene.layers), "cells": int(sum(counts.values())),
              "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    scene.close()
    return result


# ---------------------------------------------------------------------- driver
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="demo,nj1,city100k")
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--frames", type=int, default=7)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.one:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(run_case(args.one, (w, h), args.frames)))
        return 0
    cases = [c.strip() for c in args.cases.split(",") if c.strip() and c.strip() != "sphere"]
    # The yardstick is measured before and after the cases: the machine is shared and
    # its load drifts, and a ratio is only as good as its denominator.
    cases = ["sphere", *cases, "sphere-again"]
    rows = {}
    for case in cases:
        proc = subprocess.run([sys.executable, __file__, "--one", case.replace("-again", ""), "--size", args.size,
                               "--frames", str(args.frames)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"{case}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rows[case] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {case}: done", file=sys.stderr)
    spheres = [rows[c]["frame_s"] for c in ("sphere", "sphere-again") if c in rows]
    sphere = float(np.mean(spheres))
    print(f"window {args.size}, trivial one-sphere frame {sphere * 1000:.1f} ms (render + read back; "
          f"{' and '.join(f'{v * 1000:.1f}' for v in spheres)} ms before and after), median of {args.frames} frames")
    print(f"{'case':<10} {'pipes':>7} {'segments':>9} {'buildings':>9} {'actors':>6} {'cells':>10} "
          f"{'build s':>8} {'1st frame s':>11} {'frame ms':>9} {'x sphere':>8} {'overview ms':>11} "
          f"{'x sphere':>8} {'update ms':>9} {'window ms':>9} {'x sphere':>8} {'peak MiB':>9}")
    for case, r in rows.items():
        if case.startswith("sphere"):
            continue
        print(f"{case:<10} {r['pipes']:>7} {r['pipe_segments']:>9} {r['buildings']:>9} {r['actors']:>6} "
              f"{r['cells']:>10} {r['build_s']:>8.2f} {r['first_frame_s']:>11.2f} {r['frame_s'] * 1000:>9.1f} "
              f"{r['frame_s'] / sphere:>8.1f} {r['overview_frame_s'] * 1000:>11.1f} "
              f"{r['overview_frame_s'] / sphere:>8.1f} {r['update_ms']:>9.2f} {r['window_frame_s'] * 1000:>9.1f} "
              f"{r['window_frame_s'] / sphere:>8.1f} {r['peak_mib']:>9.0f}"
              + ("" if r["far_blocks"] else "  (buildings near: not merged)"))
    if "city100k" in rows:
        r = rows["city100k"]
        got = {"build_s": r["build_s"], "frame_ratio": r["window_frame_s"] / sphere, "update_ms": r["update_ms"],
               "peak_mib": r["peak_mib"]}
        verdict = ", ".join(f"{k} {got[k]:.2f} {'<=' if got[k] <= GOALS[k] else '>'} {GOALS[k]:g}"
                            for k in GOALS)
        print(f"city100k goals: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
