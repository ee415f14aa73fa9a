"""Sensor store, replay and live ingest speed against the issue's goals, each beside a bare baseline.

    .venv/bin/python bench/bench_sensors.py [--sensors 100] [--days 365] [--mqtt-rate 25000] [--mqtt-seconds 10]

1. import one year of 5-minute data for 100 sensors (10.5 M readings) from a
   BattLeDIM-format CSV (``;``, ``,`` decimal) into the day-partitioned store
   (goal <= 5 s); beside it pyarrow's bare CSV parse of the same file;
2. query one day of all sensors (goal <= 50 ms); beside it the same day with DuckDB SQL;
3. replay one day of a demo-sized city (300 sensors at 10-60 s, about 1 M readings)
   at x10,000 on the wall clock at 30 frames/s: frames per second reached and the
   work per frame against the 33 ms a frame has;
4. MQTT ingest on loopback through a real mosquitto broker: a publisher process
   paced at ``--mqtt-rate`` messages/s for ``--mqtt-seconds``, the recorder
   subscribing; messages/s received and stored, and sent minus stored (goal 0).

Generated data goes to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.clock import Clock, WallTimeSource  # noqa: E402
from simulation.sensors.alarms import AlarmEngine  # noqa: E402
from simulation.sensors.importers import import_battledim  # noqa: E402
from simulation.sensors.live import MqttFeed, Recorder  # noqa: E402
from simulation.sensors.registry import Sensor, SensorRegistry  # noqa: E402
from simulation.sensors.replay import Replay, SensorTimeline  # noqa: E402
from simulation.sensors.store import ReadingStore, readings_table  # noqa: E402

T0 = 1_546_300_800  # 2019-01-01T00:00Z


def write_scada_csv(path: Path, sensors: int, days: int, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    n = days * 288
    stamps = (np.datetime64("2019-01-01T00:00:00") + np.arange(n) * np.timedelta64(300, "s")).astype(str)
    cols = {"Timestamp": pa.array(np.char.replace(stamps, "T", " "))}
    h = (np.arange(n) % 288) / 12.0
    shape = 1 + 0.4 * np.sin(2 * np.pi * (h - 8) / 24)
    for k in range(sensors):
        cols[f"s{k:03d}"] = pa.array(np.round(rng.uniform(20, 200) * shape + rng.normal(0, 1, n), 2))
    table = pa.table(cols)
    tmp = path.with_suffix(".dot.csv")
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(delimiter=";", quoting_style="none"))
    path.write_bytes(tmp.read_bytes().replace(b".", b","))
    tmp.unlink()
    return n * sensors


def bench_import(work: Path, sensors: int, days: int) -> dict:
    csv = work / "scada.csv"
    readings = write_scada_csv(csv, sensors, days)
    t = time.perf_counter()
    pacsv.read_csv(csv, parse_options=pacsv.ParseOptions(delimiter=";"),
                   convert_options=pacsv.ConvertOptions(decimal_point=","))
    bare = time.perf_counter() - t
    store = ReadingStore(work / "store")
    t = time.perf_counter()
    report = import_battledim(csv, store)
    ours = time.perf_counter() - t
    assert report.stored == readings, (report.stored, readings)
    return {"readings": readings, "csv_mb": csv.stat().st_size / 1e6, "bare_s": bare, "import_s": ours,
            "store": store}


def bench_query(store: ReadingStore, days: int, repeat: int = 20) -> dict:
    day0 = T0 + (days // 2) * 86_400
    times, duck = [], []
    rows = 0
    for r in range(repeat):
        t = time.perf_counter()
        rows = store.query(day0, day0 + 86_400).num_rows
        times.append(time.perf_counter() - t)
    from simulation.clock import iso

    lo, hi = iso(day0), iso(day0 + 86_400)
    drows = 0
    for r in range(repeat):
        t = time.perf_counter()
        drows = store.sql(f"select * from readings where phenomenon_time >= '{lo}' and phenomenon_time < '{hi}' "
                          "order by sensor_id, phenomenon_time").to_arrow_table().num_rows
        duck.append(time.perf_counter() - t)
    return {"rows": rows, "duck_rows": drows, "query_ms": 1000 * float(np.median(times)),
            "duck_ms": 1000 * float(np.median(duck))}


def demo_sized_city(work: Path, seed: int = 2) -> tuple[SensorRegistry, ReadingStore, int]:
    rng = np.random.default_rng(seed)
    kinds = [("pressure", "m", 60, 100, {"direction": "below", "yellow": 20, "orange": 14, "red": 7}),
             ("methane", "%LEL", 30, 130, {"yellow": 25, "orange": 50, "red": 75}),
             ("smoke", "%obs/m", 10, 50, {"blue": 2, "yellow": 4, "orange": 8, "red": 12}),
             ("flow", "m3/h", 60, 20, {"yellow": 400, "red": 550})]
    sensors, tables = [], []
    day = T0 + 200 * 86_400
    for typ, unit, period, count, thr in kinds:
        for k in range(count):
            sid = f"{typ[:2].upper()}{k:03d}"
            sensors.append(Sensor(sid, typ, unit, period_s=float(period), thresholds=thr, x=float(k), y=0.0))
            t = day + period * np.arange(86_400 // period)
            v = {"pressure": 35 + rng.normal(0, 0.5, len(t)), "methane": np.abs(rng.normal(0.5, 0.3, len(t))),
                 "smoke": np.abs(rng.normal(0.1, 0.05, len(t))), "flow": 200 + rng.normal(0, 5, len(t))}[typ]
            if k % 10 == 0:  # a tenth of the sensors see an incident, so alarms fire too
                v = v.copy()
                v[len(t) // 2: len(t) // 2 + len(t) // 24] *= {"pressure": 0.15, "methane": 150, "smoke": 150,
                                                                "flow": 3}[typ]
            tables.append(readings_table(sid, (t * 1000).astype("int64"), v))
    store = ReadingStore(work / "city")
    table = pa.concat_tables(tables)
    store.append(table, durable=False)
    return SensorRegistry(sensors), store, day


def bench_replay(work: Path) -> dict:
    registry, store, day = demo_sized_city(work)
    t = time.perf_counter()
    timeline = SensorTimeline.load(store, day, day + 86_400, registry=registry)
    load_s = time.perf_counter() - t
    engine = AlarmEngine(registry)
    clock = Clock(day, duration=86_400, speed=10_000, frame_rate=30, source=WallTimeSource())
    replay = Replay(timeline, engine, clock)
    work_times = []
    original = replay.on_frame

    def timed(clock_time):
        s = time.perf_counter()
        original(clock_time)
        work_times.append(time.perf_counter() - s)

    replay.detach()
    clock.subscribe(timed)
    t = time.perf_counter()
    frames = clock.run()
    wall = time.perf_counter() - t
    w = np.array(work_times) * 1000
    return {"sensors": len(registry), "readings": len(timeline), "load_s": load_s, "frames": frames,
            "wall_s": wall, "fps": frames / wall, "work_mean_ms": float(w.mean()),
            "work_p99_ms": float(np.percentile(w, 99)), "work_max_ms": float(w.max()),
            "alarms": len(engine.log), "fed": replay.readings_fed}


PUBLISHER = r"""
import json, sys, time
import paho.mqtt.client as mqtt
port, rate, seconds, qos = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.max_inflight_messages_set(1000)  # paho rescans its inflight list on each ack: keep it short
c.connect("127.0.0.1", port)
c.loop_start()
n = int(rate * seconds)
t0 = 1.7e9
start = time.perf_counter()
infos = []
for i in range(n):
    if i % 100 == 0:
        due = start + i / rate
        lag = due - time.perf_counter()
        if lag > 0:
            time.sleep(lag)
    info = c.publish("bench/s%03d" % (i % 100),
                     '{"sensor":"S%03d","phenomenonTime":%.3f,"result":%.3f}' % (i % 100, t0 + i * 0.01, i * 0.5),
                     qos=qos)
    if qos:
        infos.append(info)
        if len(infos) >= 2000:  # keep at most 2,000 unacknowledged: paho's queue is bounded
            infos.pop(0).wait_for_publish(30)
