"""Colours of the scene: each network in its conventional colour, the four warning levels, uses.

Utility colours follow the APWA uniform colour code planners know from site
markings (water blue, gas yellow, sewer green); the warning levels are always
red, orange, yellow, blue in that order (the palette may change the shades,
never the order).  Everything here is plain data so a project or a window can
override it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.schema import RISK_COLOURS, RISK_LEVELS  # the one risk palette, beside the schema's levels

LAYER_COLOURS: dict[str, str] = {
    "terrain": "#b8a888",
    "water_pipes": "#1f6fd1",
    "water_junctions": "#0b3d91",
    "water_valves": "#08306b",
    "water_pumps": "#6a3d9a",
    "water_tanks": "#4f9fe0",
    "water_reservoirs": "#2b8cbe",
    "hydrants": "#e31a1c",
    "gas_mains": "#f0c000",
    "sewers": "#2ca02c",
    "manholes": "#5a5a5a",
    "septic_tanks": "#8c6d31",
    "utility_tunnels": "#b15928",
    "buildings": "#e8e0d0",
    "roads": "#7d7d7d",
    "sites": "#cc4c02",
    "fire_stations": "#b2182b",
    "cameras": "#111111",
    "sensors": "#e7298a",
    "airspace_zones": "#6baed6",
    "drone_corridors": "#17becf",
    "drone_tracks": "#222222",
}

#: The warning colours are the schema's (twin.schema.RISK_COLOURS): one risk palette for the whole program.

USE_COLOURS: dict[str, str] = {
    "residential": "#e8cfa4", "commercial": "#9ecae1", "industrial": "#bcbddc",
    "public": "#fdae6b", "school": "#fdd0a2", "hospital": "#fb9a99", "mixed": "#c7e9c0",
}

AIRSPACE_COLOURS: dict[str, str] = {
    "no_fly": "#e41a1c", "restricted": "#ff7f00", "airport_surface": "#377eb8",
    "controlled": "#984ea3", "approved": "#4daf4a",
}

#: Colours for categories without a named colour, in order of first appearance.
CATEGORY_CYCLE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
                  "#a6761d", "#666666", "#1f78b4", "#b2df8a")
MISSING = "#bdbdbd"
SOIL = "#7a5c3a"


@dataclass
class Palette:
    """The colours a scene draws with; every mapping can be replaced."""

    layers: dict[str, str] = field(default_factory=lambda: dict(LAYER_COLOURS))
    risk: dict[str, str] = field(default_factory=lambda: dict(RISK_COLOURS))
    categories: dict[str, dict[str, str]] = field(default_factory=lambda: {
        "use": dict(USE_COLOURS), "kind": dict(AIRSPACE_COLOURS)})
    missing: str = MISSING
    soil: str = SOIL

    def __post_init__(self):
        unknown = set(self.risk) - set(RISK_LEVELS)
        missing = set(RISK_LEVELS) - set(self.risk)
        if unknown or missing:
            raise ValueError(f"risk palette must name exactly the levels {', '.join(RISK_LEVELS)}"
                             f" (unknown: {sorted(unknown)}, missing: {sorted(missing)})")

    def layer(self, name: str) -> str:
        return self.layers.get(name, "#888888")

    def categorical(self, field_name: str, values) -> dict[str, str]:
        """Colour of each category of ``field_name`` (risk levels in their fixed colours)."""
        if field_name == "risk_level":
            return {**self.risk, "": self.missing}
        named = self.categories.get(field_name, {})
        out: dict[str, str] = {}
        spare = iter(CATEGORY_CYCLE * 100)
        for v in values:
            if v in out:
                continue
            out[v] = named.get(v) or next(spare)
        return out
