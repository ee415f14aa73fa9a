"""How long the network importers take, against WNTR merely reading the same .inp, side by side.

    .venv/bin/python bench/import_networks.py [--repeat N]

The ratio says what the importer adds on top of parsing the network: CRS
transform, layers, GIS joins, DEM warping and sampling, valve reconciliation,
shapefile reading.  Reads ../shared/data in place.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

from timing import best_of  # noqa: E402  (bench/ is the script folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import wntr

    from twin.importers.epanet import import_inp
    from twin.importers.micropolis import import_micropolis
    from twin.network import read_network

    ky4 = SHARED / "ky4"
    micro = SHARED / "micropolis"
    cases = [
        ("ky4 (inp + 5 GeoJSON + DEM)",
         lambda: wntr.network.read_inpfile(str(ky4 / "ky4.inp")),
         lambda: import_inp(ky4 / "ky4.inp", crs="EPSG:3547", gis_dir=ky4, dem=ky4 / "ky4_elevation.tif")),
        ("Micropolis (inp + 12 shapefiles + grid)",
         lambda: read_network(micro / "MICROPOLIS_v1.inp"),
         lambda: import_micropolis(micro)),
    ]
    print(f"{'case':<42} {'wntr read s':>12} {'import s':>10} {'ratio':>7}")
    for name, baseline, full in cases:
        base = best_of(args.repeat, baseline)
        ours = best_of(args.repeat, full)
        print(f"{name:<42} {base:>12.2f} {ours:>10.2f} {ours / base:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
