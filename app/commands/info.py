"""``lifeline-twin info PROJECT.gpkg [--json]``: what a project holds."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("info", help="summarise a project file: CRS, extent, layers and counts")
    p.add_argument("project", help="project GeoPackage")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from twin.project import load

    twin = load(args.project)
    summary = twin.summary()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['name']}  CRS {summary['crs']}  units m")
    if summary["extent"]:
        minx, miny, maxx, maxy = summary["extent"]
        print(f"extent {minx:.1f} {miny:.1f} {maxx:.1f} {maxy:.1f}  "
              f"({(maxx - minx) / 1000:.2f} km × {(maxy - miny) / 1000:.2f} km)")
    domain = None
    for name, entry in summary["layers"].items():
        if entry["domain"] != domain:
            domain = entry["domain"]
            print(f"{domain}:")
        extra = f"  {entry['shape'][0]}×{entry['shape'][1]} cells" if "shape" in entry else ""
        print(f"  {name:<18} {entry['count']:>8}{extra}")
    problems = twin.network_problems() + twin.reference_problems()
    for p in problems:
        print(f"warning: {p}")
    return 0
