"""PNG figures of emergency results (matplotlib, Agg: no display needed).

* ``response_ecdf``: share of incidents reached within t, one curve per type,
  with the standards' limits marked;
* ``utilisation_chart``: busy share of every unit, grouped by station;
* ``coverage_map``: buildings coloured by drive time from the nearest station,
  stations by kind, the T-minute line in the legend; new stations from a
  siting study are drawn as stars;
* ``history_ecdf``: observed vs simulated first-engine times of a validation.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from twin import atomic  # noqa: E402

_KIND_STYLE = {"station": ("s", "#c0392b"), "micro_station": ("^", "#e67e22"), "ems": ("P", "#2980b9"),
               "water_repair": ("D", "#16a085"), "gas_emergency": ("X", "#8e44ad")}


def _ecdf(ax, values, label, **kw):
    v = np.sort(np.asarray(values, float))
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return
    ax.step(v / 60.0, np.arange(1, len(v) + 1) / len(v), where="post", label=f"{label} (n={len(v)})", **kw)


def response_ecdf(incidents: pd.DataFrame, path: Path, limits_s=(300.0, 480.0), title: str = "") -> Path:
    """ECDF of report -> first unit on scene by incident type."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    served = incidents[incidents["on_scene"].notna()]
    resp = served["on_scene"] - served["report"]
    _ecdf(ax, resp, "all incidents", color="black", lw=2)
    for name, grp in served.groupby("type"):
        _ecdf(ax, (grp["on_scene"] - grp["report"]), name, lw=1.2)
    for lim in limits_s:
        ax.axvline(lim / 60.0, color="grey", ls="--", lw=0.8)
        ax.text(lim / 60.0, 0.02, f" {lim / 60:.0f} min", color="grey", fontsize=8)
    ax.set_xlabel("response time: call received -> first unit on scene (min)")
    ax.set_ylabel("share of incidents")
    ax.set_ylim(0, 1.01)
    if len(resp):
        ax.set_xlim(0, float(np.percentile(resp, 99)) / 60.0 * 1.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Response time by incident type")
    fig.tight_layout()
    _save(fig, path)
    return Path(path)


def utilisation_chart(util: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Horizontal bars: busy share of each unit (dispatched -> back at station)."""
    util = util.sort_values(["station_kind", "station", "unit"])
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(util) + 1.2)), dpi=110)
    types = sorted(util["unit_type"].unique())
    cmap = plt.get_cmap("tab10")
    colors = {t: cmap(i % 10) for i, t in enumerate(types)}
    y = np.arange(len(util))
    ax.barh(y, util["utilisation"] * 100.0, color=[colors[t] for t in util["unit_type"]])
    ax.set_yticks(y, util["unit"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("utilisation (% of on-duty time busy)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colors[t], label=t) for t in types], fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "Unit utilisation")
    fig.tight_layout()
    _save(fig, path)
    return Path(path)


def coverage_map(model, coverage, path: Path, new_stations: pd.DataFrame | None = None, title: str = "") -> Path:
    """Buildings coloured by drive time from the nearest station of the coverage's kinds."""
    fig, ax = plt.subplots(figsize=(8, 8), dpi=110)
    roads = model.twin["roads"]
    if len(roads):
        roads.plot(ax=ax, color="#999999", lw=0.5, zorder=1)
    from matplotlib.colors import BoundaryNorm, ListedColormap

    t = coverage.minutes
    # Greens up to T, reds beyond: the T-minute line is the colour break.
    bounds = [0, t / 3, 2 * t / 3, t, 1.5 * t, 2 * t, 1e9]
    cmap = ListedColormap(["#1a9850", "#66bd63", "#a6d96a", "#fdae61", "#f46d43", "#a50026"])
    minutes = np.minimum(coverage.best_s / 60.0, 1e8)
    order = np.argsort(-minutes)  # covered buildings drawn last, on top
    sc = ax.scatter(coverage.xy[order, 0], coverage.xy[order, 1], c=minutes[order], cmap=cmap,
                    norm=BoundaryNorm(bounds, cmap.N), s=5, lw=0, zorder=2)
    cb = fig.colorbar(sc, ax=ax, shrink=0.7, ticks=bounds[:-1], extend="max")
    cb.ax.set_yticklabels([f"{b:.3g}" for b in bounds[:-1]])
    cb.set_label(f"drive time from the nearest station (min); covered up to {t:g}")
    for kind in sorted({s.kind for s in model.fleet.stations}):
        marker, color = _KIND_STYLE.get(kind, ("o", "black"))
        pts = np.array([[s.x, s.y] for s in model.fleet.stations if s.kind == kind])
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, c=color, s=60, edgecolors="white", zorder=4,
                   label=kind.replace("_", " "))
    if new_stations is not None and len(new_stations):
        ax.scatter(new_stations["x"], new_stations["y"], marker="*", c="#f1c40f", s=260, edgecolors="black",
                   zorder=5, label="proposed station")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or (f"Within {coverage.minutes:g} min ({', '.join(coverage.kinds)}): "
                           f"{coverage.building_share:.0%} of buildings, "
                           f"{coverage.population_share:.0%} of population"))
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    _save(fig, path)
    return Path(path)


def history_ecdf(validation, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    _ecdf(ax, validation.observed_values, "observed", color="black", lw=2)
    _ecdf(ax, validation.simulated_values, f"simulated ({validation.replications} replications)", color="#c0392b")
    ax.set_xlabel("first-arriving engine: dispatch -> on scene (min)")
    ax.set_ylabel("share of incidents")
    ax.set_xlim(0, float(np.percentile(validation.observed_values, 99)) / 60.0 * 1.2)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    lo, hi = validation.calibration
    ax.set_title(f"Validation on {validation.incidents} incidents (calibrated on {lo}..{hi})")
    fig.tight_layout()
    _save(fig, path)
    return Path(path)


def _save(fig, path) -> None:
    """Write the figure atomically (a half-drawn PNG is never left as the plot) and free it."""
    try:
        with atomic.replacing(path, keep_suffix=True) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
