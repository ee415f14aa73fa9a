"""``lifeline-twin import inp|micropolis|osm|vector|raster``: build or extend a project from real data."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("import", help="build a project from an EPANET network, Micropolis, OSM or any GIS file")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    inp = kinds.add_parser("inp", help="an EPANET .inp network, with optional GIS layers and DEM")
    inp.add_argument("network", help="EPANET .inp file")
    inp.add_argument("--crs", required=True, help="CRS of the network's coordinates, e.g. EPSG:3547; local:ft, "
                          "local:ftUS or local:m for a schematic network with no georeference")
    inp.add_argument("--to-crs", help="metric CRS of the twin (default: the metric sibling of --crs)")
    inp.add_argument("--gis-dir", help="folder of GIS layers for the network (e.g. ky4_*.geojson)")
    inp.add_argument("--dem", help="DEM raster (any GDAL format)")
    inp.add_argument("--dem-units", choices=("auto", "m", "ft", "us-ft"), default="auto",
                     help="unit of the DEM's heights (default auto: from the raster's metadata, else the "
                          "reading that agrees with the node elevations)")
    inp.add_argument("--elevation-tolerance", type=float, default=5.0, metavar="M",
                     help="report junctions whose elevation differs from the DEM by more (default 5 m)")
    inp.add_argument("--name", help="project name (default: the file's stem)")
    _common(inp)

    mic = kinds.add_parser("micropolis", help="the Micropolis virtual city (network, shapefiles, elevation grid)")
    mic.add_argument("folder", help="folder holding MICROPOLIS_v1.inp and gis/")
    mic.add_argument("--crs", help="CRS to place the city in (default: a local engineering CRS in metres)")
    _common(mic)

    osm = kinds.add_parser("osm", help="an OpenStreetMap extract (.osm.pbf or .osm)")
    osm.add_argument("source", help="OSM file")
    osm.add_argument("--to-crs", help="metric CRS of the twin (default: the UTM zone of the data)")
    osm.add_argument("--storey-height", type=float, default=3.0,
                     help="metres per storey when a building has only building:levels (default 3.0)")
    osm.add_argument("--name", help="project name (default: the file's stem)")
    _common(osm)

    swmm = kinds.add_parser("swmm", help="an EPA SWMM 5 .inp drainage model (manholes and sewers)")
    swmm.add_argument("model", help="SWMM .inp file")
    swmm.add_argument("--crs", required=True, help="CRS of the model's coordinates, e.g. EPSG:25832; local:ft "
                           "or local:m for a model with no georeference")
    swmm.add_argument("--to-crs", help="metric CRS of the twin (default: the metric sibling of --crs)")
    swmm.add_argument("--name", help="project name (default: the file's stem)")
    _common(swmm)

    vec = kinds.add_parser("vector", help="any GDAL vector file into one layer of a project")
    vec.add_argument("source", help="vector file (shapefile, GeoJSON, GeoPackage, ...)")
    vec.add_argument("--layer", required=True, help="twin layer to fill, e.g. buildings")
    vec.add_argument("--source-layer", help="layer inside the source file (default: the first)")
    vec.add_argument("--map", action="append", default=[], metavar="TWIN=SOURCE",
                     help="column mapping, e.g. --map height=HGT (repeatable)")
    vec.add_argument("--scale", action="append", default=[], metavar="COLUMN=FACTOR",
                     help="multiply a mapped column, e.g. --scale height=0.3048 (repeatable)")
    vec.add_argument("--id-column", help="source column holding the feature id (default: row number)")
    vec.add_argument("--crs", help="CRS of the source when it has none (e.g. a shapefile without .prj)")
    vec.add_argument("--project", required=True, help="project to add the layer to (created when absent)")
    vec.add_argument("--to-crs", help="metric CRS when creating a new project")
    _common(vec, output=False)

    ras = kinds.add_parser("raster", help="any GDAL raster as the project's DEM")
    ras.add_argument("source", help="raster file")
    ras.add_argument("--crs", help="CRS of the raster when it has none")
    ras.add_argument("--z-factor", type=float, default=None,
                     help="metres per height unit (default: from the CRS's vertical/linear unit)")
    ras.add_argument("--project", required=True, help="project whose terrain is set")
    _common(ras, output=False)
    p.set_defaults(func=run)


def _common(p, output: bool = True) -> None:
    if output:
        p.add_argument("-o", "--out", required=True, help="project GeoPackage to write")
    p.add_argument("--json", action="store_true", help="print the import report as JSON")


def run(args) -> int:
    from pathlib import Path

    from twin.errors import ProjectError
    from twin.project import check_writable, replaceable_layers, save

    target = args.project if args.kind in ("vector", "raster") else args.out
    # A project that cannot be written is said before the import spends its time.
    if Path(target).suffix.lower() != ".gpkg":
        raise ProjectError(f"{target}: a project file must end in .gpkg")
    check_writable(target)
    replaced = replaceable_layers(target) if args.kind not in ("vector", "raster") else []
    from twin.importers import import_source

    if args.kind == "inp":
        options = dict(crs=args.crs, to_crs=args.to_crs, gis_dir=args.gis_dir, dem=args.dem, name=args.name,
                       dem_units=args.dem_units, elevation_tolerance=args.elevation_tolerance)
        source = args.network
    elif args.kind == "micropolis":
        options, source = dict(crs=args.crs), args.folder
    elif args.kind == "osm":
        options = dict(to_crs=args.to_crs, storey_height=args.storey_height, name=args.name)
        source = args.source
    elif args.kind == "swmm":
        options, source = dict(crs=args.crs, to_crs=args.to_crs, name=args.name), args.model
    elif args.kind == "vector":
        options = dict(layer=args.layer, project=args.project, source_layer=args.source_layer,
                       mapping=_pairs(args.map, "--map"),
                       scale=_pairs(args.scale, "--scale"),  # numbers checked by import_vector, naming the flag
                       id_column=args.id_column, crs=args.crs, to_crs=args.to_crs)
        source = args.source
    else:
        options = dict(project=args.project, crs=args.crs, z_factor=args.z_factor)
        source = args.source
    twin, report = import_source(args.kind, source, **options)
    out = target
    save(twin, out)
    report.count_layers(twin)
    lost = [n for n in replaced if not twin.count(n)]
    if replaced:
        report.warnings.append(f"{out} existed and was replaced"
                               + (f"; its {', '.join(lost)} are not in the new project (add layers to a "
                                  "project with 'import vector --project')" if lost else ""))
    # Said, not refused: the layer a feature points to may simply not be imported yet.
    report.warnings.extend(p for p in twin.reference_problems() if p not in report.warnings)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(report.text())
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{flag} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
