"""The town's storm drainage as a SWMM 5 model, from the twin's layers (rules in ``docs/drainage.md``).

:func:`town_drainage` reads the twin once (the slow part) into a
:class:`TownDrainage`: junctions, outfalls, conduits and subcatchments;
:meth:`TownDrainage.inp` writes them as SWMM text for a storm and a session's
times (fast, so each session or replication writes its own).

* **Junctions**: every storm manhole (``manholes.well_type == "storm"``) on a
  storm drain; invert = rim - depth, maximum depth = rim - invert, ponded area
  :data:`~simulation.drainage.roads.STREET_AREA_M2` (``ALLOW_PONDING YES``), so
  a flooding manhole's water stands on its street and drains back.
* **Outfalls**: a manhole with no storm drain leaving it is a low point of
  the town's drains (the creek): a free outfall ``OF-<manhole>`` 0.3 m below
  it, joined by a 10 m pipe as large as the largest pipe arriving (SWMM allows
  one link at an outfall).
* **Conduits**: every storm sewer (``sewers.kind == "storm"``), circular,
  diameter as in the layer, length of its line (at least 1 m), offsets =
  pipe invert - manhole invert (never below 0), Manning's n by material
  (:data:`MANNING_N`).
* **Subcatchments**: the town within :data:`CATCHMENT_REACH_M` of a storm
  drain is split among the storm manholes by nearest manhole (Voronoi cells);
  each cell drains to its manhole.  Roofs (buildings by centroid) and roads
  (lines sampled every 5 m, ``lanes`` x 3.5 m wide) are 100 % impervious; the
  rest of the cell is impervious by the cell's main building use
  (:data:`REST_IMPERVIOUS`).  Width = 2 x the length of drain at the manhole
  (half of each pipe at it): runoff reaches the drain from both sides
  (Rossman & Huber 2016, SWMM Reference Manual Vol. I, §3.5: width = area /
  overland flow length).  Slope = the DEM's gradient at the cell's centroid
  (0.5-20 %).  Horton infiltration for loam (:data:`HORTON`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import shapely

from simulation.drainage.roads import STREET_AREA_M2
from simulation.drainage.storm import Hyetograph
from twin.importers.swmm import SwmmModel

#: Manning's n of closed conduits by material: mid-range values of the SWMM 5 User's Manual
#: (Rossman 2015, EPA/600/R-14/413b, Appendix A.6, after ASCE 1982): smooth plastic 0.011,
#: concrete and clay 0.013, corrugated metal 0.024; other materials 0.013.
MANNING_N = {"PVC": 0.011, "HDPE": 0.011, "PE": 0.011, "RC": 0.013, "CONCRETE": 0.013, "VC": 0.013,
             "CLAY": 0.013, "CI": 0.013, "DI": 0.013, "CMP": 0.024}
DEFAULT_N = 0.013
#: Overland Manning's n (SWMM 5 User's Manual, Appendix A.5, after McCuen et al. 1996): smooth
#: asphalt 0.011 on impervious areas, short grass 0.15 on pervious ones.
N_IMPERVIOUS, N_PERVIOUS = 0.011, 0.15
#: Depression storage, mm (Appendix A.5, after ASCE 1992: 0.05-0.10 in impervious, 0.10-0.20 in lawns).
STORE_IMPERVIOUS_MM, STORE_PERVIOUS_MM = 1.9, 3.8
#: Share of the impervious area with no depression storage (SWMM's default).
PCT_ZERO = 25.0
#: Horton infiltration for a loam (SWMM 5 User's Manual §3.3.4 and Appendix A.2-A.3): maximum rate
#: 76.2 mm/h (3 in/h, dry loam), minimum rate 3.3 mm/h (the loam's saturated conductivity,
#: 0.13 in/h), decay 4 /h, 7 days to dry, no maximum volume.
HORTON = (76.2, 3.3, 4.0, 7.0, 0.0)
#: How far from a storm drain the town drains into it, m (about a block's depth either side).
CATCHMENT_REACH_M = 60.0
#: Impervious share of a cell beyond roofs and roads (paving, yards, car parks), by main building use.
REST_IMPERVIOUS = {"residential": 0.15, "commercial": 0.50, "industrial": 0.50, "public": 0.30}
REST_IMPERVIOUS_NONE = 0.05
LANE_M = 3.5
ROAD_SAMPLE_M = 5.0
OUTFALL_DROP_M, OUTFALL_LINK_M = 0.3, 10.0
ROUTING_STEP_S = 5


@dataclass
class TownDrainage:
    """The town's storm drainage, ready to write as SWMM text."""

    name: str
    junctions: pd.DataFrame       # id, x, y, invert, max_depth
    outfalls: pd.DataFrame        # id, x, y, invert, manhole
    conduits: pd.DataFrame        # id, from_node, to_node, length, roughness, in_offset, out_offset, diameter
    subcatchments: pd.DataFrame   # id, outlet, area_ha, imperv_pct, width_m, slope_pct, roof_m2, road_m2, x, y

    def inp(self, rain: Hyetograph | None, start: float, end: float) -> SwmmModel:
        """The SWMM model for a session from ``start`` to ``end`` (UTC POSIX s) under ``rain``."""
        return SwmmModel(self.name, town_inp(self, rain, start, end))

    def node_xy(self) -> dict[str, tuple[float, float]]:
        both = pd.concat([self.junctions[["id", "x", "y"]], self.outfalls[["id", "x", "y"]]])
        return {i: (x, y) for i, x, y in both.itertuples(index=False)}


