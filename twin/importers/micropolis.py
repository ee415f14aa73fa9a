"""Import the Micropolis virtual city (Brumbelow et al. 2007) into a twin.

Micropolis is a fictional town of about 5,000 people described twice: as an
EPANET model (``MICROPOLIS_v1.inp``) and as GIS shapefiles plus an ArcInfo
elevation grid (``gis/``).  Both use local coordinates in feet with no .prj.
This importer reads both and makes them agree:

* coordinates: feet -> metres in a local engineering CRS (``Micropolis local
  grid``), or through pyproj when the user says which feet CRS they are in;
* the network: loaded with its ``CLOCKTIME >= 6 AM`` rules intact; pipe
  material and install year come from the .inp's own pipe comments
  (``;main;cast iron;1910``) and are checked against the GIS water mains and
  service connections by position;
* valves: the 203 GIS valve points are paired one-to-one with the network's
  TCV links by position (optimal assignment within a tolerance); GIS valves with
  no TCV link become isolation valves on the nearest pipe;
* hydrants join their hydrant junction (``HY46`` ...), buildings get height in
  metres, population, use, lot zone, ground level and the junction serving them;
* layers the twin has no schema for (lots, railroad, streams, water body, water
  nodes, water tower) are summarised in the report, and lots lend their zone to
  the buildings on them.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from affine import Affine
from pyproj import Transformer
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from twin.crs import axis_unit_factor, describe, local_metric_crs, metric_crs_for, parse_crs
from twin.errors import SourceError
from twin.importers import ImportReport
from twin.importers.epanet import ELEVATION_TOLERANCE_M, dem_height_factor, lay_on_terrain, read_inp
from twin.model import Twin
from twin.network import network_layers
from twin.terrain import Terrain

FOOT_M = 0.3048
LOCAL_CRS_NAME = "Micropolis local grid"
#: Metres per storey when deriving floors from a building's height (documented guess).
STOREY_M = 3.0
#: A GIS valve and a TCV link are the same valve when within this distance (metres).  The
#: paired valves sit within 7 m of their link's midpoint; the nearest unpaired GIS valve is
#: 8.3 m from a TCV that already has a closer partner, so 10 m separates the two cleanly.
VALVE_MATCH_M = 10.0
#: A network pipe and a GIS main/service line are the same when the pipe's midpoint lies
#: this close to the line (metres): both were digitised from the same drawing.
LINE_MATCH_M = 1.0

MATERIALS = {"cast iron": "CI", "ductile iron": "DI", "asbestos cement": "AC", "copper": "copper",
             "plastic": "plastic", "pvc": "PVC", "steel": "steel"}
PIPE_ROLES = {"main": "main", "svconn": "service"}

#: Building use from the GIS facility type: the first keyword found decides.
_USE_KEYWORDS = (
    ("residential", ("single family", "apartment", "trailer")),
    ("accessory", ("shed",)),
    ("utility", ("wtp", "wwtp")),
    ("industrial", ("warehouse", "mill", "industrial", "lumber", "printing", "recycling")),
    ("public", ("school", "city hall", "fire station", "police", "post office", "library", "community",
                "church", "park building", "rail depot", "day care")),
)

#: Which shapefile is which, by the start of its name.
SHAPEFILES = ("buildings", "lots", "roads", "railroad", "streams", "waterbody", "hydrants", "valves",
              "water_nodes", "watermains", "waterservcon", "watertower")


class _Placement:
    """Where the city's feet coordinates go: the twin CRS and the function taking them there."""

    def __init__(self, crs):
        if crs is None:
            self.source_crs = None
            self.crs = local_metric_crs(LOCAL_CRS_NAME)
            self._transformer = None
            return
        source = parse_crs(crs, "--crs")
        unit = axis_unit_factor(source) if source.axis_info else 0.0
        if not source.is_projected or abs(unit - FOOT_M) > 1e-5:
            raise SourceError(f"--crs {crs!r}: the Micropolis coordinates are in feet; give the projected "
                              f"CRS in feet they are in (e.g. EPSG:2277), not {describe(source)}")
        self.source_crs = source
        self.crs = metric_crs_for(source)
        self._transformer = Transformer.from_crs(source, self.crs, always_xy=True)

    def xy(self, x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if self._transformer is None:
            return x * FOOT_M, y * FOOT_M
        return self._transformer.transform(x, y)

    def frame(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty].copy()
        if self._transformer is None:
            geoms = shapely.transform(frame.geometry.values, lambda c: c * FOOT_M)
            return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=self.crs))
        return frame.set_crs(self.source_crs, allow_override=True).to_crs(self.crs)


