"""Import an EPA SWMM 5 model (.inp) into a twin's drainage layers, keeping its text as SWMM's authority.

SWMM decides what a drainage model means.  :func:`import_swmm` lets SWMM
open the file first (:func:`check_with_swmm`): a file SWMM rejects is refused
with SWMM's own error code and message, naming the file, and nothing is made.
The text is then kept exactly as read (:class:`SwmmModel`, stored in the
twin's metadata under ``"swmm"``, which the project file saves as JSON, so it
comes back byte for byte), and :func:`export_inp` writes it back unchanged:
SWMM's results on the exported file are SWMM's results on the original.

The layers are read from the text for the map and the views:

* every node (junction, outfall, divider, storage) becomes a ``manholes``
  feature: ``well_type`` ``"sewer"`` when the model carries sewage (a
  ``[DWF]`` section with rows), otherwise ``"storm"``; ``rim_elevation`` =
  invert + maximum depth; ``depth`` = maximum depth (none for outfalls);
* every conduit becomes a ``sewers`` feature from its nodes' coordinates and
  its ``[VERTICES]``: inverts are node invert + offset (or the offset itself
  when ``LINK_OFFSETS ELEVATION``), ``diameter`` is ``Geom1`` of a
  ``CIRCULAR`` / ``FORCE_MAIN`` section (empty for other shapes), ``kind``
  ``"combined"`` (sewage and subcatchments), ``"sanitary"`` (sewage only) or
  ``"storm"``.  Pumps, weirs, orifices and outlets stay in the text only (the
  report says how many).

US models (CFS, GPM, MGD) have feet; the layers are in metres.

SWMM 5 keeps one model open per process (its state is global C data, and
pyswmm refuses a second ``Simulation``).  :data:`SWMM_ENGINE` is the one
place that knows who holds it: whoever needs SWMM calls
:meth:`SwmmEngine.claim`, and the holder before is asked to ``park()``
(close its run, ready to resume later).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from twin.crs import describe, parse_crs, placement
from twin.errors import SourceError
from twin.importers import ImportReport
from twin.model import Twin

#: Where the SWMM text lives in ``twin.metadata``.
METADATA_KEY = "swmm"
FT = 0.3048
#: Metres per length unit and litres per second per flow unit, by SWMM's FLOW_UNITS.
US_FLOW_UNITS = ("CFS", "GPM", "MGD")
LPS_PER_FLOW_UNIT = {"CFS": 28.316846592, "GPM": 0.0630901964, "MGD": 43.812636389,
                     "CMS": 1000.0, "LPS": 1.0, "MLD": 1000.0 / 86.4}
NODE_SECTIONS = ("JUNCTIONS", "OUTFALLS", "DIVIDERS", "STORAGE")
LINK_SECTIONS = ("CONDUITS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS")
CIRCULAR = ("CIRCULAR", "FORCE_MAIN")
_TOKEN = re.compile(r'"[^"]*"|\S+')


@dataclass(frozen=True)
class SwmmModel:
    """A SWMM 5 model: its .inp text exactly as imported or built, and its name."""

    name: str
    text: str

    def as_dict(self) -> dict:
        return {"name": self.name, "text": self.text}

    @cached_property
    def sections(self) -> dict[str, list[list[str]]]:
        """Every section as rows of tokens (read once; treat as read-only)."""
        return read_sections(self.text)

    @cached_property
    def flow_units(self) -> str:
        return options(self.sections).get("FLOW_UNITS", "CFS")

    @property
    def length_factor(self) -> float:
        """Metres per length unit of the model (feet for US flow units)."""
        return FT if self.flow_units in US_FLOW_UNITS else 1.0


def read_sections(text: str) -> dict[str, list[list[str]]]:
    """Every section of a SWMM .inp text as rows of tokens (comments and blank lines left out)."""
    out: dict[str, list[list[str]]] = {}
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            rows = out.setdefault(line.strip("[]").strip().upper(), [])
            continue
        if rows is not None:
            rows.append([t.strip('"') for t in _TOKEN.findall(line)])
    return out


def options(sections: dict) -> dict[str, str]:
    return {r[0].upper(): " ".join(r[1:]).upper() for r in sections.get("OPTIONS", []) if r}


def model_of(twin) -> SwmmModel | None:
    """The SWMM model a twin keeps (imported), or None."""
    kept = twin.metadata.get(METADATA_KEY)
    return SwmmModel(kept["name"], kept["text"]) if kept else None


def keep(twin, model: SwmmModel) -> None:
    """Keep ``model`` in the twin (saved with the project, verbatim)."""
    twin.metadata[METADATA_KEY] = model.as_dict()


# --------------------------------------------------------------------------- the one SWMM per process

class SwmmEngine:
    """Who holds SWMM in this process.  ``claim(owner)`` parks the holder before (its ``park()``)."""

    def __init__(self):
        self.holder = None
        self._lock = threading.RLock()

    def claim(self, owner) -> None:
        with self._lock:
            if self.holder is not None and self.holder is not owner:
                before, self.holder = self.holder, None
                before.park()
            self.holder = owner

    def release(self, owner) -> None:
        with self._lock:
            if self.holder is owner:
                self.holder = None

    def vacate(self) -> None:
        """Park whoever holds SWMM, so code outside the project (pyswmm straight) may open a model."""
        with self._lock:
            if self.holder is not None:
                before, self.holder = self.holder, None
                before.park()


SWMM_ENGINE = SwmmEngine()


class _Checker:
    """The importer's short claim on SWMM: it never runs, so parking is nothing."""

    def park(self) -> None:
        pass


