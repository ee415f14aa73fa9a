"""The demo town's storm drainage as a SWMM model, and a cloudburst on it: surcharge, flooding, roads.

Built from the demo city (seed 7): its storm drains, storm manholes,
buildings, roads and terrain.  The rules are in ``docs/drainage.md`` and
:mod:`simulation.drainage.build`.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulation.drainage.build import HORTON, MANNING_N, town_drainage
from simulation.drainage.engine import Drainage
from simulation.drainage.roads import STREET_AREA_M2, speed_factor
from simulation.drainage.storm import BEIJING_I, chicago_storm
from simulation.session.session import Session
from twin.importers.swmm import read_sections

START = 1_782_892_800.0


@pytest.fixture(scope="module")
def town(demo_twin):
    return town_drainage(demo_twin)


@pytest.fixture(scope="module")
def cloudburst(demo_twin, town):
    """A 5-year, 60-minute Chicago storm (Beijing's formula, peak at 0.4) on a 90-minute session."""
    storm = chicago_storm(BEIJING_I, 5, 60, 0.4, 1)
    engine = Drainage(lambda start, end: town.inp(storm, start, end), rain=storm, roads=demo_twin["roads"],
                      node_xy=town.node_xy())
    session = Session(demo_twin, START, START + 90 * 60, step_s=60.0)
    session.attach(engine)
    seen = []
    session.subscribe(lambda e: seen.append(dict(session.state["road_speed_factor"])), kinds=("road_flooded",))
    session.run()
    return storm, engine, session, seen


def test_model_follows_the_twin(demo_twin, town):
    storm_sewers = demo_twin["sewers"].query("kind == 'storm'")
    storm_wells = set(demo_twin["manholes"].query("well_type == 'storm'")["id"])
    assert len(town.junctions) == 595 and set(town.junctions["id"]) <= storm_wells
    # a low point is a storm manhole no drain leaves; each gets its own outfall and pipe
    low = set(town.junctions["id"]) - set(storm_sewers["upstream_manhole"])
    assert len(town.outfalls) == len(low) == 94
    assert len(town.conduits) == len(storm_sewers) + len(low) == 705
    # Manning's n by the drains' material (the town lays concrete storm drains of 0.6 m and more)
    assert set(storm_sewers["material"].str.upper()) == {"RC"}
    assert set(town.conduits["roughness"][:len(storm_sewers)]) == {MANNING_N["RC"]}
    assert (town.conduits["in_offset"] >= 0).all() and (town.conduits["out_offset"] >= 0).all()
    mh = demo_twin["manholes"].set_index("id").loc[town.junctions["id"]]
    np.testing.assert_allclose(town.junctions["invert"], mh["rim_elevation"] - mh["depth"])


def test_subcatchment_rules(town):
    sc = town.subcatchments
    assert len(sc) == 595
    assert sc["imperv_pct"].between(0, 100).all() and sc["slope_pct"].between(0.5, 20).all()
    # roofs and roads are impervious: no cell is less impervious than its roofs and roads
    hard = np.minimum(sc["roof_m2"] + sc["road_m2"], sc["area_ha"] * 1e4) / (sc["area_ha"] * 1e4) * 100
    assert (sc["imperv_pct"] >= hard - 1e-9).all()
    assert sc["area_ha"].sum() == pytest.approx(392.46, abs=0.5)
    assert (sc["width_m"] >= 10).all()


def test_text_is_swmm_text(town):
    storm = chicago_storm(BEIJING_I, 5, 60, 0.4, 1)
    s = read_sections(town.inp(storm, START, START + 7200).text)
    assert {r[0]: r[1] for r in s["OPTIONS"]}["START_DATE"] == "07/01/2026"
    assert {r[0]: r[1] for r in s["OPTIONS"]}["END_TIME"] == "10:00:00"
    assert float(s["JUNCTIONS"][0][5]) == STREET_AREA_M2
    assert [float(v) for v in s["INFILTRATION"][0][1:]] == list(HORTON)
    assert len(s["TIMESERIES"]) == 61
    assert sum(float(r[2]) for r in s["TIMESERIES"]) / 60 == pytest.approx(storm.depth_mm)


def test_cloudburst_surcharges_floods_and_closes_roads(cloudburst, demo_twin):
    storm, engine, session, seen = cloudburst
    log = session.log.frame()
    kinds = log["kind"].value_counts().to_dict()
    assert kinds["rain_started"] == kinds["rain_stopped"] == 1
    stopped = log[log["kind"] == "rain_stopped"].iloc[0]
    assert stopped["value"] == pytest.approx(storm.depth_mm, abs=1e-3)
    assert stopped["time_s"] == START + 3600
    assert kinds["surcharge_started"] > 50 and kinds["flooding_started"] > 10 and kinds["road_flooded"] > 10
    road_events = log[log["kind"] == "road_flooded"]
    assert set(road_events["layer"]) == {"roads"} and set(road_events["feature"]) <= set(demo_twin["roads"]["id"])
    # the state the emergency engine reads: only flooded roads, the factor of their depth
    assert seen and all(0.0 <= f <= 1.0 for state in seen for f in state.values())
    last = session.state
    assert set(last["road_speed_factor"]) == set(last["road_water_depth_m"])
    for road, depth in last["road_water_depth_m"].items():
        assert last["road_speed_factor"][road] == pytest.approx(float(speed_factor(depth)))
    # ponded water over the street area is the depth above the rim
    r = engine.results.nodes
    wet = r[r["ponded_m3"] > 0]
    assert len(wet)
    mh = demo_twin["manholes"].set_index("id")
    above = wet["head_m"].to_numpy() - mh.loc[wet["node"], "rim_elevation"].to_numpy()
    np.testing.assert_allclose(wet["ponded_m3"] / STREET_AREA_M2, above, atol=2e-3)


def test_cloudburst_results_and_timeline(cloudburst):
    _, engine, session, _ = cloudburst
    assert engine.finished and session.now == session.end
    assert engine.results.nodes["time_s"].nunique() == 90 and engine.from_swmm_output == 90
    timeline = engine.timeline_frame()
    assert len(timeline) == 90
    peak = timeline.loc[timeline["flooding_junctions"].idxmax()]
    assert START + 20 * 60 < peak["time_s"] < START + 90 * 60  # after the peak of rain at 24 min
    assert timeline["flooded_roads"].max() > 10


def test_for_twin_builds_the_towns_model_for_the_session(demo_twin):
    storm = chicago_storm(BEIJING_I, 2, 10, 0.5, 1)
    engine = Drainage.for_twin(demo_twin, storm)
    session = Session(demo_twin, START, START + 600, step_s=60.0)
    session.attach(engine)
    assert engine.duration == 600 and len(engine.node_ids) == 595 + 94
    session.run()
    kinds = [e.kind for e in session.log.events if e.kind.startswith("rain")]
    assert kinds == ["rain_started", "rain_stopped"]
    assert engine.results.nodes["time_s"].nunique() == 10