for info in infos:
    info.wait_for_publish(30)
elapsed = time.perf_counter() - start
time.sleep(0.5)
c.loop_stop()
print(json.dumps({"sent": n, "publish_s": elapsed}))
"""


def bench_mqtt(work: Path, rate: float, seconds: float, qos: int) -> dict:
    exe = "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else shutil.which("mosquitto")
    if not exe:
        return {"skipped": "mosquitto not installed"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = work / f"mosquitto-{qos}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        store = ReadingStore(work / f"live-{qos}")
        recorder = Recorder(store).start()
        first_last = [None, None]

        def add(batch):
            now = time.perf_counter()
            if first_last[0] is None:
                first_last[0] = now
            first_last[1] = now
            recorder.add(batch)

        feed = MqttFeed("127.0.0.1", port, "bench/#", add, qos=qos).start()
        assert feed.wait_connected(10)
        pub = subprocess.run([sys.executable, "-c", PUBLISHER, str(port), str(rate), str(seconds), str(qos)],
                             capture_output=True, text=True, timeout=seconds * 10 + 60)
        if pub.returncode != 0:
            raise RuntimeError(pub.stderr)
        sent = json.loads(pub.stdout)
        deadline = time.monotonic() + 30
        while feed.observations < sent["sent"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        feed.stop()
        recorder.stop()
        stored = store.count()
        span = (first_last[1] or 0) - (first_last[0] or 0)
        return {"qos": qos, "sent": sent["sent"], "publish_rate": sent["sent"] / sent["publish_s"],
                "received": feed.observations, "stored": stored, "lost": sent["sent"] - stored,
                "ingest_rate": feed.observations / span if span > 0 else float("nan"),
                "malformed": feed.malformed_total}
    finally:
        broker.terminate()
        broker.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--mqtt-rate", type=float, default=25_000)
    ap.add_argument("--mqtt-seconds", type=float, default=10)
    ap.add_argument("--qos", default="0,1", help="MQTT QoS levels to measure")
    ap.add_argument("--skip", default="", help="comma-separated: import,query,replay,mqtt")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="lifeline-bench-sensors-"))
    try:
        if "import" not in skip:
            imp = bench_import(work, args.sensors, args.days)
            print(f"import  {imp['readings']:,} readings ({imp['csv_mb']:.0f} MB CSV): {imp['import_s']:.2f} s "
                  f"(goal 5 s); bare pyarrow parse {imp['bare_s']:.2f} s; ratio {imp['import_s'] / imp['bare_s']:.1f}")
            if "query" not in skip:
                q = bench_query(imp["store"], args.days)
                print(f"query   one day of all sensors ({q['rows']:,} rows): {q['query_ms']:.1f} ms (goal 50 ms); "
                      f"DuckDB SQL {q['duck_ms']:.1f} ms ({q['duck_rows']:,} rows); ratio {q['query_ms'] / q['duck_ms']:.2f}")
        if "replay" not in skip:
            r = bench_replay(work)
            print(f"replay  {r['readings']:,} readings of {r['sensors']} sensors, one day at x10,000: {r['frames']} frames "
                  f"in {r['wall_s']:.2f} s = {r['fps']:.1f} frames/s (goal 30); work per frame mean "
                  f"{r['work_mean_ms']:.2f} ms, p99 {r['work_p99_ms']:.2f} ms, max {r['work_max_ms']:.2f} ms "
                  f"(budget 33 ms); {r['alarms']} alarm events; load {r['load_s']:.2f} s")
        if "mqtt" not in skip:
            for qos in [int(x) for x in args.qos.split(",")]:
                m = bench_mqtt(work, args.mqtt_rate, args.mqtt_seconds, qos)
                if "skipped" in m:
                    print(f"mqtt    skipped: {m['skipped']}")
                    break
                print(f"mqtt    QoS {qos}: sent {m['sent']:,} at {m['publish_rate']:,.0f} msg/s, received "
                      f"{m['received']:,} at {m['ingest_rate']:,.0f} msg/s, stored {m['stored']:,}, lost {m['lost']:,} "
                      f"(goal >= 20,000 msg/s, 0 lost)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
