"""EPANET 2.3's own solve of a file on disk, written independently of the project's Solver and Network.

The reference the round-trip tests compare against: the file opened by path
with ``EN_open``, solved step by step, heads and flows read at every report
time and converted to SI (m, L/s) with EPANET's own unit conventions.
"""

from __future__ import annotations

import ctypes
import os
import tempfile

import numpy as np

from twin.epanet import library

HEAD, FLOW = 10, 8
NODECOUNT, LINKCOUNT = 0, 2
REPORTSTEP, REPORTSTART = 5, 6
LPS_PER_UNIT = {0: 28.316846592, 1: 0.0630901964, 2: 43.812636389, 3: 52.616782, 4: 14.276410185,
                5: 1.0, 6: 1 / 60.0, 7: 11.574074074, 8: 1 / 3.6, 9: 1 / 86.4, 10: 1000.0}
US_UNITS = {0, 1, 2, 3, 4}


def solve_file(path, edits=()) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """(times s, heads m [time, node], flows L/s [time, link], node ids, link ids) of the file at ``path``.

    ``edits`` are (link id, EPANET property code, value in the file's units)
    applied with ``EN_setlinkvalue`` before solving.
    """
    lib = library()
    ph = ctypes.c_void_p()
    lib.EN_createproject(ctypes.byref(ph))
    folder = tempfile.mkdtemp(prefix="reference-")
    try:
        code = lib.EN_open(ph, str(path).encode(), os.path.join(folder, "r.rpt").encode(), b"")
        assert code <= 100, f"EPANET refuses {path}: {code}"
        n, m, u = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.EN_getcount(ph, NODECOUNT, ctypes.byref(n))
        lib.EN_getcount(ph, LINKCOUNT, ctypes.byref(m))
        lib.EN_getflowunits(ph, ctypes.byref(u))
        buf = ctypes.create_string_buffer(64)
        nodes, links = [], []
        for i in range(1, n.value + 1):
            lib.EN_getnodeid(ph, i, buf)
            nodes.append(buf.value.decode())
        for i in range(1, m.value + 1):
            lib.EN_getlinkid(ph, i, buf)
            links.append(buf.value.decode())
        for link, prop, value in edits:
            lib.EN_setlinkvalue(ph, links.index(link) + 1, prop, float(value))
        step, start = ctypes.c_long(), ctypes.c_long()
        lib.EN_gettimeparam(ph, REPORTSTEP, ctypes.byref(step))
        lib.EN_gettimeparam(ph, REPORTSTART, ctypes.byref(start))
        rstep = step.value or 3600
        heads, flows, times = [], [], []
        h = np.zeros(n.value)
        q = np.zeros(m.value)
        lib.EN_openH(ph)
        lib.EN_initH(ph, 0)
        t, tstep = ctypes.c_long(), ctypes.c_long()
        while True:
            lib.EN_runH(ph, ctypes.byref(t))
            if t.value >= start.value and (t.value - start.value) % rstep == 0 and (not times or times[-1] != t.value):
                lib.EN_getnodevalues(ph, HEAD, h.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
                lib.EN_getlinkvalues(ph, FLOW, q.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
                times.append(t.value)
                heads.append(h.copy())
                flows.append(q.copy())
            lib.EN_nextH(ph, ctypes.byref(tstep))
            if tstep.value <= 0:
                break
        lib.EN_closeH(ph)
        length = 0.3048 if u.value in US_UNITS else 1.0
        return (np.asarray(times, float), np.vstack(heads) * length, np.vstack(flows) * LPS_PER_UNIT[u.value],
                nodes, links)
    finally:
        lib.EN_close(ph)
        lib.EN_deleteproject(ph)
        for f in os.listdir(folder):
            os.unlink(os.path.join(folder, f))
        os.rmdir(folder)
