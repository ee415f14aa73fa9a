"""``lifeline-twin sensors``: import recordings, record a live MQTT feed, replay with alarms, find leaks.

Parsing and printing only: recording, replay and alarms are wired in
:mod:`simulation.sensors` (:class:`~simulation.sensors.live.Recording`,
:meth:`~simulation.sensors.replay.Replay.of_recording`).

Examples::

    lifeline-twin sensors import battledim ../shared/data/ltown/2019_Flows.csv --project ltown.gpkg
    lifeline-twin sensors record --mqtt 127.0.0.1:1883 --topic 'city/sensors/#' --project city.gpkg
    lifeline-twin sensors replay city.gpkg --from 2024-05-01T00:00Z --to 2024-05-02T00:00Z --speed 10000
    lifeline-twin sensors detect-leaks ../shared/data/ltown/2019_Flows.csv --levels ../shared/data/ltown/2019_Levels.csv --json
    lifeline-twin sensors info city.gpkg
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("sensors", help="sensor recordings: import, record live (MQTT), replay with alarms, detect leaks")
    s = p.add_subparsers(dest="sensors_command", metavar="ACTION", required=True)

    imp = s.add_parser("import", help="import recorded readings into a project's store")
    imp.add_argument("kind", choices=["battledim", "picarro", "bwdf", "csv", "parquet"])
    imp.add_argument("path", nargs="+", help="file(s) to import; a folder means every file of the kind in it "
                                              "(*.dat for picarro, *.csv for battledim and csv, ...)")
    imp.add_argument("--project", required=True, help="project .gpkg (readings go to <project>.readings/)")
    imp.add_argument("--prefix", default="", help="prepended to every sensor id")
    imp.add_argument("--time-col", default="time", help="csv/parquet: time column (default 'time')")
    imp.add_argument("--sensor-col", help="csv/parquet long format: sensor id column")
    imp.add_argument("--value-col", default="value", help="csv/parquet long format: value column")
    imp.add_argument("--values", help="csv/parquet wide format: comma-separated sensor columns (default: all)")
    imp.add_argument("--quality-col", help="csv/parquet: quality column (good/uncertain/bad or 0/1/2)")
    imp.add_argument("--unit-from", help="convert values from this unit (e.g. L/s, kPa, ppm)")
    imp.add_argument("--unit-to", help="...to this unit (e.g. m3/h, m, %%LEL)")
    imp.add_argument("--sep", default=",", help="csv separator")
    imp.add_argument("--decimal", default=".", help="csv decimal mark")
    imp.add_argument("--tz", default="UTC", help="time zone of naive timestamps (default UTC)")
    imp.add_argument("--period", type=float, help="expected sampling period in s (default: the median spacing)")
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.set_defaults(func=run_import)

    rec = s.add_parser("record", help="record a live MQTT feed into a project's store (Ctrl-C stops)")
    rec.add_argument("--mqtt", required=True, metavar="HOST:PORT")
    rec.add_argument("--topic", required=True, help="topic filter, e.g. 'city/sensors/#'")
    rec.add_argument("--project", required=True)
    rec.add_argument("--qos", type=int, default=1, choices=[0, 1, 2])
    rec.add_argument("--flush-s", type=float, default=1.0, help="write to disk at least this often (s)")
    rec.add_argument("--max-batch", type=int, default=5000, help="...or every this many readings")
    rec.add_argument("--duration", type=float, help="stop after this many seconds")
    rec.add_argument("--count", type=int, help="stop after this many observations")
    rec.add_argument("--client-id", help="MQTT client id (with one, the broker keeps a session for QoS 1)")
    rec.set_defaults(func=run_record)

    rep = s.add_parser("replay", help="replay recorded readings on the clock; print alarms as they fire")
    rep.add_argument("project")
    rep.add_argument("--from", dest="t0", required=True, help="start, ISO 8601 (UTC unless an offset is given)")
    rep.add_argument("--to", dest="t1", required=True, help="end, ISO 8601")
    rep.add_argument("--speed", type=float, default=1000.0, help="clock speed x0.1..x10000 (default 1000)")
    rep.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    rep.add_argument("--sensors", help="comma-separated sensor ids (default: all)")
    rep.add_argument("--log", help="write the alarm log here (.csv or .json)")
    rep.add_argument("--instant", action="store_true", help="do not wait in wall time: emit the same frames at once")
    rep.add_argument("--json", action="store_true", help="print alarms as JSON lines")
    rep.set_defaults(func=run_replay)

    info = s.add_parser("info", help="what a project's readings store holds, per sensor")
    info.add_argument("project")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=run_info)

    leak = s.add_parser("detect-leaks", help="leak events on a DMA inflow (minimum night flow + CUSUM)")
    leak.add_argument("flows", help="SCADA flows CSV (BattLeDIM format: ';' separator, ',' decimal; or ',' "
                                    "separator, '.' decimal); a unit in a header, e.g. 'DMA 3 (L/s)', is "
                                    "converted, no unit means m3/h")
    leak.add_argument("--levels", help="tank levels CSV: storage change is subtracted (tank areas from the model)")
    leak.add_argument("--inp", help="EPANET model for tank areas and which links leave reservoirs "
                                    "(default: the only .inp beside the flows file)")
    leak.add_argument("--sources", help="comma-separated inflow columns (default: links leaving reservoirs)")
    leak.add_argument("--holidays", help="comma-separated dates (YYYY-MM-DD) whose demand is a Sunday's: "
                                         "public holidays are compared with Sundays, not with working days")
    order = leak.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", dest="dayfirst", action="store_const", const=True, default=None,
                       help="slash dates are DD/MM/YYYY (needed when both readings fit every row)")
    order.add_argument("--monthfirst", dest="dayfirst", action="store_const", const=False,
                       help="slash dates are MM/DD/YYYY")
    leak.add_argument("--timezone", help="times without a UTC offset are this zone's clock (e.g. Europe/Rome: "
                                         "the hour repeated when the clocks go back is resolved in file order)")
    leak.add_argument("--json", action="store_true", help='print {"events": [...]} as JSON')
    leak.set_defaults(func=run_detect_leaks)


def _store(project: str):
    from simulation.sensors.store import ReadingStore

    path = Path(project)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such project file (make one with 'lifeline-twin import')")
    return ReadingStore.for_project(path)


def _registry(project: str):
    from simulation.sensors.registry import SensorRegistry
    from twin.project import load

    twin = load(project)
    return twin, SensorRegistry.from_twin(twin)


def run_import(args) -> int:
    from simulation.sensors.importers import ColumnMapping, import_readings

    store = _store(args.project)
    options: dict = {}
    if args.kind in ("csv", "parquet"):
        options["mapping"] = ColumnMapping(
            time=args.time_col, sensor=args.sensor_col, value=args.value_col,
            values=args.values.split(",") if args.values else None, quality=args.quality_col,
            unit_from=args.unit_from, unit_to=args.unit_to, sep=args.sep, decimal=args.decimal,
            timezone=args.tz, period_s=args.period, prefix=args.prefix)
    elif args.kind in ("battledim", "bwdf"):
        options["prefix"] = args.prefix
        if args.kind == "battledim" and args.period:
            options["period_s"] = args.period
    files = _expand(args.kind, args.path)
    t0 = time.perf_counter()
    _, registry = _registry(args.project)
    reports = []
    for path in files:
        report = import_readings(args.kind, path, store, **options)
        unknown = [s.sensor_id for s in report.series if s.sensor_id not in registry]
        if unknown:
            report.notes.append(f"{len(unknown)} sensor id(s) not in the project's sensors layer (readings kept; "
                                f"add them to get alarms): {', '.join(unknown[:8])}"
                                f"{' ...' if len(unknown) > 8 else ''}")
        reports.append(report)
        if not args.json:
            print(report.text())
    if args.json:
        doc = [r.as_dict() for r in reports]
        print(json.dumps(doc[0] if len(doc) == 1 else doc, indent=1))
    else:
        print(f"{sum(r.stored for r in reports):,} readings from {len(reports)} file(s) stored in {store.root} "
              f"in {time.perf_counter() - t0:.1f} s")
    return 0


_EXTENSIONS = {"battledim": ("*.csv",), "csv": ("*.csv", "*.txt"), "picarro": ("*.dat",),
               "bwdf": ("*.xlsx",), "parquet": ("*.parquet", "*.pq")}


def _expand(kind: str, paths: list[str]) -> list[Path]:
    """Files to import: folders become their files of the kind, sorted by name."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for pattern in _EXTENSIONS[kind] for f in p.glob(pattern))
            if not found:
                raise FileNotFoundError(f"{p}: no {' or '.join(_EXTENSIONS[kind])} files for a {kind} import")
            files.extend(found)
        else:
            files.append(p)
    return files


