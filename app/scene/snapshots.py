"""Pictures of the 3D view at a run's key moments, for the reports (off screen).

:func:`key_moments` draws the twin once and gives (caption, PNG bytes) pairs
that :mod:`simulation.session.report` and :mod:`simulation.drill.report` put
in their HTML:

* for each moment the water network kept (the break, the valves closed, the
  repair done), the town from above with the junctions coloured by the
  pressure EPANET gave then;
* when a storm flooded the streets, the town from above at the moment most
  roads were closed by water (from the drainage network's road events):
  roads closed in dark blue, roads under water in light blue;
* for each fire and gas-leak incident of the event log, the scene round the
  incident (oblique, about 500 m across, buildings and ground faded, no
  legend) when it opened, when the first unit was on scene and when it was
  handled (the leak shut off, the fire out: the units released), with the
  alarmed feature in red under a red pin, the leaking gas main in orange and
  a blue block for each unit on scene (arrived and not yet released).

Everything drawn comes from the event log and the water network's kept
snapshots, never from an engine's state.
"""

from __future__ import annotations

import io

#: incident types pictured from the event log, and the layers their ``ref`` may name
INCIDENT_TYPES = ("fire", "gas_leak")


def key_moments(session, size=(960, 600)) -> list[tuple[str, bytes]]:
    """The 3D view at the run's key moments (module docstring), in time order within each kind."""
    water = getattr(session, "water", None)
    water_moments = water is not None and water.snapshots and len(session.twin["water_junctions"])
    incidents = _incident_moments(session)
    streets = _worst_streets(session)
    if not water_moments and not incidents and streets is None:
        return []
    from app.scene.scene import Scene
    from simulation.clock import iso

    scene = Scene(session.twin, window_size=size)
    shots = []
    try:
        if water_moments:
            scene.show("water_junctions", True)
            scene.camera("top")
            for what, t, pressure in water.snapshots:
                scene.set_result("water_junctions", "pressure_now", pressure)
                scene.color_by("water_junctions", "pressure_now", cmap="RdYlBu", clim=(0.0, 60.0), unit="m")
                shots.append((f"{iso(t)}: {what}; junctions coloured by pressure (m)", _png(scene)))
            scene.color_by("water_junctions", None)
            scene.show("water_junctions", False)
        if streets is not None:
            t, flooded, closed = streets
            scene.legend(False)
            hidden = [n for n in scene.layers if n not in ("terrain", "roads", "buildings")]
            for n in hidden:
                scene.hide(n)
            scene.camera("top")
            scene.zoom_to("roads", _core(session.twin["roads"], flooded + closed), margin=1.1)
            _road_lines(scene, session.twin["roads"], flooded, "roads under water", "#3182bd")
            _road_lines(scene, session.twin["roads"], closed, "roads closed", "#08306b")
            shots.append((f"{iso(t)}: the streets at their worst: {len(closed)} roads closed by water (dark blue), "
                          f"{len(flooded)} more under water (blue); the town centre", _png(scene)))
            scene.plotter.remove_actor("roads under water", render=False)
            scene.plotter.remove_actor("roads closed", render=False)
            for n in hidden:
                scene.show(n)
        if incidents:
            # the incident's feature and the gas main under the street read through faded buildings and
            # ground; the legend and the airspace would only cover them
            scene.legend(False)
            for layer, opacity in (("buildings", 0.35), ("terrain", 0.3), ("roads", 0.4), ("sites", 0.4)):
                if layer in scene.layers:
                    scene.set_opacity(layer, opacity)
            for layer in ("airspace_zones", "drone_corridors", "drone_tracks", "cameras", "sensors",
                          "hydrants", "water_valves", "water_junctions", "manholes", "septic_tanks"):
                if layer in scene.layers:
                    scene.hide(layer)
        for caption, focus, marks in incidents:
            scene.camera("oblique")
            layer, fid, units = focus
            if layer in scene.layers:
                scene.zoom_to(layer, [fid], margin=1.0, min_size=500.0)
                _pin(scene, layer, fid, units)
            for name, (mark_layer, ids, colour) in marks.items():
                scene.highlight(name, mark_layer if mark_layer in scene.layers and ids else None, ids, colour)
            shots.append((caption, _png(scene)))
            for name in marks:
                scene.highlight(name, None)
            scene.plotter.remove_actor(PIN, render=False)
            scene.plotter.remove_actor(UNITS, render=False)
        return shots
    finally:
        scene.close()


PIN = "incident pin"
UNITS = "units on scene"


def _pin(scene, layer: str, fid: str, units: int = 0) -> None:
    """A red pin over the incident's feature (a cone 30 m tall pointing down at its top, seen from afar)
    and a blue block (10 x 4 x 4 m) for each unit on scene, in a ring 35 m round it."""
    import numpy as np
    import pyvista as pv

    b = scene.feature_bounds(layer, [fid])
    x, y, top = (b[0] + b[1]) / 2, (b[2] + b[3]) / 2, max(b[5], 0.0)
    cone = pv.Cone(center=(x, y, top + 25.0), direction=(0, 0, -1), height=30.0, radius=8.0, resolution=16)
    scene.plotter.add_mesh(cone, name=PIN, color="#d7191c", pickable=False, reset_camera=False, render=False)
    blocks = [pv.Box((x + 35 * np.cos(a) - 5, x + 35 * np.cos(a) + 5, y + 35 * np.sin(a) - 2,
                      y + 35 * np.sin(a) + 2, b[4], b[4] + 4)) for a in np.linspace(0, 2 * np.pi, units, endpoint=False)]
    if blocks:
        scene.plotter.add_mesh(pv.merge(blocks), name=UNITS, color="#2c7bb6", pickable=False, reset_camera=False,
                               render=False)
    else:
        scene.plotter.remove_actor(UNITS, render=False)


