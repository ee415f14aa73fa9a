"""SWMM's own straight-through run as the reference of the drainage tests, and the comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd


def swmm_reference(inp, folder, hours: float | None = None) -> dict[str, pd.DataFrame]:
    """pyswmm's own run of ``inp`` straight through (``for step in sim``), up to ``hours`` if given.

    Returns SWMM's report values from its binary output, as tables of time
    (s from the start) x element: ``depth`` (node depth, model units) and
    ``flow`` (link flow, model units).
    """
    from pyswmm import Output, Simulation
    from swmm.toolkit import shared_enum as E

    from twin.importers.swmm import SWMM_ENGINE

    SWMM_ENGINE.vacate()

    out = folder / "reference.out"
    with Simulation(str(inp), str(folder / "reference.rpt"), str(out)) as sim:
        for _ in sim:
            if hours is not None and (sim.current_time - sim.start_time).total_seconds() >= hours * 3600:
                break
        start = sim.start_time
    with Output(str(out)) as o:
        times = [(t - start).total_seconds() for t in o.times]
        depth = pd.DataFrame({n: list(o.node_series(n, E.NodeAttribute.INVERT_DEPTH).values()) for n in o.nodes},
                             index=times)
        flow = pd.DataFrame({n: list(o.link_series(n, E.LinkAttribute.FLOW_RATE).values()) for n in o.links},
                            index=times)
    return {"depth": depth, "flow": flow}


def assert_same(mine: pd.DataFrame, ref: pd.DataFrame, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """Equal to SWMM's single-precision report values (relative 1e-6, or 1e-6 absolute near zero)."""
    common = ref.index.intersection(mine.index)
    assert len(common) == len(ref.index), f"report times missing: {sorted(set(ref.index) - set(mine.index))[:5]}"
    a = mine.loc[common, ref.columns].to_numpy(float)
    b = ref.loc[common].to_numpy(float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
