"""Drainage on the session clock: EPA SWMM 5 (pyswmm / swmm-toolkit) stepped frame by frame.

:class:`Drainage` opens a SWMM model (a twin's imported text, or the town's
model built by :mod:`simulation.drainage.build` for the session's times) and
runs it only as far as the session asks.  SWMM's elapsed time 0 is the
session's start: clock time = ``session.start`` + SWMM elapsed seconds,
whatever dates the file holds.

**Stepping does not change results.**  A frame calls SWMM's own routing step
(``swmm_step``, what ``for step in Simulation(...)`` calls) until SWMM's time
reaches the frame's end, so SWMM takes exactly the routing steps of a run
straight through; the state read at a frame's end is SWMM's at its first
routing step at or after that time (less than one routing step later).  A
stride (``sim.step_advance``, SWMM 5.2's ``swmm_stride``) is not used: it
cuts the last routing step of each stride short to land on the boundary, and
that changes the results (see ``../shared/data/swmm/README.md``).

**Results** at SWMM's report steps (:attr:`Drainage.results`: ``nodes`` and
``links`` tables, long format, ``time_s`` in clock seconds, SI units) are
SWMM's own report values, read from SWMM's binary output when the run
closes (the session's end, SWMM's end, or parked).  With
``live_results=True`` they also grow as the run goes: linear interpolation
between the two routing steps around each report time, as SWMM's
``output_saveResults`` does (node depth; link flow and depth; node overflow
as of the later step), replaced by the file's values at the close.  Head,
surcharge (water above the crown of the highest conduit at the node) and
ponded volume follow from the depth.  Between report steps the state at each
frame's end is in :attr:`Drainage.frames` (``timeline_frame()``) and
:attr:`Drainage.node_depth_m`.

**Events** (``session.publish``, source ``"drainage"``), read at each frame's
end: ``rain_started`` / ``rain_stopped`` (from the storm given, else the
model's rain gauges), ``surcharge_started`` / ``surcharge_ended`` and
``flooding_started`` / ``flooding_stopped`` on junctions (layer
``manholes``), ``road_flooded`` (wet, or passable again after a closure),
``road_closed`` (from 30 cm) and ``road_reopened`` (clear of water) on roads
(layer ``roads``, rules in :mod:`simulation.drainage.roads`).  Every frame the
session's ``state["road_speed_factor"]`` holds road id -> speed factor (0..1,
0 closed) of the flooded roads only, and ``state["road_water_depth_m"]``
their depth.

**One SWMM per process.**  SWMM keeps its model in global C data and pyswmm
refuses a second open ``Simulation``.  A drainage engine claims SWMM from
:data:`twin.importers.swmm.SWMM_ENGINE` when it steps; the engine holding it
before is *parked*: its run is closed, its results and events kept.  Parked
and advanced again (the session left behind by ``Session.seek``, or one
replication of an ensemble run after another), it re-opens the model and
replays SWMM silently to where it was (the same routing steps, so the same
state), then goes on.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from simulation.drainage import roads as road_rules
from simulation.drainage.storm import Hyetograph
from twin.importers.swmm import (LPS_PER_FLOW_UNIT, SWMM_ENGINE, SwmmModel, options, said, swmm_errors)

SOURCE = "drainage"
#: A junction is surcharged above this much water over its highest crown (SWMM's own test uses 0.0001 ft).
SURCHARGE_M = 0.001
#: A junction floods while its overflow is above this.
FLOODING_LPS = 0.01
FT3 = 0.3048 ** 3


class DrainageError(Exception):
    """SWMM refused the model or failed during the run; the message is SWMM's own, with the model's name."""


@dataclass
class DrainageResults:
    """Results at SWMM's report steps: one row per (time, node) and per (time, link)."""

    nodes: pd.DataFrame
    links: pd.DataFrame


