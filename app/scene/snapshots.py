"""Pictures of the 3D view at a run's key moments, for the reports (off screen).

:func:`key_moments` draws the twin once and, for each moment the water
network kept (the break, the valves closed, the repair done), colours the
junctions by the pressure EPANET gave then: (caption, PNG bytes) pairs that
:mod:`simulation.session.report` and :mod:`simulation.drill.report` put in
their HTML.
"""

from __future__ import annotations


def key_moments(session, size=(960, 600)) -> list[tuple[str, bytes]]:
    """The 3D view at the water network's key moments: junctions coloured by pressure (m), plan view."""
    water = getattr(session, "water", None)
    if water is None or not water.snapshots or not len(session.twin["water_junctions"]):
        return []
    import io

    from PIL import Image

    from app.scene.scene import Scene
    from simulation.clock import iso

    scene = Scene(session.twin, window_size=size)
    try:
        scene.show("water_junctions", True)
        scene.camera("top")
        shots = []
        for what, t, pressure in water.snapshots:
            scene.set_result("water_junctions", "pressure_now", pressure)
            scene.color_by("water_junctions", "pressure_now", cmap="RdYlBu", clim=(0.0, 60.0), unit="m")
            buf = io.BytesIO()
            Image.fromarray(scene.screenshot()).save(buf, format="PNG", optimize=True)
            shots.append((f"{iso(t)}: {what}; junctions coloured by pressure (m)", buf.getvalue()))
        return shots
    finally:
        scene.close()
