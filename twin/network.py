"""The water network: EPANET .inp text as imported (the authority), a WNTR helper model, and the layers.

EPANET 2.3 decides what a network means.  A :class:`Network` keeps the text
exactly as it was imported and a list of the project's own :class:`Edit` s
(a retrofit diameter, a closed valve); every analysis opens that text in
EPANET and applies the edits through the toolkit (see
:class:`simulation.hydraulics.solver.Solver`).  Nothing ever rewrites the
text, so rule clock times, the rule time step, option spellings and sections
WNTR does not know keep EPANET's meaning.

WNTR is a helper: :attr:`Network.model` is a :class:`wntr.network.WaterNetworkModel`
for graphs, metrics and the map (names, lengths, diameters, coordinates).  It
is read from the text when WNTR can read it, otherwise from the text as
EPANET itself writes it back (a canonical spelling), with sections WNTR does
not know dropped; its coordinates are the twin's (the text keeps the source's),
recorded as the network's *layout*.  :func:`network_layers` derives the water
layers from the helper so the two agree id for id, and :func:`check_consistency`
says where they do not.
"""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from shapely.geometry import LineString, Point

from twin import epanet

if TYPE_CHECKING:
    import wntr


def _wntr():
    """WNTR, imported when the helper model is first needed (it costs a second at start-up)."""
    import wntr

    return wntr
from twin.errors import SourceError

# EPANET accepts "CLOCKTIME >= 6 AM" in rules; WNTR 1.5 only parses the hour when it
# has minutes ("6:00 AM").  Adding ":00" keeps the rule's meaning for both.
_BARE_CLOCK_HOUR = re.compile(r"(?im)(\bCLOCKTIME\s+(?:[<>=!]+|IS|NOT|BELOW|ABOVE)\s+)(\d{1,2})(\s+[AP]M\b)")
_END = re.compile(r"(?im)^\s*\[END\]")
_SECTION_LINE = re.compile(r"^\s*\[([^\]]+)\]")


_STATISTIC = re.compile(r"(?im)^[ \t]*STATISTIC\b.*$")
#: Sections that only describe how EPANET reports and draws: the helper reads none of them.
_DISPLAY_SECTIONS = {"BACKDROP", "REPORT", "LABELS", "TAGS"}


def normalise_inp_text(text: str) -> str:
    """Rewrite spellings EPANET accepts but WNTR 1.5 does not, for the helper model only.

    Bare clock hours get ``:00``; the report statistic and the display
    sections (backdrop units in any language, report options) are left out:
    they say nothing the helper is for.
    """
    text = _BARE_CLOCK_HOUR.sub(lambda m: f"{m.group(1)}{m.group(2)}:00{m.group(3)}", text)
    text = _STATISTIC.sub("", text)
    out, keep = [], True
    for line in text.splitlines(keepends=True):
        m = _SECTION_LINE.match(line)
        if m:
            keep = m.group(1).strip().upper() not in _DISPLAY_SECTIONS
        out.append(line if keep else "\n")  # blank, so line numbers stay the text's
    return "".join(out)


def before_end(text: str) -> str:
    """The text up to its ``[END]`` line: EPANET reads nothing after it (padding, notes)."""
    m = _END.search(text)
    return text[:m.end()] + "\n" if m else text


#: Sections WNTR 1.5 reads; EPANET's rewrite of a file may hold others (2.3's [LEAKAGE]).
_WNTR_SECTIONS = {"TITLE", "JUNCTIONS", "RESERVOIRS", "TANKS", "PIPES", "PUMPS", "VALVES", "EMITTERS",
                  "CURVES", "PATTERNS", "ENERGY", "STATUS", "CONTROLS", "RULES", "DEMANDS", "QUALITY",
                  "REACTIONS", "SOURCES", "MIXING", "OPTIONS", "TIMES", "REPORT", "COORDINATES",
                  "VERTICES", "LABELS", "BACKDROP", "TAGS", "END"}


def _wntr_sections_only(text: str) -> str:
    out, keep = [], True
    for line in text.splitlines(keepends=True):
        m = _SECTION_LINE.match(line)
        if m:
            keep = m.group(1).strip().upper() in _WNTR_SECTIONS
        if keep:
            out.append(line)
    return "".join(out)