def import_micropolis(folder, crs=None, *, name: str = "Micropolis",
                      elevation_tolerance: float = ELEVATION_TOLERANCE_M) -> tuple[Twin, ImportReport]:
    """Build the Micropolis twin from its folder (``MICROPOLIS_v1.inp`` and ``gis/``).

    ``crs``: the projected CRS in feet the local coordinates are to be read in;
    by default they are scaled to metres in a local engineering CRS.
    """
    folder = Path(folder)
    if folder.is_file():
        raise SourceError(f"{folder}: is a file; give the Micropolis folder (the one holding the .inp and gis/)")
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such Micropolis folder")
    inp = _network_file(folder)
    gis = folder / "gis"
    if not gis.is_dir():
        raise SourceError(f"{folder}: no gis/ folder with the Micropolis shapefiles")
    report = ImportReport(source=str(folder))
    place = _Placement(crs)
    net = read_inp(inp, report)
    wn = net.model
    backdrop = re.search(r"(?im)^\s*UNITS\s+(\w+)", _section(inp, "BACKDROP"))
    if place.source_crs is None:
        report.source_crs = "local grid in feet (no .prj)"
        said = f" (the .inp's [BACKDROP] says UNITS {backdrop.group(1)})" if backdrop else ""
        report.notes.append(f"coordinates are local feet with no .prj{said}: scaled by {FOOT_M} to metres "
                               f"in the local engineering CRS {LOCAL_CRS_NAME!r}; pass --crs to place the "
                               "city in a real feet CRS instead")
    else:
        report.source_crs = describe(place.source_crs)
        report.guessed.append(f"local feet coordinates read as {describe(place.source_crs)} (--crs) and "
                              f"transformed to {describe(place.crs)}")
    _check_rules(inp, wn, report)
    net.place(place.xy)
    wn = net.model
    twin = Twin(name, place.crs, network=net)
    for layer, frame in network_layers(wn, place.crs).items():
        twin.set_layer(layer, frame, source=str(inp))

    shp = _shapefiles(gis, place, report)
    _pipe_attributes(twin, inp, shp, report)
    _terrain(twin, gis / "elevgrid", place, report)
    lay_on_terrain(twin, report, tolerance=elevation_tolerance)
    _valves(twin, shp.get("valves"), report)
    _hydrants(twin, shp.get("hydrants"), report)
    _buildings(twin, shp.get("buildings"), shp.get("lots"), report)
    _roads(twin, shp.get("roads"), report)
    _summaries(twin, shp, report)
    report.count_layers(twin)
    twin.metadata["import"] = report.as_dict()
    return twin, report


# --------------------------------------------------------------------------- files

def _network_file(folder: Path) -> Path:
    preferred = folder / "MICROPOLIS_v1.inp"
    if preferred.is_file():
        return preferred
    found = sorted(folder.glob("*.inp"))
    if len(found) != 1:
        raise SourceError(f"{folder}: expected one EPANET .inp file (MICROPOLIS_v1.inp), found {len(found)}")
    return found[0]


def _section(inp: Path, name: str) -> str:
    text = inp.read_text(encoding="utf-8", errors="replace")
    match = re.search(rf"(?ims)^\s*\[{name}\][^\n]*\n(.*?)(?=^\s*\[)", text)
    return match.group(1) if match else ""


def _shapefiles(gis: Path, place: _Placement, report: ImportReport) -> dict[str, gpd.GeoDataFrame]:
    """Every shapefile of the city, in the twin's CRS, by kind."""
    out = {}
    for file in sorted(gis.glob("*.shp")):
        kind = next((k for k in SHAPEFILES if file.stem.lower().startswith(k)), None)
        if kind is None:
            report.skipped.append(f"{file.name}: not a Micropolis layer this importer knows")
            continue
        try:
            frame = pyogrio.read_dataframe(file)
        except Exception as exc:  # pyogrio's DataSourceError and friends
            raise SourceError(f"{file}: cannot read shapefile ({' '.join(str(exc).split())})") from None
        empty = int((frame.geometry.isna() | frame.geometry.is_empty).sum())
        if empty:
            report.skipped.append(f"{file.name}: {empty} records without geometry")
        frame = place.frame(frame)
        frame.attrs["file"] = file.name
        out[kind] = frame
    missing = [k for k in SHAPEFILES if k not in out]
    if missing:
        report.warnings.append(f"{gis}: no shapefile for {', '.join(missing)}")
    return out


