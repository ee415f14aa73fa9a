"""``lifeline-twin demo -o demo.gpkg [--seed N]``: build the built-in demo city and save it as a project."""

from __future__ import annotations

import json
import time


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the demo town (wntr's ky10 network grown into a city) into a project file")
    p.add_argument("-o", "--output", required=True, help="project GeoPackage to write, e.g. demo.gpkg")
    p.add_argument("--seed", type=int, default=7, help="seed of the generated town (default 7); "
                                                      "the same seed always gives the same town")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from twin.demo import build_demo
    from twin.errors import ProjectError
    from twin.project import check_writable, replaceable_layers, save

    if args.seed < 0:
        raise ValueError(f"--seed {args.seed}: the seed must be 0 or more")
    if Path(args.output).suffix.lower() != ".gpkg":
        # Say so before spending seconds on the build.
        raise ProjectError(f"{args.output}: a project file must end in .gpkg")
    check_writable(args.output)
    replaceable_layers(args.output)  # refuses to write over a GeoPackage that is not a project
    t0 = time.perf_counter()
    twin = build_demo(seed=args.seed)
    built = time.perf_counter() - t0
    path = save(twin, args.output)
    total = time.perf_counter() - t0
    summary = twin.summary()
    counts = {n: e["count"] for n, e in summary["layers"].items() if e["count"]}
    population = int(twin["buildings"]["population"].sum())
    if args.json:
        print(json.dumps({"project": str(path), "seed": args.seed, "crs": summary["crs"],
                          "population": population, "layers": counts,
                          "build_s": round(built, 2), "total_s": round(total, 2)}))
        return 0
    listed = ", ".join(f"{n} {c}" for n, c in counts.items() if n != "terrain")
    print(f"demo town (seed {args.seed}) -> {path}: {listed}; population {population}; "
          f"{summary['crs']}; built in {built:.1f} s, saved in {total - built:.1f} s")
    return 0