#: Link properties an :class:`Edit` may change, with their unit in the edit (SI, whatever the file's units).
LINK_EDITS = {
    "diameter": "m",
    "roughness": "H-W C, D-W mm, C-M n",
    "minor_loss": "velocity heads",
    "status": "OPEN or CLOSED (a closed link is held closed: the file's controls on it are disabled)",
}


@dataclass(frozen=True)
class Edit:
    """One change the project makes to the imported network: ``link`` ``id`` gets ``field`` = ``value``."""

    id: str
    field: str
    value: float | str
    kind: str = "link"

    def __post_init__(self):
        if self.kind != "link":
            raise ValueError(f"network edit of {self.id!r}: only link edits exist, not {self.kind!r}")
        if self.field not in LINK_EDITS:
            raise ValueError(f"network edit of link {self.id!r}: unknown field {self.field!r} "
                             f"(known: {', '.join(LINK_EDITS)})")
        if self.field == "status":
            if str(self.value).upper() not in ("OPEN", "CLOSED"):
                raise ValueError(f"network edit of link {self.id!r}: status must be OPEN or CLOSED, "
                                 f"not {self.value!r}")
            object.__setattr__(self, "value", str(self.value).upper())
        else:
            try:
                value = float(self.value)
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value < 0 or (self.field == "diameter" and value == 0):
                raise ValueError(f"network edit of link {self.id!r}: {self.field} must be a finite number "
                                 f"{'> 0' if self.field == 'diameter' else '>= 0'}, not {self.value!r}")
            object.__setattr__(self, "value", value)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "field": self.field, "value": self.value}

    @classmethod
    def from_dict(cls, row: dict) -> "Edit":
        return cls(str(row["id"]), str(row["field"]), row["value"], str(row.get("kind", "link")))


class Network:
    """An EPANET network: its text as imported, the project's edits, and a WNTR helper model.

    ``layout`` holds the helper's node coordinates and link vertices in the
    twin's CRS when they differ from the text's (an import moved them to a
    metric CRS); None when the text's coordinates are already the twin's.
    """

    def __init__(self, text: str, *, name: str = "network", edits=(), layout: dict | None = None,
                 source: str = "", model: wntr.network.WaterNetworkModel | None = None,
                 encoding: str | None = None):
        self.text = text
        # The file's encoding travels in the layout (saved with the project): EPANET is given
        # text.encode(encoding), the file's own bytes, IDs included.
        encoding = encoding or (layout or {}).get("encoding") or "utf-8"
        if encoding not in epanet.ENCODINGS:
            raise SourceError(f"{source or name}: unknown network text encoding {encoding!r}")
        self.encoding = encoding
        if encoding != "utf-8":
            layout = {**(layout or {}), "encoding": encoding}
        self.name = name
        self.edits: tuple[Edit, ...] = tuple(edits)
        self.layout = layout
        self.source = source or name
        self._base: wntr.network.WaterNetworkModel | None = model
        self._model: wntr.network.WaterNetworkModel | None = None
        self.notes: list[str] = []

    # ---------------------------------------------------------------- the helper
    @property
    def model(self) -> wntr.network.WaterNetworkModel:
        """The WNTR helper model, with the layout and the edits applied (for graphs, metrics, the map)."""
        if self._model is None:
            if self._base is None:
                self._base = helper_model(self.text, self.source, self.notes, self.encoding)
                if self.layout:
                    _apply_layout(self._base, self.layout)
            wn = copy.deepcopy(self._base) if self.edits else self._base
            for e in self.edits:
                _edit_helper(wn, e)
            wn.name = self.name
            self._model = wn
        return self._model

    def place(self, func) -> None:
        """Move the helper's coordinates with ``func(x, y) -> (x, y)`` and record them as the layout."""
        wn = self.model
        transform_coordinates(wn, func)
        self.layout = {"nodes": {n: list(wn.get_node(n).coordinates) for n in wn.node_name_list},
                       "vertices": {n: [list(v) for v in link.vertices] for n, link in wn.links() if link.vertices}}
        if self.encoding != "utf-8":
            self.layout["encoding"] = self.encoding
        self._base = wn if not self.edits else None
        if self._base is None:
            self._model = None

    # ---------------------------------------------------------------- edits
    def edited(self, *edits: Edit) -> "Network":
        """A copy with ``edits`` added (a later edit of the same link and field replaces the earlier)."""
        known = set(self.model.link_name_list)
        for e in edits:
            if e.id not in known:
                raise KeyError(f"{self.source}: no link {e.id!r} in the network to edit")
        new = {(e.id, e.field): e for e in (*self.edits, *edits)}
        out = Network(self.text, name=self.name, edits=new.values(), layout=self.layout, source=self.source,
                      model=self._base, encoding=self.encoding)
        out.notes = list(self.notes)
        return out

    @property
    def inp_bytes(self) -> bytes:
        """What EPANET is given: the imported file's own bytes (``text`` in its :attr:`encoding`)."""
        return epanet.encode(self.text, self.encoding)

    def __getstate__(self):
        # Sent to worker processes: the text and edits travel, the helper is rebuilt only if asked for.
        state = dict(self.__dict__)
        state["_base"] = state["_model"] = None
        return state

    def __eq__(self, other):
        return (isinstance(other, Network) and self.text == other.text and self.edits == other.edits
                and self.name == other.name and self.encoding == other.encoding)

    __hash__ = None


