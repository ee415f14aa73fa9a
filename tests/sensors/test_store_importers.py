"""Readings store and importers on the real data: counts, gaps, duplicates, out-of-order, round trips."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from simulation.sensors.importers import (ColumnMapping, clean_series, import_battledim, import_bwdf,
                                          import_picarro, import_table, unit_factor)
from simulation.sensors.store import BAD, ReadingStore, readings_table
from twin.errors import SourceError


def test_append_query_by_day_and_sensor_and_duckdb(tmp_path):
    store = ReadingStore(tmp_path / "r")
    t = np.arange(0, 3 * 86_400_000, 3_600_000, dtype="int64") + 1_700_006_400_000  # 3 days, hourly
    store.append(readings_table("B", t, np.arange(len(t)) * 1.0))
    store.append(readings_table("A", t, -np.arange(len(t)) * 1.0, quality=np.full(len(t), BAD)))
    assert len(store.days()) == 3 and store.count() == 2 * len(t)
    day = store.query(t[24] / 1000, t[48] / 1000)  # clock times are seconds
    assert day.num_rows == 48
    assert day.column("sensor_id").to_pylist() == ["A"] * 24 + ["B"] * 24
    assert day.column("value").to_pylist()[24:] == list(np.arange(24, 48) * 1.0)
    only_b = store.query(None, None, ["B"])
    assert only_b.num_rows == len(t) and set(only_b.column("quality").to_pylist()) == {0}
    rows = store.sql("select sensor_id, count(*), max(quality) from readings group by 1 order by 1").fetchall()
    assert rows == [("A", 72, BAD), ("B", 72, 0)]


def test_compaction_is_finished_after_a_crash(tmp_path):
    store = ReadingStore(tmp_path)
    t0 = 1_700_006_400_000
    for k in range(3):
        store.append(readings_table("S", [t0 + k * 1000], [float(k)]), part=f"live-{k}")
    assert store.compact("live-") == 3
    assert store.query().column("value").to_pylist() == [0.0, 1.0, 2.0]
    # simulate a crash after the merged file was written but before the parts were deleted
    store.append(readings_table("S", [t0 + 5000], [5.0]), part="live-x")
    store.append(readings_table("S", [t0 + 6000], [6.0]), part="live-y")
    day = next((tmp_path / "readings").glob("day=*"))
    merged = store.query((t0 + 4000) / 1000)
    import json
    pq.write_table(merged.replace_schema_metadata({b"lifeline_replaces": json.dumps(["live-x.parquet", "live-y.parquet"]).encode()}),
                   day / "live-cZZ.compacting")
    assert store.recover() == 1
    assert store.query().column("value").to_pylist() == [0.0, 1.0, 2.0, 5.0, 6.0]


def test_clean_series_reports_and_fixes():
    t = np.array([0, 300, 600, 600, 1200, 900, 3000, 3300]) * 1000
    v = np.array([1, 2, 3, 3.5, 5, 4, np.nan, 7.0])
    s, rep = clean_series("X", t, v, period_s=300)
    assert rep.out_of_order == 1 and rep.out_of_order_range == ("1970-01-01T00:15:00Z",) * 2
    assert rep.duplicates == 1 and rep.empty_values == 1
    assert s.t_ms.tolist() == [0, 300_000, 600_000, 900_000, 1_200_000, 3_300_000]
    assert s.values.tolist() == [1, 2, 3.5, 4, 5, 7]  # the later duplicate line wins
    assert rep.gaps == 1 and rep.gap_ranges == [("1970-01-01T00:20:00Z", "1970-01-01T00:55:00Z")]


def test_battledim_flows_and_levels(shared, tmp_path):
    store = ReadingStore(tmp_path)
    rep = import_battledim(shared("ltown", "2019_Flows.csv"), store)
    assert [s.sensor_id for s in rep.series] == ["p227", "p235", "PUMP_1"]
    assert rep.stored == 3 * 105_120 and rep.files == 365
    assert rep.gaps == rep.duplicates == rep.out_of_order == 0
    first = store.query("2019-01-01T00:00:00Z", "2019-01-01T00:05:00Z")
    assert dict(zip(first.column("sensor_id").to_pylist(), first.column("value").to_pylist())) == \
        {"PUMP_1": 44.02, "p227": 88.14, "p235": 90.89}
    import_battledim(shared("ltown", "2019_Levels.csv"), store)
    again = import_battledim(shared("ltown", "2019_Flows.csv"), store)  # re-import replaces, never doubles
    assert again.stored == 315_360 and store.count() == 4 * 105_120


def test_picarro_methane_logs_with_positions(shared, tmp_path):
    store = ReadingStore(tmp_path)
    rep = import_picarro(shared("methane", "CFADS2274-20170315-162958Z-DataLog_User.dat"), store)
    assert rep.stored == 121 and rep.positions == 120  # the last line lost its GPS columns
    assert any("without a GPS fix" in n for n in rep.notes)
    ch4 = store.query(sensors=["CFADS2274:CH4"])
    assert ch4.num_rows == 121 and 1.9 < min(ch4.column("value").to_pylist()) < 2.1
    pos = store.positions()
    assert pos.num_rows == 120
    assert pos.column("y")[0].as_py() == pytest.approx(33.500020083)
    assert pos.column("x")[0].as_py() == pytest.approx(-86.797449870)


def test_bwdf_inflows_hourly_gaps_dst_and_units(shared, tmp_path):
    store = ReadingStore(tmp_path)
    rep = import_bwdf(shared("bwdf", "InflowData.xlsx"), store)
    assert len(rep.series) == 10 and rep.rows == 19_679
    dma1 = rep.sensor("DMA_1")
    assert dma1.empty_values == 778 and dma1.stored == 19_679 - 778
    assert dma1.gaps > 0 and dma1.gap_seconds > 0 and dma1.duplicates == 0  # DST hours resolved, not duplicated
    assert any("repeated autumn hour" in n for n in rep.notes)
    # DMA 1's first value: 01/01/2021 16:00 CET = 15:00Z, 8.7525 L/s = 31.509 m3/h
    dma1_rows = store.query(None, None, ["DMA_1"])
    assert dma1.first == "2021-01-01T15:00:00Z"
    assert dma1_rows.column("value")[0].as_py() == pytest.approx(8.7525 * 3.6)
    # the repeated autumn hour 31/10/2021 02:00 is 00:00Z (summer time) then 01:00Z (winter time)
    autumn = store.query("2021-10-31T00:00:00Z", "2021-10-31T01:00:01Z", ["DMA_1"]).column("value").to_pylist()
    assert autumn == pytest.approx([6.55 * 3.6, 6.4825 * 3.6])


def test_generic_csv_long_and_wide_with_units_and_errors(tmp_path):
    store = ReadingStore(tmp_path / "r")
    long = tmp_path / "long.csv"
    long.write_text("time,id,kpa,q\n2024-01-01 00:00,P1,98.0665,good\n2024-01-01 00:05,P1,196.133,bad\n"
                    "2024-01-01 00:00,P2,9.80665,uncertain\n")
    rep = import_table(long, store, ColumnMapping(time="time", sensor="id", value="kpa", quality="q",
                                                  unit_from="kPa", unit_to="m"))
    t = store.query()
    assert t.column("value").to_pylist() == pytest.approx([10.0, 20.0, 1.0])
    assert t.column("quality").to_pylist() == [0, 2, 1] and rep.stored == 3
    wide = tmp_path / "wide.csv"
    wide.write_text("stamp;F1;F2\n2024-01-02 00:00;1,5;2\n2024-01-02 01:00;x;3\n")
    rep = import_table(wide, store, ColumnMapping(time="stamp", sep=";", decimal=",", unit_from="L/s", unit_to="m3/h"))
    assert rep.sensor("F1").empty_values == 1
    assert store.query("2024-01-02", None, ["F1"]).column("value").to_pylist() == [pytest.approx(5.4)]
    bad = tmp_path / "bad.csv"
    bad.write_text("time,v\n2024-01-01 00:00,1\nnot-a-time,2\n")
    with pytest.raises(SourceError, match=r"bad.csv: line 3, column 'time': not a timestamp"):
        import_table(bad, store, ColumnMapping(time="time"))
    with pytest.raises(SourceError, match="no column 'nope'"):
        import_table(bad, store, ColumnMapping(time="nope"))
    with pytest.raises(ValueError, match="no conversion from 'furlong'"):
        unit_factor("furlong", "m")
    assert unit_factor("ppm", "%LEL") == pytest.approx(1 / 500)


def test_generic_csv_refuses_half_settings_bad_zones_and_dst_gaps(tmp_path):
    """Settings that used to be ignored (one unit alone, a 0 s period) or crash at a DST change are one clear
    error; a naive local time in a real zone lands at the right UTC instant."""
    store = ReadingStore(tmp_path / "r")
    path = tmp_path / "local.csv"
    path.write_text("time,id,v,q\n2024-05-01 12:00,P1,100,0\n2024-05-01 12:05,P1,101,1.7\n")
    with pytest.raises(ValueError, match="needs both --unit-from and --unit-to, got only --unit-from kPa"):
        import_table(path, store, ColumnMapping(sensor="id", value="v", unit_from="kPa"))
    with pytest.raises(ValueError, match="sampling period must be > 0 s, not 0"):
        import_table(path, store, ColumnMapping(sensor="id", value="v", period_s=0))
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        import_table(path, store, ColumnMapping(sensor="id", value="v", timezone="Mars/Olympus"))
    with pytest.raises(SourceError, match=r"local.csv: line 3, column 'q': quality must be .* found 1\.7$"):
        import_table(path, store, ColumnMapping(sensor="id", value="v", quality="q"))
    assert store.query().num_rows == 0  # nothing stored by a refused import
    rep = import_table(path, store, ColumnMapping(sensor="id", value="v", timezone="Europe/Rome"))
    assert rep.stored == 2
    assert store.query().column("phenomenon_time").to_pylist()[0].isoformat().startswith("2024-05-01T10:00")
    gap = tmp_path / "spring.csv"
    gap.write_text("time,id,v\n2024-03-31 01:55,P1,1\n2024-03-31 02:30,P1,2\n")
    with pytest.raises(SourceError, match=r"spring.csv: column 'time': local times cannot be placed in Europe/Rome "
                                          r"\(2024-03-31 02:30:00 is a nonexistent time"):
        import_table(gap, store, ColumnMapping(sensor="id", value="v", timezone="Europe/Rome"))


def test_broken_battledim_file_names_the_line(tmp_path):
    f = tmp_path / "flows.csv"
    f.write_text("Timestamp;p1\n2019-01-01 00:00:00;1,0\n2019-01-01 00:05:00;abc\n")
    with pytest.raises(SourceError, match="flows.csv"):
        import_battledim(f, ReadingStore(tmp_path / "r"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_battledim(tmp_path / "missing.csv", ReadingStore(tmp_path / "r"))


def test_moving_sensor_value_and_position_at_clock_time(shared, tmp_path):
    from simulation.sensors.replay import SensorTimeline

    store = ReadingStore(tmp_path)
    import_picarro(shared("methane", "CFADS2274-20170315-162958Z-DataLog_User.dat"), store)
    timeline = SensorTimeline.load(store)
    ts, xs, ys = timeline.tracks["CFADS2274:CH4"]
    mid = (ts[10] + ts[11]) / 2
    x, y = timeline.position_at("CFADS2274:CH4", mid)
    assert x == pytest.approx((xs[10] + xs[11]) / 2) and y == pytest.approx((ys[10] + ys[11]) / 2)
    assert np.isnan(timeline.position_at("CFADS2274:CH4", ts[0] - 1)[0])
    # methane is not interpolated: between two readings the last one holds
    vt, vv = timeline.times["CFADS2274:CH4"], timeline.values["CFADS2274:CH4"]
    assert timeline.value_at("CFADS2274:CH4", (vt[3] + vt[4]) / 2) == vv[3]


def test_generic_parquet_long_format(tmp_path):
    import pyarrow as pa

    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:00:30Z"],
                             "device": ["W1", "W1", "W1"], "mm": [120.0, 150.0, 130.0]}), path)
    store = ReadingStore(tmp_path / "r")
    rep = import_table(path, store, ColumnMapping(time="ts", sensor="device", value="mm", unit_from="mm",
                                                  unit_to="m"))
    assert rep.kind == "parquet" and rep.sensor("W1").out_of_order == 1
    assert store.query().column("value").to_pylist() == pytest.approx([0.12, 0.13, 0.15])
