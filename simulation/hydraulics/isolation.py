"""What a break on one pipe shuts off, feature by feature: the valves to close, and who is left without water.

The crew closes the valves bounding the broken pipe's segment
(:meth:`Segmentation.shutdown <simulation.hydraulics.segments.Segmentation.shutdown>`);
the segment's pipes and junctions lose water, and so does every segment left
with no path to a reservoir or tank (the *unintended isolation*).  This module
names the twin's features each part touches — the buildings hang on the
junctions that serve them (``buildings.junction_id``) — so a map can draw them
and a report can count them.  The segmentation is reused across breaks on one
network (pass it in): a shutdown on a known segmentation costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from simulation.hydraulics.segments import Segmentation, segment


@dataclass(frozen=True)
class Isolation:
    """A break on ``pipe`` and what its isolation shuts off (ids of the twin's features)."""

    pipe: str
    valves_to_close: tuple[str, ...]
    pipes: tuple[str, ...]                    # the broken pipe's segment
    junctions: tuple[str, ...]
    buildings: tuple[str, ...]                # served by the segment's junctions
    unintended_pipes: tuple[str, ...]         # segments cut off from every source
    unintended_junctions: tuple[str, ...]
    unintended_buildings: tuple[str, ...]
    population: float                         # people in the segment
    unintended_population: float              # people cut off unintentionally

    @property
    def population_without_water(self) -> float:
        return self.population + self.unintended_population

    def counts(self) -> dict:
        """How many of each, for a report line or a JSON document."""
        return {"pipe": self.pipe, "valves_to_close": len(self.valves_to_close), "pipes": len(self.pipes),
                "junctions": len(self.junctions), "buildings": len(self.buildings),
                "population": self.population, "unintended_pipes": len(self.unintended_pipes),
                "unintended_junctions": len(self.unintended_junctions),
                "unintended_buildings": len(self.unintended_buildings),
                "unintended_population": self.unintended_population}


def isolation(system, pipe: str, *, segmentation: Segmentation | None = None) -> Isolation:
    """What closing the valves around a break on ``pipe`` shuts off in ``system`` (a WaterSystem).

    ``segmentation``: the network's segments from :func:`~simulation.hydraulics.segments.segment`
    (made here when not given).  An unknown pipe is a ``KeyError`` naming it.
    """
    seg = segmentation if segmentation is not None else segment(system)
    shut = seg.shutdown(str(pipe))
    junctions = set(system.network.junction_name_list)
    in_segment = tuple(n for n in shut["nodes_in_segment"] if n in junctions)
    cut_off = tuple(n for n in shut["unintended_nodes"] if n in junctions)
    return Isolation(str(pipe), tuple(shut["valves_to_close"]), tuple(shut["pipes_in_segment"]), in_segment,
                     _served(system, in_segment), tuple(shut["unintended_pipes"]), cut_off,
                     _served(system, cut_off), float(shut["population_in_segment"]),
                     float(shut["unintended_population"]))


def _served(system, junctions: tuple[str, ...]) -> tuple[str, ...]:
    """Ids of the twin's buildings served by ``junctions`` (none for a bare network)."""
    twin = getattr(system, "twin", None)
    if twin is None or not junctions:
        return ()
    buildings = twin["buildings"]
    if not len(buildings) or "junction_id" not in buildings.columns:
        return ()
    served = buildings["junction_id"].isin(pd.Index(junctions))
    return tuple(buildings.loc[served, "id"].astype(str))
