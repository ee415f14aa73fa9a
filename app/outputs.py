"""Every path a command writes is checked before any work starts.

Outputs are named by their option (``--out``, ``-o``, ``--log``, ``--movie``);
what each must be depends on the command (a folder of results, a project, a
picture, a log).  :func:`check` refuses, in one line naming the option and the
path: a file where a folder is expected, a folder where a file is expected,
an existing file of another kind than the output (via
:func:`twin.atomic.check_target`, the guard every writer also passes), and an
output that is one of the command's own inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

from twin.atomic import OutputRefused, check_target

#: command module -> {dest: kind}; kind "folder" for a folder of results, else a kind of twin.atomic.
OUTPUTS = {
    "hydraulics": {"out": "folder"},
    "emergency": {"out": "folder"},
    "start": {"out": "folder"},
    "render": {"out": "png", "movie": "by-suffix"},
    "import_": {"out": "project"},
    "demo": {"output": "project"},
    "sensors": {"log": "by-suffix"},
    "run": {"out": "folder"},
    "drill": {"out": "folder"},
}
_OPTION = {"out": "--out", "output": "--output", "log": "--log", "movie": "--movie"}
_MOVIE = {".gif": "gif", ".mp4": "mp4", ".json": "json"}


def _inputs(args, outputs: set[str]) -> list[tuple[str, Path]]:
    found = []
    for dest, value in vars(args).items():
        if dest in outputs or dest in ("func", "command"):
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v and os.path.isfile(v):
                found.append((dest, Path(v)))
    return found


def check(args) -> None:
    """Raise OutputRefused for the first output of ``args`` that must not be written."""
    module = getattr(getattr(args, "func", None), "__module__", "").rsplit(".", 1)[-1]
    wanted = OUTPUTS.get(module, {})
    outputs = {d for d in wanted if getattr(args, d, None)}
    inputs = _inputs(args, outputs)
    for dest in sorted(outputs):
        path = Path(getattr(args, dest))
        option = _OPTION.get(dest, f"--{dest}")
        kind = wanted[dest]
        if kind == "by-suffix":
            kind = _MOVIE.get(path.suffix.lower(), "text")
        if kind == "folder":
            if path.exists() and not path.is_dir():
                raise OutputRefused(f"{path}: {option} is a file; a folder for the results is expected")
            continue
        for in_dest, source in inputs:
            if path.exists() and os.path.samefile(path, source):
                raise OutputRefused(f"{path}: {option} is also the input ({in_dest}); refusing to write over "
                                    "an input")
        check_target(path, kind)