def run_record(args) -> int:
    from simulation.sensors.alarms import AlarmEngine
    from simulation.sensors.live import Recording

    host, _, port = args.mqtt.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--mqtt must be HOST:PORT, got {args.mqtt!r}")
    store = _store(args.project)
    _, registry = _registry(args.project)
    engine = AlarmEngine(registry)
    engine.subscribe(lambda a: print(a.line(), flush=True))
    recording = Recording(store, engine, host, int(port), args.topic, qos=args.qos, client_id=args.client_id,
                          flush_s=args.flush_s, max_batch=args.max_batch).start()
    feed = recording.feed
    print(f"recording {args.topic} from {host}:{port} into {store.root} "
          f"(flush every {args.flush_s:g} s or {args.max_batch} readings; Ctrl-C stops)", file=sys.stderr)
    started = time.monotonic()
    try:
        while True:
            time.sleep(0.2)
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            if args.count is not None and feed.observations >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        recording.stop()
    bad = ", ".join(f"{k}: {v}" for k, v in feed.malformed.items())
    stored = recording.recorder.stored
    print(f"{feed.received:,} messages, {feed.observations:,} observations, {stored:,} readings stored, "
          f"{feed.malformed_total:,} malformed{f' ({bad})' if bad else ''}, "
          f"{max(0, feed.connects - 1)} reconnect(s)")
    return 0