def _check_rules(inp: Path, wn, report: ImportReport) -> None:
    """The .inp's rules must all be in the model: WNTR 1.5 alone would have refused the file."""
    declared = re.findall(r"(?im)^\s*RULE\s+(\S+)", _section(inp, "RULES"))
    loaded = set(wn.control_name_list)
    lost = [r for r in declared if r not in loaded]
    if lost:
        raise SourceError(f"{inp}: rules {', '.join(lost)} were not loaded into the network")
    if declared:
        report.repaired.append(f"{inp.name}: {len(declared)} rules with 'CLOCKTIME >= 6 AM' read as '6:00 AM' "
                               "(same meaning; WNTR 1.5 rejects the bare hour); all loaded as controls")


# --------------------------------------------------------------------------- pipes

def _pipe_comments(inp: Path) -> dict[str, tuple[str | None, str | None, int | None]]:
    """Pipe id -> (role, material, install year) from the [PIPES] comments ``;main;cast iron;1910``."""
    out = {}
    for line in _section(inp, "PIPES").splitlines():
        body, _, comment = line.partition(";")
        fields = body.split()
        if not fields or not comment:
            continue
        parts = [p.strip() for p in comment.split(";")]
        role = PIPE_ROLES.get(parts[0].lower()) if parts and parts[0] else None
        material = parts[1].lower() if len(parts) > 1 and parts[1] else None
        year = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        out[fields[0]] = (role, MATERIALS.get(material, material) if material else None, year)
    return out


def _pipe_attributes(twin: Twin, inp: Path, shp: dict, report: ImportReport) -> None:
    pipes = twin["water_pipes"].copy()
    comments = _pipe_comments(inp)
    got = pipes["id"].map(comments)
    pipes["pipe_role"] = [c[0] if isinstance(c, tuple) else None for c in got]
    pipes["material"] = [c[1] if isinstance(c, tuple) else None for c in got]
    pipes["install_year"] = pd.array([c[2] if isinstance(c, tuple) else None for c in got], dtype="Int64")
    hydrant = pipes["id"].str.startswith("HC") & pipes["pipe_role"].isna()
    pipes.loc[hydrant, "pipe_role"] = "hydrant_lateral"
    n_comment = int(pipes["material"].notna().sum())
    report.notes.append(f"water_pipes: material and install year of {n_comment} of {len(pipes)} pipes from "
                           f"the .inp's pipe comments; {int(hydrant.sum())} HC pipes are hydrant laterals")
    for kind, role, label in (("watermains", "main", "mains"), ("waterservcon", "service", "service pipes")):
        gis = shp.get(kind)
        if gis is None:
            continue
        _match_lines(pipes, gis, role, label, report)
    twin.set_layer("water_pipes", pipes, source=str(inp))


