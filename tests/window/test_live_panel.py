"""The live feed panel as a user meets it: connect to a broker, a sensor's readings arrive, its alarm shows."""

from __future__ import annotations

import json
import time

import pytest
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.qt


def _publish(host, port, topic, payloads):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    for p in payloads:
        client.publish(topic, json.dumps(p), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_a_low_pressure_reading_on_the_feed_raises_a_red_alarm_in_the_panel(window, qtbot, mosquitto):
    host, port, _, _ = mosquitto
    panel = window.panels["live"]
    panel.host.setText(host)
    panel.port.setValue(port)
    panel.topic.clear()
    qtbot.keyClicks(panel.topic, "city/pressure/#")
    qtbot.mouseClick(panel.connect_button, Qt.MouseButton.LeftButton)
    try:
        assert window.view_model.clock.live is True
        qtbot.waitUntil(lambda: panel.watch.connected, timeout=10_000)
        now = time.time()
        # PT001 watches junction J-141: normal pressure, then 1 m three times (below its red low threshold,
        # past the debounce), and a stranger
        _publish(host, port, "city/pressure/PT001", [
            {"sensor": "PT001", "phenomenonTime": now - 240, "result": 55.0},
            {"sensor": "PT001", "phenomenonTime": now - 180, "result": 1.0},
            {"sensor": "PT001", "phenomenonTime": now - 120, "result": 1.0},
            {"sensor": "PT001", "phenomenonTime": now - 60, "result": 1.0},
            {"sensor": "XX-9", "phenomenonTime": now - 60, "result": 3.0},
            "not a reading",
        ])
        qtbot.waitUntil(lambda: panel.table.rowCount() >= 1 and panel.watch.readings == 5, timeout=10_000)
        shown = [tuple(panel.table.item(r, c).text() for c in (0, 1, 2, 4)) for r in range(panel.table.rowCount())]
        # the fall of 54 m within the rate window and the low pressure: two alarms, the most severe first
        assert shown[0] == ("red", "PT001", "low", "1 m")
        assert {row[1] for row in shown} == {"PT001"}
        assert panel.status.text().endswith(": 5 reading(s), 1 of sensors not in the twin, 1 malformed")
        assert window.view_model.highlights["live alarm red"].ids == ("PT001",)
        assert window.scene.highlighted["live alarm red"] == ("sensors", 1)
    finally:
        panel.disconnect_button.click()
    assert panel.watch is None and window.view_model.clock.live is False
    assert "live alarm red" not in window.view_model.highlights


def test_a_bad_topic_is_one_message_and_no_connection(window, qtbot):
    panel = window.panels["live"]
    panel.topic.setText("a/#/b")
    panel.connect_button.click()
    assert panel.watch is None
    assert panel.status.text().startswith("cannot connect: ") and "a/#/b" in panel.status.text()
    panel.topic.setText("lifeline/sensors/#")