def _apply_layout(wn, layout: dict) -> None:
    for name, xy in layout.get("nodes", {}).items():
        if name in wn.node_name_list:
            wn.get_node(name).coordinates = (float(xy[0]), float(xy[1]))
    for name, vertices in layout.get("vertices", {}).items():
        if name in wn.link_name_list:
            wn.get_link(name).vertices = [(float(a), float(b)) for a, b in vertices]


def _edit_helper(wn, e: Edit) -> None:
    link = wn.get_link(e.id)
    if e.field == "diameter":
        link.diameter = e.value
    elif e.field == "roughness":
        # WNTR holds Darcy-Weisbach roughness in metres; the edit is in mm
        link.roughness = e.value * 0.001 if wn.options.hydraulic.headloss == "D-W" else e.value
    elif e.field == "minor_loss":
        link.minor_loss = e.value
    elif e.field == "status":
        link.initial_status = _wntr().network.LinkStatus.Closed if e.value == "CLOSED" else _wntr().network.LinkStatus.Open


_TEMP_NETWORK = re.compile(r"[^\s'\"]*lifeline-net-[^\s'\"]*\.inp")
# WNTR's own bookkeeping while reading [OPTIONS]; says nothing about the file.
_QUIET_WARNINGS = ("Changing the headloss formula",)


def read_text(source: str | Path) -> str:
    """The text of a network file; a folder, a missing file or binary content is one error naming it."""
    return read_inp(source)[0]


