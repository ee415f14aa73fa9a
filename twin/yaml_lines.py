"""Reading a YAML input file, and where a key sits in it: the line an error message names.

Every YAML input of the program (scenarios, emergency configurations,
retrofit plans) is read with ``yaml.safe_load`` and validated; an error names
the file, the line and the field path.  :func:`line_of` finds that line from
the field path (mapping keys and list indices, as pydantic's ``loc`` gives it)
in the document composed by ``yaml.compose``, which keeps line numbers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from twin.errors import SourceError


def read_yaml(path, what: str):
    """(text, data) of the YAML file ``path``; one SourceError naming the file (and the line) otherwise.

    ``what`` names the kind of file in the message (``no such scenario file``).
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such {what} file")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise SourceError(f"{path}: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return text, data


def line_of(document, path) -> int | None:
    """The 1-based line of ``path`` in ``document`` (YAML text or a composed node).

    Follows the path as far as the document goes and returns the line of the
    deepest key found (None when not even the first key is there, or the text
    is not YAML).
    """
    if isinstance(document, str):
        try:
            document = yaml.compose(document)
        except yaml.YAMLError:
            return None
    node, line = document, None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == str(part):
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
