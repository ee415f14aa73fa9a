"""Fixtures for the hydraulics tests: WNTR's EpanetSimulator as the reference, small real systems."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import wntr


def epanet_simulator(wn, library: str = "2.2"):
    """WNTR's documented EpanetSimulator run on ``wn`` (files in a private temp dir).

    ``library="2.3"`` makes WNTR's own pipeline (its .inp writer, its binary
    reader, its unit conversion) call the EPANET 2.3 library of owa-epanet that
    our engine uses, instead of the EPANET 2.2 WNTR bundles.
    """
    import wntr.epanet.toolkit as tk

    saved = tk.libepanet
    if library == "2.3":
        import epanet

        tk.libepanet = str(Path(epanet.__file__).with_name("libepanet2.so"))
    try:
        with tempfile.TemporaryDirectory(prefix="lifeline-wntr-") as tmp:
            return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=os.path.join(tmp, "ref"))
    finally:
        tk.libepanet = saved


def assert_same(ours, ref, *, pressure_tol=1e-3, flow_tol=1e-3, flow_factor=1.0, nodes=None, links=None):
    """Pressures within ``pressure_tol`` m; flows within ``flow_tol`` of the network's flow unit.

    WNTR's binary output stores single-precision floats, so values are compared
    with 1e-3 plus that rounding (2**-23 of the value): 13,062 GPM cannot be
    stored closer than 0.001 GPM.
    """
    p = ours.node_frame("pressure")
    cols = list(nodes) if nodes is not None else list(p.columns)
    rp = ref.node["pressure"][cols].to_numpy()
    assert p.shape[0] == rp.shape[0], f"{p.shape[0]} report times, WNTR has {rp.shape[0]}"
    np.testing.assert_array_equal(p.index.to_numpy(), ref.node["pressure"].index.to_numpy())
    dp = np.abs(p[cols].to_numpy() - rp)
    assert np.all(dp <= pressure_tol + 2**-23 * np.abs(rp) / 0.7), f"pressure off by {dp.max():.2e} m"
    q = ours.link_frame("flow")
    lcols = list(links) if links is not None else list(q.columns)
    rq = ref.link["flowrate"][lcols].to_numpy() / flow_factor
    dq = np.abs(q[lcols].to_numpy() / flow_factor - rq)
    assert np.all(dq <= flow_tol + 2**-22 * np.abs(rq)), f"flow off by {dq.max():.2e} flow units"
    return dp.max(), dq.max()


@pytest.fixture
def reference():
    """WNTR's EpanetSimulator as a function: ``reference(wn, library="2.2")``."""
    return epanet_simulator


@pytest.fixture
def same():
    """The equality check as a function: ``same(ours, ref, flow_factor=...)``."""
    return assert_same
