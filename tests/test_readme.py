"""The README works as written, top to bottom, for a newcomer (issue 10, item 8).

Every ```sh block of README.md runs, in the README's order, as one bash script
(``set -e``, each command traced), and every ```python block with the venv's
python — except a block right after a ``<!-- readme-test: skip (why) -->`` line
(the one that installs packages).  They run where the README says to run them,
the project's root folder, rebuilt in a temporary folder::

    tmp/project/                 scenarios/ and assets/examples/ copied, .venv linked; out/ written
    tmp/shared/data -> ../shared/data beside the real project (the public data sets)

with the venv's ``bin`` first on ``PATH`` and no display (a newcomer's server).

Long commands run with smaller options: every change is a row of
:data:`SMALLER` (README text -> what runs), and a row whose README text is no
longer in the README fails the test, so the table cannot drift from it.
:data:`LOCAL` points the live-feed example at a broker on a free port.

Each block must exit 0, write non-empty outputs (``-o``, ``--out``,
``--movie``, ``--project``, ``> file``) and keep stderr free of tracebacks, VTK's
"bad X server connection", Dask's "port ... already in use" and multiprocessing's
"leaked semaphore" warnings; the retrofit must name its stages as it goes.

Commands reading ``../shared/data`` are left out when it is absent (the rest of
their block still runs) and the block is then skipped with the reason — or
fails when ``CI=true``, as in ``tests/shared_data.py``.  Without the broker
(mosquitto) the live-feed block is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared_data import ROOT, SHARED

README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
#: Files and folders of the project the README's commands read, copied into the temporary root.
PROJECT_FILES = ("scenarios", "assets/examples")

#: Smaller options for long commands: (text in README.md, text that runs). About 2.5 minutes in all on
#: two cores instead of about 15.
SMALLER = [
    # a 320x200 picture instead of 1600x1000 (4 renders, one with a 25-frame movie)
    ("lifeline-twin render out/demo.gpkg --out", "lifeline-twin render out/demo.gpkg --size 320x200 --out"),
    # 20 of L-Town's 905 pipes over 2 h, not all over a day
    ("criticality ../shared/data/ltown/L-TOWN.inp --duration 24 --json",
     "criticality ../shared/data/ltown/L-TOWN.inp --duration 2 --sample 20 --json"),
    # 20 of the demo town's 1,412 hydrants
    ("hydraulics fire-flow out/demo.gpkg --out", "hydraulics fire-flow out/demo.gpkg --sample 20 --out"),
    # 10 pipe closures over 2 h, twice, instead of 905 over a day
    ("--duration 24 --out out/ltown-retrofit", "--duration 2 --sample 10 --out out/ltown-retrofit"),
    # 10 days twice instead of a year five times
    ("--days 365 --replications 5", "--days 10 --replications 2"),
    # 40 candidate sites instead of 400
    ("site-stations out/demo.gpkg --add 2 --minutes 5", "site-stations out/demo.gpkg --add 2 --minutes 5 --candidates 40"),
    # the same frames and alarms without waiting 8.6 s of wall time
    ("--to 2024-05-02T00:00Z --speed 10000", "--to 2024-05-02T00:00Z --speed 10000 --instant"),
]

SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\b(.*?)-->")
BAD_STDERR = {
    "Traceback": "a traceback",
    "bad X server connection": "VTK's X server warning",
    "already in use": "a port already in use (Dask)",
    "leaked semaphore": "leaked semaphores (multiprocessing)",
}


def readme_blocks(text: str) -> list[dict]:
    """The fenced blocks of the README, in order: language, code, line and skip reason (or None)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        skip = SKIP_MARK.search(before)
        blocks.append({"lang": m.group(1), "code": "\n".join(body) + "\n", "line": start + 1,
                       "skip": (skip.group(1).strip(" ()") or "marked") if skip else None})
        i += 1
    return blocks


def commands(code: str) -> list[str]:
    """The logical lines of a shell block: continuations joined, blank lines dropped."""
    out, cur = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1].rstrip() + " "
            continue
        cur += line.strip()
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    return out


