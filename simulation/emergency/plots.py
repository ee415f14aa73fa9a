"""PNG figures of emergency results (matplotlib, Agg: no display needed).

* ``response_ecdf``: share of incidents reached within t, one curve per type,
  with the standards' limits marked;
* ``utilisation_chart``: busy share of every unit, grouped by station;
* ``coverage_map``: buildings coloured by drive time from the nearest counted
  station, counted stations filled and the others hollow ("not counted"), the
  T-minute line in the colour key; new stations from a siting study are drawn
  as stars and the colours include them;
* ``history_ecdf``: observed vs simulated first-engine times of a validation.

Times are in minutes and every axis names its unit.  Each ``*_figure``
function returns the matplotlib figure (for tests and for embedding); the
plain-named ones write it to a PNG.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from twin import atomic  # noqa: E402

_KIND_STYLE = {"station": ("s", "#c0392b"), "micro_station": ("^", "#e67e22"), "ems": ("P", "#2980b9"),
               "water_repair": ("D", "#16a085"), "gas_emergency": ("X", "#8e44ad")}


def _ecdf(ax, values, label, **kw):
    """Share of incidents reached within t (minutes), drawn from 0 so a group of one still shows."""
    v = np.sort(np.asarray(values, float))
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return
    minutes = v / 60.0
    ax.step(np.r_[minutes[0], minutes], np.r_[0.0, np.arange(1, len(v) + 1) / len(v)], where="post",
            label=f"{label} (n={len(v)})", **kw)


def response_ecdf_figure(incidents: pd.DataFrame, limits_s=(300.0, 480.0), title: str = ""):
    """The response-time ECDF as a matplotlib figure (times in minutes)."""
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    served = incidents[incidents["on_scene"].notna()]
    resp = served["on_scene"] - served["report"]
    _ecdf(ax, resp, "all incidents", color="black", lw=2)
    for name, grp in served.groupby("type"):
        _ecdf(ax, (grp["on_scene"] - grp["report"]), str(name).replace("_", " "), lw=1.2)
    for lim in limits_s:
        ax.axvline(lim / 60.0, color="grey", ls="--", lw=0.8)
        ax.text(lim / 60.0, 0.02, f" {lim / 60:g} min", color="grey", fontsize=8)
    ax.set_xlabel("response time: call received -> first unit on scene (min)")
    ax.set_ylabel("share of incidents reached (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.01)
    if len(resp):
        ax.set_xlim(0, max(float(np.percentile(resp, 99)), max(limits_s, default=0.0)) / 60.0 * 1.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Response time by incident type")
    fig.tight_layout()
    return fig


def response_ecdf(incidents: pd.DataFrame, path: Path, limits_s=(300.0, 480.0), title: str = "") -> Path:
    """ECDF of report -> first unit on scene by incident type, in minutes."""
    _save(response_ecdf_figure(incidents, limits_s, title), path)
    return Path(path)


def utilisation_figure(util: pd.DataFrame, title: str = ""):
    """Horizontal bars: busy share of each unit (dispatched -> back at station), in %."""
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
    ax.set_ylabel("unit (station/unit)")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colors[t], label=t.replace("_", " ")) for t in types], fontsize=8,
              loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "Unit utilisation")
    fig.tight_layout()
    return fig


def utilisation_chart(util: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Horizontal bars: busy share of each unit (dispatched -> back at station)."""
    _save(utilisation_figure(util, title), path)
    return Path(path)


def _plural(kind: str, n: int) -> str:
    word = kind.replace("_", " ")
    if kind in ("ems", "water_repair", "gas_emergency"):
        word = {"ems": "EMS station", "water_repair": "water repair depot",
                "gas_emergency": "gas emergency depot"}[kind]
    return f"{n} {word}{'' if n == 1 else 's'}"


def _siting_kind(new_stations: pd.DataFrame, title: str, kinds) -> str:
    """Kind of the proposed stations: their ``kind`` column, else the one the title names, else 'station'."""
    if "kind" in new_stations.columns and new_stations["kind"].nunique() == 1:
        return str(new_stations["kind"].iloc[0])
    named = [k for k in sorted(kinds, key=len, reverse=True) if re.search(rf"\bnew {re.escape(k)}\b", title)]
    return named[0] if named else "station"


