"""How each layer of the twin is drawn: its kind of geometry, placement and default look.

One builder per kind (buried pipe network, draped road, marker, shaft, prism,
airspace, corridor, track); each turns a whole layer into ONE merged mesh whose
cells carry ``feature_index`` (row of the feature in the layer).  Features with
empty or invalid geometry are left out and reported, so the scene can warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyvista as pv
import shapely

from app.scene import lines as line_mesh
from app.scene.frame import SceneFrame
from app.scene.markers import instances
from app.scene.prisms import extrude, footprints, part_vertex_stats

#: Altitudes of the low-altitude layers (``floor_m``, ``ceiling_m``, the Z of corridors
#: and tracks) are elevations on the DEM's vertical datum, as aeronautical charts give
#: them; a track point without Z is drawn this far above the ground (m).
DEFAULT_AGL = 60.0

#: Layers with more line segments than this are drawn as wide lines instead of tube
#: geometry (8 quads per segment).  Measured on Mesa's software GL at 100k segments:
#: VTK's render-lines-as-tubes shader costs 4x plain wide lines, so plain lines it is.
TUBE_SEGMENT_LIMIT = 40_000

#: On-screen width of the centre line drawn inside every pipe tube and corridor band, as a
#: share of the picture's height (4 px in a 1000 px picture, never under 1.5 px).
CENTRELINE_SHARE = 1.0 / 250.0
CENTRELINE_PX = 4.0


@dataclass(frozen=True)
class LayerStyle:
    """The drawing recipe of one layer."""

    kind: str
    label: str
    opacity: float = 1.0
    depth: float = 0.0          #: default burial depth of the crown, m
    diameter: float = 0.2       #: default diameter, m
    shape: str = "sphere"
    size: float = 1.0           #: marker radius, m (times the underground scale)
    colour_by: str | None = None  #: default categorical column


STYLES: dict[str, LayerStyle] = {
    "water_pipes": LayerStyle("pipe", "water pipes", depth=1.2, diameter=0.15),
    "gas_mains": LayerStyle("pipe", "gas mains", depth=0.9, diameter=0.1),
    "sewers": LayerStyle("sewer", "sewers", depth=2.5, diameter=0.3),
    "utility_tunnels": LayerStyle("pipe", "utility tunnels", depth=3.0, diameter=1.0, opacity=0.8),
    "water_pumps": LayerStyle("link_marker", "pumps", depth=1.2, shape="cube", size=0.6),
    "water_junctions": LayerStyle("buried_marker", "junctions", depth=1.2, shape="sphere", size=0.15),
    "water_valves": LayerStyle("buried_marker", "valves", depth=1.2, shape="diamond", size=0.2),
    "hydrants": LayerStyle("marker", "hydrants", shape="cylinder", size=0.1),
    "water_tanks": LayerStyle("tank", "tanks", shape="cylinder", size=0.8),
    "water_reservoirs": LayerStyle("tank", "reservoirs", shape="cylinder", size=1.5),
    "manholes": LayerStyle("shaft", "manholes", depth=2.5, shape="cylinder", size=0.12),
    "septic_tanks": LayerStyle("buried_tank", "septic tanks", depth=1.5, shape="cylinder", size=0.18),
    "buildings": LayerStyle("building", "buildings", colour_by="use"),
    "roads": LayerStyle("road", "roads", opacity=0.6),
    "sites": LayerStyle("site", "sites", shape="cube", size=0.6, colour_by="risk_level"),
    "fire_stations": LayerStyle("marker", "fire stations", shape="cube", size=0.8),
    "cameras": LayerStyle("marker", "cameras", shape="cone", size=0.15),
    "sensors": LayerStyle("marker", "sensors", shape="diamond", size=0.2),
    "airspace_zones": LayerStyle("airspace", "airspace zones", opacity=0.3, colour_by="kind"),
    "drone_corridors": LayerStyle("corridor", "drone corridors", opacity=0.3),
    "drone_tracks": LayerStyle("track", "drone tracks"),
}

#: Order in which layers are added (opaque first, see-through last, for blending).
DRAW_ORDER = ("terrain", "sewers", "utility_tunnels", "water_pipes", "gas_mains", "water_pumps",
              "water_junctions", "water_valves", "septic_tanks", "manholes", "hydrants", "water_tanks",
              "water_reservoirs", "roads", "buildings", "sites", "fire_stations", "cameras", "sensors",
              "drone_tracks", "drone_corridors", "airspace_zones")


@dataclass
class LayerMesh:
    """A built layer: its mesh and how to render it."""

    mesh: pv.PolyData
    invalid: np.ndarray
    render: dict = field(default_factory=dict)


def _column(frame: pd.DataFrame, name: str, default: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), float(default))
    v = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(v), v, default)


def _display_diameter(d: np.ndarray) -> np.ndarray:
    # A 50 mm service line must still show; a 3 m tunnel must not bury the street.
    return np.clip(d, 0.1, 1.0)


def _points_xyz(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, xy, z) of the valid points of a point layer (centroids of polygons)."""
    geoms = np.asarray(frame.geometry.values, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    safe = np.where(present, geoms, shapely.Point())
    ok = present & ~shapely.is_empty(safe)
    pts = shapely.point_on_surface(safe[ok]) if ok.any() else np.zeros(0, dtype=object)
    xyz = shapely.get_coordinates(pts, include_z=True) if len(pts) else np.zeros((0, 3))
    finite = np.isfinite(xyz[:, :2]).all(axis=1)
    rows = np.flatnonzero(ok)[finite]
    return rows, xyz[finite, :2], xyz[finite, 2]


def _tube(mesh: pv.PolyData, sides: int, capping: bool) -> pv.PolyData:
    """Tubes of point-array ``radius``, shaded smoothly by the filter's own normals.

    (PyVista's ``smooth_shading`` would recompute normals on a copy, and the
    rendered mesh would no longer be the one results are written into.)
    """
    tube = mesh.tube(scalars="radius", absolute=True, n_sides=sides, capping=capping)
    tube.point_data.pop("radius", None)
    tube.point_data.active_normals_name = "TubeNormals"
    return tube


# ---------------------------------------------------------------------- builders
def build_pipes(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    parts = line_mesh.line_parts(layer.geometry.values, frame.densify_length)
    if name == "utility_tunnels":
        size = np.maximum(_column(layer, "width", style.diameter), _column(layer, "height", style.diameter))
    else:
        size = _column(layer, "diameter", style.diameter)
    radius = _display_diameter(size)[parts.part_feature] / 2.0 * frame.underground
    k = frame.underground
    x, y = parts.xy[:, 0], parts.xy[:, 1]
    ground = frame.ground_z(x, y)
    if style.kind == "sewer":
        up = _column(layer, "upstream_invert", np.nan)[parts.part_feature]
        down = _column(layer, "downstream_invert", np.nan)[parts.part_feature]
        f = parts.fraction_along()
        invert = up[parts.vertex_part] * (1 - f) + down[parts.vertex_part] * f
        d_true = size[parts.part_feature][parts.vertex_part]
        crown_depth = frame.ground(x, y) - invert - d_true
        crown_depth = np.where(np.isfinite(crown_depth), np.maximum(crown_depth, 0.3), style.depth)
    else:
        crown_depth = _column(layer, "burial_depth", style.depth)[parts.part_feature][parts.vertex_part]
    r_vertex = radius[parts.vertex_part]
    z = ground - crown_depth * frame.depth_scale - r_vertex
    sx, sy = frame.xy(x, y)
    mesh = line_mesh.polylines(np.column_stack([sx, sy, z]), parts)
    n_segments = len(parts.xy) - parts.n_parts
    if n_segments > TUBE_SEGMENT_LIMIT:
        px = float(np.clip(np.median(radius) / max(k, 1e-9) * 40, 2.0, 6.0)) if len(radius) else 3.0
        return LayerMesh(mesh, parts.invalid, {"line_width": px, "ambient": 0.4})
    if mesh.n_cells:
        mesh.point_data["radius"] = r_vertex
        mesh = _with_centreline(_tube(mesh, 8, capping=False), mesh)
    return LayerMesh(mesh, parts.invalid, {"line_width": CENTRELINE_PX})


def _with_centreline(surface: pv.PolyData, centreline: pv.PolyData) -> pv.PolyData:
    """``surface`` plus the line cells of ``centreline``, in one mesh (so one actor).

    The line is drawn ``CENTRELINE_PX`` pixels wide whatever the distance: near,
    it hides inside its tube (or under its ribbon); from a town's height, where
    a 300 mm main is a fraction of a pixel, it keeps the network readable.
    Both carry ``feature_index``, so picking and results work on either.
    """
    line = pv.PolyData(np.asarray(centreline.points, dtype=float), lines=centreline.lines)
    line.cell_data["feature_index"] = centreline.cell_data["feature_index"]
    if "TubeNormals" in surface.point_data:
        # the line's points need the same point arrays as the tube's to merge; straight up is
        # a fair normal for a thin line seen from above
        line.point_data["TubeNormals"] = np.tile([0.0, 0.0, 1.0], (line.n_points, 1))
    merged = pv.merge([line, surface], merge_points=False)
    if "TubeNormals" in merged.point_data:
        merged.point_data.active_normals_name = "TubeNormals"
    return merged


def build_road(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    parts = line_mesh.line_parts(layer.geometry.values, frame.densify_length)
    lanes = _column(layer, "lanes", 2.0)
    half = np.maximum(lanes, 1.0) * 3.5 / 2.0
    half = np.maximum(half, frame.underground * 0.25)[parts.part_feature]
    x, y = parts.xy[:, 0], parts.xy[:, 1]
    lift = 0.3 + 0.08 * frame.underground
    sx, sy = frame.xy(x, y)
    pts = np.column_stack([sx, sy, frame.ground_z(x, y) + lift])
    return LayerMesh(line_mesh.ribbons(pts, parts, half), parts.invalid, {})


def build_corridor(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    parts = line_mesh.line_parts(layer.geometry.values, frame.densify_length)
    x, y = parts.xy[:, 0], parts.xy[:, 1]
    sx, sy = frame.xy(x, y)
    pts = np.column_stack([sx, sy, _altitude_z(frame, x, y, parts.z)])
    mesh = line_mesh.polylines(pts, parts)
    half = _column(layer, "width_m", 30.0)[parts.part_feature] / 2.0
    if mesh.n_cells:
        # The corridor's true width as a flat band at its altitude, and its centre line:
        # a 60 m tube would be a wall across the town from above.
        mesh = _with_centreline(line_mesh.ribbons(pts, parts, half), mesh)
    return LayerMesh(mesh, parts.invalid, {"line_width": CENTRELINE_PX})


def build_track(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    rows, xy, zg = _points_xyz(layer)
    invalid = np.setdiff1d(np.arange(len(layer)), rows)
    if len(rows) == 0:
        return LayerMesh(pv.PolyData(), invalid, {})
    times = pd.to_datetime(layer["time"].iloc[rows], utc=True)
    t = (times - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy()
    track = layer["track_id"].iloc[rows].astype(str).to_numpy()
    order = np.lexsort((t, track))
    rows, xy, zg, t, track = rows[order], xy[order], zg[order], t[order], track[order]
    _, part = np.unique(track, return_inverse=True)
    parts = line_mesh.LineParts(xy, zg, part, np.arange(part.max() + 1), invalid)
    sx, sy = frame.xy(xy[:, 0], xy[:, 1])
    pts = np.column_stack([sx, sy, _altitude_z(frame, xy[:, 0], xy[:, 1], zg)])
    mesh = line_mesh.segments(pts, parts, vertex_feature=rows)
    first = np.flatnonzero(part[1:] == part[:-1])
    mesh.cell_data["time"] = t[first]
    return LayerMesh(mesh, invalid, {"line_width": 3.0, "render_lines_as_tubes": True})


def _altitude_z(frame: SceneFrame, x, y, z) -> np.ndarray:
    """Scene height of flight altitudes; a point without Z flies ``DEFAULT_AGL`` above the ground."""
    z = np.asarray(z, dtype=float)
    return np.where(np.isfinite(z), frame.z(z), frame.ground_z(x, y) + DEFAULT_AGL * frame.vertical)


def _marker_centres(frame: SceneFrame, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = frame.xy(xy[:, 0], xy[:, 1])
    return np.column_stack([sx, sy]), frame.ground_z(xy[:, 0], xy[:, 1])


def build_marker(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    rows, xy, _ = _points_xyz(layer)
    invalid = np.setdiff1d(np.arange(len(layer)), rows)
    k = frame.underground
    r = style.size * k
    sxy, gz = _marker_centres(frame, xy)
    if style.kind in ("buried_marker", "link_marker"):
        depth = _column(layer, "burial_depth", style.depth)[rows] if style.kind == "buried_marker" \
            else np.full(len(rows), style.depth)
        # Sit on the pipes: same depth rule as build_pipes for a default-size main.
        z = gz - depth * frame.depth_scale - _display_diameter(np.full(len(rows), 0.15)) / 2 * k
        scale = np.full(len(rows), r)
    elif style.shape in ("cylinder", "cube"):
        height = {"hydrants": 1.6, "fire_stations": 1.0}.get(name, 1.0) * r * 2
        z = gz
        scale = np.column_stack([np.full(len(rows), r), np.full(len(rows), r), np.full(len(rows), height)])
    elif name == "cameras":
        height = _column(layer, "height", 6.0)[rows] * frame.vertical
        z = gz + height + r
        scale = np.full(len(rows), r)
    else:
        z = gz + r * 1.5
        scale = np.full(len(rows), r)
    mesh = instances(style.shape, np.column_stack([sxy, z]), scale, rows)
    return LayerMesh(mesh, invalid, {})


def build_link_marker(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    mid = layer.copy()
    geoms = np.asarray(layer.geometry.values, dtype=object)
    present = np.array([g is not None for g in geoms], dtype=bool)
    safe = np.where(present, geoms, shapely.LineString())
    mid_pts = shapely.line_interpolate_point(safe, 0.5, normalized=True)
    mid_pts = np.where(present & ~shapely.is_empty(safe), mid_pts, None)
    mid = mid.set_geometry(list(mid_pts), crs=layer.crs) if len(layer) else mid
    return build_marker(frame, mid, style, name)


def build_tank(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    rows, xy, _ = _points_xyz(layer)
    invalid = np.setdiff1d(np.arange(len(layer)), rows)
    sxy, gz = _marker_centres(frame, xy)
    k = frame.underground
    if name == "water_tanks":
        radius = np.maximum(_column(layer, "diameter", 10.0)[rows] / 2.0, style.size * k * 0.5)
        height = np.maximum(_column(layer, "max_level", 8.0)[rows], 4.0) * frame.vertical
    else:
        radius = np.full(len(rows), style.size * k)
        height = np.full(len(rows), 0.4 * k)
    scale = np.column_stack([radius, radius, height])
    return LayerMesh(instances("cylinder", np.column_stack([sxy, gz]), scale, rows), invalid, {})


def build_shaft(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    rows, xy, _ = _points_xyz(layer)
    invalid = np.setdiff1d(np.arange(len(layer)), rows)
    sxy, gz = _marker_centres(frame, xy)
    k = frame.underground
    depth = _column(layer, "depth", style.depth)[rows]
    r = style.size * k
    lift = 0.15 * k  # the cover stands proud of the surface so it shows from above
    scale = np.column_stack([np.full(len(rows), r), np.full(len(rows), r), -(depth * frame.depth_scale + lift)])
    return LayerMesh(instances("cylinder", np.column_stack([sxy, gz + lift]), scale, rows), invalid, {})


def build_buried_tank(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    rows, xy, _ = _points_xyz(layer)
    invalid = np.setdiff1d(np.arange(len(layer)), rows)
    sxy, gz = _marker_centres(frame, xy)
    k = frame.underground
    volume = _column(layer, "volume_m3", 6.0)[rows]
    r = np.clip(np.sqrt(volume / (np.pi * 1.5)), 0.8, 3.0) / 1.5 * style.size * k
    height = np.full(len(rows), 1.5 * style.size * k)
    scale = np.column_stack([r, r, height])
    # the lid sits half a metre (times the underground scale) under the yard
    bottom = gz - 0.5 * frame.depth_scale - height
    return LayerMesh(instances("cylinder", np.column_stack([sxy, bottom]), scale, rows), invalid, {})


def build_building(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    fp = footprints(layer.geometry.values)
    if len(fp.parts) == 0:
        return LayerMesh(pv.PolyData(), fp.invalid, {})
    lo, _, mid = part_vertex_stats(fp, frame.ground)
    base_col = _column(layer, "base_elevation", np.nan)[fp.part_feature]
    base = np.where(np.isfinite(base_col), base_col, mid)
    height = np.maximum(_column(layer, "height", 6.0)[fp.part_feature], 1.0)
    # Walls start at the lowest ground point of the footprint so no building floats on a slope.
    bottom = frame.z(np.minimum(lo, base))
    top = frame.z(base) + height * frame.vertical
    return LayerMesh(extrude(fp, bottom, top, frame.xy), fp.invalid, {})


def build_airspace(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    fp = footprints(layer.geometry.values)
    if len(fp.parts) == 0:
        return LayerMesh(pv.PolyData(), fp.invalid, {})
    lo, _, _ = part_vertex_stats(fp, frame.ground)
    floor = _column(layer, "floor_m", np.nan)[fp.part_feature]
    ceiling = _column(layer, "ceiling_m", np.nan)[fp.part_feature]
    # Missing limits: from the lowest ground under the zone up to 120 m above it (the drone rule).
    floor = np.where(np.isfinite(floor), floor, lo)
    ceiling = np.where(np.isfinite(ceiling), ceiling, lo + DEFAULT_AGL + 60.0)
    mesh = extrude(fp, frame.z(floor), frame.z(np.maximum(ceiling, floor + 1.0)), frame.xy, cap_bottom=True)
    return LayerMesh(mesh, fp.invalid, {})


def build_site(frame: SceneFrame, layer: pd.DataFrame, style: LayerStyle, name: str) -> LayerMesh:
    kinds = layer.geometry.geom_type.to_numpy() if len(layer) else np.zeros(0, dtype=object)
    is_area = np.isin(kinds, ("Polygon", "MultiPolygon"))
    meshes, invalid = [], []
    if is_area.any():
        areas = layer[is_area]
        fp = footprints(areas.geometry.values)
        rows = np.flatnonzero(is_area)
        invalid.append(rows[fp.invalid])
        if len(fp.parts):
            _, _, mid = part_vertex_stats(fp, frame.ground)
            lift = 0.3 + 0.1 * frame.underground
            m = extrude(fp, frame.z(mid), frame.z(mid) + lift * 2, frame.xy)
            m.cell_data["feature_index"] = rows[m.cell_data["feature_index"]]
            meshes.append(m)
    if (~is_area).any():
        rows = np.flatnonzero(~is_area)
        lm = build_marker(frame, layer[~is_area], style, name)
        invalid.append(rows[lm.invalid])
        if lm.mesh.n_cells:
            lm.mesh.cell_data["feature_index"] = rows[lm.mesh.cell_data["feature_index"]]
            meshes.append(lm.mesh)
    mesh = meshes[0] if len(meshes) == 1 else (pv.merge(meshes) if meshes else pv.PolyData())
    bad = np.concatenate(invalid) if invalid else np.zeros(0, dtype=int)
    return LayerMesh(mesh, bad, {})


BUILDERS = {
    "pipe": build_pipes, "sewer": build_pipes, "road": build_road, "corridor": build_corridor,
    "track": build_track, "marker": build_marker, "buried_marker": build_marker,
    "link_marker": build_link_marker, "tank": build_tank, "shaft": build_shaft,
    "buried_tank": build_buried_tank, "building": build_building, "airspace": build_airspace,
    "site": build_site,
}


def build_layer(frame: SceneFrame, name: str, layer: pd.DataFrame) -> LayerMesh:
    """The merged mesh of one vector layer."""
    style = STYLES[name]
    return BUILDERS[style.kind](frame, layer, style, name)