def town_drainage(twin, name: str | None = None) -> TownDrainage:
    """Read the twin's storm drains, manholes, buildings, roads and terrain (rules in the module)."""
    sewers = twin["sewers"]
    sewers = sewers[sewers["kind"] == "storm"]
    manholes = twin["manholes"]
    manholes = manholes[manholes["well_type"] == "storm"].set_index("id")
    if sewers.empty:
        raise ValueError(f"{twin.name}: the twin has no storm sewers (sewers with kind 'storm') to build a model from")
    used = pd.unique(pd.concat([sewers["upstream_manhole"], sewers["downstream_manhole"]]))
    missing = [m for m in used if m not in manholes.index]
    if missing:
        raise ValueError(f"{twin.name}: storm sewers end at manholes not in the manholes layer: "
                         f"{', '.join(map(str, missing[:5]))}")
    mh = manholes.loc[used]
    invert = (mh["rim_elevation"] - mh["depth"]).to_numpy(float)
    junctions = pd.DataFrame({"id": mh.index.astype(str), "x": mh.geometry.x.to_numpy(),
                              "y": mh.geometry.y.to_numpy(), "invert": invert,
                              "max_depth": mh["depth"].to_numpy(float)})
    node_invert = dict(zip(junctions["id"], invert))
    length = np.maximum(shapely.length(sewers.geometry.values), 1.0)
    material = sewers["material"].fillna("").astype(str).str.upper()
    conduits = pd.DataFrame({
        "id": sewers["id"].astype(str).to_numpy(), "from_node": sewers["upstream_manhole"].astype(str).to_numpy(),
        "to_node": sewers["downstream_manhole"].astype(str).to_numpy(), "length": length,
        "roughness": material.map(MANNING_N).fillna(DEFAULT_N).to_numpy(),
        "in_offset": np.maximum(sewers["upstream_invert"].to_numpy(float)
                                - sewers["upstream_manhole"].map(node_invert).to_numpy(float), 0.0),
        "out_offset": np.maximum(sewers["downstream_invert"].to_numpy(float)
                                 - sewers["downstream_manhole"].map(node_invert).to_numpy(float), 0.0),
        "diameter": sewers["diameter"].fillna(0.3).to_numpy(float)})
    low = sorted(set(junctions["id"]) - set(conduits["from_node"]))
    biggest = conduits.groupby("to_node")["diameter"].max()
    j = junctions.set_index("id")
    outfalls = pd.DataFrame({"id": [f"OF-{m}" for m in low], "x": j.loc[low, "x"].to_numpy() + 5.0,
                             "y": j.loc[low, "y"].to_numpy(), "manhole": low,
                             "invert": j.loc[low, "invert"].to_numpy() - OUTFALL_DROP_M})
    links = pd.DataFrame({"id": [f"OL-{m}" for m in low], "from_node": low, "to_node": outfalls["id"].to_numpy(),
                          "length": OUTFALL_LINK_M, "roughness": DEFAULT_N, "in_offset": 0.0, "out_offset": 0.0,
                          "diameter": biggest.reindex(low).fillna(0.375).to_numpy()})
    conduits = pd.concat([conduits, links], ignore_index=True)
    subcatchments = _subcatchments(twin, junctions, sewers)
    return TownDrainage(name or f"{twin.name} storm drainage", junctions, outfalls, conduits, subcatchments)


