"""A drill shared between workstations over MQTT: the controller's window leads, trainees' windows follow.

No Qt here.  Every window runs the same drill session (it is deterministic for its inputs), and the
controller's window is the one that decides: it publishes, in order on one topic, each clock time it
reaches and each input it applies (a trainee's action, a controller operation), and each follower
applies them in that order to its own session, so every window shows the same city at the same time.
A trainee's action goes to the controller (the trainees' topic), which takes it at its own clock time
and publishes it back with that time.

Topics (``lifeline-twin/drill/<exercise>/...``, QoS 1):

* ``controller``: ``{"type": "clock", "time": t}``, ``{"type": "action", "time": t, "role", "action",
  "parameters"}``, ``{"type": "control", "time": t, "op", "inject"}``, ``{"type": "inject", "time": t,
  "inject": {...}}`` (an ad-hoc inject the controller added, as a drill file writes it; its delivery
  follows as a control message) and ``{"type": "end"}``;
* ``trainees``: ``{"type": "action", "role", "action", "parameters"}``.

:class:`DrillLink` is one end (a paho client on its own thread; received messages wait in a queue
that the window drains on its own thread); :class:`Follower` applies the controller's messages to
a session and its :class:`~simulation.drill.controller.ExerciseController`; :func:`follow` is a
headless trainee workstation (``python -m app.drill_link``), used by the two-process test.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid

from simulation.sensors.live import check_port

ROOT = "lifeline-twin/drill"


def topic(exercise: str, side: str) -> str:
    if not exercise or any(c in exercise for c in "#+/"):
        raise ValueError(f"exercise name {exercise!r}: give a non-empty name without #, + or /")
    return f"{ROOT}/{exercise}/{side}"


class DrillLink:
    """One workstation's end of a shared drill: ``lead=True`` for the controller, False for a trainee."""

    def __init__(self, host: str, port: int, exercise: str, *, lead: bool):
        import paho.mqtt.client as mqtt

        self.host, self.port, self.exercise, self.lead = host, check_port(port), exercise, lead
        self.out_topic = topic(exercise, "controller" if lead else "trainees")
        self.in_topic = topic(exercise, "trainees" if lead else "controller")
        self.inbox: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"lifeline-drill-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a, **k: self.connected.set()
        self.client.on_message = self._on_message

    def start(self) -> "DrillLink":
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def stop(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def send(self, message: dict) -> None:
        self.client.publish(self.out_topic, json.dumps(message), qos=1).wait_for_publish(10)

    def received(self) -> list[dict]:
        """The messages arrived since last asked, in order."""
        out = []
        while True:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                return out

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if not reason_code.is_failure:
            client.subscribe(self.in_topic, qos=1)

    def _on_message(self, client, userdata, msg):
        try:
            self.inbox.put(json.loads(msg.payload.decode("utf-8")))
        except (UnicodeDecodeError, ValueError):   # not ours: ignored
            pass


class Follower:
    """Applies the controller's messages, in order, to a session and its exercise controller.

    ``go_to(t)`` moves the session (a window's playback; headless: ``session.advance_to``);
    returns False once the controller said the exercise ended.
    """

    def __init__(self, session, controller, go_to=None):
        self.session, self.controller = session, controller
        self.go_to = go_to or session.advance_to
        self.ended = False

    def apply(self, message: dict) -> bool:
        kind = message.get("type")
        if kind == "clock":
            self.go_to(float(message["time"]))
        elif kind == "action":
            self.go_to(float(message["time"]))
            self.controller.act(message["role"], message["action"], dict(message.get("parameters") or {}))
            flush(self.session)
        elif kind == "inject":
            from simulation.drill.model import Inject

            self.go_to(float(message["time"]))
            inject = Inject.model_validate(message["inject"])
            if inject.number not in self.controller.injects:
                self.controller.add_inject(inject)
        elif kind == "control":
            self.go_to(float(message["time"]))
            op = {"deliver": self.controller.deliver_now, "hold": self.controller.hold,
                  "cancel": self.controller.cancel}[message["op"]]
            try:
                op(int(message["inject"]))
            except ValueError:   # it moved on here too: nothing to do
                pass
            flush(self.session)
        elif kind == "end":
            self.ended = True
        return not self.ended


def flush(session) -> None:
    """Log now what was published between two frames (the session logs a frame's events at its end)."""
    frame = session._frame
    if frame:
        session.log.record(frame)
        session._frame = []


def follow(drill_path, host: str, port: int, exercise: str, *, role: str, answer: dict, out=None,
           timeout_s: float = 120.0) -> dict:
    """A headless trainee workstation: follow the controller, answer injects, report what it saw.

    ``answer``: inject number -> (action, parameters) sent as ``role`` as soon as that inject is
    delivered here.  Returns (and writes to ``out`` as JSON) the injects delivered here with their
    times and the actions taken, as this workstation's session logged them.
    """
    import time

    from simulation.drill.controller import prepare
    from simulation.drill.model import load_drill

    drill, scenario, folder = load_drill(drill_path)
    session, controller = prepare(drill, scenario, folder)
    link = DrillLink(host, port, exercise, lead=False).start()
    if not link.wait_connected():
        raise RuntimeError(f"no MQTT broker at {host}:{port}")
    follower = Follower(session, controller)
    answered: set = set()
    end = time.monotonic() + timeout_s
    print("ready", flush=True)
    while not follower.ended and time.monotonic() < end:
        for message in link.received():
            follower.apply(message)
        for n in sorted(set(controller.delivered) - answered):
            answered.add(n)
            if n in answer:
                action, params = answer[n]
                link.send({"type": "action", "role": role, "action": action, "parameters": params})
        time.sleep(0.02)
    link.stop()
    result = {"delivered": {str(n): t for n, t in sorted(controller.delivered.items())},
              "actions": [{"time": e.time, "role": e.get("role"), "action": e.get("action")}
                          for e in controller.actions],
              "now": session.now, "ended": follower.ended}
    if out is not None:
        from twin import atomic

        atomic.write(out, json.dumps(result, indent=1))   # atomic, and never over a file that is not ours
    return result


def main(argv=None) -> int:
    """``python -m app.drill_link DRILL --host H --port P --exercise X --role R --answer 1:acknowledge --out F``"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m app.drill_link", description=follow.__doc__.splitlines()[0])
    p.add_argument("drill")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--exercise", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--answer", action="append", default=[], help="INJECT:ACTION (repeatable)")
    p.add_argument("--out")
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args(argv)
    answer = {}
    for item in args.answer:
        n, _, action = item.partition(":")
        answer[int(n)] = (action, {})
    follow(args.drill, args.host, args.port, args.exercise, role=args.role, answer=answer, out=args.out,
           timeout_s=args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
