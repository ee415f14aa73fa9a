"""EPANET 2.3, the authority on what a network means: the toolkit library, and opening .inp text with it.

Every analysis in Lifeline Twin hands EPANET the network text exactly as it
was imported.  This module loads the EPANET 2.3 library shipped with
``owa-epanet`` (through ctypes: its SWIG wrapper hides EPANET's warning codes)
and offers the two things the twin itself needs from it:

* :func:`open_errors`: whether EPANET opens a text, and if not, EPANET's own
  error lines (``Error 205: undefined time pattern ... in [SOURCES] section``)
  with the line of the text each one is about;
* :func:`rewrite`: the text as EPANET itself writes it back
  (``EN_saveinpfile``), a canonical spelling that helper libraries with
  stricter readers (WNTR) can parse.  It is never stored and never solved.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
from pathlib import Path

from twin.errors import SourceError

_LIB = None


def library() -> ctypes.CDLL:
    """The EPANET 2.3 shared library shipped with owa-epanet (loaded once per process)."""
    global _LIB
    if _LIB is None:
        import epanet

        path = Path(epanet.__file__).with_name("libepanet2.so")
        if not path.exists():  # Windows / macOS wheels name it differently
            found = [p for p in Path(epanet.__file__).parent.iterdir() if p.name.startswith(("libepanet", "epanet2"))
                     and p.suffix in (".so", ".dll", ".dylib")]
            if not found:
                raise SourceError(f"owa-epanet is installed but its EPANET library is missing in {path.parent}")
            path = found[0]
        # PyDLL keeps the GIL during calls: a solve is a few hundred short calls, and inside a Dask
        # worker (event loop and profiler threads) re-taking the GIL after each one cost 3x.
        lib = ctypes.PyDLL(str(path))
        p, i, d, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
        lp, ip, dp = ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)
        sig = {
            "EN_createproject": [ctypes.POINTER(p)], "EN_deleteproject": [p], "EN_open": [p, c, c, c],
            "EN_close": [p], "EN_saveinpfile": [p, c], "EN_getcount": [p, i, ip], "EN_getnodeid": [p, i, c],
            "EN_getlinkid": [p, i, c], "EN_getnodetype": [p, i, ip], "EN_getlinktype": [p, i, ip],
            "EN_getlinknodes": [p, i, ip, ip], "EN_setlinknodes": [p, i, i, i],
            "EN_getflowunits": [p, ip], "EN_setflowunits": [p, i], "EN_getoption": [p, i, dp], "EN_setoption": [p, i, d],
            "EN_gettimeparam": [p, i, lp], "EN_settimeparam": [p, i, ctypes.c_long],
            "EN_openH": [p], "EN_initH": [p, i], "EN_runH": [p, lp], "EN_nextH": [p, lp], "EN_closeH": [p],
            "EN_solveH": [p], "EN_openQ": [p], "EN_initQ": [p, i], "EN_runQ": [p, lp], "EN_nextQ": [p, lp],
            "EN_closeQ": [p], "EN_setqualtype": [p, i, c, c, c], "EN_getqualtype": [p, ip, ip],
            "EN_getnodevalues": [p, i, dp], "EN_getlinkvalues": [p, i, dp],
            "EN_getnodevalue": [p, i, i, dp], "EN_setnodevalue": [p, i, i, d],
            "EN_getlinkvalue": [p, i, i, dp], "EN_setlinkvalue": [p, i, i, d],
            "EN_addcontrol": [p, i, i, d, i, d, ip], "EN_deletecontrol": [p, i],
            "EN_setcontrolenabled": [p, i, i], "EN_getcontrol": [p, i, ip, ip, dp, ip, dp],
            "EN_setruleenabled": [p, i, i],
            "EN_setdemandmodel": [p, i, d, d, d], "EN_getdemandmodel": [p, ip, dp, dp, dp], "EN_geterror": [i, c, i],
            "EN_addpattern": [p, c], "EN_getpatternindex": [p, c, ip], "EN_setpattern": [p, i, dp, i],
            "EN_getpatternlen": [p, i, ip], "EN_getpatternvalue": [p, i, i, dp], "EN_setpatternvalue": [p, i, i, d],
            "EN_deletepattern": [p, i], "EN_adddemand": [p, i, d, c, c], "EN_deletedemand": [p, i, i],
            "EN_getnumdemands": [p, i, ip],
            "EN_addnode": [p, c, i, ip], "EN_addlink": [p, c, i, c, c, ip],
            "EN_setjuncdata": [p, i, d, d, c], "EN_setcoord": [p, i, d, d], "EN_getcoord": [p, i, dp, dp],
        }
        for name, args in sig.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = ctypes.c_int
        _LIB = lib
    return _LIB


def message(code: int) -> str:
    """EPANET's own text for an error or warning code."""
    buf = ctypes.create_string_buffer(256)
    library().EN_geterror(code, buf, 255)
    text = buf.value.decode(errors="replace").strip()
    return text or f"EPANET error {code}"


_ERROR_LINE = re.compile(r"^\s*Error\s+(\d{3}):\s*(.*?)\s*$")
_SECTION = re.compile(r"\[(\w+)\]")