def coverage_figure(model, coverage, new_stations: pd.DataFrame | None = None, title: str = "",
                    kind: str | None = None):
    """Buildings coloured by drive time (min) from the nearest counted station, as a matplotlib figure.

    Counted stations (those the colours are measured from) are filled markers;
    stations of other kinds, or without units, are hollow and named "not
    counted" in the legend.  With ``new_stations`` (a siting study's proposals,
    stars) the colours are the drive times *after* the proposals, from the
    stations of the siting ``kind`` only (as the siting counts them: every
    station of that kind, plus the proposals), and the title's second line
    counts exactly the markers drawn.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    fig, ax = plt.subplots(figsize=(8, 9), dpi=110)
    roads = model.twin["roads"]
    if len(roads):
        roads.plot(ax=ax, color="#999999", lw=0.5, zorder=1)
    t = coverage.minutes
    stations = model.fleet.stations
    has_units = np.zeros(len(stations), bool)
    has_units[model.fleet.unit_station] = True
    siting = new_stations is not None and len(new_stations) > 0
    if siting:
        kind = kind or _siting_kind(new_stations, title, {s.kind for s in stations})
        counted = np.array([s.kind == kind for s in stations])
        best_s = _times_after(model, coverage.xy, counted, new_stations)
        counted_kinds = (kind,)
    else:
        counted = np.array([s.kind in coverage.kinds for s in stations]) & has_units
        best_s = coverage.best_s
        counted_kinds = tuple(coverage.kinds)
    # Greens up to T, reds beyond: the T-minute line is the colour break.
    bounds = [0, t / 3, 2 * t / 3, t, 1.5 * t, 2 * t, 1e9]
    cmap = ListedColormap(["#1a9850", "#66bd63", "#a6d96a", "#fdae61", "#f46d43", "#a50026"])
    minutes = np.minimum(np.asarray(best_s, float) / 60.0, 1e8)
    order = np.argsort(-minutes)  # covered buildings drawn last, on top
    sc = ax.scatter(coverage.xy[order, 0], coverage.xy[order, 1], c=minutes[order], cmap=cmap,
                    norm=BoundaryNorm(bounds, cmap.N), s=5, lw=0, zorder=2)
    cb = fig.colorbar(sc, ax=ax, shrink=0.7, ticks=bounds[:-1], extend="max")
    cb.ax.set_yticklabels([f"{b:.1f}".rstrip("0").rstrip(".") for b in bounds[:-1]])
    who = " or ".join(k.replace("_", " ") for k in counted_kinds)
    cb.set_label(f"drive time from the nearest {who} (min); covered up to {t:g} min")
    n_counted: dict[str, int] = {}
    not_counted: dict[str, int] = {}
    for k in sorted({s.kind for s in stations}):
        marker, color = _KIND_STYLE.get(k, ("o", "black"))
        for is_counted in (True, False):
            pts = np.array([[s.x, s.y] for s, c in zip(stations, counted) if s.kind == k and c == is_counted])
            if not len(pts):
                continue
            if is_counted:
                n_counted[k] = len(pts)
                ax.scatter(pts[:, 0], pts[:, 1], marker=marker, c=color, s=60, edgecolors="white", zorder=4,
                           label=f"{_plural(k, len(pts))}{' (existing)' if siting else ''}", gid=f"counted:{k}")
            else:
                not_counted[k] = len(pts)
                why = "no units" if k in counted_kinds else "not counted"
                ax.scatter(pts[:, 0], pts[:, 1], marker=marker, facecolors="none", edgecolors=color, s=50,
                           lw=1.2, zorder=3, label=f"{_plural(k, len(pts))} ({why})", gid=f"not_counted:{k}")
    counted_text = " + ".join(_plural(k, n) for k, n in n_counted.items()) or f"no existing {who}"
    if siting:
        ax.scatter(new_stations["x"], new_stations["y"], marker="*", c="#f1c40f", s=260, edgecolors="black",
                   zorder=5, label=f"{len(new_stations)} proposed {kind.replace('_', ' ')}"
                                   f"{'' if len(new_stations) == 1 else 's'}", gid="proposed")
        counted_text += f" + {len(new_stations)} proposed"
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=2, frameon=False)
    if siting:
        covered = minutes <= t
        pop = np.asarray(coverage.weight, float)
        share = float(pop[covered].sum() / pop.sum()) if pop.sum() else float(covered.mean())
        headline = title or f"Proposed {kind.replace('_', ' ')}s"
        detail = f"colours count {counted_text}: {share:.0%} of population within {t:g} min"
    else:
        headline = title or (f"Within {t:g} min: {coverage.building_share:.0%} of buildings, "
                             f"{coverage.population_share:.0%} of population")
        detail = f"colours count {counted_text}"
    ignored = [_plural(k, n) for k, n in not_counted.items()]
    if ignored:
        detail += f"; not counted: {', '.join(ignored)}"
    import textwrap

    ax.set_title("\n".join([headline, *textwrap.wrap(detail, 95)]), fontsize=9)
    ax.ticklabel_format(useOffset=False, style="plain")
    crs = model.twin.crs
    unit = "m"
    try:
        unit = {"metre": "m", "meter": "m"}.get(crs.axis_info[0].unit_name, crs.axis_info[0].unit_name)
    except (AttributeError, IndexError):
        pass
    ax.set_xlabel(f"easting ({unit})")
    ax.set_ylabel(f"northing ({unit})")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.counted = {"counted": n_counted, "not_counted": not_counted,
                   "proposed": len(new_stations) if siting else 0}
    return fig


def _times_after(model, xy: np.ndarray, counted: np.ndarray, new_stations: pd.DataFrame) -> np.ndarray:
    """Drive time (s) to every building from the nearest ``counted`` station or proposed one."""
    sites = model.travel.locate(xy)
    best = np.full(len(xy), np.inf)
    if counted.any():
        best = model.travel.table(sites)[:, counted].min(axis=1)
    if model.graph is not None and "node" in new_stations.columns:
        times = model.graph.times_from(new_stations["node"].to_numpy(np.int64))  # (new, n_nodes)
        node = np.asarray(sites.node)
        ok = node >= 0
        new = np.full(len(xy), np.inf)
        new[ok] = times[:, node[ok]].min(axis=0) + np.asarray(sites.leg_s)[ok]
        best = np.minimum(best, new)
    return best


def coverage_map(model, coverage, path: Path, new_stations: pd.DataFrame | None = None, title: str = "",
                 kind: str | None = None) -> Path:
    """Buildings coloured by drive time from the nearest counted station (see :func:`coverage_figure`)."""
    _save(coverage_figure(model, coverage, new_stations, title, kind), path)
    return Path(path)


def history_ecdf(validation, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    _ecdf(ax, validation.observed_values, "observed", color="black", lw=2)
    _ecdf(ax, validation.simulated_values, f"simulated ({validation.replications} replications)", color="#c0392b")
    ax.set_xlabel("first-arriving engine: dispatch -> on scene (min)")
    ax.set_ylabel("share of incidents reached (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
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
