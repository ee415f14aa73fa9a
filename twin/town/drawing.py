"""A plan drawing of a twin: every layer in its conventional colour on the shaded terrain, as a PNG.

Two panels: the whole district (terrain, roads, buildings, stations, sites,
airspace, drone corridors) and the town centre at street scale (adding water
mains, hydrants, valves, gas mains, sewers, manholes, septic tanks, the
utility tunnel, cameras and sensors).  It is how the demo city is checked to
read as a town, and the first picture ``lifeline-twin start`` writes.
Matplotlib's Agg back end only: no display needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.schema import RISK_COLOURS

USE_COLOURS = {"residential": "#e8a87c", "commercial": "#4a90d9", "public": "#9b59b6", "industrial": "#7f8c8d"}
ROAD_WIDTHS = {"motorway": 3.5, "primary": 3.0, "secondary": 2.0, "tertiary": 1.3, "residential": 0.8,
               "unclassified": 0.8, "service": 0.5}
WELL_COLOURS = {"sewer": "#8b4513", "storm": "#008080", "gas": "#ff8c00", "water": "#000080"}
STATION_COLOURS = {"station": "#d62728", "micro_station": "#ff9f1c", "ems": "#ffffff",
                   "water_repair": "#1f77b4", "gas_emergency": "#ffd700"}


def draw_town_map(twin, path: Path | str, centre=None, centre_half_width: float = 900.0) -> Path:
    """Write the two-panel plan drawing of ``twin`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource
    from matplotlib.lines import Line2D

    path = Path(path)
    if centre is None:
        centre = twin.metadata.get("demo", {}).get("centre")
    if centre is None and len(twin["buildings"]):
        c = twin["buildings"].geometry.centroid
        centre = (float(np.median(c.x)), float(np.median(c.y)))
    fig, axes = plt.subplots(1, 2, figsize=(20, 10))
    for ax, detail in zip(axes, (False, True)):
        _terrain(ax, twin, LightSource)
        _layers(ax, twin, detail)
        if detail and centre is not None:
            cx, cy = centre
            ax.set_xlim(cx - centre_half_width, cx + centre_half_width)
            ax.set_ylim(cy - centre_half_width, cy + centre_half_width)
        elif twin.extent is not None:
            x0, y0, x1, y1 = twin.terrain.bounds if twin.terrain is not None else twin.extent
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_title("district" if not detail else "town centre", fontsize=11)
    handles = [Line2D([], [], color=c, lw=6, label=f"{u} building") for u, c in USE_COLOURS.items()]
    handles += [Line2D([], [], color="#333333", lw=2, label="road"),
                Line2D([], [], color="#1f5fbf", lw=1.5, label="water main"),
                Line2D([], [], color="#e6b800", lw=1.5, label="gas main"),
                Line2D([], [], color="#8b4513", lw=1.5, label="sewer / storm drain"),
                Line2D([], [], color="#00bcd4", lw=5, alpha=0.6, label="utility tunnel"),
                Line2D([], [], color="#c0139f", lw=1.5, ls="--", label="drone corridor"),
                Line2D([], [], color="#6a1b9a", lw=1, label="airport surface"),
                Line2D([], [], color="#d62728", lw=6, alpha=0.3, label="no-fly zone"),
                Line2D([], [], marker="P", color="w", markerfacecolor="#d62728", markersize=10, label="fire station"),
                Line2D([], [], marker="P", color="w", markerfacecolor="#ff9f1c", markersize=10,
                       label="micro fire station"),
                Line2D([], [], marker="o", color="w", markerfacecolor="#d62728", markersize=5, label="hydrant"),
                Line2D([], [], marker="D", color="w", markerfacecolor="#39ff14", markeredgecolor="k",
                       markersize=6, label="sensor"),
                Line2D([], [], marker="^", color="w", markerfacecolor="k", markersize=7, label="camera")]
    fig.legend(handles=handles, loc="lower center", ncol=9, fontsize=8, frameon=False)
    fig.suptitle(f"{twin.name} — {twin.summary()['crs']}", fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    from io import BytesIO

    from twin import atomic

    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return atomic.write(path, buf.getvalue())   # atomic, and never over a picture that is not ours


def _terrain(ax, twin, LightSource) -> None:
    import matplotlib.pyplot as plt

    t = twin.terrain
    if t is None:
        return
    h = np.where(np.isnan(t.heights), np.nanmin(t.heights), t.heights)
    shade = LightSource(315, 45).shade(h, plt.cm.gist_earth, vert_exag=3, blend_mode="soft",
                                       vmin=float(h.min()) - 50, vmax=float(h.max()) + 80)
    x0, y0, x1, y1 = t.bounds
    ax.imshow(shade, extent=(x0, x1, y0, y1), alpha=0.55, zorder=0)


def _lines(ax, geoms, colour, width, zorder, **kwargs) -> None:
    """Lines (and polygon outlines) as one LineCollection: geopandas redraws the figure per call."""
    from matplotlib.collections import LineCollection

    import shapely

    geoms = np.asarray(geoms)
    if len(geoms) == 0:
        return
    parts = shapely.get_parts(shapely.boundary(geoms) if shapely.get_type_id(geoms[0]) in (3, 6) else geoms)
    coords, index = shapely.get_coordinates(parts, return_index=True)
    splits = np.flatnonzero(np.diff(index)) + 1
    ax.add_collection(LineCollection(np.split(coords, splits), colors=colour, linewidths=width, zorder=zorder,
                                     **kwargs))


def _polygons(ax, geoms, colours, zorder, alpha=1.0) -> None:
    from matplotlib.collections import PolyCollection

    import shapely

    geoms = np.asarray(geoms)
    if len(geoms) == 0:
        return
    parts, owner = shapely.get_parts(geoms, return_index=True)
    rings = shapely.get_exterior_ring(parts)
    coords, index = shapely.get_coordinates(rings, return_index=True)
    splits = np.flatnonzero(np.diff(index)) + 1
    colours = np.asarray(colours, dtype=object)
    face = colours[owner] if colours.ndim and len(colours) == len(geoms) else colours
    ax.add_collection(PolyCollection(np.split(coords, splits), facecolors=list(np.atleast_1d(face)),
                                     edgecolors="none", alpha=alpha, zorder=zorder))


def _points(ax, geoms, zorder, **kwargs) -> None:
    import shapely

    if len(geoms) == 0:
        return
    xy = shapely.get_coordinates(np.asarray(geoms))
    ax.scatter(xy[:, 0], xy[:, 1], zorder=zorder, **kwargs)


def _layers(ax, twin, detail: bool) -> None:
    zones = twin["airspace_zones"]
    if len(zones):
        surfaces = zones["kind"] != "no_fly"
        _lines(ax, zones.geometry.values[surfaces], "#6a1b9a", 0.4, 1)
        _polygons(ax, zones.geometry.values[~surfaces], "#d62728", 1, alpha=0.18)
    roads = twin["roads"]
    for cls, group in roads.groupby("road_class"):
        _lines(ax, group.geometry.values, "#333333", ROAD_WIDTHS.get(cls, 0.8) * (1.0 if detail else 0.5), 2)
    if detail:
        for name, colour, width in (("water_pipes", "#1f5fbf", 0.7), ("gas_mains", "#e6b800", 0.7),
                                    ("sewers", "#8b4513", 0.6)):
            _lines(ax, twin[name].geometry.values, colour, width, 3)
        _lines(ax, twin["utility_tunnels"].geometry.values, "#00bcd4", 6, 3, alpha=0.5)
    b = twin["buildings"]
    _polygons(ax, b.geometry.values, b["use"].map(USE_COLOURS).fillna("#aaaaaa").to_numpy(), 4)
    sites = twin["sites"]
    if len(sites):
        colour = sites["risk_level"].map(RISK_COLOURS).fillna("#555555").to_numpy()
        poly = (sites.geom_type != "Point").to_numpy()
        for geom, c in zip(sites.geometry.values[poly], colour[poly]):
            _lines(ax, [geom], c, 1.2, 5)
        _points(ax, sites.geometry.values[~poly], 5, c=list(colour[~poly]), marker="*", s=90)
    if detail:
        _points(ax, twin["hydrants"].geometry.values, 6, c="#d62728", s=5)
        _points(ax, twin["water_valves"].geometry.values, 6, c="#1f5fbf", marker="x", s=5, linewidths=0.6)
        _points(ax, twin["septic_tanks"].geometry.values, 6, c="#6b8e23", s=3)
        m = twin["manholes"]
        _points(ax, m.geometry.values, 6, c=list(m["well_type"].map(WELL_COLOURS).fillna("#555555")), s=5)
        _points(ax, twin["cameras"].geometry.values, 6, c="k", marker="^", s=30)
        _points(ax, twin["sensors"].geometry.values, 6, c="#39ff14", marker="D", s=14, edgecolors="k",
                linewidths=0.3)
    st = twin["fire_stations"]
    if len(st):
        _points(ax, st.geometry.values, 7, c=list(st["kind"].map(STATION_COLOURS).fillna("#999999")), marker="P",
                s=200 if detail else 110, edgecolors="k")
    _lines(ax, twin["drone_corridors"].geometry.values, "#c0139f", 1.5, 7, linestyles="--")
    _points(ax, twin["drone_tracks"].geometry.values, 7, c="#c0139f", s=1)


def showcase(twin, project_path, out_dir) -> list[Path]:
    """``lifeline-twin start`` step: the plan drawing of the demo city."""
    return [draw_town_map(twin, Path(out_dir) / "demo-town-map.png")]