def _match_lines(pipes: gpd.GeoDataFrame, gis: gpd.GeoDataFrame, role: str, label: str,
                 report: ImportReport) -> None:
    """Check (and fill) pipe material/year/diameter against a GIS line layer by position."""
    cols = {c.lower(): c for c in gis.columns}
    year_col = cols.get("year")
    mat_col = cols.get("pipemat") or cols.get("svconnmat")
    size_col = cols.get("pipesize") or cols.get("svconnsize")
    mine = pipes[pipes["pipe_role"] == role]
    if mine.empty:
        return
    mids = gpd.GeoDataFrame({"pipe": mine["id"].to_numpy()},
                            geometry=mine.geometry.interpolate(0.5, normalized=True).to_numpy(), crs=pipes.crs)
    hit = gpd.sjoin_nearest(mids, gis.reset_index(drop=True), how="left", max_distance=LINE_MATCH_M,
                            distance_col="_d")
    hit = hit[~hit["pipe"].duplicated()].set_index("pipe")
    matched = hit["index_right"].notna()
    n = int(matched.sum())
    hit = hit[matched]
    idx = pipes.set_index("id").loc[hit.index]
    notes = [f"{n} of {len(mine)} network {label} lie on a GIS line of {gis.attrs.get('file', '')} "
             f"(within {LINE_MATCH_M:g} m)"]
    if mat_col:
        gis_mat = hit[mat_col].map(lambda v: MATERIALS.get(str(v).strip().lower(), str(v).strip().lower())
                                   if isinstance(v, str) else None)
        agree = int((gis_mat == idx["material"]).sum())
        fill = idx["material"].isna() & gis_mat.notna()
        pipes.loc[pipes["id"].isin(fill[fill].index), "material"] = pipes["id"].map(gis_mat)
        notes.append(f"material agrees on {agree}" + (f", filled {int(fill.sum())}" if fill.any() else ""))
    if year_col:
        gis_year = pd.to_numeric(hit[year_col], errors="coerce").where(lambda s: s > 1700)
        agree = int((gis_year == idx["install_year"].astype("float64")).sum())
        fill = idx["install_year"].isna() & gis_year.notna()
        if fill.any():
            pipes.loc[pipes["id"].isin(fill[fill].index), "install_year"] = \
                pipes["id"].map(gis_year).round().astype("Int64")
        notes.append(f"install year agrees on {agree}" + (f", filled {int(fill.sum())}" if fill.any() else ""))
    if size_col:
        inches = pd.to_numeric(hit[size_col], errors="coerce")
        agree = int((np.abs(inches * 0.0254 - idx["diameter"]) < 0.002).sum())
        notes.append(f"diameter ({size_col} inches) agrees on {agree}")
    report.notes.append("; ".join(notes))


# --------------------------------------------------------------------------- terrain

def _terrain(twin: Twin, grid: Path, place: _Placement, report: ImportReport) -> None:
    if not grid.exists():
        report.warnings.append(f"{grid}: no elevation grid; no terrain, no burial depths")
        return
    # The grid has no .prj: it is labelled with the CRS it is placed in, then scaled or warped below.
    grid_terrain = Terrain.read(grid, crs=place.source_crs or place.crs)
    heights, transform = grid_terrain.heights, grid_terrain.transform
    junctions = twin["water_junctions"]
    reference = (junctions.geometry.x.to_numpy(), junctions.geometry.y.to_numpy(),
                 junctions["elevation"].to_numpy())
    if place.source_crs is None:
        # Planimetric feet -> metres is a pure scale of the grid's affine transform.
        metric = Terrain(heights, Affine.scale(FOOT_M) @ transform, place.crs)
        factor = dem_height_factor(grid, metric, place.crs, reference, "auto", report,
                                   horizontal=("feet (the grid's horizontal unit)", FOOT_M))
        twin.terrain = Terrain(heights * factor, metric.transform, place.crs)
    else:
        native = Terrain(heights, transform, place.source_crs)
        factor = dem_height_factor(grid, native, place.crs, reference, "auto", report)
        twin.terrain = native.reprojected(place.crs, scale_z=factor)
    rows, cols = heights.shape
    report.notes.append(f"elevgrid: ArcInfo grid {rows}x{cols} cells of {abs(transform.a):.1f} ft "
                           f"({abs(transform.a) * FOOT_M:.1f} m) is the terrain")


# --------------------------------------------------------------------------- valves and hydrants