def said(errors: list[str], most: int = 3) -> str:
    """SWMM's errors in one line: the first ``most`` of them and how many more."""
    shown = "; ".join(errors[:most])
    return shown + (f"; and {len(errors) - most} more error(s) of the same run" if len(errors) > most else "")


def swmm_errors(report_file: Path) -> list[str]:
    """SWMM's own ERROR lines from a report file (each with the line it quotes, when there is one)."""
    if not report_file.exists():
        return []
    lines = report_file.read_text(errors="replace").splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.strip().startswith("ERROR"):
            text = line.strip()
            if text.endswith(":") and i + 1 < len(lines) and lines[i + 1].strip():
                text = f"{text} {lines[i + 1].strip()}"
            found.append(text)
    return found


def check_with_swmm(text: str, name: str) -> None:
    """Let SWMM open ``text``; a model SWMM rejects raises :class:`SourceError` with SWMM's own errors."""
    from pyswmm import Simulation

    folder = Path(tempfile.mkdtemp(prefix="lifeline-swmm-check-"))
    checker = _Checker()
    try:
        SWMM_ENGINE.claim(checker)
        inp = folder / "model.inp"
        inp.write_text(text)
        try:
            sim = Simulation(str(inp), str(folder / "model.rpt"), str(folder / "model.out"))
        except Exception as exc:
            errors = swmm_errors(folder / "model.rpt") or [" ".join(str(exc).split())]
            raise SourceError(f"{name}: SWMM rejects the file: {said(errors)}") from None
        sim.close()
    finally:
        SWMM_ENGINE.release(checker)
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- import and export

def import_swmm(path, crs, to_crs=None, name=None) -> tuple[Twin, ImportReport]:
    """Build a twin holding the drainage network of a SWMM .inp whose coordinates are in ``crs``.

    ``crs`` as for every importer (``EPSG:25832``, ``local:ft``, ``local:m``);
    ``to_crs`` the twin's metric CRS (default: the metric sibling of ``crs``).
    """
    path = Path(path)
    report = ImportReport(source=str(path))
    if not path.is_file():
        raise SourceError(f"{path}: no such SWMM file")
    raw = path.read_bytes()  # bytes, so line ends stay as they are
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        report.notes.append(f"{path.name}: read as Latin-1 (not UTF-8)")
    src_crs = parse_crs(crs, "--crs")
    report.source_crs = describe(src_crs)
    check_with_swmm(text, str(path))
    model = SwmmModel(name or path.stem, text)
    sections = model.sections
    xy = np.array([(float(r[1]), float(r[2])) for r in sections.get("COORDINATES", []) if len(r) >= 3])
    twin_crs, place, notes = placement(src_crs, to_crs, crs, model.name, xy, "model")
    report.notes.extend(notes)
    twin = Twin(model.name, twin_crs)
    manholes, sewers = drainage_layers(model, place, twin_crs, report)
    twin.set_layer("manholes", manholes, source=str(path))
    twin.set_layer("sewers", sewers, source=str(path))
    keep(twin, model)
    return twin, report


