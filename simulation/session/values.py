"""What an engine shows on the twin's layers at the session's clock time.

An engine of a :class:`~simulation.session.Session` that has results per
feature offers them through ``layer_values()``: a list of
:class:`LayerValues`, one per (layer, field), each a series of numbers by
feature id with its unit, its colour map and the range the colours span.  The
views (the window's playback, movies, pictures of key moments) colour the
layers with them at each frame, without reading any engine's internals: the
water network gives junction and pipe pressures, the drainage water depth in
the wells and on flooded roads, the gas network its pressures.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class LayerValues:
    """One field of one layer at the current clock time: ``values`` by feature id, in ``unit``."""

    layer: str
    field: str
    values: pd.Series
    unit: str
    cmap: str = "viridis"
    clim: tuple[float, float] | None = None


def layer_values(session) -> list[LayerValues]:
    """Every engine's :class:`LayerValues`, in the order the engines were attached."""
    out: list[LayerValues] = []
    for engine in session.engines:
        offer = getattr(engine, "layer_values", None)
        if callable(offer):
            out.extend(offer())
    return out