def read_inp(source: str | Path) -> tuple[str, str]:
    """``(text, encoding)`` of a network file: ``text.encode(encoding)`` is the file's bytes (see :func:`read_text`)."""
    path = Path(source)
    if path.is_dir():
        raise SourceError(f"{source}: is a folder, not an EPANET .inp file")
    if not path.is_file():
        raise SourceError(f"{source}: no such network file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{source}: cannot read network ({exc.strerror})") from None
    text, encoding = epanet.decode(raw)
    head = before_end(text)
    undecodable = sum(head.count(ch) for ch in "\x00\ufffd") + sum(
        1 for ch in head[:65536] if ord(ch) < 32 and ch not in "\t\r\n\f\x1a")
    if undecodable > max(8, len(head) // 100):
        # Binary data (a zip, a .net, a picture): EPANET would quote its bytes back.
        raise SourceError(f"{source}: not an EPANET .inp file (binary content, not text)")
    return text, encoding


def load_network(source: str | Path, text: str | None = None, notes: list[str] | None = None,
                 name: str | None = None, layout: dict | None = None, encoding: str | None = None) -> Network:
    """An EPANET network from a file (or from ``text``, ``source`` naming it), checked by EPANET 2.3.

    A file EPANET refuses raises :class:`SourceError` with EPANET's own error
    lines (code, section, line).  The WNTR helper is built at once, and WNTR's
    warnings about the file (unused curves...) are appended to ``notes``.
    """
    source = str(source)
    if text is None:
        text, encoding = read_inp(source)
    encoding = encoding or (layout or {}).get("encoding") or "utf-8"
    epanet.check(text, source, encoding)
    found: list[str] = []
    wn = helper_model(text, source, found, encoding)
    if wn.num_nodes == 0:
        # EPANET opens text with no sections at all (a CSV, an empty file) as an empty network
        raise SourceError(f"{source}: holds no network (no junctions, reservoirs or tanks): not an EPANET .inp file?")
    if notes is not None:
        notes.extend(found)
    if layout:
        _apply_layout(wn, layout)
    net = Network(text, name=name or Path(source.split(":")[0]).stem, source=source, model=wn, layout=layout,
                  encoding=encoding)
    net.notes = found
    return net


def read_network(source: str | Path, text: str | None = None,
                 notes: list[str] | None = None) -> wntr.network.WaterNetworkModel:
    """The WNTR helper model of a network file EPANET 2.3 accepts (see :func:`load_network`)."""
    return load_network(source, text, notes).model


def helper_model(text: str, source: str, notes: list[str] | None = None,
                 encoding: str = "utf-8") -> wntr.network.WaterNetworkModel:
    """A WNTR model of ``text`` for graphs and the map: WNTR's reading of the text, else of EPANET's rewrite.

    EPANET's rewrite is made in terms WNTR 1.5 (an EPANET 2.2 reader) knows,
    for the helper only: a network in 2.3's CMS units is written by EPANET in
    LPS (EPANET converting every flow; WNTR converts both to SI alike), and a
    valve of a type new in 2.3 (PCV) is read as a TCV (same ends, diameter,
    minor loss) whose ``valve_type`` is then put back to EPANET's.  Hydraulics
    never use the helper: EPANET solves the text itself.

    WNTR's reader is stricter than EPANET's: a line it refuses in a section
    that says nothing about the network's shape (options, times, report,
    energy, quality, controls, rules...) is left out of the helper's reading,
    and ``notes`` says so.  The caller has checked that EPANET opens ``text``;
    when neither reading works, the error says so in WNTR's words, naming the file.
    """
    try:
        return _lenient_read(normalise_inp_text(before_end(text)), source, notes)
    except SourceError as exc:
        first = exc
    # outside the handler: WNTR's reader fails again when called while an exception is being handled
    try:
        canonical, types = _valves_22(_wntr_sections_only(epanet.rewrite(text, encoding, units_22=True)))
        wn = _lenient_read(normalise_inp_text(canonical), source, notes, of="EPANET's rewrite of ")
        for name, valve_type in types.items():
            wn.get_link(name).__class__ = _valve_class(valve_type)
        return wn
    except SourceError:
        pass
    raise SourceError(f"{source}: EPANET 2.3 reads this network but the WNTR helper (graphs, map) "
                      f"cannot: {str(first).split(': ', 1)[-1]}")


#: Valve types EPANET 2.2 (and WNTR 1.5) knows; a [VALVES] line has 7 fields there.
_VALVE_TYPES_22 = {"PRV", "PSV", "PBV", "FCV", "TCV", "GPV"}


def _valves_22(text: str) -> tuple[str, dict[str, str]]:
    """``text`` (EPANET's canonical rewrite) with 2.3's new valve types as TCVs, and {valve id: its real type}.

    A line's fields after the minor loss (2.3's PCV curve) are left out: they
    only matter to hydraulics, which EPANET solves from the imported text.
    """
    out, types, section = [], {}, None
    for line in text.splitlines(keepends=True):
        m = _SECTION_LINE.match(line)
        if m:
            section = m.group(1).strip().upper()
        elif section == "VALVES":
            fields = line.split(";")[0].split()
            if len(fields) >= 6 and (fields[4].upper() not in _VALVE_TYPES_22 or len(fields) > 7):
                if fields[4].upper() not in _VALVE_TYPES_22:
                    types[fields[0]] = fields[4].upper()
                    fields[4] = "TCV"
                    fields[5] = "0"  # a TCV's setting is a loss coefficient, not 2.3's percent open
                line = " " + "\t".join(fields[:7]) + "\n"
        out.append(line)
    return "".join(out), types


_VALVE_CLASSES: dict[str, type] = {}


def _valve_class(valve_type: str) -> type:
    """A WNTR TCV class whose ``valve_type`` is EPANET's (``PCV``): the helper's valve says what EPANET solves."""
    if valve_type not in _VALVE_CLASSES:
        base = _wntr().network.elements.TCValve
        _VALVE_CLASSES[valve_type] = type(f"{valve_type.title()}Valve", (base,), {
            "valve_type": property(lambda self, t=valve_type: t),
            "__doc__": f"A {valve_type} valve (EPANET 2.3) in the WNTR helper: topology and size only; "
                       "EPANET solves it."})
    return _VALVE_CLASSES[valve_type]


#: Sections whose lines the helper may leave out: they do not change which nodes and links exist.
_SETTINGS_SECTIONS = {"OPTIONS", "TIMES", "REPORT", "ENERGY", "REACTIONS", "QUALITY", "SOURCES", "MIXING",
                      "BACKDROP", "TAGS", "LABELS", "CONTROLS", "RULES", "STATUS", "EMITTERS", "TITLE"}
_AT_LINE = re.compile(r"^line (\d+):")


def _lenient_read(text: str, source: str, notes: list[str] | None, of: str = "") -> wntr.network.WaterNetworkModel:
    lines = text.splitlines(keepends=True)
    skipped = []
    for _ in range(50):
        try:
            wn = _wntr_read("".join(lines), source, notes)
        except SourceError as exc:
            m = _AT_LINE.match(str(exc).split(": ", 1)[-1])
            number = int(m.group(1)) if m else None
            section = _section_of(lines, number) if number else None
            if section not in _SETTINGS_SECTIONS or lines[number - 1].lstrip().startswith(";"):
                raise
            skipped.append(f"{number} ([{section}] {' '.join(lines[number - 1].split(';')[0].split())[:60]})")
            lines[number - 1] = ";" + lines[number - 1]
            continue
        if skipped and notes is not None:
            notes.append(f"the WNTR helper (graphs, map) left out line(s) of {of}{source} it cannot read: "
                         f"{'; '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}; EPANET reads them")
        return wn
    raise SourceError(f"{source}: WNTR cannot read {of}the network (more than 50 lines refused)")


def _section_of(lines: list[str], number: int) -> str | None:
    for line in reversed(lines[:number]):
        m = _SECTION_LINE.match(line)
        if m:
            return m.group(1).strip().upper()
    return None


def _wntr_read(text: str, source: str, notes: list[str] | None) -> wntr.network.WaterNetworkModel:
    fd, tmp = tempfile.mkstemp(suffix=".inp", prefix="lifeline-net-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                wn = _wntr().network.read_inpfile(tmp)
            except Exception as exc:  # WNTR raises many kinds: ENSyntaxError, KeyError, ValueError...
                raise SourceError(f"{source}: {_describe(exc, text, source)}") from None
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


def network_from_model(wn: wntr.network.WaterNetworkModel, name: str | None = None) -> Network:
    """A network the project builds itself in WNTR (the demo town): its text is WNTR's writing of it."""
    text = network_text(wn)
    net = Network(text, name=name or wn.name or "network", model=wn)
    return net


def network_text(wn: wntr.network.WaterNetworkModel) -> str:
    """A WNTR model written as EPANET .inp text (in the model's own flow units).

    Only for networks the project builds itself: an imported network keeps its
    own text (WNTR's writer changes the meaning of some files).
    """
    fd, tmp = tempfile.mkstemp(suffix=".inp", prefix="lifeline-net-")
    os.close(fd)
    try:
        _wntr().network.write_inpfile(wn, tmp, units=wn.options.hydraulic.inpfile_units)
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
