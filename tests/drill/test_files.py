"""Drill and actions files: validation with one error naming the file, the line and the field; the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulation.drill.model import SCHEMA_PATH, json_schema, load_actions, load_drill
from tests.drill.conftest import DRILL, DRILLS
from twin.errors import SourceError


def test_the_published_json_schema_is_the_drill_model():
    """docs/drill.schema.json is what the validator enforces (regenerate: python -m simulation.drill.model)."""
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(json_schema()))
    assert json_schema()["additionalProperties"] is False


def test_the_shipped_drill_and_actions_load():
    drill, scenario, _ = load_drill(DRILL)
    assert [i.number for i in drill.injects] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert drill.inject(1).trigger.on == "alarm_raised"  # `on` (YAML true) read as the key it is
    assert scenario.start == "2026-06-01T07:00:00Z" and scenario.duration_h == 6
    for name in ("good", "late"):
        assert load_actions(DRILLS / f"main-burst-{name}.yaml", drill).actions


def _write(tmp_path, text: str, name="d.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = DRILL.read_text().replace("scenario: ../main-burst.yaml",
                                 f"scenario: {DRILLS.parent / 'main-burst.yaml'}")


@pytest.mark.parametrize("old, new, says", [
    ("    method: phone\n    message: \"Caller", "    method: pigeon\n    message: \"Caller",
     "line 45: field injects.1.method: Input should be 'phone', 'radio', 'sensor' or 'message'"),
    ("    trigger: {after: 1, delay_min: 3}", "    trigger: {after: 2, delay_min: 3}",
     "line 42: field injects.1.trigger.after: injects 2 and 2 trigger each other"),
    ("deadline_min: 5, objective: O1}", "deadline_min: 5, objective: O9}",
     "line 39: field injects.0.expect.0.objective: no objective 'O9'"),
    ("duration_h: 6\n", "duration_h: 6\nrehearsal: yes\n", "line 12: field rehearsal: unknown key"),
    ("    trigger: {at: \"08:00\"}", "    trigger: {at: \"08:00\", controller: true}",
     "line 68: field injects.3.trigger: give exactly one of at, after, on, controller"),
    ("    trigger: {at: \"08:00\"}", "    trigger: {at: \"14:00\"}",
     "line 68: field injects.3.trigger.at: falls outside the exercise"),
])
def test_a_bad_drill_gives_one_error_naming_file_line_and_field(tmp_path, old, new, says):
    assert old in BASE
    path = _write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(SourceError) as err:
        load_drill(path)
    assert str(err.value) == f"{path}: {says}"


def test_a_bad_actions_file_gives_one_error(tmp_path):
    drill, _, _ = load_drill(DRILL)
    path = _write(tmp_path, "actions:\n  - {at: \"07:40\", role: control_room, action: verify}\n"
                            "  - {inject: 2, after_s: 60, role: control_room, action: dispach}\n", "a.yaml")
    with pytest.raises(SourceError) as err:
        load_actions(path, drill)
    assert str(err.value).startswith(f"{path}: line 3: field actions.1.action: Input should be 'acknowledge'")
    path = _write(tmp_path, "actions:\n  - {inject: 12, after_s: 60, role: control_room, action: verify}\n", "b.yaml")
    with pytest.raises(SourceError, match="line 2: field actions.0.inject: no inject 12 in the drill"):
        load_actions(path, drill)


def test_features_valves_and_units_the_city_lacks_are_refused(demo_twin, tmp_path):
    from simulation.drill.model import check_features

    units = ["FS15/water_crew-1", "FS15/water_crew-2"]
    drill, _, _ = load_drill(DRILL)
    check_features(DRILL, drill, demo_twin, units)  # the shipped drill is right
    path = _write(tmp_path, BASE.replace("location: {layer: water_pipes, id: P-83}",
                                         "location: {layer: water_pipes, id: P-9999}", 1))
    drill, _, _ = load_drill(path)
    with pytest.raises(SourceError) as err:
        check_features(path, drill, demo_twin, units)
    assert str(err.value) == f"{path}: line 47: field injects.1.location.id: no feature 'P-9999' in water_pipes"
    path = _write(tmp_path, BASE.replace("parameters: {valves: [IV00128, IV00884]}",
                                         "parameters: {valves: [IV00128, IV99999]}"), "v.yaml")
    drill, _, _ = load_drill(path)
    with pytest.raises(SourceError, match=r"line 63: field injects.2.expect.0.parameters.valves: no valve 'IV99999'"):
        check_features(path, drill, demo_twin, units)
    drill, _, _ = load_drill(DRILL)
    actions_path = _write(tmp_path, "actions:\n  - {inject: 2, after_s: 60, role: control_room, action: dispatch,"
                                    " parameters: {units: [FS99/crew]}}\n", "a.yaml")
    actions = load_actions(actions_path, drill)
    with pytest.raises(SourceError) as err:
        check_features(DRILL, drill, demo_twin, units, actions_path, actions)
    assert str(err.value) == (f"{actions_path}: line 2: field actions.0.parameters.units: "
                              "no unit 'FS99/crew' in the city")
