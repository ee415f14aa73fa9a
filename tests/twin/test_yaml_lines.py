"""The line an input error names is the line of the field path, not the first line with the same key."""

from __future__ import annotations

import pytest

from twin.errors import SourceError
from twin.yaml_lines import line_of

TEXT = """name: two breaks
breaks:
  - pipe: P1
    at: "07:30"
  - pipe: P2
    at: "08:15"
    hole_mm: 80
"""


def test_the_line_of_a_key_inside_the_second_list_item():
    assert line_of(TEXT, ("breaks", 1, "at")) == 6
    assert line_of(TEXT, ("breaks", 0, "at")) == 4
    assert line_of(TEXT, ("breaks", 1)) == 5
    assert line_of(TEXT, ("name",)) == 1


def test_a_path_that_leaves_the_document_gives_the_deepest_line_found():
    assert line_of(TEXT, ("breaks", 1, "colour")) == 5
    assert line_of(TEXT, ("breaks", 7, "at")) == 2
    assert line_of(TEXT, ("nothing",)) is None
    assert line_of("key: [unclosed", ("key",)) is None


def test_a_scenario_error_names_the_line_of_the_second_break(tmp_path):
    from simulation.session.scenario import load_scenario

    src = (tmp_path / "s.yaml")
    src.write_text("""name: two breaks
twin: {demo_seed: 7}
start: "2026-06-01T00:00:00Z"
duration_h: 2
breaks:
  - {pipe: P1, at: "00:30"}
  - pipe: P2
    at: "00:45"
    hole: 80
""")
    with pytest.raises(SourceError) as err:
        load_scenario(src)
    assert str(err.value) == f"{src}: line 9: field breaks.1.hole: unknown key"