def outputs(command: str) -> list[str]:
    """Files or folders a command says it writes."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return []
    found = []
    for flag, value in zip(words, words[1:]):
        if flag in ("-o", "--out", "--output", "--movie", "--project", ">"):
            found.append(value)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto() -> str | None:
    exe = os.environ.get("LIFELINE_MOSQUITTO", "/usr/sbin/mosquitto")
    return exe if Path(exe).exists() else shutil.which("mosquitto")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: CI must run every README example")
    pytest.skip(reason)


BLOCKS = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b["lang"] in ("sh", "python")]
PORT = _free_port()
#: The live-feed example on a free port with the broker found here (README: /usr/sbin/mosquitto on 1883).
LOCAL = [("/usr/sbin/mosquitto -p 1883", f"{_mosquitto() or 'mosquitto'} -p {PORT}"),
         ("127.0.0.1:1883", f"127.0.0.1:{PORT}")]


def test_every_smaller_option_is_in_the_readme():
    joined = "\n".join(cmd for b in BLOCKS if b["lang"] == "sh" for cmd in commands(b["code"]))
    for readme_text, _ in SMALLER + LOCAL:
        assert readme_text in joined, f"SMALLER/LOCAL row not in README.md's commands: {readme_text!r}"
    assert any(b["skip"] for b in BLOCKS), "the bootstrap block is marked as not run"
    assert "lifeline-twin --version" in joined


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("newcomer")
    project = base / "project"
    project.mkdir()
    for rel in PROJECT_FILES:
        shutil.copytree(ROOT / rel, project / rel)
    (project / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    if SHARED.exists():
        (base / "shared").mkdir()
        (base / "shared" / "data").symlink_to(SHARED.resolve(), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "LIFELINE_PROGRESS")}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", QT_API="pyqt6", PYTHONUNBUFFERED="1")
    return {"dir": project, "env": env, "failed": []}


def _check_stderr(stderr: str, where: str) -> None:
    for needle, what in BAD_STDERR.items():
        assert needle.lower() not in stderr.lower(), f"{where}: {what} on stderr:\n{stderr[-4000:]}"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b['line']}-{b['lang']}" for b in BLOCKS])
def test_readme_block(block, workspace):
    if block["skip"]:
        pytest.skip(f"README.md line {block['line']}: {block['skip']}")
    if workspace["failed"]:
        pytest.skip(f"an earlier README block failed (line {workspace['failed'][0]})")
    where = f"README.md line {block['line']}"
    cwd, env = workspace["dir"], workspace["env"]
    if block["lang"] == "python":
        proc = subprocess.run([str(VENV_BIN / "python"), "-c", block["code"]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode:
            workspace["failed"].append(block["line"])
        assert proc.returncode == 0, f"{where}: python exited {proc.returncode}:\n{proc.stderr[-4000:]}"
        assert proc.stdout.strip(), f"{where}: printed nothing"
        _check_stderr(proc.stderr, where)
        return
    kept, left_out = [], []
    for cmd in commands(block["code"]):
        if "../shared/data" in cmd and not SHARED.exists():
            left_out.append(cmd)
            continue
        if cmd.startswith("/usr/sbin/mosquitto") and not _mosquitto():
            _skip_or_fail(f"{where}: mosquitto is not installed (./bootstrap install puts it in /usr/sbin)")
        for readme_text, run_text in SMALLER + LOCAL:
            cmd = cmd.replace(readme_text, run_text)
        kept.append(cmd)
    # a background broker is stopped however the block ends
    script = "set -eo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -x\n" + "\n".join(kept) + "\n"
    t0 = time.monotonic()
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - t0
    if proc.returncode:
        workspace["failed"].append(block["line"])
    assert proc.returncode == 0, (f"{where}: exited {proc.returncode} after {seconds:.0f} s\n"
                                  f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}")
    _check_stderr(proc.stderr, where)
    for cmd in kept:
        for out in [] if cmd.endswith("&") else outputs(cmd):  # a background job may not have written yet
            path = cwd / out
            assert path.exists(), f"{where}: {cmd!r} did not write {out}"
            if path.is_dir():
                assert any(path.iterdir()), f"{where}: {cmd!r} left {out} empty"
            else:
                assert path.stat().st_size > 0, f"{where}: {cmd!r} wrote an empty {out}"
        if "hydraulics retrofit" in cmd:
            assert "retrofit [1/6]" in proc.stderr and "retrofit [6/6]" in proc.stderr, \
                f"{where}: the retrofit did not name its stages on stderr:\n{proc.stderr[-3000:]}"
    if "sensors record" in block["code"]:
        assert "RED" in proc.stdout and "1,440 readings stored" in proc.stdout, proc.stdout[-3000:]
    if left_out:
        _skip_or_fail(f"{where}: ran {len(kept)} command(s); {len(left_out)} need {SHARED}, which is absent")