def _valves(twin: Twin, gis: gpd.GeoDataFrame | None, report: ImportReport) -> None:
    """Pair GIS valves with TCV links; the rest become isolation valves on the nearest pipe."""
    valves = twin["water_valves"].copy()
    valves["gis_index"] = pd.array([None] * len(valves), dtype="Int64")
    valves["gis_distance"] = np.nan
    if gis is None or gis.empty or valves.empty:
        if gis is not None and len(gis):
            report.warnings.append(f"{gis.attrs.get('file', 'valves')}: {len(gis)} GIS valves but the "
                                   "network has no valve links; they are isolation valves on the nearest pipe")
            isolation = _isolation_valves(twin, gis)
            twin.set_layer("water_valves", isolation, source=gis.attrs.get("file", "valves"))
        return
    points = np.column_stack([gis.geometry.x, gis.geometry.y])
    links = np.column_stack([valves.geometry.x, valves.geometry.y])
    cost = np.hypot(points[:, None, 0] - links[None, :, 0], points[:, None, 1] - links[None, :, 1])
    gated = np.where(cost <= VALVE_MATCH_M, cost, 1e9)
    rows, cols = linear_sum_assignment(gated)
    keep = gated[rows, cols] < 1e9
    rows, cols = rows[keep], cols[keep]
    if not len(rows):
        report.warnings.append(f"{gis.attrs.get('file', 'valves')}: no GIS valve lies within "
                               f"{VALVE_MATCH_M:g} m of a TCV link; are the layers in the same coordinates?")
    gis_index = gis.index.to_numpy()
    valves.loc[valves.index[cols], "gis_index"] = gis_index[rows]
    valves.loc[valves.index[cols], "gis_distance"] = cost[rows, cols]
    paired = cost[rows, cols]
    lone_links = valves[valves["gis_index"].isna()]
    notes = [f"{gis.attrs.get('file', 'valves')}: {len(gis)} GIS valves vs {len(valves)} TCV links: "
             f"{len(rows)} paired one-to-one by position" +
             (f" (median {np.median(paired):.2f} m, max {paired.max():.2f} m)" if len(paired) else "")]
    if len(lone_links) > 5:
        notes.append(f"{len(lone_links)} TCV links have no GIS valve within {VALVE_MATCH_M:g} m: "
                     f"{', '.join(lone_links['id'].head(5))} ...")
        lone_links = lone_links.iloc[:0]
    for _, link in lone_links.iterrows():
        k = int(np.argmin(cost[:, link.name]))
        partner = valves.loc[valves["gis_index"] == gis_index[k], "id"]
        with_whom = f", which is paired with {partner.iloc[0]}" if len(partner) else ""
        notes.append(f"TCV {link['id']} has no GIS valve of its own (nearest GIS valve #{gis_index[k]} at "
                     f"{cost[k, link.name]:.1f} m{with_whom})")
    used = set(rows)
    spare = gis.iloc[[i for i in range(len(gis)) if i not in used]]
    isolation = _isolation_valves(twin, spare)
    if len(isolation):
        listed = ", ".join(f"#{g} on {p} ({d:.1f} m)" for g, p, d in
                           zip(isolation["gis_index"][:10], isolation["pipe_id"][:10],
                               isolation["gis_distance"][:10]))
        notes.append(f"{len(isolation)} GIS valves with no TCV link are isolation valves on the nearest pipe: "
                     f"{listed}{' ...' if len(isolation) > 10 else ''}")
    report.notes.append("; ".join(notes))
    merged = pd.concat([valves, isolation], ignore_index=True) if len(isolation) else valves
    merged["gis_index"] = merged["gis_index"].astype("Int64")
    twin.set_layer("water_valves", gpd.GeoDataFrame(merged, geometry="geometry", crs=twin.crs),
                   source=gis.attrs.get("file", "valves"))


def _isolation_valves(twin: Twin, spare: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    pipes = twin["water_pipes"]
    if spare.empty or pipes.empty:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=twin.crs), crs=twin.crs)
    tree = shapely.STRtree(pipes.geometry.values)
    pairs = tree.query_nearest(spare.geometry.values, return_distance=True, all_matches=False)
    (src, dst), dist = pairs
    rows, geoms = [], []
    for i, j, d in zip(src, dst, dist):
        pipe = pipes.iloc[j]
        line = pipe.geometry
        point = spare.geometry.iloc[i]
        along = line.project(point)
        # The valve guards the side of the pipe it sits nearer to.
        node = pipe["start_node"] if along <= line.length / 2 else pipe["end_node"]
        gis_i = int(spare.index[i])
        rows.append({"id": f"GV{gis_i}", "valve_type": "isolation", "pipe_id": pipe["id"], "node_id": node,
                     "diameter": float(pipe["diameter"]), "operable": True, "gis_index": gis_i,
                     "gis_distance": float(d)})
        geoms.append(line.interpolate(along))
    frame = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs=twin.crs), crs=twin.crs)
    frame["gis_index"] = frame["gis_index"].astype("Int64")
    return frame