def _hms(text: str, default: float) -> float:
    """Seconds from SWMM's ``hh:mm:ss`` or plain seconds."""
    if not text:
        return default
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return float(parts[0])
        return sum(float(p) * f for p, f in zip(parts, (3600.0, 60.0, 1.0)))
    except ValueError:
        return default


def _read(get, indices: range, what: int) -> np.ndarray:
    """One result of every node (or link) from SWMM, as an array."""
    return np.fromiter(map(get, indices, repeat(what, len(indices))), float, len(indices))


class Drainage:
    """SWMM on the session clock."""

    name = SOURCE

    def __init__(self, model: SwmmModel | Callable[[float, float], SwmmModel], *, rain: Hyetograph | None = None,
                 roads=None, node_xy: dict | pd.DataFrame | None = None, reach_m: float = road_rules.REACH_M,
                 street_area_m2: float = road_rules.STREET_AREA_M2, live_results: bool = False):
        """``model``: the SWMM model, or ``f(start, end) -> model`` called when attached (the town's model
        written for the session's times).  ``rain``: the storm the model holds, for the rain events
        (without it they come from the model's gauges).  ``roads``: the roads layer flooding reaches;
        ``node_xy``: node id -> (x, y) in the roads' CRS (a ``manholes`` layer will do).
        ``live_results``: keep the report rows as the run goes (SWMM's values, interpolated as SWMM does;
        costs three reads of every node and link per report step); without it they come from SWMM's
        binary output when the run closes (the session's end, SWMM's end, or parked)."""
        self.live_results = bool(live_results)
        self._model_source = model
        self.model: SwmmModel | None = model if isinstance(model, SwmmModel) else None
        self.rain = rain
        self.roads = roads
        self._node_xy_source = node_xy
        self.reach_m, self.street_area_m2 = float(reach_m), float(street_area_m2)
        self.session = None
        self._sim = None
        self._folder: Path | None = None
        self._kept_output: Path | None = None  # SWMM's binary output of the last closed run, not read yet
        self.elapsed = 0.0            # SWMM's elapsed time, s
        self.finished = False
        self.parked = False
        self.replays = 0              # times this engine re-ran SWMM to where it was parked
        self._times: list[float] = []
        self._node_rows: list[tuple] = []
        self._link_rows: list[tuple] = []
        self._old: tuple | None = None
        self._old_t = -1.0
        self.results_exact = True     # every report value interpolated between adjacent routing steps
        self.from_swmm_output = 0     # report rows replaced by SWMM's own binary output (when the run closed)
        self._depth: np.ndarray | None = None
        self.frames: list[dict] = []  # per frame: clock time, rain mm/h, flooding L/s, flooded junctions, roads

    @classmethod
    def for_twin(cls, twin, rain: Hyetograph | None = None, **options) -> "Drainage":
        """The twin's drainage: its imported SWMM model (under its own rain gauges), else the town's model
        built from its layers (:mod:`simulation.drainage.build`) under ``rain``, written for the session's
        times when attached.  Roads and manhole positions come from the twin; ``options`` as for the class."""
        from simulation.drainage.build import town_drainage
        from twin.importers.swmm import model_of

        imported = model_of(twin)
        if imported is not None:
            if rain is not None:
                raise ValueError(f"{twin.name}: the imported SWMM model {imported.name!r} brings its own rain "
                                 "gauges; a design storm is for the town's model built from the layers")
            return cls(imported, roads=twin["roads"], node_xy=twin["manholes"], **options)
        town = town_drainage(twin)
        return cls(lambda start, end: town.inp(rain, start, end), rain=rain, roads=twin["roads"],
                   node_xy=town.node_xy(), **options)

    # ---------------------------------------------------------------- set-up
    def attach(self, session) -> None:
        self.session = session
        if self.model is None:
            self.model = self._model_source(session.start, session.end)
        self._open()  # SWMM first: a model it rejects is refused with its own words
        s = self.model.sections
        opts = options(s)
        self.flow_units = self.model.flow_units
        self.k = self.model.length_factor
        self.q_lps = LPS_PER_FLOW_UNIT[self.flow_units]
        self.report_step = _hms(opts.get("REPORT_STEP", ""), 900.0)
        self.ponding = opts.get("ALLOW_PONDING", "NO") == "YES"
        self._conduit_crowns = self._crowns(s, opts)
        self._rain_periods = self._wet_periods(self.rain) if self.rain is not None else None
        self.raining = False
        self.rain_depth_mm = 0.0
        self.road_depth = pd.Series(dtype=float)
        session.state["road_speed_factor"] = {}
        session.state["road_water_depth_m"] = {}
        self._read_network()

    @staticmethod
    def _crowns(s: dict, opts: dict) -> dict[str, float]:
        """Node id -> highest crown (model units) of the conduits at it, from the text."""
        inverts = {r[0]: float(r[1]) for sec in ("JUNCTIONS", "OUTFALLS", "DIVIDERS", "STORAGE")
                   for r in s.get(sec, []) if len(r) > 1}
        geom1 = {}
        for r in s.get("XSECTIONS", []):
            try:
                geom1[r[0]] = float(r[2])
            except (IndexError, ValueError):
                pass  # a transect, a street or a custom shape: its height is not in the row
        elevations = opts.get("LINK_OFFSETS", "DEPTH") == "ELEVATION"
        crowns: dict[str, float] = {}
        for r in s.get("CONDUITS", []):
            if r[0] not in geom1:
                continue
            for node, offset in ((r[1], float(r[5])), (r[2], float(r[6]))):
                base = offset if elevations else inverts.get(node, 0.0) + offset
                crowns[node] = max(crowns.get(node, -math.inf), base + geom1[r[0]])
        return crowns

    @staticmethod
    def _wet_periods(rain: Hyetograph) -> list[tuple[float, float, float, float]]:
        """(begin s, end s, depth mm, first intensity mm/h) of each spell of rain in a storm."""
        v, dt = rain.values, rain.step_s
        periods, k = [], 0
        while k < len(v):
            if v[k] > 0:
                j = k
                while j < len(v) and v[j] > 0:
                    j += 1
                periods.append((rain.start_s + k * dt, rain.start_s + j * dt, float(v[k:j].sum() * dt / 3600.0),
                                float(v[k])))
                k = j
            else:
                k += 1
        return periods

    def _open(self) -> None:
        """Open the model in SWMM (claiming it from whoever holds it) and start the run."""
        from pyswmm import Simulation

        SWMM_ENGINE.claim(self)
        self._folder = Path(tempfile.mkdtemp(prefix="lifeline-swmm-"))
        inp = self._folder / "model.inp"
        inp.write_text(self.model.text)
        try:
            sim = Simulation(str(inp), str(self._folder / "model.rpt"), str(self._folder / "model.out"))
        except Exception as exc:
            errors = swmm_errors(self._folder / "model.rpt") or [" ".join(str(exc).split())]
            self._cleanup()
            SWMM_ENGINE.release(self)
            raise DrainageError(f"{self.model.name}: SWMM rejects the model: {said(errors)}") from None
        self._sim = sim
        sim._warn_context = False
        sim.start()
        self.start_time: datetime = sim.start_time
        self.duration = (sim.end_time - sim.start_time).total_seconds()
        report_start = (sim.report_start - sim.start_time).total_seconds()
        self._report_start = report_start
        self.parked = False

    def _read_network(self) -> None:
        from swmm.toolkit import shared_enum as E
        from swmm.toolkit import solver as S

        n = S.project_get_count(E.ObjectType.NODE)
        m = S.project_get_count(E.ObjectType.LINK)
        self.node_ids = [S.project_get_id(E.ObjectType.NODE, i) for i in range(n)]
        self.link_ids = [S.project_get_id(E.ObjectType.LINK, i) for i in range(m)]
        self.node_type = np.array([S.node_get_type(i).value for i in range(n)], dtype=int)
        self.junction = self.node_type == E.NodeType.JUNCTION.value
        self.invert = np.array([S.node_get_parameter(i, E.NodeProperty.INVERT_ELEVATION) for i in range(n)])
        self.full_depth = np.array([S.node_get_parameter(i, E.NodeProperty.FULL_DEPTH) for i in range(n)])
        pond = np.array([S.node_get_parameter(i, E.NodeProperty.POND_AREA) for i in range(n)])
        self.pond_area_m2 = pond * self.k ** 2 if self.ponding else np.zeros(n)
        crown = np.array([self._conduit_crowns.get(nid, np.nan) for nid in self.node_ids])
        self.crown = np.where(np.isfinite(crown), crown, self.invert + self.full_depth)
        self.link_type = np.array([S.link_get_type(i).value for i in range(m)], dtype=int)
        self.pump = self.link_type == E.LinkType.PUMP.value
        self.gauges = S.project_get_count(E.ObjectType.GAGE)
        self.route_step = max(float(S.simulation_get_parameter(E.SimSetting.ROUTE_STEP)), 1.0)
        self.next_report = self._report_start + self.report_step
        self.xy = self._positions(n)
        self._surcharged = np.zeros(n, dtype=bool)
        self._flooding = np.zeros(n, dtype=bool)
        self._episode_m3 = np.zeros(n)      # volume flooded in the current episode, m³
        self._no_overflow = np.zeros(n)
        self._flooded_total = 0.0
        from swmm.toolkit import _solver

        # the toolkit's compiled calls with plain codes: its Python wrappers cost more than SWMM's step
        self._S, self._E, self._raw = S, E, _solver
        self._NDEPTH, self._NOVER = E.NodeResult.DEPTH.value, E.NodeResult.FLOOD.value
        self._LFLOW, self._LDEPTH = E.LinkResult.FLOW.value, E.LinkResult.DEPTH.value
        self._nodes, self._links = range(n), range(m)
        self._node_pos = {nid: i for i, nid in enumerate(self.node_ids)}
        self._link_pos = {lid: i for i, lid in enumerate(self.link_ids)}

    def _positions(self, n: int) -> np.ndarray | None:
        src = self._node_xy_source
        if src is None or self.roads is None:
            return None
        if isinstance(src, pd.DataFrame):
            src = {i: (p.x, p.y) for i, p in zip(src["id"], src.geometry)}
        return np.array([src.get(nid, (np.nan, np.nan)) for nid in self.node_ids], dtype=float)

    # ---------------------------------------------------------------- the one SWMM per process
    def park(self) -> None:
        """Close this run so another engine can have SWMM; results and events are kept."""
        if self._sim is not None:
            try:
                self._sim.__exit__()
                self._keep_swmm_output()
            finally:
                self._sim = None
                self._cleanup()
        self.parked = True

    def _keep_swmm_output(self) -> None:
        """Keep SWMM's binary output of the run just closed, to be read when the results are asked for."""
        out = self._folder / "model.out" if self._folder is not None else None
        if out is None or not out.exists():
            return
        fd, kept = tempfile.mkstemp(prefix="lifeline-swmm-", suffix=".out")
        os.close(fd)
        shutil.move(str(out), kept)
        self._drop_kept_output()
        self._kept_output = Path(kept)

    def _drop_kept_output(self) -> None:
        if self._kept_output is not None:
            self._kept_output.unlink(missing_ok=True)
            self._kept_output = None

    def _take_swmm_output(self) -> None:
        """Take the report rows from SWMM's own binary output (complete once the run is closed).

        Rows interpolated during a live run are SWMM's values for nodes and
        conduits; the file is the authority for every link (a pump switched by
        a control rule, whose earlier flow SWMM changes inside its step) and
        replaces them whenever the run closes.
        """
        from swmm.toolkit import output as O
        from swmm.toolkit import shared_enum as E

        path, self._kept_output = self._kept_output, None
        if path is None or not path.exists():
            return
        handle = O.init()
        try:
            O.open(handle, str(path))
        except Exception:
            return  # no complete output (a run closed before its first report): keep what there is
        try:
            periods = O.get_times(handle, E.Time.NUM_PERIODS)
            sizes = O.get_proj_size(handle)
            node_pos = [self._node_pos.get(O.get_elem_name(handle, E.ElementType.NODE, i)) for i in range(sizes[1])]
            link_pos = [self._link_pos.get(O.get_elem_name(handle, E.ElementType.LINK, i)) for i in range(sizes[2])]
            if None in node_pos or None in link_pos:
                return
            n, m = len(self.node_ids), len(self.link_ids)
            times, node_rows, link_rows = [], [], []
            for p in range(periods):
                depth, over, flow, ldepth = np.zeros(n), np.zeros(n), np.zeros(m), np.zeros(m)
                depth[node_pos] = O.get_node_attribute(handle, p, E.NodeAttribute.INVERT_DEPTH)
                over[node_pos] = O.get_node_attribute(handle, p, E.NodeAttribute.FLOODING_LOSSES)
                flow[link_pos] = O.get_link_attribute(handle, p, E.LinkAttribute.FLOW_RATE)
                ldepth[link_pos] = O.get_link_attribute(handle, p, E.LinkAttribute.FLOW_DEPTH)
                times.append(self.session.start + self._report_start + (p + 1) * self.report_step)
                node_rows.append((depth, over))
                link_rows.append((flow, ldepth))
            if len(times) >= len(self._times):  # a replayed run's output holds every period so far
                self._times, self._node_rows, self._link_rows = times, node_rows, link_rows
                self.from_swmm_output = periods
        finally:
            O.close(handle)
            path.unlink(missing_ok=True)

    def _resume(self) -> None:
        """Re-open the model and replay SWMM's routing steps, silently, to where this run was parked."""
        target = self.elapsed
        self._open()
        S = self._raw
        t = 0.0
        while t < target:
            days = S.swmm_step()
            if days <= 0:
                break
            t = days * 86400.0
        self.replays += 1

    def close(self) -> None:
        """End the run and give SWMM back (the results stay)."""
        if self._sim is not None:
            self.park()
        self.parked = False
        SWMM_ENGINE.release(self)

    def _cleanup(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __del__(self):
        try:
            if self._sim is not None:
                self.close()
            self._drop_kept_output()
        except Exception:
            pass

    # ---------------------------------------------------------------- time
    def advance_to(self, t_clock: float) -> None:
        session = self.session
        target = t_clock - session.start
        if self.finished:
            self._publish_rain(t_clock)
            return
        if self._sim is None or SWMM_ENGINE.holder is not self:
            if self._sim is not None:  # claimed away without being told: cannot happen, but never read stale
                self._sim = None
            self._resume()
        S = self._raw
        live = self.live_results
        if not live:  # SWMM's routing steps and nothing else until the frame's end
            step, target_days, days = S.swmm_step, target / 86400.0, self.elapsed / 86400.0
            while days < target_days:
                days = step()
                if days <= 0:
                    self.elapsed, self.finished = self.duration, True
                    break
                self.elapsed = days * 86400.0
        while self.elapsed < target and not self.finished:
            if live and self.elapsed + self.route_step >= self.next_report - 1e-6:
                self._old, self._old_t = self._read_report_values(), self.elapsed
            days = S.swmm_step()
            if days <= 0:
                self.elapsed = self.duration
                self.finished = True
            else:
                self.elapsed = days * 86400.0
            while live and self.elapsed >= self.next_report - 1e-6 and self.next_report <= self.duration + 1e-6:
                self._save_report()
            if self.finished:
                break
        get, d, o = S.node_get_result, self._NDEPTH, self._NOVER
        depth = _read(get, self._nodes, d)
        # SWMM's total flooded volume tells whether any node overflowed since the last frame: only then
        # (or while one was overflowing) are the nodes' overflows read
        # (ponded water is not lost, so a node at or above its rim is read too)
        flooded = self._S.system_get_routing_totals().flooding if len(self._links) else 0.0
        if (flooded != self._flooded_total or self._flooding.any()
                or (self.junction & (depth >= self.full_depth - 1e-6)).any()):
            overflow = _read(get, self._nodes, o)
        else:
            overflow = self._no_overflow
        self._flooded_total = flooded
        self._depth = depth
        self._observe(t_clock, depth, overflow)
        if self.finished or t_clock >= session.end:
            self.close()  # the run is over (SWMM's or the session's): SWMM is free for the next

    def _read_report_values(self):
        node, link = self._raw.node_get_result, self._raw.link_get_result
        d, q, y = self._NDEPTH, self._LFLOW, self._LDEPTH
        return _read(node, self._nodes, d), _read(link, self._links, q), _read(link, self._links, y)

    def _save_report(self) -> None:
        """SWMM's report values at ``next_report``: interpolated between the routing steps around it."""
        new = self._read_report_values()
        get, o = self._raw.node_get_result, self._NOVER
        overflow = _read(get, self._nodes, o)
        old, old_t = self._old, self._old_t
        if old is None or old_t > self.next_report or self.elapsed <= old_t:
            f, old = 1.0, new
            self.results_exact = self.results_exact and self.elapsed == self.next_report
        else:
            f = (self.next_report - old_t) / (self.elapsed - old_t)
        values = tuple(o + f * (v - o) for o, v in zip(old, new))
        # SWMM reports a pump's flow as of the earlier step, not interpolated: a pump switches, it does not ramp
        flow = np.where(self.pump, old[1], values[1])
        self._times.append(self.session.start + self.next_report)
        self._node_rows.append((values[0], overflow))
        self._link_rows.append((flow, values[2]))
        self.next_report += self.report_step

    # ---------------------------------------------------------------- events
    def _observe(self, now: float, depth: np.ndarray, overflow: np.ndarray) -> None:
        session, k = self.session, self.k
        dt = now - (self.frames[-1]["time_s"] if self.frames else session.start)
        self._publish_rain(now)
        surcharge = np.maximum((self.invert + depth - self.crown) * k, 0.0)
        flow = overflow * self.q_lps
        ponded = np.maximum(depth - self.full_depth, 0.0) * k * self.pond_area_m2
        ids = self.node_ids
        surcharged = (surcharge > SURCHARGE_M) & self.junction
        for i in np.flatnonzero(surcharged != self._surcharged):
            nid, value = ids[i], round(float(surcharge[i]), 4)
            if surcharged[i]:
                session.publish(now, "surcharge_started", SOURCE, "manholes", nid, value,
                                f"manhole {nid} surcharged: water {value:.2f} m above the pipe crown")
            else:
                session.publish(now, "surcharge_ended", SOURCE, "manholes", nid, value,
                                f"manhole {nid} no longer surcharged")
        self._surcharged = surcharged
        # a manhole floods while it overflows or water stands above its rim (ponded on the street)
        flooding = ((flow > FLOODING_LPS) | (ponded > 0.0)) & self.junction
        for i in np.flatnonzero(flooding != self._flooding):
            nid = ids[i]
            if flooding[i]:
                self._episode_m3[i] = 0.0
                session.publish(now, "flooding_started", SOURCE, "manholes", nid, round(float(flow[i]), 3),
                                f"manhole {nid} overflows: {flow[i]:.1f} L/s onto the street")
            else:
                volume = float(self._episode_m3[i])
                self._episode_m3[i] = 0.0
                session.publish(now, "flooding_stopped", SOURCE, "manholes", nid, round(volume, 3),
                                f"manhole {nid} stopped overflowing: {volume:.1f} m³ flooded")
        self._flooding = flooding
        self._episode_m3 += np.where(flooding, flow / 1000.0 * dt, 0.0)
        if self.xy is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                street = np.where(self.pond_area_m2 > 0, ponded / self.pond_area_m2,
                                  np.where(flooding, self._episode_m3 / self.street_area_m2, 0.0))
            self._flood_roads(now, street)
        self.frames.append({"time_s": now, "flooding_lps": float(flow @ self.junction),
                            "flooding_junctions": int(np.count_nonzero(flooding)),
                            "surcharged_junctions": int(np.count_nonzero(surcharged)),
                            "ponded_m3": float(ponded.sum()), "flooded_roads": len(self.road_depth),
                            "rain_mm": self.rain_depth_mm})

    @property
    def node_depth_m(self) -> pd.Series:
        """Every node's water depth (m) as of the last frame (SWMM's state at its end)."""
        if self._depth is None:
            return pd.Series(dtype=float, name="depth_m")
        return pd.Series(self._depth * self.k, index=self.node_ids, name="depth_m")

    def layer_values(self) -> list:
        """Water depth (m) in the wells (``manholes``) and on the roads (0 where dry) as of the last frame,
        for the 3D view (:mod:`simulation.session.values`)."""
        from simulation.session.values import LayerValues

        if self._depth is None:
            return []
        depth = self.node_depth_m
        wells = self._wells()
        if wells is not None:   # the model's own nodes (outfalls) are not wells
            depth = depth[wells]
        out = [LayerValues("manholes", "water_depth", depth, "m", "Blues", (0.0, 3.0))]
        if self.roads is not None and len(self.roads):
            depth = pd.Series(0.0, index=self.roads["id"].astype(str).to_numpy())
            if len(self.road_depth):
                depth.loc[self.road_depth.index.astype(str)] = self.road_depth.to_numpy(float)
            out.append(LayerValues("roads", "water_depth", depth, "m", "Blues", (0.0, road_rules.CLOSED_M)))
        return out

    def _wells(self) -> np.ndarray | None:
        """Which of the model's nodes are wells of the twin's ``manholes`` layer (worked out once)."""
        if getattr(self, "_well_mask", None) is None:
            twin = getattr(self.session, "twin", None)
            if twin is None or "manholes" not in twin.layers:
                return None
            self._well_mask = pd.Index(self.node_ids).isin(twin["manholes"]["id"].astype(str))
        return self._well_mask

    @property
    def surcharged(self) -> list[str]:
        """Junctions surcharged as of the last frame."""
        return [self.node_ids[i] for i in np.flatnonzero(self._surcharged)]

    @property
    def flooding(self) -> list[str]:
        """Junctions overflowing as of the last frame."""
        return [self.node_ids[i] for i in np.flatnonzero(self._flooding)]

    def _publish_rain(self, now: float) -> None:
        session = self.session
        if self._rain_periods is not None:
            t0 = (self.frames[-1]["time_s"] if self.frames else session.start) - session.start
            t1 = now - session.start
            for begin, end, depth, first in self._rain_periods:
                if t0 <= begin < t1:
                    self.raining = True
                    session.publish(session.start + begin, "rain_started", SOURCE, None, None, round(first, 3),
                                    f"rain started: {first:.1f} mm/h")
                if t0 < end <= t1:
                    self.raining = False
                    self.rain_depth_mm += depth
                    session.publish(session.start + end, "rain_stopped", SOURCE, None, None, round(depth, 3),
                                    f"rain stopped: {depth:.1f} mm fell")
            return
        if self.finished and self._sim is None:
            return
        S, E = self._S, self._E
        unit = 25.4 if self.flow_units in ("CFS", "GPM", "MGD") else 1.0
        rate = max((S.raingage_get_precipitation(g, E.RainResult.TOTAL) * unit for g in range(self.gauges)),
                   default=0.0)
        if rate > 0:
            if not self.raining:
                self.raining, self._spell_mm = True, 0.0
                session.publish(now, "rain_started", SOURCE, None, None, round(rate, 3),
                                f"rain started: {rate:.1f} mm/h")
            self._spell_mm += rate * (now - (self.frames[-1]["time_s"] if self.frames else session.start)) / 3600.0
        elif self.raining:
            self.raining = False
            self.rain_depth_mm += self._spell_mm
            session.publish(now, "rain_stopped", SOURCE, None, None, round(self._spell_mm, 3),
                            f"rain stopped: {self._spell_mm:.1f} mm fell")

    def _flood_roads(self, now: float, street: np.ndarray) -> None:
        session = self.session
        if not len(self.road_depth) and not (street >= road_rules.FLOODED_M).any():
            return
        depths = road_rules.road_depths(self.xy, street, self.roads, self.reach_m)
        was = self.road_depth
        for road, d in depths.items():
            closed = d >= road_rules.CLOSED_M
            before = was.get(road)
            if before is None:
                session.publish(now, "road_flooded", SOURCE, "roads", road, round(float(d), 4),
                                f"road {road} under {d * 100:.0f} cm of water" + (" — closed" if closed else ""))
            if closed and (before is None or before < road_rules.CLOSED_M):
                session.publish(now, "road_closed", SOURCE, "roads", road, round(float(d), 4),
                                f"road {road} closed: {d * 100:.0f} cm of water")
            elif not closed and before is not None and before >= road_rules.CLOSED_M:
                session.publish(now, "road_flooded", SOURCE, "roads", road, round(float(d), 4),
                                f"road {road} passable again under {d * 100:.0f} cm of water")
        for road, d in was.items():
            if road not in depths.index:
                session.publish(now, "road_reopened", SOURCE, "roads", road, 0.0,
                                f"road {road} clear of water")
        self.road_depth = depths
        session.state["road_water_depth_m"] = {str(r): float(d) for r, d in depths.items()}
        session.state["road_speed_factor"] = road_rules.road_speed_factors(depths)

    # ---------------------------------------------------------------- reading the results
    @property
    def results(self) -> DrainageResults:
        """Node and link results at every report step so far (SI: m, L/s, m³)."""
        if self._kept_output is not None:
            self._take_swmm_output()
        n, m = len(self.node_ids), len(self.link_ids)
        k = self.k
        times = np.asarray(self._times, dtype=float)
        if len(times):
            depth = np.vstack([r[0] for r in self._node_rows]) * k
            over = np.vstack([r[1] for r in self._node_rows]) * self.q_lps
            flow = np.vstack([r[0] for r in self._link_rows]) * self.q_lps
            ldepth = np.vstack([r[1] for r in self._link_rows]) * k
        else:
            depth = over = np.zeros((0, n))
            flow = ldepth = np.zeros((0, m))
        head = depth + self.invert * k
        nodes = pd.DataFrame({
            "time_s": np.repeat(times, n), "node": np.tile(self.node_ids, len(times)),
            "depth_m": depth.ravel(), "head_m": head.ravel(),
            "surcharge_m": np.maximum(head - self.crown * k, 0.0).ravel(),
            "flooding_lps": over.ravel(),
            "ponded_m3": (np.maximum(depth - self.full_depth * k, 0.0) * self.pond_area_m2).ravel(),
        })
        links = pd.DataFrame({"time_s": np.repeat(times, m), "link": np.tile(self.link_ids, len(times)),
                              "flow_lps": flow.ravel(), "depth_m": ldepth.ravel()})
        return DrainageResults(nodes, links)

    def timeline_frame(self) -> pd.DataFrame:
        """Per frame: clock time, junctions flooding and surcharged, overflow L/s, ponded m³, flooded roads."""
        return pd.DataFrame(self.frames)