def _subcatchments(twin, junctions: pd.DataFrame, sewers) -> pd.DataFrame:
    xy = junctions[["x", "y"]].to_numpy()
    points = shapely.points(xy)
    drains = sewers.geometry.values
    zone = shapely.union_all(shapely.buffer(drains, CATCHMENT_REACH_M, quad_segs=4))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points),
                                                       extend_to=shapely.buffer(zone, 10.0)))
    tree = shapely.STRtree(cells)
    pi, ci = tree.query(points, predicate="within")
    cell_of = np.full(len(points), None, dtype=object)
    cell_of[pi] = cells[ci]
    empty = np.array([c is None for c in cell_of])
    cell_of[empty] = shapely.buffer(points[empty], 1.0)
    areas_geom = shapely.intersection(np.asarray(list(cell_of)), zone)
    area = shapely.area(areas_geom)
    nearest = shapely.STRtree(points)
    drain_tree = shapely.STRtree(drains)

    def assign(geoms):
        """Index of the nearest junction for geometries within the zone (-1 outside)."""
        out = np.full(len(geoms), -1)
        inside, _ = drain_tree.query(geoms, predicate="dwithin", distance=CATCHMENT_REACH_M)
        inside = np.unique(inside)
        if len(inside):
            out[inside] = nearest.nearest(geoms[inside])
        return out

    n = len(points)
    buildings = twin["buildings"]
    roof = np.zeros(n)
    use_area = {}
    if len(buildings):
        centroids = shapely.centroid(buildings.geometry.values)
        owner = assign(centroids)
        ok = owner >= 0
        footprint = shapely.area(buildings.geometry.values)
        roof = np.bincount(owner[ok], weights=footprint[ok], minlength=n)
        uses = buildings["use"].fillna("").astype(str).to_numpy()
        for use in REST_IMPERVIOUS:
            m = ok & (uses == use)
            use_area[use] = np.bincount(owner[m], weights=footprint[m], minlength=n)
    road = np.zeros(n)
    roads = twin["roads"]
    if len(roads):
        lines = roads.geometry.values
        lengths = shapely.length(lines)
        counts = np.maximum(np.ceil(lengths / ROAD_SAMPLE_M).astype(int), 1)
        which = np.repeat(np.arange(len(lines)), counts)
        frac = np.concatenate([(np.arange(c) + 0.5) / c for c in counts])
        samples = shapely.line_interpolate_point(lines[which], frac, normalized=True)
        owner = assign(samples)
        ok = owner >= 0
        lanes = pd.to_numeric(roads["lanes"], errors="coerce").fillna(2).clip(lower=1).to_numpy()
        piece = (lengths / counts * lanes * LANE_M)[which]
        road = np.bincount(owner[ok], weights=piece[ok], minlength=n)
    hard = np.minimum(roof + road, area)
    main_use = np.full(n, "", dtype=object)
    if use_area:
        table = np.vstack([use_area[u] for u in REST_IMPERVIOUS])
        has = table.sum(axis=0) > 0
        main_use[has] = np.array(list(REST_IMPERVIOUS))[table[:, has].argmax(axis=0)]
    rest = np.array([REST_IMPERVIOUS.get(u, REST_IMPERVIOUS_NONE) for u in main_use])
    with np.errstate(invalid="ignore", divide="ignore"):
        imperv = np.where(area > 0, 100.0 * (hard + rest * (area - hard)) / area, 0.0)
    half = (pd.concat([pd.Series(shapely.length(drains) / 2, index=sewers["upstream_manhole"].to_numpy()),
                       pd.Series(shapely.length(drains) / 2, index=sewers["downstream_manhole"].to_numpy())])
            .groupby(level=0).sum().reindex(junctions["id"]).fillna(0.0).to_numpy())
    width = np.maximum(2.0 * half, 10.0)
    centre = shapely.get_coordinates(shapely.centroid(areas_geom))
    slope = _slope_pct(twin, centre)
    keep = area >= 10.0
    return pd.DataFrame({"id": [f"S-{j}" for j in junctions["id"]], "outlet": junctions["id"].to_numpy(),
                         "area_ha": area / 1e4, "imperv_pct": np.clip(imperv, 0.0, 100.0), "width_m": width,
                         "slope_pct": slope, "roof_m2": roof, "road_m2": road,
                         "x": centre[:, 0], "y": centre[:, 1]})[keep].reset_index(drop=True)


def _slope_pct(twin, xy: np.ndarray) -> np.ndarray:
    terrain = twin.terrain
    if terrain is None or len(xy) == 0:
        return np.full(len(xy), 1.0)
    dx, dy = terrain.cell_size
    gy, gx = np.gradient(terrain.heights, dy, dx)
    from twin.terrain import Terrain

    grad = Terrain(np.hypot(gx, gy), terrain.transform, terrain.crs)
    s = grad.sample(xy[:, 0], xy[:, 1]) * 100.0
    return np.clip(np.nan_to_num(s, nan=1.0), 0.5, 20.0)


def _date(t: float) -> tuple[str, str]:
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    return d.strftime("%m/%d/%Y"), d.strftime("%H:%M:%S")


