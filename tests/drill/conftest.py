"""The shipped main-burst drill, played once per module with each shipped actions file."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.drill.controller import play
from simulation.drill.model import load_actions, load_drill
from simulation.drill.scoring import score

DRILLS = Path(__file__).resolve().parents[2] / "scenarios" / "drills"
DRILL = DRILLS / "main-burst-drill.yaml"


def played(name: str, demo_twin, change=None):
    drill, scenario, folder = load_drill(DRILL)
    actions = load_actions(DRILLS / f"main-burst-{name}.yaml", drill)
    if change is not None:
        change(actions)
    session, controller = play(drill, scenario, folder, actions, twin=demo_twin)
    return {"drill": drill, "scenario": scenario, "actions": actions, "session": session,
            "controller": controller, "scores": score(controller, actions)}


@pytest.fixture(scope="package")
def good(demo_twin):
    return played("good", demo_twin)


@pytest.fixture(scope="package")
def late(demo_twin):
    return played("late", demo_twin)