def run_info(args) -> int:
    store = _store(args.project)
    _, registry = _registry(args.project)
    from simulation.sensors.importers import iso_ms

    sensors = []
    for row in store.per_sensor():
        s = registry.get(row["sensor"])
        sensors.append({"sensor": row["sensor"], "type": s.sensor_type if s else None, "unit": s.unit if s else None,
                        "feature": s.feature if s else None, "readings": row["readings"],
                        "first": iso_ms(row["first_ms"] / 1000), "last": iso_ms(row["last_ms"] / 1000),
                        "uncertain": row["uncertain"], "bad": row["bad"], "positions": row["positions"]})
    days = store.days()
    if args.json:
        print(json.dumps({"store": str(store.root), "days": len(days), "sensors": sensors}, indent=1))
        return 0
    total = sum(x["readings"] for x in sensors)
    span = f"{days[0]} .. {days[-1]}" if days else "empty"
    print(f"{store.root}: {total:,} readings of {len(sensors)} sensor(s) over {len(days)} day(s) ({span})")
    for x in sensors:
        kind = f"{x['type']} [{x['unit']}] on {x['feature']}" if x["type"] else "not in the project's sensors layer"
        flags = "".join([f", {x['uncertain']:,} uncertain" if x["uncertain"] else "",
                         f", {x['bad']:,} bad" if x["bad"] else "",
                         f", {x['positions']:,} positions" if x["positions"] else ""])
        print(f"  {x['sensor']}: {x['readings']:,} readings {x['first']} .. {x['last']}{flags} — {kind}")
    return 0


