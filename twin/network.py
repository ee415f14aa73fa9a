"""The water network: EPANET .inp text <-> WNTR model <-> the twin's water layers.

The twin keeps the network as a :class:`wntr.network.WaterNetworkModel` (for
hydraulics) and as layers (for the map); :func:`network_layers` derives the
layers from the model so the two agree id for id, and :func:`check_consistency`
says where they do not.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import wntr
from pyproj import CRS
from shapely.geometry import LineString, Point

from twin.errors import SourceError

# EPANET accepts "CLOCKTIME >= 6 AM" in rules; WNTR 1.5 only parses the hour when it
# has minutes ("6:00 AM").  Adding ":00" keeps the rule's meaning for both.
_BARE_CLOCK_HOUR = re.compile(r"(?im)(\bCLOCKTIME\s+(?:[<>=!]+|IS|NOT|BELOW|ABOVE)\s+)(\d{1,2})(\s+[AP]M\b)")


def normalise_inp_text(text: str) -> str:
    """Rewrite spellings EPANET accepts but WNTR 1.5 does not, keeping their meaning."""
    return _BARE_CLOCK_HOUR.sub(lambda m: f"{m.group(1)}{m.group(2)}:00{m.group(3)}", text)


_TEMP_NETWORK = re.compile(r"[^\s'\"]*lifeline-net-[^\s'\"]*\.inp")
# WNTR's own bookkeeping while reading [OPTIONS]; says nothing about the file.
_QUIET_WARNINGS = ("Changing the headloss formula",)


def read_network(source: str | Path, text: str | None = None,
                 notes: list[str] | None = None) -> wntr.network.WaterNetworkModel:
    """Read an EPANET network from a file (or from ``text``, ``source`` naming it).

    Malformed files raise :class:`SourceError` naming the file and, where EPANET
    or WNTR say it, the line.  WNTR's warnings about the file (unused curves...)
    are appended to ``notes`` (with the file's name, never a temporary one)
    instead of being printed.
    """
    source = str(source)
    if text is None:
        path = Path(source)
        if path.is_dir():
            raise SourceError(f"{source}: is a folder, not an EPANET .inp file")
        if not path.is_file():
            raise SourceError(f"{source}: no such network file")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SourceError(f"{source}: cannot read network ({exc.strerror})") from None
        undecodable = text.count("\ufffd") + text.count("\x00")
        if undecodable > max(8, len(text) // 100):
            # Binary data (a zip, a .net, a picture): WNTR would quote its bytes back.
            raise SourceError(f"{source}: not an EPANET .inp file (binary content, not text)")
    fixed = normalise_inp_text(text)
    fd, tmp = tempfile.mkstemp(suffix=".inp", prefix="lifeline-net-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(fixed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                wn = wntr.network.read_inpfile(tmp)
            except Exception as exc:  # WNTR raises many kinds: ENSyntaxError, KeyError, ValueError...
                raise SourceError(f"{source}: not a valid EPANET network: {_describe(exc, fixed, source)}") from None
    finally:
        os.unlink(tmp)
    seen = set()
    for w in caught:
        message = _TEMP_NETWORK.sub(source, " ".join(str(w.message).split()))
        if message.startswith(_QUIET_WARNINGS) or message in seen:
            continue
        seen.add(message)
        if notes is not None:
            notes.append(message)
    return wn


def _describe(exc: Exception, text: str, source: str) -> str:
    """The most precise reason WNTR gives, with its line, never naming the temporary file.

    WNTR wraps the real error ("(Error 203) undefined node 'node1', at line 56")
    in a generic "errors in input file <temporary file>"; the cause chain holds
    the real one.
    """
    chain, cause = [exc], exc.__cause__ or exc.__context__
    while cause is not None and len(chain) < 20:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__

    def generic(e):
        return "one or more errors in input file" in str(e)

    coded = [c for c in chain if str(c).strip().strip('"').startswith("(Error") and not generic(c)]
    informative = [c for c in chain if " ".join(str(c).split()) and not generic(c)]
    innermost = coded[-1] if coded else (informative[-1] if informative else exc)
    detail = " ".join(str(innermost).strip().strip('"').split()).replace(" (%s)", "")
    detail = _TEMP_NETWORK.sub(source, detail) or type(innermost).__name__
    line = getattr(innermost, "line_num", None)
    at = re.search(r",? at line (\d+)(?::\s*(.*))?$", detail)
    if at:
        line = int(at.group(1))
        detail = detail[:at.start()] + (f": {at.group(2)}" if at.group(2) else "")
    if not line:
        line = _line_quoting(text, detail)
    # A binary file quoted back would put control bytes (even newlines) on the user's terminal.
    detail = "".join(ch if ch.isprintable() else "?" for ch in detail)
    if len(detail) > 200:
        detail = detail[:200] + "..."
    return f"line {line}: {detail}" if line else detail


def _line_quoting(text: str, detail: str) -> int | None:
    """The first line (ignoring comments) holding the token the message quotes."""
    quoted = re.search(r"'([^']{2,})'", detail)
    if not quoted:
        return None
    needle = quoted.group(1).strip()
    pattern = re.compile(rf"(?<![\w:.]){re.escape(needle)}(?![\w:.])")
    for no, content in enumerate(text.splitlines(), start=1):
        if pattern.search(content.split(";")[0]):
            return no
    return None


def network_text(wn: wntr.network.WaterNetworkModel) -> str:
    """The model written as EPANET .inp text (in the model's own flow units)."""
    fd, tmp = tempfile.mkstemp(suffix=".inp", prefix="lifeline-net-")
    os.close(fd)
    try:
        wntr.network.write_inpfile(wn, tmp, units=wn.options.hydraulic.inpfile_units)
        text = Path(tmp).read_text(encoding="utf-8")
    finally:
        os.unlink(tmp)
    # WNTR heads the file with the (temporary) file name: drop it so the text is reproducible.
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("; Filename:"))


def transform_coordinates(wn: wntr.network.WaterNetworkModel, func) -> None:
    """Apply ``func(x_array, y_array) -> (x, y)`` to every node and link vertex, in place."""
    names = wn.node_name_list
    xy = np.array([wn.get_node(n).coordinates for n in names], dtype=float)
    if len(xy):
        nx_, ny_ = func(xy[:, 0], xy[:, 1])
        for name, x, y in zip(names, nx_, ny_):
            wn.get_node(name).coordinates = (float(x), float(y))
    for _, link in wn.links():
        if link.vertices:
            v = np.asarray(link.vertices, dtype=float)
            vx, vy = func(v[:, 0], v[:, 1])
            link.vertices = [(float(a), float(b)) for a, b in zip(vx, vy)]


def _link_line(wn, link) -> LineString:
    a = wn.get_node(link.start_node_name).coordinates
    b = wn.get_node(link.end_node_name).coordinates
    return LineString([a, *link.vertices, b])


def network_layers(wn: wntr.network.WaterNetworkModel, crs: CRS) -> dict[str, gpd.GeoDataFrame]:
    """The water layers (junctions, pipes, valves, pumps, tanks, reservoirs) of ``wn``."""
    def frame(rows, geoms):
        return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)

    junctions, jg = [], []
    for name, j in wn.junctions():
        junctions.append({"id": name, "elevation": j.elevation, "base_demand": j.base_demand})
        jg.append(Point(j.coordinates))
    tanks, tg = [], []
    for name, t in wn.tanks():
        tanks.append({"id": name, "elevation": t.elevation, "init_level": t.init_level,
                      "min_level": t.min_level, "max_level": t.max_level, "diameter": t.diameter})
        tg.append(Point(t.coordinates))
    reservoirs, rg = [], []
    for name, r in wn.reservoirs():
        reservoirs.append({"id": name, "base_head": r.base_head})
        rg.append(Point(r.coordinates))
    pipes, pg = [], []
    for name, p in wn.pipes():
        pipes.append({"id": name, "start_node": p.start_node_name, "end_node": p.end_node_name,
                      "length": p.length, "diameter": p.diameter, "roughness": p.roughness,
                      "status": "CV" if p.check_valve else str(p.initial_status).upper()})
        pg.append(_link_line(wn, p))
    pumps, pug = [], []
    for name, p in wn.pumps():
        pumps.append({"id": name, "start_node": p.start_node_name, "end_node": p.end_node_name,
                      "pump_type": p.pump_type})
        pug.append(_link_line(wn, p))
    valves, vg = [], []
    for name, v in wn.valves():
        valves.append({"id": name, "valve_type": v.valve_type, "link_id": name,
                       "node_id": v.end_node_name, "diameter": v.diameter, "operable": True})
        line = _link_line(wn, v)
        vg.append(line.interpolate(0.5, normalized=True))
    return {
        "water_junctions": frame(junctions, jg),
        "water_tanks": frame(tanks, tg),
        "water_reservoirs": frame(reservoirs, rg),
        "water_pipes": frame(pipes, pg),
        "water_pumps": frame(pumps, pug),
        "water_valves": frame(valves, vg),
    }


def check_consistency(wn: wntr.network.WaterNetworkModel, layers: dict[str, gpd.GeoDataFrame]) -> list[str]:
    """Differences between the network and the water layers (empty when they agree)."""
    problems = []
    pairs = [("water_junctions", wn.junction_name_list), ("water_pipes", wn.pipe_name_list),
             ("water_pumps", wn.pump_name_list), ("water_tanks", wn.tank_name_list),
             ("water_reservoirs", wn.reservoir_name_list)]
    for layer, names in pairs:
        have = set(layers[layer]["id"])
        want = set(names)
        if have != want:
            missing = sorted(want - have)[:5]
            extra = sorted(have - want)[:5]
            problems.append(f"{layer}: {len(want - have)} network elements missing from the layer "
                            f"{missing}, {len(have - want)} features not in the network {extra}")
    modelled = set(layers["water_valves"]["link_id"].dropna())
    missing_valves = set(wn.valve_name_list) - modelled
    if missing_valves:
        problems.append(f"water_valves: network valves without a feature {sorted(missing_valves)[:5]}")
    return problems