def _core(roads, ids) -> list[str]:
    """The roads of ``ids`` whose middles lie within the 10th-90th percentiles of them all, east and north:
    the flooded town rather than a stray country road."""
    import numpy as np
    import shapely

    rows = roads[roads["id"].astype(str).isin(ids)]
    mid = shapely.get_coordinates(shapely.line_interpolate_point(rows.geometry.values, 0.5, normalized=True))
    lo, hi = np.percentile(mid, 10, axis=0), np.percentile(mid, 90, axis=0)
    keep = ((mid >= lo) & (mid <= hi)).all(axis=1)
    return rows["id"].astype(str)[keep].tolist() or list(ids)


def _road_lines(scene, roads, ids, name: str, colour: str) -> None:
    """Roads ``ids`` as thick lines 2 m over the ground (seen at a town's scale, where a road is a pixel)."""
    import numpy as np
    import pyvista as pv
    import shapely

    scene.plotter.remove_actor(name, render=False)
    rows = roads[roads["id"].astype(str).isin(ids)]
    if not len(rows):
        return
    xy, part = shapely.get_coordinates(rows.geometry.values, return_index=True)
    f = scene.frame
    sx, sy = f.xy(xy[:, 0], xy[:, 1])
    z = f.z(np.nan_to_num(f.ground(xy[:, 0], xy[:, 1]))) + 2.0
    lines = []
    for k in np.unique(part):
        idx = np.flatnonzero(part == k)
        lines.append(np.r_[len(idx), idx])
    mesh = pv.PolyData(np.column_stack([sx, sy, z]), lines=np.concatenate(lines))
    scene.plotter.add_mesh(mesh, name=name, color=colour, line_width=5, lighting=False, pickable=False,
                           reset_camera=False, render=False)


def _worst_streets(session):
    """(clock time, roads under water, roads closed) when most roads were closed by water, from the
    drainage network's road events; None when no road flooded."""
    state: dict[str, str] = {}
    worst = None
    for e in session.log.events:
        if e.kind not in ("road_flooded", "road_closed", "road_reopened"):
            continue
        if e.kind == "road_reopened":
            state.pop(e.feature, None)
        else:
            state[e.feature] = "closed" if e.kind == "road_closed" else "flooded"
        closed = sum(1 for v in state.values() if v == "closed")
        if worst is None or closed > worst[0]:
            worst = (closed, e.time, dict(state))
    if worst is None:
        return None
    _, t, roads = worst
    return (t, sorted(r for r, v in roads.items() if v == "flooded"), sorted(r for r, v in roads.items() if v == "closed"))


def _png(scene) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(scene.screenshot()).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _incident_moments(session) -> list[tuple[str, tuple[str, str], dict]]:
    """(caption, (layer, feature) to frame, highlights) at each fire or gas leak's key moments."""
    from simulation.clock import iso

    twin = session.twin
    events = session.log.events
    out = []
    for opened in (e for e in events if e.kind == "incident_opened" and e.get("type") in INCIDENT_TYPES):
        inc = opened.feature
        ref = str(opened.get("ref") or "")
        layer, _, fid = ref.partition("/")
        if layer not in twin.layers or not fid:
            continue
        mine = [e for e in events if e.feature == inc or e.get("incident") == inc]
        arrived = next((e for e in mine if e.kind == "unit_arrived"), None)
        leak_shut = next((e for e in events if e.kind == "valve_closed" and e.layer == "gas_mains"
                          and e.get("incident") == inc), None)
        released = next((e for e in mine if e.kind == "unit_released"), None)
        handled = leak_shut or released
        what = opened.get("type").replace("_", " ")
        moments = [(opened, f"{inc} opened: {what} at {ref}"),
                   (arrived, f"first unit on scene of {inc}: {arrived.get('unit') if arrived else ''}"),
                   (handled, f"{inc} handled: " + ("gas main shut off" if handled is leak_shut else "units released"))]
        leak = next((e for e in events if e.kind == "leak_started" and e.layer == "gas_mains"
                     and e.time <= opened.time), None) if opened.get("type") == "gas_leak" else None
        for event, text in moments:
            if event is None:
                continue
            marks = {"incident": (layer, [fid], "#d7191c")}
            released = {e.get("unit") for e in mine if e.kind == "unit_released" and e.time < event.time}
            units = sorted({e.get("unit") for e in mine if e.kind == "unit_arrived" and e.time <= event.time}
                           - released)
            if leak is not None:
                marks["leaking main"] = ("gas_mains", [leak.feature], "#fdae61")
            out.append((f"{iso(event.time)}: {text}; the alarmed {layer.rstrip('s')} in red under the pin"
                        + ("" if leak is None else ", the leaking gas main in orange")
                        + (f"; units on scene (blue): {', '.join(units)}" if units else "; no unit on scene"),
                        (layer, fid, len(units)), marks))
    return out
