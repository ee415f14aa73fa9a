"""Publish a day of readings of the demo town's pressure sensor PT001 to an MQTT broker.

The README's live-feed example: ``lifeline-twin sensors record`` stores what this
sends, ``lifeline-twin sensors replay`` then raises the alarms.  Usage::

    python assets/examples/publish_readings.py HOST:PORT TOPIC_PREFIX

One reading a minute on 2024-05-01 (UTC), 1,440 in all: pressure about 40 m
with the day's demand swing, and a main break from 06:00 to 07:30 that drops it
to 3 m (red: the sensor's red threshold is 5 m).  Each hour is one message (an
array of 60 observations) on its own retained topic (``TOPIC_PREFIX/PT001/00``
... ``/23``), so a recorder that subscribes later still gets all of them; the
broker is waited for up to 30 s.
"""

from __future__ import annotations

import json
import math
import sys
import time

import paho.mqtt.client as mqtt

SENSOR = "PT001"
DAY_START = 1_714_521_600  # 2024-05-01T00:00:00Z, POSIX seconds
MINUTES = 24 * 60


def pressure(minute: int) -> float:
    if 6 * 60 <= minute < 7 * 60 + 30:
        return 3.0  # the main break
    return round(40.0 - 6.0 * math.sin(2 * math.pi * (minute - 6 * 60) / MINUTES), 2)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or ":" not in argv[0]:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = argv[0].rsplit(":", 1)
    prefix = argv[1].rstrip("/")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    deadline = time.monotonic() + 30
    while True:  # the broker may have been started a moment ago
        try:
            client.connect(host, int(port))
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                print(f"cannot reach the MQTT broker {host}:{port}: {exc}", file=sys.stderr)
                return 1
            time.sleep(0.2)
    client.loop_start()
    try:
        for hour in range(24):
            payload = [{"sensor": SENSOR, "phenomenonTime": DAY_START + 60 * minute, "result": pressure(minute)}
                       for minute in range(60 * hour, 60 * hour + 60)]
            client.publish(f"{prefix}/{SENSOR}/{hour:02d}", json.dumps(payload), qos=1,
                           retain=True).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    print(f"published {MINUTES} readings of {SENSOR} to {host}:{port} under {prefix}/{SENSOR}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
