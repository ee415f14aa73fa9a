"""Bench: the OSM and generic GIS importers against a bare GDAL read of the same file, side by side.

The bare read (pyogrio / rasterio, geometries decoded, nothing repaired or
reprojected) is the floor any importer pays; the ratio says what tag parsing,
repair, validation and reprojection cost on top of it.

    .venv/bin/python bench/import_gis.py --repeat 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from timing import best_of  # noqa: E402  (bench/ is the script folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import pyogrio
    import rasterio

    from twin.importers.osm import import_osm
    from twin.importers.raster import import_raster
    from twin.importers.vector import import_vector

    osm = DATA / "osm-helsinki" / "Helsinki.osm.pbf"
    junctions = DATA / "ky4" / "ky4_junctions.geojson"
    dem = DATA / "ky4" / "ky4_elevation.tif"
    for path in (osm, junctions, dem):
        if not path.exists():
            print(f"missing {path}: the bench needs ../shared/data", file=sys.stderr)
            return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-gis-"))

    def bare_osm():
        for layer in ("points", "lines", "multipolygons"):
            pyogrio.read_dataframe(osm, layer=layer, on_invalid="ignore")

    def bare_dem():
        with rasterio.open(dem) as src:
            src.read(1, masked=True)

    cases = [
        ("Helsinki OSM (3 layers)", bare_osm, lambda: import_osm(osm)),
        ("ky4 junctions GeoJSON -> water_junctions", lambda: pyogrio.read_dataframe(junctions),
         lambda: import_vector(junctions, "water_junctions", tmp / "j.gpkg", id_column="name")),
        ("ky4 DEM GeoTIFF -> terrain (warp to EPSG:3546)", bare_dem,
         lambda: import_raster(dem, tmp / "d.gpkg", z_factor=1.0)),
    ]
    print(f"best of {args.repeat}")
    print("| case | bare GDAL read (s) | import (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, bare, full in cases:
        full()  # warm GDAL's and Python's caches for both sides
        b, f = best_of(args.repeat, bare), best_of(args.repeat, full)
        print(f"| {name} | {b:.3f} | {f:.3f} | {f / b:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
