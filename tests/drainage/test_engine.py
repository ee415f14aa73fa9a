"""The drainage engine on the session: one SWMM per process, seek back, replications, bad models.

SWMM holds one model per process.  A session re-run by ``Session.seek`` (the
old one still alive) and the replications of an ensemble each get SWMM in
turn; an engine parked meanwhile replays SWMM's own steps to where it was and
goes on, so every run gives the results and events of a run alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulation.drainage.engine import Drainage, DrainageError
from simulation.session.session import Session
from twin.importers.swmm import SWMM_ENGINE, SwmmModel

from tests.shared_data import shared_path
from tests.drainage.swmm_reference import assert_same, swmm_reference

START = 1_782_892_800.0
HOURS = 3


@pytest.fixture(scope="module")
def user1():
    inp = shared_path("swmm", "user1.inp")
    return SwmmModel("user1", inp.read_text())


def build(model, hours=HOURS, live=False):
    def make():
        session = Session(None, START, START + hours * 3600.0, step_s=60.0, rebuild=make)
        session.attach(Drainage(model, live_results=live))
        return session
    return make()


def drainage(session) -> Drainage:
    return session.engines[0]


def events(session):
    return [(e.time, e.kind, e.feature, e.value) for e in session.log.events]


def same_results(a: Drainage, b: Drainage):
    ra, rb = a.results, b.results
    np.testing.assert_array_equal(ra.nodes.drop(columns="node").to_numpy(), rb.nodes.drop(columns="node").to_numpy())
    np.testing.assert_array_equal(ra.links.drop(columns="link").to_numpy(), rb.links.drop(columns="link").to_numpy())


@pytest.mark.shared_data
def test_seek_back_while_the_old_session_lives(user1):
    alone = build(user1).run()
    a = build(user1)
    a.advance_to(START + 2 * 3600)
    b = a.seek(START + 3600)              # a new session re-run from the start: it takes SWMM
    assert b is not a and drainage(a).parked and SWMM_ENGINE.holder is drainage(b)
    a.advance_to(a.end)                   # the old one goes on: it replays SWMM to 2 h, then steps on
    assert drainage(a).replays == 1 and drainage(a).finished is False
    b.run()
    for s in (a, b):
        same_results(drainage(s), drainage(alone))
        assert events(s) == events(alone)
    kinds = {k for _, k, _, _ in events(alone)}
    assert {"rain_started", "surcharge_started", "flooding_started", "flooding_stopped"} <= kinds
    assert SWMM_ENGINE.holder is None     # every run over: SWMM is free


@pytest.mark.shared_data
def test_replications_one_after_another_are_identical(user1):
    runs = [build(user1, hours=1).run() for _ in range(3)]
    for s in runs[1:]:
        same_results(drainage(s), drainage(runs[0]))
        assert events(s) == events(runs[0])
    assert all(drainage(s).replays == 0 for s in runs)


@pytest.mark.shared_data
def test_values_during_the_run_are_swmms_report_values(user1, tmp_path):
    """Before the run closes (SWMM's binary output not yet read), the interpolated rows are SWMM's."""
    session = build(user1, hours=2, live=True)
    session.advance_to(START + 2 * 3600 - 60)
    engine = drainage(session)
    assert engine.from_swmm_output == 0 and engine.results_exact
    r = engine.results
    depth = r.nodes.pivot(index="time_s", columns="node", values="depth_m")
    flow = r.links.pivot(index="time_s", columns="link", values="flow_lps") / 1000.0
    depth.index = flow.index = depth.index - START
    ref = swmm_reference(shared_path("swmm", "user1.inp"), tmp_path, hours=2)
    assert_same(depth, ref["depth"].loc[:depth.index.max()])
    assert_same(flow, ref["flow"].loc[:flow.index.max()])
    assert len(depth) == 119


def test_a_model_swmm_rejects_is_one_clear_error():
    text = "[JUNCTIONS]\nJ1 abc 3 0 0 0\n"
    session = Session(None, START, START + 3600, step_s=60.0)
    with pytest.raises(DrainageError) as err:
        session.attach(Drainage(SwmmModel("broken", text)))
    assert str(err.value) == ("broken: SWMM rejects the model: ERROR 211: invalid number abc at line 2 of [JUNC] "
                              "section: J1 abc 3 0 0 0")
    assert SWMM_ENGINE.holder is None


@pytest.mark.shared_data
def test_for_twin_runs_an_imported_model_on_its_own_rain(tmp_path):
    from twin.importers.swmm import import_swmm

    twin, _ = import_swmm(shared_path("swmm", "user1.inp"), "local:m")
    with pytest.raises(ValueError) as err:
        Drainage.for_twin(twin, rain=object())
    assert str(err.value) == ("user1: the imported SWMM model 'user1' brings its own rain gauges; a design storm "
                              "is for the town's model built from the layers")
    session = Session(twin, START, START + 1800, step_s=60.0)
    engine = Drainage.for_twin(twin)
    session.attach(engine)
    session.run()
    assert engine.model.text == shared_path("swmm", "user1.inp").read_text()
    assert [e.kind for e in session.log.events][:1] == ["rain_started"]
    assert engine.results.nodes["time_s"].nunique() == 30