def _hydrants(twin: Twin, gis: gpd.GeoDataFrame | None, report: ImportReport) -> None:
    if gis is None or gis.empty:
        return
    junctions = twin["water_junctions"]
    cols = {c.lower(): c for c in gis.columns}
    ids = gis[cols["id"]].astype(str).str.strip() if "id" in cols else pd.Series(
        [f"H{i}" for i in gis.index], index=gis.index)
    xy = np.column_stack([junctions.geometry.x, junctions.geometry.y])
    where = dict(zip(junctions["id"], map(tuple, xy)))
    tree = cKDTree(xy)
    pts = np.column_stack([gis.geometry.x, gis.geometry.y])
    near_d, near_i = tree.query(pts)
    node_ids, dists, by_name = [], [], 0
    for k, hid in enumerate(ids):
        if hid in where:  # the hydrant's own junction (HY46): where its fire flow is drawn
            node_ids.append(hid)
            dists.append(float(np.hypot(*(pts[k] - np.array(where[hid])))))
            by_name += 1
        else:
            node_ids.append(str(junctions["id"].iloc[near_i[k]]))
            dists.append(float(near_d[k]))
    frame = gpd.GeoDataFrame({"id": ids.to_numpy(), "node_id": node_ids, "distance_to_node": dists},
                             geometry=gis.geometry.to_numpy(), crs=twin.crs)
    twin.set_layer("hydrants", frame, source=gis.attrs.get("file", "hydrants"))
    report.notes.append(f"hydrants: {by_name} of {len(frame)} joined to their own hydrant junction by id, "
                           f"{len(frame) - by_name} to the nearest junction; max distance "
                           f"{max(dists):.2f} m")


# --------------------------------------------------------------------------- ground

def _use(facility: str | None, zone: str | None) -> str:
    text = (facility or "").lower()
    for use, words in _USE_KEYWORDS:
        if any(w in text for w in words):
            return use
    if text:
        return "commercial"
    return (zone or "").lower().replace("trailer park", "residential") or "unknown"


def _buildings(twin: Twin, gis: gpd.GeoDataFrame | None, lots: gpd.GeoDataFrame | None,
               report: ImportReport) -> None:
    if gis is None or gis.empty:
        return
    cols = {c.lower(): c for c in gis.columns}
    if "height" not in cols:
        raise SourceError(f"{gis.attrs.get('file', 'buildings')}: no HEIGHT column")
    raw_h = pd.to_numeric(gis[cols["height"]], errors="coerce")
    height = raw_h * FOOT_M
    ids = gis[cols["id"]].astype(str) if "id" in cols and gis[cols["id"]].is_unique else \
        pd.Series([str(i) for i in gis.index], index=gis.index)
    facility = gis[cols["facility_t"]] if "facility_t" in cols else pd.Series([None] * len(gis), index=gis.index)
    out = gpd.GeoDataFrame({"id": ids.to_numpy(), "height": height.to_numpy(),
                            "floors": np.maximum(1, np.floor(height.to_numpy() / STOREY_M)).astype(int),
                            "population": pd.to_numeric(gis[cols["pop"]], errors="coerce").round()
                            .astype("Int64").to_numpy() if "pop" in cols else None,
                            "facility": facility.to_numpy()},
                           geometry=gis.geometry.to_numpy(), crs=twin.crs)
    single = facility.astype(str).str.lower().str.startswith("single family")
    report.guessed.append(
        f"buildings: HEIGHT read as feet (x {FOOT_M}): single-family houses are {raw_h[single].median():g} "
        f"— a one-storey house in feet, a 4-storey one in metres — and the paper's units are US customary; "
        f"heights {height.min():.1f}-{height.max():.1f} m; floors = height / {STOREY_M:g} m (at least 1)")
    centroids = out.geometry.representative_point()
    zone = pd.Series([None] * len(out), index=out.index, dtype=object)
    if lots is not None and not lots.empty:
        lcols = {c.lower(): c for c in lots.columns}
        lot_id = lots[lcols["fid_1"]].astype(str) if "fid_1" in lcols else pd.Series(lots.index.astype(str),
                                                                                     index=lots.index)
        lot_frame = gpd.GeoDataFrame({"lot_id": lot_id.to_numpy(),
                                      "zone": lots[lcols["zone_type"]].to_numpy() if "zone_type" in lcols
                                      else None}, geometry=lots.geometry.to_numpy(), crs=twin.crs)
        hit = gpd.sjoin(gpd.GeoDataFrame(geometry=centroids, crs=twin.crs), lot_frame, how="left",
                        predicate="within")
        hit = hit[~hit.index.duplicated()]
        out["lot_id"] = hit["lot_id"].to_numpy()
        zone = hit["zone"]
        out["zone"] = zone.to_numpy()
        on_lot = int(hit["lot_id"].notna().sum())
        lot_pop = int(pd.to_numeric(lots[lcols["pop"]], errors="coerce").sum()) if "pop" in lcols else 0
        report.skipped.append(
            f"{lots.attrs.get('file', 'lots')}: {len(lots)} lots are not a twin layer; {on_lot} of {len(out)} "
            f"buildings take their lot's id and zone (ZONE_TYPE); lots' POP totals {lot_pop} against "
            f"{int(out['population'].sum())} in the buildings — the buildings' POP is kept as population")
    out["use"] = [_use(f if isinstance(f, str) else None, z if isinstance(z, str) else None)
                  for f, z in zip(facility, zone)]
    uses = out["use"].value_counts()
    report.guessed.append("buildings: use from FACILITY_T (then lot zone): "
                          + ", ".join(f"{u} {n}" for u, n in uses.items()))
    if twin.terrain is not None:
        out["base_elevation"] = twin.terrain.sample(centroids.x.to_numpy(), centroids.y.to_numpy())
    junctions = twin["water_junctions"]
    served = junctions[junctions["base_demand"] > 0]
    if len(served):
        tree = cKDTree(np.column_stack([served.geometry.x, served.geometry.y]))
        d, i = tree.query(np.column_stack([centroids.x, centroids.y]))
        out["junction_id"] = served["id"].to_numpy()[i]
        report.guessed.append(f"buildings: junction_id = nearest demand junction (median {np.median(d):.1f} m, "
                              f"max {d.max():.1f} m)")
    twin.set_layer("buildings", out, source=gis.attrs.get("file", "buildings"))