def _located(report: str, text: str) -> list[str]:
    """EPANET's error lines from a report, each with the line of ``text`` it quotes.

    EPANET 2.3 writes ``Error 213: illegal option value in [OPTIONS] section:``
    followed by the offending line itself; that line is looked up in ``text``
    (within the named section) to give its number.
    """
    rows = report.splitlines()
    lines = text.splitlines()
    out: list[str] = []
    for k, row in enumerate(rows):
        m = _ERROR_LINE.match(row)
        if not m:
            continue
        detail = m.group(2).rstrip(":").strip()
        quoted = rows[k + 1].strip() if k + 1 < len(rows) and not _ERROR_LINE.match(rows[k + 1]) else ""
        where = ""
        if quoted:
            section = _SECTION.search(detail)
            number = _find_line(lines, quoted, section.group(1) if section else None)
            shown = " ".join(quoted.split(";")[0].split())[:120] or quoted[:120]
            where = f" (line {number}: {shown})" if number else f" ({shown})"
        out.append(f"Error {m.group(1)}: {detail}{where}")
    # 200 only says "one or more errors in input file": the lines before it are the errors
    specific = [e for e in out if not e.startswith("Error 200:")]
    return specific or out


def _find_line(lines: list[str], quoted: str, section: str | None) -> int | None:
    want = quoted.split()
    current = None
    for no, content in enumerate(lines, start=1):
        head = content.strip()
        if head.startswith("[") and quoted.startswith("[") and head.split()[0].upper() == quoted.split()[0].upper():
            return no
        if head.startswith("["):
            current = head.strip("[]").split("]")[0].upper()
            continue
        if section and current != section.upper():
            continue
        if content.split(";")[0].split() == want or content.strip() == quoted:
            return no
    return None


#: Encodings a network file is read in: UTF-8 when its bytes are UTF-8, else Latin-1 (every byte one
#: character), so that ``text.encode(encoding)`` gives EPANET the file's own bytes back.
ENCODINGS = ("utf-8", "latin-1")


def decode(raw: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a network file's bytes; ``text.encode(encoding) == raw`` always."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # EPANET reads bytes: a Latin-1 file (accents in IDs, comments, labels) is as valid as UTF-8
        return raw.decode("latin-1"), "latin-1"


def encode(text: str, encoding: str = "utf-8") -> bytes:
    """The bytes EPANET is given for ``text`` read in ``encoding`` (the file's own bytes)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"network text encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    return text.encode(encoding)


class _Opened:
    """One EPANET project opened from text in a private folder (a context manager)."""

    def __init__(self, text: str, encoding: str = "utf-8"):
        self.lib = library()
        self.encoding = encoding
        self.dir = tempfile.mkdtemp(prefix="lifeline-epanet-")
        self.inp = os.path.join(self.dir, "network.inp")
        self.rpt = os.path.join(self.dir, "network.rpt")
        with open(self.inp, "wb") as fh:
            fh.write(encode(text, encoding))
        self.ph = ctypes.c_void_p()
        self.lib.EN_createproject(ctypes.byref(self.ph))
        self.code = self.lib.EN_open(self.ph, self.inp.encode(), self.rpt.encode(), b"")
        self.closed = False

    def report(self) -> str:
        """The report file; EPANET flushes it when the project is closed, so this closes it."""
        if not self.closed:
            self.lib.EN_close(self.ph)
            self.closed = True
        try:
            return Path(self.rpt).read_bytes().decode(self.encoding, errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if not self.closed:
                self.lib.EN_close(self.ph)
            self.lib.EN_deleteproject(self.ph)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def open_errors(text: str, encoding: str = "utf-8") -> list[str]:
    """EPANET's error lines for ``text`` (empty when EPANET 2.3 opens it), given as ``text.encode(encoding)``."""
    with _Opened(text, encoding) as opened:
        if opened.code <= 100:
            return []
        found = _located(opened.report(), text)
        return found or [f"Error {opened.code}: {message(opened.code)}"]


def check(text: str, source: str, encoding: str = "utf-8") -> None:
    """Raise one :class:`SourceError` naming ``source`` with EPANET's own reasons when it refuses ``text``
    given as ``text.encode(encoding)`` (the imported file's own bytes)."""
    errors = open_errors(text, encoding)
    if errors:
        shown = errors[:8]
        more = f"; and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise SourceError(f"{source}: EPANET 2.3 cannot open the network: {'; '.join(shown)}{more}")


#: EPANET 2.3 flow-unit codes (CFS ... CMD) that EPANET 2.2 and its readers (WNTR 1.5) know; 2.3 adds CMS (10).
FLOW_UNITS_22 = range(0, 10)
LPS = 5


def rewrite(text: str, encoding: str = "utf-8", *, units_22: bool = False) -> str:
    """``text`` as EPANET 2.3 writes it back (``EN_saveinpfile``); raises SourceError when EPANET refuses it.

    ``units_22``: a network in a flow unit new in 2.3 (CMS) is written in LPS,
    EPANET itself converting every flow quantity (``EN_setflowunits``), for
    readers that only know 2.2's units.  The text is in ``encoding``, like the input.
    """
    with _Opened(text, encoding) as opened:
        if opened.code > 100:
            raise SourceError("; ".join(_located(opened.report(), text)) or message(opened.code))
        if units_22:
            units = ctypes.c_int()
            opened.lib.EN_getflowunits(opened.ph, ctypes.byref(units))
            if units.value not in FLOW_UNITS_22:
                code = opened.lib.EN_setflowunits(opened.ph, LPS)
                if code > 100:
                    raise SourceError(f"EPANET could not convert the network to LPS: {message(code)}")
        out = os.path.join(opened.dir, "rewritten.inp")
        code = opened.lib.EN_saveinpfile(opened.ph, out.encode())
        if code > 100:
            raise SourceError(f"EPANET could not write the network back: {message(code)}")
        return Path(out).read_bytes().decode(encoding, errors="replace")
