"""Importers: fill a twin from real GIS and network data.

Each importer returns ``(twin, report)``; the report says what was read, in
which CRS, and what was repaired, skipped or guessed, so nothing happens
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """What an import did, printed after every ``lifeline-twin import``."""

    source: str
    source_crs: str = ""
    twin_crs: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    guessed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Neutral facts worth knowing (joins, matches) that are neither repairs nor guesses.
    notes: list[str] = field(default_factory=list)

    def count_layers(self, twin) -> None:
        self.counts = {name: twin.count(name) for name in twin.summary()["layers"] if twin.count(name)}
        self.twin_crs = twin.summary()["crs"]

    def as_dict(self) -> dict:
        return {"source": self.source, "source_crs": self.source_crs, "twin_crs": self.twin_crs,
                "counts": self.counts, "repaired": self.repaired, "skipped": self.skipped,
                "guessed": self.guessed, "warnings": self.warnings, "notes": self.notes}

    def text(self) -> str:
        lines = [f"imported {self.source}",
                 f"  CRS: {self.source_crs or '?'} -> {self.twin_crs} (metres)"]
        for name, n in self.counts.items():
            lines.append(f"  {name:<18} {n:>8}")
        for title, items in (("note", self.notes), ("repaired", self.repaired), ("skipped", self.skipped),
                             ("guessed", self.guessed), ("warning", self.warnings)):
            lines.extend(f"  {title}: {item}" for item in items)
        return "\n".join(lines)


#: Every importer by kind: (module, function, what it reads).  ``vector`` and ``raster`` add to a project.
IMPORTERS = {
    "inp": ("twin.importers.epanet", "import_inp", "an EPANET .inp network, with optional GIS layers and DEM"),
    "micropolis": ("twin.importers.micropolis", "import_micropolis",
                   "the Micropolis virtual city (network, shapefiles, elevation grid)"),
    "osm": ("twin.importers.osm", "import_osm", "an OpenStreetMap extract (.osm.pbf or .osm)"),
    "vector": ("twin.importers.vector", "import_vector", "any GDAL vector file into one layer of a project"),
    "raster": ("twin.importers.raster", "import_raster", "any GDAL raster as the project's DEM"),
    "swmm": ("twin.importers.swmm", "import_swmm", "an EPA SWMM 5 .inp drainage model (manholes and sewers)"),
}
#: Importers that add to an existing project (their ``project`` option) instead of making a new twin.
ADDS_TO_PROJECT = ("vector", "raster")


def import_source(kind: str, source, **options):
    """Run the importer of ``kind`` on ``source`` (a file or folder); returns ``(twin, report)``.

    ``options`` are the importer's own keyword arguments (``crs``, ``project``...);
    the command line and the window's import dialog both come through here.
    """
    import importlib

    if kind not in IMPORTERS:
        raise KeyError(f"no importer {kind!r} (importers: {', '.join(IMPORTERS)})")
    module, function, _ = IMPORTERS[kind]
    return getattr(importlib.import_module(module), function)(source, **options)