def drainage_layers(model: SwmmModel, place, crs, report: ImportReport | None = None):
    """The ``manholes`` and ``sewers`` layers of a SWMM model (see the module's rules)."""
    s = model.sections
    opts = options(s)
    k = model.length_factor
    sewage = bool(s.get("DWF"))
    runoff = bool(s.get("SUBCATCHMENTS"))
    xy = {r[0]: (float(r[1]), float(r[2])) for r in s.get("COORDINATES", []) if len(r) >= 3}
    nodes = []
    for section in NODE_SECTIONS:
        for r in s.get(section, []):
            invert = float(r[1])
            depth = float(r[2]) if section in ("JUNCTIONS", "STORAGE") else np.nan
            if section == "DIVIDERS":
                depth = float(r[-4]) if len(r) >= 7 else np.nan
            nodes.append((r[0], section[:-1].lower() if section != "STORAGE" else "storage", invert, depth))
    missing = [n for n, *_ in nodes if n not in xy]
    if missing and report is not None:
        report.skipped.append(f"{len(missing)} nodes without coordinates are not on the map: "
                              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    drawn = [n for n in nodes if n[0] in xy]
    px, py = place([xy[n[0]][0] for n in drawn], [xy[n[0]][1] for n in drawn])
    where = {n[0]: (float(x), float(y)) for n, x, y in zip(drawn, np.atleast_1d(px), np.atleast_1d(py))}
    invert = {n: inv for n, _, inv, _ in nodes}
    manholes = gpd.GeoDataFrame({
        "id": [n[0] for n in drawn],
        "well_type": "sewer" if sewage else "storm",
        "node_type": [n[1] for n in drawn],
        "rim_elevation": [(n[2] + n[3]) * k if np.isfinite(n[3]) else np.nan for n in drawn],
        "depth": [n[3] * k for n in drawn],
    }, geometry=gpd.GeoSeries(shapely.points([where[n[0]] for n in drawn]) if drawn else [], crs=crs), crs=crs)
    xsect = {r[0]: r for r in s.get("XSECTIONS", []) if len(r) >= 3}
    vertices: dict[str, list] = {}
    for r in s.get("VERTICES", []):
        vertices.setdefault(r[0], []).append((float(r[1]), float(r[2])))
    offsets_are_elevations = opts.get("LINK_OFFSETS", "DEPTH") == "ELEVATION"
    rows, lines = [], []
    for r in s.get("CONDUITS", []):
        link, a, b = r[0], r[1], r[2]
        if a not in where or b not in where:
            continue
        off1, off2 = float(r[5]), float(r[6])
        up = off1 if offsets_are_elevations else invert[a] + off1
        down = off2 if offsets_are_elevations else invert[b] + off2
        x = xsect.get(link)
        diameter = float(x[2]) * k if x is not None and x[1].upper() in CIRCULAR else np.nan
        pts = [xy[a]] + vertices.get(link, []) + [xy[b]]
        vx, vy = place([p[0] for p in pts], [p[1] for p in pts])
        lines.append(shapely.linestrings(np.column_stack([vx, vy])))
        rows.append({"id": link, "upstream_invert": up * k, "downstream_invert": down * k, "diameter": diameter,
                     "kind": ("combined" if runoff else "sanitary") if sewage else "storm",
                     "upstream_manhole": a, "downstream_manhole": b})
    sewers = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(lines, crs=crs), crs=crs) if rows else \
        gpd.GeoDataFrame({"id": [], "upstream_invert": [], "downstream_invert": []},
                         geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    if report is not None:
        others = {sec.lower(): len(s.get(sec, [])) for sec in LINK_SECTIONS[1:] if s.get(sec)}
        if others:
            report.notes.append("kept in the SWMM text only (not in the sewers layer): "
                                + ", ".join(f"{n} {sec}" for sec, n in others.items()))
        report.notes.append(f"SWMM model: {len(nodes)} nodes, {len(rows)} conduits, "
                            f"{len(s.get('SUBCATCHMENTS', []))} subcatchments, flow units "
                            f"{model.flow_units}, routing {opts.get('FLOW_ROUTING', 'KINWAVE')}; "
                            f"wells are {'sewer' if sewage else 'storm'} wells "
                            f"({'the model has dry-weather flow' if sewage else 'no dry-weather flow'})")
    return manholes, sewers


def export_inp(twin, path) -> Path:
    """Write the twin's SWMM model to ``path`` exactly as imported (SWMM is the authority)."""
    from twin import atomic

    model = model_of(twin)
    if model is None:
        raise SourceError(f"twin {twin.name!r} has no SWMM model to export (import one with 'import swmm')")
    return atomic.write(Path(path), model.text)