def town_inp(town: TownDrainage, rain: Hyetograph | None, start: float, end: float) -> str:
    """SWMM 5 text of the town's drainage for a run from ``start`` to ``end`` (UTC POSIX s)."""
    rain = rain or Hyetograph((0.0,), 3600.0, 0.0, "storm")
    (sd, st), (ed, et) = _date(start), _date(end)
    step = int(round(rain.step_s))
    interval = f"{step // 3600}:{(step % 3600) // 60:02d}"
    if step % 60 or step < 60:
        raise ValueError(f"rain: time step {rain.step_s:g} s must be a whole number of minutes for SWMM")
    out = ["[TITLE]", town.name, "", "[OPTIONS]"]
    out += [f"{k:<20} {v}" for k, v in (
        ("FLOW_UNITS", "LPS"), ("INFILTRATION", "HORTON"), ("FLOW_ROUTING", "DYNWAVE"), ("LINK_OFFSETS", "DEPTH"),
        ("ALLOW_PONDING", "YES"), ("SKIP_STEADY_STATE", "NO"), ("START_DATE", sd), ("START_TIME", st),
        ("REPORT_START_DATE", sd), ("REPORT_START_TIME", st), ("END_DATE", ed), ("END_TIME", et),
        ("SWEEP_START", "01/01"), ("SWEEP_END", "12/31"), ("DRY_DAYS", "0"), ("REPORT_STEP", "00:01:00"),
        ("WET_STEP", "00:01:00"), ("DRY_STEP", "00:05:00"), ("ROUTING_STEP", f"0:00:{ROUTING_STEP_S:02d}"),
        ("INERTIAL_DAMPING", "PARTIAL"), ("NORMAL_FLOW_LIMITED", "BOTH"), ("FORCE_MAIN_EQUATION", "H-W"),
        ("VARIABLE_STEP", "0.75"), ("LENGTHENING_STEP", "0"), ("MIN_SURFAREA", "1.167"), ("MAX_TRIALS", "8"),
        ("HEAD_TOLERANCE", "0.0015"), ("SYS_FLOW_TOL", "5"), ("LAT_FLOW_TOL", "5"), ("MINIMUM_STEP", "0.5"),
        ("THREADS", "1"))]
    out += ["", "[RAINGAGES]", f"RG1 INTENSITY {interval} 1.0 TIMESERIES {rain.series_name}", "",
            "[SUBCATCHMENTS]"]
    sc = town.subcatchments
    out += [f"{r.id} RG1 {r.outlet} {r.area_ha:.6f} {r.imperv_pct:.3f} {r.width_m:.3f} {r.slope_pct:.3f} 0"
            for r in sc.itertuples()]
    out += ["", "[SUBAREAS]"]
    out += [f"{r.id} {N_IMPERVIOUS} {N_PERVIOUS} {STORE_IMPERVIOUS_MM} {STORE_PERVIOUS_MM} {PCT_ZERO} OUTLET"
            for r in sc.itertuples()]
    out += ["", "[INFILTRATION]"]
    out += [f"{r.id} " + " ".join(f"{v:g}" for v in HORTON) for r in sc.itertuples()]
    out += ["", "[JUNCTIONS]"]
    out += [f"{r.id} {r.invert:.3f} {r.max_depth:.3f} 0 0 {STREET_AREA_M2:g}" for r in town.junctions.itertuples()]
    out += ["", "[OUTFALLS]"]
    out += [f"{r.id} {r.invert:.3f} FREE NO" for r in town.outfalls.itertuples()]
    out += ["", "[CONDUITS]"]
    out += [f"{r.id} {r.from_node} {r.to_node} {r.length:.3f} {r.roughness} {r.in_offset:.3f} {r.out_offset:.3f} 0 0"
            for r in town.conduits.itertuples()]
    out += ["", "[XSECTIONS]"]
    out += [f"{r.id} CIRCULAR {r.diameter:.3f} 0 0 0 1" for r in town.conduits.itertuples()]
    out += ["", "[TIMESERIES]"] + rain.swmm_timeseries()
    out += ["", "[REPORT]", "INPUT NO", "CONTROLS NO", "SUBCATCHMENTS NONE", "NODES ALL", "LINKS ALL", "",
            "[COORDINATES]"]
    out += [f"{r.id} {r.x:.3f} {r.y:.3f}" for r in pd.concat([town.junctions, town.outfalls]).itertuples()]
    out += ["", "[Polygons]"]
    out += [f"{r.id} {r.x:.3f} {r.y:.3f}" for r in sc.itertuples()]
    return "\n".join(out) + "\n"