def _roads(twin: Twin, gis: gpd.GeoDataFrame | None, report: ImportReport) -> None:
    """Roads carry no attributes: through streets spanning the town are collectors, the rest local."""
    if gis is None or gis.empty:
        return
    lengths = gis.geometry.length.to_numpy()
    span = max(twin.extent[2] - twin.extent[0], twin.extent[3] - twin.extent[1]) if twin.extent else 0
    through = lengths >= 0.75 * span
    frame = gpd.GeoDataFrame({"id": [f"R{i}" for i in gis.index],
                              "road_class": np.where(through, "secondary", "residential"),
                              "speed_kmh": np.where(through, 56.0, 40.0)},
                             geometry=gis.geometry.to_numpy(), crs=twin.crs)
    twin.set_layer("roads", frame, source=gis.attrs.get("file", "roads"))
    report.guessed.append(f"roads: the shapefile has no class or speed; {int(through.sum())} streets crossing "
                          f"the town (>= {0.75 * span / 1000:.1f} km) are 'secondary' at 56 km/h (35 mph), "
                          f"the other {int((~through).sum())} 'residential' at 40 km/h (25 mph)")


def _summaries(twin: Twin, shp: dict, report: ImportReport) -> None:
    """What has no twin layer: say what it is and how it relates to what was imported."""
    for kind, what in (("railroad", "railway"), ("streams", "stream")):
        frame = shp.get(kind)
        if frame is not None:
            report.skipped.append(f"{frame.attrs['file']}: {len(frame)} {what} line(s), "
                                  f"{frame.geometry.length.sum() / 1000:.2f} km — no {what} layer in the twin")
    body = shp.get("waterbody")
    if body is not None:
        report.skipped.append(f"{body.attrs['file']}: {len(body)} water body, "
                              f"{body.geometry.area.sum() / 1e4:.1f} ha — no water-body layer in the twin")
    nodes = shp.get("water_nodes")
    if nodes is not None:
        xy = np.column_stack([twin["water_junctions"].geometry.x, twin["water_junctions"].geometry.y])
        d, _ = cKDTree(xy).query(np.column_stack([nodes.geometry.x, nodes.geometry.y]))
        report.skipped.append(f"{nodes.attrs['file']}: {len(nodes)} GIS water nodes, {int((d < 0.5).sum())} "
                              f"within 0.5 m of a network junction; the network's "
                              f"{len(twin['water_junctions'])} junctions are the layer")
    tower = shp.get("watertower")
    tanks = twin["water_tanks"]
    if tower is not None and len(tanks):
        d = tanks.geometry.distance(tower.geometry.iloc[0])
        tank = tanks["id"].iloc[int(d.argmin())]
        report.skipped.append(f"{tower.attrs['file']}: the water tower is network tank {tank!r} "
                              f"({d.min():.1f} m apart)")
