"""Incident sources: Poisson generation with spatial weights, history tables, sensor alarms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from simulation.emergency.config import scenario_from_dict
from simulation.emergency.incidents import from_alarms, from_table, generate
from twin.errors import LayerError, SourceError

from .conftest import CRS, grid_twin

X0, Y0 = 500000.0, 3400000.0


def test_poisson_counts_types_and_priorities(town, scenario):
    inc = generate(town, scenario, 200, np.random.default_rng(4))
    frame = inc.frame()
    assert np.all(np.diff(inc.time) >= 0) and inc.time.min() >= 0 and inc.time.max() < 200 * 86400
    counts = frame["type"].value_counts()
    for name, it in scenario.incident_types.items():
        expected = it.rate_per_day * 200
        assert abs(counts.get(name, 0) - expected) < 4 * np.sqrt(expected) + 1, name
    med = frame[frame["type"] == "medical"]["priority"].value_counts(normalize=True)
    assert med[1] == pytest.approx(0.4, abs=0.05)
    # the water main breaks fall back to buildings: the grid town has no water pipes
    assert not any("water_main_break" in n for n in inc.notes)
    assert frame[frame["type"] == "water_main_break"]["ref"].str.startswith("buildings:").all()


def test_buildings_weighted_by_population_and_risk(scenario):
    twin = grid_twin(4)
    b = twin["buildings"].copy()
    b["population"] = 10
    b["risk_level"] = ""
    b.loc[0, "risk_level"] = "red"  # red: ×4
    twin.set_layer("buildings", b)
    inc = generate(twin, scenario, 2000, np.random.default_rng(1))
    fires = inc.frame()
    fires = fires[fires["type"] == "structure_fire"]
    share = (fires["ref"] == f"buildings:{b['id'][0]}").mean()
    assert share == pytest.approx(4 / (4 + len(b) - 1), abs=0.02)


def test_pipe_incidents_lie_on_pipes(scenario):
    twin = grid_twin(4)
    pipes = gpd.GeoDataFrame([{"id": "long", "start_node": "a", "end_node": "b", "diameter": 0.3,
                               "geometry": LineString([(X0, Y0 + 50), (X0 + 600, Y0 + 50)])},
                              {"id": "short", "start_node": "b", "end_node": "c", "diameter": 0.3,
                               "geometry": LineString([(X0, Y0 + 90), (X0 + 60, Y0 + 90)])}], crs=CRS)
    twin.set_layer("water_pipes", pipes)
    inc = generate(twin, scenario, 3000, np.random.default_rng(2)).frame()
    breaks = inc[inc["type"] == "water_main_break"]
    assert len(breaks) > 500
    assert np.isin(breaks["y"].round(6), [Y0 + 50, Y0 + 90]).all()
    assert (breaks["ref"] == "water_pipes:long").mean() == pytest.approx(600 / 660, abs=0.03)


def test_history_table(scenario):
    frame = pd.DataFrame({"time": ["2024-05-01T10:00:00Z", "2024-05-01T09:00:00Z"],
                          "type": ["medical", "gas_leak"], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    inc = from_table(frame, scenario, "calls.csv")
    assert inc.time.tolist() == [0.0, 3600.0]
    assert [inc.type_names[k] for k in inc.kind] == ["gas_leak", "medical"]
    bad = frame.assign(time=["2024-05-01T10:00:00Z", "yesterday"])
    with pytest.raises(SourceError, match=r"calls.csv: line 3 column 'time': cannot read 'yesterday'"):
        from_table(bad, scenario, "calls.csv")
    with pytest.raises(SourceError, match="unknown incident type"):
        from_table(frame.assign(type=["medical", "alien landing"]), scenario, "calls.csv")


@dataclass
class Alarm:  # the sensors engine's shape, duck-typed
    time: datetime
    level: str
    sensor: str
    feature: str
    message: str


def test_alarms_become_incidents(scenario):
    twin = grid_twin(4)
    sensors = gpd.GeoDataFrame([
        {"id": "CH4-1", "sensor_type": "methane", "unit": "%LEL", "geometry": Point(X0 + 100, Y0)},
        {"id": "SMK-1", "sensor_type": "smoke", "unit": "", "geometry": Point(X0 + 300, Y0 + 200)},
        {"id": "T-1", "sensor_type": "strain", "unit": "", "geometry": Point(X0, Y0)}], crs=CRS)
    twin.set_layer("sensors", sensors)
    t0 = datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    alarms = [Alarm(t0, "red", "CH4-1", "manholes/M1", "methane 30 %LEL"),
              Alarm(t0 + timedelta(minutes=5), "red", "CH4-1", "manholes/M1", "still high"),  # merged
              Alarm(t0 + timedelta(minutes=10), "yellow", "SMK-1", "", "faint"),             # below level
              Alarm(t0 + timedelta(minutes=20), "orange", "SMK-1", "", "smoke"),
              Alarm(t0 + timedelta(minutes=30), "red", "NOPE", "", "?"),                    # unknown sensor
              Alarm(t0 + timedelta(minutes=40), "red", "T-1", "", "strain")]                # no incident type
    inc = from_alarms(alarms, twin, scenario)
    assert len(inc) == 2
    assert [inc.type_names[k] for k in inc.kind] == ["gas_leak", "structure_fire"]
    assert inc.time.tolist() == [8 * 3600.0, 8 * 3600.0 + 1200.0]  # from midnight of the first day
    assert inc.priority.tolist() == [1, 2]
    assert inc.xy.tolist() == [[X0 + 100, Y0], [X0 + 300, Y0 + 200]]
    assert "methane 30 %LEL" in inc.ref[0]
    notes = " | ".join(inc.notes)
    for part in ("1 alarm(s) below levels", "1 alarm(s) from sensors with no position", "1 repeated alarm",
                 "1 alarm(s) from sensor types with no incident type"):
        assert part in notes
    with pytest.raises(SourceError, match=r"alarm #1: str has no attribute 'time'"):
        from_alarms(["red alert"], twin, scenario)


def test_alarm_times_are_read_as_the_clock_writes_them(scenario):
    """An alarm log from the sensors engine carries clock.iso text; an offset, a POSIX number and a
    datetime for the same instant give the same incident time (one parser: simulation.clock.to_seconds)."""
    from simulation.clock import iso

    twin = grid_twin(4)
    twin.set_layer("sensors", gpd.GeoDataFrame([
        {"id": f"SMK-{i}", "sensor_type": "smoke", "unit": "", "geometry": Point(X0 + 100 * i, Y0)}
        for i in range(4)], crs=CRS))
    t = datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    times = [iso(t.timestamp()), "2026-01-01T10:00:00+02:00", t.timestamp(), t]
    inc = from_alarms([Alarm(v, "red", f"SMK-{i}", "", "smoke") for i, v in enumerate(times)], twin, scenario)
    assert inc.time.tolist() == [8 * 3600.0] * 4
    with pytest.raises(SourceError, match="alarm #1 from sensor 'SMK-0': time 'tomorrow' is not a time"):
        from_alarms([Alarm("tomorrow", "red", "SMK-0", "", "smoke")], twin, scenario)


def test_no_place_for_incidents_is_an_error(scenario):
    from twin.model import Twin

    with pytest.raises(LayerError, match="incident type 'structure_fire': none of the layers buildings \\(nor roads\\)"):
        generate(Twin("empty", CRS), scenario, 10, np.random.default_rng(0))


def test_scenario_errors_name_the_field(tmp_path):
    from simulation.emergency.config import load_scenario

    base = load_scenario()
    data = base.model_dump(exclude_none=True)
    data["incident_types"]["medical"]["units"] = {"unicorn": 1}
    with pytest.raises(SourceError, match="needs unit type 'unicorn'"):
        scenario_from_dict(data, "my.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("verify: {median: 45, p90: 30}\n")
    with pytest.raises(SourceError, match=r"bad.yaml: field verify: .*p90 \(30.0\) is below the median"):
        load_scenario(bad)
    bad.write_text("verify: [1, 2\n")
    with pytest.raises(SourceError, match=r"bad.yaml: line \d+ not valid YAML"):
        load_scenario(bad)
    typo = base.model_dump(exclude_none=True)
    typo["micro_radius"] = 100
    with pytest.raises(SourceError, match="field micro_radius: Extra inputs are not permitted"):
        scenario_from_dict(typo, "typo.yaml")


def test_lognormal_duration_hits_median_and_p90():
    from simulation.emergency.config import Duration

    v = Duration(median=60, p90=100).sample(np.random.default_rng(0), 200_000)
    assert np.median(v) == pytest.approx(60, rel=0.01)
    assert np.percentile(v, 90) == pytest.approx(100, rel=0.01)
    assert Duration(empirical=(1, 2, 3)).sample(np.random.default_rng(0), 100).tolist() != []
    with pytest.raises(ValueError, match="exactly one"):
        Duration(median=1, p90=2, fixed=3)


def test_alarms_from_the_sensor_engine(scenario):
    """The sensors engine's own Alarm: sensor_id, sensor_type, x/y, POSIX time, opens_incident."""
    from simulation.sensors.alarms import Alarm as EngineAlarm

    twin = grid_twin(4)
    t0 = datetime(2026, 3, 1, 2, 5, tzinfo=timezone.utc).timestamp()

    def alarm(dt, level, state, sid, stype):
        return EngineAlarm(time=t0 + dt, level=level, state=state, kind="high", sensor_id=sid, sensor_type=stype,
                           layer="manholes", feature_id="M7", value=30.0, threshold=25.0, unit="%LEL",
                           message=f"{stype} high", x=X0 + 50.0, y=Y0 + 60.0)

    inc = from_alarms([alarm(0, "orange", "raised", "CH4-9", "methane"),
                       alarm(300, "red", "escalated", "CH4-9", "methane"),
                       alarm(600, "red", "cleared", "CH4-9", "methane"),
                       alarm(7200, "orange", "raised", "PT-2", "pressure")], twin, scenario)
    assert [inc.type_names[k] for k in inc.kind] == ["gas_leak", "water_main_break"]
    assert inc.time.tolist() == [2 * 3600 + 300.0, 4 * 3600 + 300.0]
    assert inc.xy[0].tolist() == [X0 + 50.0, Y0 + 60.0]
    assert "manholes/M7" in inc.ref[0]
    assert inc.priority.tolist() == [1, 2]  # the methane alarm escalated to red within the merge window
    assert inc.notes[0] == "1 alarm(s) lowering or clearing an alarm open no incident"
    assert inc.notes[1].startswith("1 repeated alarm(s) within 1800 s of the same sensor merged")