def run_replay(args) -> int:
    from simulation.clock import to_seconds
    from simulation.sensors.alarms import raised_by_level, write_alarm_log
    from simulation.sensors.replay import Replay

    store = _store(args.project)
    twin, registry = _registry(args.project)
    t0, t1 = to_seconds(args.t0), to_seconds(args.t1)
    if t1 <= t0:
        raise ValueError(f"--to {args.t1} is not after --from {args.t0}")
    if not args.fps > 0:  # the clock would say 'frame_rate', which is not the option the user typed
        raise ValueError(f"--fps must be positive, got {args.fps:g}")
    sensors = args.sensors.split(",") if args.sensors else None
    replay = Replay.of_recording(store, twin, registry, t0, t1, sensors=sensors, speed=args.speed,
                                 frame_rate=args.fps, instant=args.instant)
    timeline, engine = replay.timeline, replay.engine
    # a mistyped --sensors id must say so, not read as an empty recording
    absent = timeline.without_readings(sensors or [])
    if not len(timeline):
        which = f" of sensor(s) {', '.join(absent[:8])}" if absent else ""
        raise ValueError(f"no readings{which} in {store.root} between {args.t0} and {args.t1}")
    if absent:
        print(f"note: no readings of sensor(s) {', '.join(absent[:8])}{' ...' if len(absent) > 8 else ''} "
              f"between {args.t0} and {args.t1}", file=sys.stderr)
    engine.subscribe(lambda a: print(json.dumps(a.as_dict()) if args.json else a.line(), flush=True))
    started = time.perf_counter()
    frames = replay.run()
    elapsed = time.perf_counter() - started
    if args.log:
        write_alarm_log(engine.log, Path(args.log))
    counts = raised_by_level(engine.log)
    unknown = f"; {len(engine.unknown)} sensor(s) not in the project ignored" if engine.unknown else ""
    print(f"replayed {replay.readings_fed:,} readings of {len(timeline.sensor_ids)} sensors in {frames} frames "
          f"({elapsed:.1f} s): {len(engine.log)} alarm events, raised/escalated "
          + ", ".join(f"{k} {v}" for k, v in counts.items()) + unknown, file=sys.stderr)
    return 0


def run_detect_leaks(args) -> int:
    from simulation.sensors.leaks import LeakDetector, inflow_from_files

    sources = args.sources.split(",") if args.sources else None
    holidays = tuple(day.strip() for day in args.holidays.split(",") if day.strip()) if args.holidays else ()
    try:
        detector = LeakDetector(holidays=holidays)
    except ValueError as exc:
        raise ValueError(f"--holidays: {str(exc).removeprefix('holidays: ')}") from None
    info: dict = {}
    inflow, balance = inflow_from_files(args.flows, args.levels, args.inp, sources,
                                        dayfirst=getattr(args, "dayfirst", None), info=info,
                                        timezone=getattr(args, "timezone", None))
    with warnings.catch_warnings():
        # days without any valid inflow (gaps) are reported as untested; numpy's per-slice warnings are noise
        warnings.filterwarnings("ignore", r"(All-NaN slice|Mean of empty slice)", RuntimeWarning)
        events = detector.detect(inflow)
    leaks = [e for e in events if e.kind == "leak"]
    repairs = [e for e in events if e.kind == "repair"]
    no_data = info.get("days_without_data", [])
    too_few = [d for d in detector.untested_days if d not in set(no_data)]
    untested = sorted(set(detector.untested_days) | set(no_data))
    if args.json:
        print(json.dumps({"balance": balance, "events": [e.as_dict() for e in leaks],
                          "repairs": [e.as_dict() for e in repairs],
                          "demand_changes": [e.as_dict() for e in detector.demand_changes],
                          "untested_days": untested, "days_without_data": no_data,
                          "units": {c: u or "m3/h (assumed)" for c, u in info.get("units", {}).items()},
                          "missing_steps": info.get("missing_steps", 0), "gap_steps": info.get("gap_steps", 0),
                          "negative_steps": info.get("negative_steps", 0), "notes": info.get("notes", [])},
                         indent=1))
        return 0
    print(f"net inflow = {balance}; {len(inflow):,} steps, {len(leaks)} leak event(s), {len(repairs)} drop(s)")
    for note in info.get("notes", []):
        print(f"  note: {note}")
    for e in events:
        print(f"  {e.kind:6s} {e.method:5s} start {e.as_dict()['start']}  detected {e.as_dict()['detected']}  "
              f"size {e.size_m3h:6.1f} m3/h  (CUSUM {e.score:.1f})")
    for e in detector.demand_changes:
        print(f"  not a leak: {e.kind} from {e.as_dict()['start']} ({e.size_m3h:.1f} m3/h at night, in proportion "
              f"to customers' use)")
    if no_data:
        print(f"  {len(no_data)} day(s) not tested (no data): {', '.join(no_data[:6])}{' ...' if len(no_data) > 6 else ''}")
    if too_few:
        print(f"  {len(too_few)} day(s) not tested (too few earlier days of their type): "
              f"{', '.join(too_few[:6])}{' ...' if len(too_few) > 6 else ''}")
    return 0
