"""EPANET 2.3 in memory: open a network once, then modify, solve, read and restore it per scenario.

This is the engine under every hydraulic analysis.  WNTR's ``EpanetSimulator``
writes an .inp, a report and a binary file for every run and reads them back;
here one :class:`Solver` per worker process opens the network once (from .inp
text written once to a private temporary folder) and keeps EPANET's project in
memory.  A scenario changes a few values (:meth:`Solver.set_link`,
:meth:`Solver.set_node`, timer controls), runs the extended period with
``runH``/``nextH``, reads node and link values in bulk (``EN_getnodevalues``,
new in EPANET 2.3) straight into numpy buffers, and puts every changed value
back, so the next scenario starts from the original network.

The EPANET library is the one shipped with ``owa-epanet`` (2.3), called through
ctypes rather than its SWIG wrapper because the wrapper hides EPANET's warning
codes (it only says "WARNING"), and a non-converged ("unbalanced") solution must
be told apart from a harmless negative-pressure warning.

Values come out in SI (m, m³/s, m/s) whatever the network's units, converted
with WNTR's own factors so they compare one to one with WNTR's results.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.hydraulics.demand import DemandModel
from twin.epanet import library  # the one loader of EPANET's library
from twin.errors import SourceError

# EPANET 2.3 toolkit codes (epanet2_enums.h).
NODECOUNT, TANKCOUNT, LINKCOUNT, PATCOUNT, CONTROLCOUNT, RULECOUNT = 0, 1, 2, 3, 5, 6
JUNCTION, RESERVOIR, TANK = 0, 1, 2
CVPIPE, PIPE, PUMP = 0, 1, 2
DURATION, HYDSTEP, QUALSTEP, PATTERNSTEP, PATTERNSTART, REPORTSTEP, REPORTSTART = 0, 1, 2, 3, 4, 5, 6
STARTTIME = 10
# node properties
ELEVATION, BASEDEMAND, PATTERN, EMITTER, INITQUAL, SOURCEQUAL, SOURCEPAT, SOURCETYPE = 0, 1, 2, 3, 4, 5, 6, 7
TANKLEVEL, DEMAND, HEAD, PRESSURE, QUALITY = 8, 9, 10, 11, 12
DEMANDDEFICIT, EMITTERFLOW, LEAKAGEFLOW, DEMANDFLOW, FULLDEMAND = 27, 29, 30, 31, 32
# link properties
DIAMETER, LENGTH, ROUGHNESS, MINORLOSS, INITSTATUS, INITSETTING = 0, 1, 2, 3, 4, 5
FLOW, VELOCITY, HEADLOSS, STATUS, SETTING = 8, 9, 10, 11, 12
LEAK_AREA, LEAK_EXPAN, LINK_LEAKAGE = 26, 27, 28
# controls, demand models, quality
TIMER = 2
DDA, PDA = 0, 1
QUAL_NONE, QUAL_CHEM, QUAL_AGE, QUAL_TRACE = 0, 1, 2, 3
MASS_SOURCE = 1
PRESS_UNITS = 25  # EN_PRESS_UNITS option
ACCURACY = 1

#: EPANET warning codes returned by runH (epanet2_2.h).  Only 1 means the solution is not valid.
UNBALANCED = 1
WARNINGS = {1: "system unbalanced (did not converge)", 2: "hydraulic equations could not be solved",
            3: "system disconnected", 4: "pumps cannot deliver enough flow or head",
            5: "valves cannot deliver enough flow", 6: "negative pressures"}

_FLOW_UNITS = ("CFS", "GPM", "MGD", "IMGD", "AFD", "LPS", "LPM", "MLD", "CMH", "CMD", "CMS")
_US_UNITS = {"CFS", "GPM", "MGD", "IMGD", "AFD"}
# m³/s per flow unit (the factors WNTR uses, so results compare one to one).
_FLOW_TO_SI = {"CFS": 0.0283168466, "GPM": 0.00006309019640343866, "MGD": 0.0438126364,
               "IMGD": 0.05261678, "AFD": 0.014276410185185, "LPS": 0.001, "LPM": 0.000016666666666667,
               "MLD": 0.011574074074074, "CMH": 0.00027777777777778, "CMD": 0.000011574074074074,
               "CMS": 1.0}
_PRESSURE_TO_M = {0: 0.703249614902, 1: 0.1019977334, 2: 1.0, 3: 10.19977334, 4: 0.3048}
_FT = 0.3048


HEADLOSS_FORM = 7  # EN_HEADFORM option: 0 H-W, 1 D-W, 2 C-M


class SolverError(SourceError):
    """EPANET refused the network or a scenario (the message carries EPANET's own words)."""


def _message(code: int) -> str:
    buf = ctypes.create_string_buffer(256)
    library().EN_geterror(code, buf, 255)
    text = buf.value.decode(errors="replace").strip()
    return text or f"EPANET error {code}"


@dataclass
class Run:
    """Raw results of one solve: report times, hydraulic steps and requested arrays (SI)."""

    times: np.ndarray                      # report times, s
    nodes: dict[str, np.ndarray]           # property -> (time, node) at report times
    links: dict[str, np.ndarray]           # property -> (time, link) at report times
    step_times: np.ndarray | None = None   # every hydraulic step (when asked)
    step_lengths: np.ndarray | None = None  # seconds each step's solution holds
    step_nodes: dict[str, np.ndarray] = field(default_factory=dict)
    step_links: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unbalanced_at: float | None = None     # first time EPANET did not converge


NODE_PROPERTIES = {"pressure": PRESSURE, "head": HEAD, "demand": DEMAND, "quality": QUALITY,
                   "demand_deficit": DEMANDDEFICIT, "full_demand": FULLDEMAND, "emitter_flow": EMITTERFLOW,
                   "leakage_flow": LEAKAGEFLOW, "tank_level": TANKLEVEL, "tank_volume": 24}
LINK_PROPERTIES = {"flow": FLOW, "velocity": VELOCITY, "headloss": HEADLOSS, "status": STATUS,
                   "setting": SETTING, "leakage": LINK_LEAKAGE, "energy": 13}
#: EPANET link type codes of valves (2.3 adds PCV).
VALVE_TYPES = {3: "PRV", 4: "PSV", 5: "PBV", 6: "FCV", 7: "TCV", 8: "GPV", 9: "PCV"}


class Solver:
    """One network open in EPANET 2.3, in this process; modify, solve, restore.

    ``Solver(text, name=...)`` writes ``text`` once into a private temporary
    folder (its report file lives there too) and opens it.  Use it as a context
    manager or call :meth:`close`.
    """

    def __init__(self, network, *, name: str | None = None):
        from twin.network import Network

        if isinstance(network, Network):
            # the imported file's own bytes: an ID in Latin-1 is the same ID only in Latin-1
            inp_bytes, edits, name = network.inp_bytes, network.edits, name or network.name
            self.encoding = network.encoding
        else:
            inp_bytes, edits, name = network.encode("utf-8"), (), name or "network"
            self.encoding = "utf-8"
        self.name = name
        self._lib = library()
        self._dir = tempfile.mkdtemp(prefix="lifeline-epanet-")
        inp = os.path.join(self._dir, "network.inp")
        with open(inp, "wb") as fh:
            fh.write(inp_bytes)
        self._ph = ctypes.c_void_p()
        self._check(self._lib.EN_createproject(ctypes.byref(self._ph)), "create project")
        code = self._lib.EN_open(self._ph, inp.encode(), os.path.join(self._dir, "network.rpt").encode(), b"")
        if code > 100:
            detail = self._report_tail()
            self.close()
            raise SolverError(f"{name}: EPANET cannot open the network: {_message(code)}{detail}")
        self._h_open = False
        self._q_open = False
        self._changes: list[tuple[str, int, int, float]] = []
        self._controls: list[int] = []
        self._read_layout()
        for edit in edits:
            self._apply_edit(edit)
        self._changes.clear()  # the project's edits are the network: restore() keeps them

    # ------------------------------------------------------------------ layout
    def _read_layout(self) -> None:
        lib, ph = self._lib, self._ph
        n = ctypes.c_int()
        lib.EN_getcount(ph, NODECOUNT, ctypes.byref(n))
        self.node_count = n.value
        lib.EN_getcount(ph, LINKCOUNT, ctypes.byref(n))
        self.link_count = n.value
        buf = ctypes.create_string_buffer(64)
        t = ctypes.c_int()
        ids, types = [], []
        for i in range(1, self.node_count + 1):
            lib.EN_getnodeid(ph, i, buf)
            lib.EN_getnodetype(ph, i, ctypes.byref(t))
            ids.append(buf.value.decode(self.encoding))
            types.append(t.value)
        self.node_ids = ids
        self.node_types = np.array(types, dtype=np.int8)
        ids, types, a_nodes, b_nodes = [], [], [], []
        a, b = ctypes.c_int(), ctypes.c_int()
        for i in range(1, self.link_count + 1):
            lib.EN_getlinkid(ph, i, buf)
            lib.EN_getlinktype(ph, i, ctypes.byref(t))
            lib.EN_getlinknodes(ph, i, ctypes.byref(a), ctypes.byref(b))
            ids.append(buf.value.decode(self.encoding))
            types.append(t.value)
            a_nodes.append(a.value - 1)
            b_nodes.append(b.value - 1)
        self.link_ids = ids
        self.link_types = np.array(types, dtype=np.int8)
        self.link_nodes = np.column_stack([a_nodes, b_nodes]).astype(np.int64) if ids else np.zeros((0, 2), int)
        self.node_index = {nid: i for i, nid in enumerate(self.node_ids)}
        self.link_index = {lid: i for i, lid in enumerate(self.link_ids)}
        self.junctions = np.flatnonzero(self.node_types == JUNCTION)
        self.pipes = np.flatnonzero(self.link_types <= PIPE)
        u = ctypes.c_int()
        lib.EN_getflowunits(ph, ctypes.byref(u))
        self.flow_units = _FLOW_UNITS[u.value]
        opt = ctypes.c_double()
        lib.EN_getoption(ph, PRESS_UNITS, ctypes.byref(opt))
        self.flow_factor = _FLOW_TO_SI[self.flow_units]
        self.pressure_factor = _PRESSURE_TO_M.get(int(opt.value), 1.0)
        self.length_factor = _FT if self.flow_units in _US_UNITS else 1.0
        # velocity: ft/s or m/s; headloss of pipes: ft/kft or m/km (both dimensionless per 1000)
        self.velocity_factor = self.length_factor
        self._node_buf = np.zeros(self.node_count)
        self._link_buf = np.zeros(self.link_count)
        self._node_ptr = self._node_buf.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._link_ptr = self._link_buf.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self.duration = self.time_param(DURATION)
        self.report_step = self.time_param(REPORTSTEP) or 3600
        self.report_start = self.time_param(REPORTSTART)

    def _factor(self, prop: str) -> float:
        if prop in ("pressure",):
            return self.pressure_factor
        if prop in ("head", "tank_level"):
            return self.length_factor
        if prop in ("demand", "demand_deficit", "full_demand", "emitter_flow", "leakage_flow", "flow", "leakage"):
            return self.flow_factor
        if prop == "velocity":
            return self.velocity_factor
        if prop == "tank_volume":
            return self.length_factor ** 3
        if prop == "headloss":
            # pumps and valves: head, m (pipes are recomputed from heads in run(): a gradient, m/m)
            return self.length_factor
        return 1.0

    # ------------------------------------------------------------------ plumbing
    def _check(self, code: int, what: str) -> int:
        if code > 100:
            raise SolverError(f"{self.name}: EPANET could not {what}: {_message(code)}")
        return code

    def _report_tail(self) -> str:
        try:
            lines = [ln.strip() for ln in Path(self._dir, "network.rpt").read_text(errors="replace").splitlines()
                     if ln.strip() and ("Error" in ln or "error" in ln)]
        except OSError:
            return ""
        return (" (" + "; ".join(lines[:3]) + ")") if lines else ""

    def close(self) -> None:
        if getattr(self, "_ph", None) is not None and self._ph.value:
            if getattr(self, "_h_open", False):
                self._lib.EN_closeH(self._ph)
            if getattr(self, "_q_open", False):
                self._lib.EN_closeQ(self._ph)
            self._lib.EN_close(self._ph)
            self._lib.EN_deleteproject(self._ph)
            self._ph = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ for analyses driving EPANET directly
    @property
    def lib(self) -> ctypes.CDLL:
        """The EPANET library, for analyses with their own solve loops (fire flow)."""
        return self._lib

    @property
    def handle(self) -> ctypes.c_void_p:
        """This solver's EPANET project handle."""
        return self._ph

    @property
    def node_buffer(self) -> np.ndarray:
        """The array ``EN_getnodevalues`` fills through :attr:`node_pointer` (overwritten by every read)."""
        return self._node_buf

    @property
    def node_pointer(self):
        return self._node_ptr

    def check(self, code: int, what: str) -> int:
        """Raise :class:`SolverError` naming ``what`` when ``code`` is an EPANET error."""
        return self._check(code, what)

    def keep_changes(self) -> None:
        """Make the current state the one :meth:`restore` returns to (a worker's base scenario)."""
        self._changes.clear()

    def open_hydraulics(self) -> None:
        """Open EPANET's hydraulic solver once (closed again by :meth:`close`)."""
        if not self._h_open:
            self._check(self._lib.EN_openH(self._ph), "open the hydraulic solver")
            self._h_open = True

    # ------------------------------------------------------------------ look-ups
    def link(self, link_id: str) -> int:
        try:
            return self.link_index[str(link_id)]
        except KeyError:
            raise KeyError(f"{self.name}: no pipe or link {link_id!r} in the network") from None

    def node(self, node_id: str) -> int:
        try:
            return self.node_index[str(node_id)]
        except KeyError:
            raise KeyError(f"{self.name}: no node {node_id!r} in the network") from None

    def time_param(self, code: int) -> int:
        v = ctypes.c_long()
        self._lib.EN_gettimeparam(self._ph, code, ctypes.byref(v))
        return int(v.value)

    def get_node(self, index: int, prop: int) -> float:
        v = ctypes.c_double()
        self._check(self._lib.EN_getnodevalue(self._ph, index + 1, prop, ctypes.byref(v)), "read a node value")
        return v.value

    def get_link(self, index: int, prop: int) -> float:
        v = ctypes.c_double()
        self._check(self._lib.EN_getlinkvalue(self._ph, index + 1, prop, ctypes.byref(v)), "read a link value")
        return v.value

    def node_values(self, prop: int) -> np.ndarray:
        """Every node's value of an EPANET property (EPANET units), as a fresh array."""
        self._check(self._lib.EN_getnodevalues(self._ph, prop, self._node_ptr), "read node values")
        return self._node_buf.copy()

    def link_values(self, prop: int) -> np.ndarray:
        self._check(self._lib.EN_getlinkvalues(self._ph, prop, self._link_ptr), "read link values")
        return self._link_buf.copy()

    # ------------------------------------------------------------------ changes (all undone by restore)
    def set_node(self, index: int, prop: int, value: float) -> None:
        """Set a node property (EPANET units), remembering the old value for :meth:`restore`."""
        old = self.get_node(index, prop)
        self._check(self._lib.EN_setnodevalue(self._ph, index + 1, prop, float(value)),
                    f"set property {prop} of node {self.node_ids[index]!r}")
        self._changes.append(("node", index, prop, old))

    def set_link(self, index: int, prop: int, value: float) -> None:
        old = self.get_link(index, prop)
        self._check(self._lib.EN_setlinkvalue(self._ph, index + 1, prop, float(value)),
                    f"set property {prop} of link {self.link_ids[index]!r}")
        self._changes.append(("link", index, prop, old))

    def _apply_edit(self, edit) -> None:
        """One of the project's edits (SI values) through the toolkit, in the file's own units."""
        try:
            index = self.link_index[edit.id]
        except KeyError:
            raise SolverError(f"{self.name}: the project edits link {edit.id!r}, which the network does not have") \
                from None
        us = self.flow_units in _US_UNITS
        if edit.field == "diameter":
            self.set_link(index, DIAMETER, edit.value / 0.0254 if us else edit.value * 1000.0)
        elif edit.field == "roughness":
            form = ctypes.c_double()
            self._lib.EN_getoption(self._ph, HEADLOSS_FORM, ctypes.byref(form))
            dw = int(form.value) == 1
            self.set_link(index, ROUGHNESS, edit.value / 0.3048 if (dw and us) else edit.value)
        elif edit.field == "minor_loss":
            self.set_link(index, MINORLOSS, edit.value)
        elif edit.field == "status":
            if edit.value == "CLOSED":
                self.hold_closed(index)
            else:
                self.set_link(index, INITSTATUS, 1)

    def add_break(self, pipe: str, junction: str, half: str, outfall: str, hole: str, hole_m: float,
                  loss: float) -> int:
        """Split ``pipe`` at its middle and hang a closed orifice link on the split; returns the hole's index.

        The pipe keeps its first half (start node to the new ``junction``, at
        the mean elevation of its ends); ``half`` is its second half, with the
        same diameter, roughness and minor loss.  ``hole`` is a 1 cm link of
        diameter ``hole_m`` and minor loss ``loss`` from the junction to the
        ``outfall`` reservoir at the junction's elevation, closed until a
        timer opens it.  The network grows by two nodes and two links for the
        rest of this solver's life (:meth:`restore` does not remove them).
        """
        lib, ph = self._lib, self._ph
        i = self.link(pipe)
        a, b = (int(n) for n in self.link_nodes[i])
        elevation = (self.get_node(a, ELEVATION) + self.get_node(b, ELEVATION)) / 2.0
        length = self.get_link(i, LENGTH)
        props = {p: self.get_link(i, p) for p in (DIAMETER, ROUGHNESS, MINORLOSS)}
        idx = ctypes.c_int()
        enc = self.encoding
        self._check(lib.EN_addnode(ph, junction.encode(enc), JUNCTION, ctypes.byref(idx)), "add the break junction")
        j = idx.value
        self._check(lib.EN_setnodevalue(ph, j, ELEVATION, elevation), "set the break junction's elevation")
        self._check(lib.EN_addnode(ph, outfall.encode(enc), RESERVOIR, ctypes.byref(idx)), "add the outfall")
        self._check(lib.EN_setnodevalue(ph, idx.value, ELEVATION, elevation), "set the outfall's head")
        link_type = int(self.link_types[i])
        self._check(lib.EN_addlink(ph, half.encode(enc), link_type, junction.encode(enc),
                                   self.node_ids[b].encode(enc), ctypes.byref(idx)), "add the pipe's second half")
        h = idx.value
        # EN_addnode puts a junction before the tanks and reservoirs: their indices moved up by one, so the
        # pipe's start node is found again by its ID (a pipe leaving a tank used to be joined to the node
        # before it: Net3's pipe 40 ran from the lake instead of tank 1)
        self._check(lib.EN_getnodeindex(ph, self.node_ids[a].encode(enc), ctypes.byref(idx)), "find the pipe's start")
        self._check(lib.EN_setlinknodes(ph, i + 1, idx.value, j), "end the pipe at the break")
        for k in (i + 1, h):
            self._check(lib.EN_setlinkvalue(ph, k, LENGTH, length / 2.0), "halve the pipe")
        for prop, value in props.items():
            self._check(lib.EN_setlinkvalue(ph, h, prop, value), "copy the pipe to its second half")
        self._check(lib.EN_addlink(ph, hole.encode(enc), PIPE, junction.encode(enc), outfall.encode(enc),
                                   ctypes.byref(idx)), "add the hole")
        o = idx.value
        us = self.flow_units in _US_UNITS
        form = ctypes.c_double()
        lib.EN_getoption(ph, HEADLOSS_FORM, ctypes.byref(form))
        rough = {0: 150.0, 1: (0.1 / 0.3048 if us else 0.1), 2: 0.011}.get(int(form.value), 150.0)
        for prop, value in ((LENGTH, 0.01 / (_FT if us else 1.0)), (DIAMETER, hole_m / 0.0254 if us else hole_m * 1000.0),
                            (ROUGHNESS, rough), (MINORLOSS, loss), (INITSTATUS, 0)):
            self._check(lib.EN_setlinkvalue(ph, o, prop, value), "set up the hole")
        self._elev = None
        self._link_controls = None
        self._read_layout()
        return o - 1

    def set_quality(self, kind: str, chemical: str = "", units: str = "mg/L") -> None:
        """The quality model of this run: ``age`` or ``chemical`` (named ``chemical``, in ``units``)."""
        code = {"age": QUAL_AGE, "chemical": QUAL_CHEM, "none": QUAL_NONE}[kind]
        self._check(self._lib.EN_setqualtype(self._ph, code, chemical.encode(), units.encode(), b""),
                    "set the water-quality model")

    def refine_patterns(self, step: int) -> None:
        """Every time pattern resampled to ``step`` seconds (values repeated), for a finer source pattern."""
        lib, ph = self._lib, self._ph
        old = self.time_param(PATTERNSTEP) or 3600
        if old % step:
            raise ValueError(f"injection times must fall on multiples of {step} s")
        factor = old // step
        n = ctypes.c_int()
        lib.EN_getcount(ph, PATCOUNT, ctypes.byref(n))
        length, value = ctypes.c_int(), ctypes.c_double()
        for k in range(1, n.value + 1):
            lib.EN_getpatternlen(ph, k, ctypes.byref(length))
            values = []
            for i in range(1, length.value + 1):
                lib.EN_getpatternvalue(ph, k, i, ctypes.byref(value))
                values.append(value.value)
            fine = np.repeat(np.asarray(values, dtype=float), factor)
            self._check(lib.EN_setpattern(ph, k, fine.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), len(fine)),
                        "resample a pattern")
        self._check(lib.EN_settimeparam(ph, PATTERNSTEP, int(step)), "set the pattern step")

    def add_mass_source(self, node: int, rate: float, pattern: str, values) -> None:
        """A MASS quality source at ``node`` of ``rate`` (mass per minute) times a new pattern of ``values``."""
        lib, ph = self._lib, self._ph
        self._check(lib.EN_addpattern(ph, pattern.encode(self.encoding)), "add the source pattern")
        idx = ctypes.c_int()
        self._check(lib.EN_getpatternindex(ph, pattern.encode(self.encoding), ctypes.byref(idx)), "find the source pattern")
        v = np.ascontiguousarray(values, dtype=float)
        self._check(lib.EN_setpattern(ph, idx.value, v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), len(v)),
                    "set the source pattern")
        for prop, val in ((SOURCETYPE, MASS_SOURCE), (SOURCEQUAL, rate), (SOURCEPAT, idx.value)):
            self._check(lib.EN_setnodevalue(ph, node + 1, prop, float(val)), "set the quality source")

    def close_link(self, index: int) -> None:
        """Close a link for the whole run (its initial status)."""
        self.set_link(index, INITSTATUS, 0)

    def add_timer(self, link: int, setting: float, at: float) -> None:
        """A timer control: set ``link``'s status/setting to ``setting`` (0 closed, 1 open) at ``at`` s."""
        idx = ctypes.c_int()
        self._check(self._lib.EN_addcontrol(self._ph, TIMER, link + 1, float(setting), 0, float(at),
                                            ctypes.byref(idx)), "add a timer control")
        self._controls.append(idx.value)

    def controls_on(self, link: int) -> list[int]:
        """Indexes (1-based) of the simple controls acting on ``link``."""
        if getattr(self, "_link_controls", None) is None:
            n = ctypes.c_int()
            self._lib.EN_getcount(self._ph, CONTROLCOUNT, ctypes.byref(n))
            by_link: dict[int, list[int]] = {}
            t, li, ni = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
            st, lv = ctypes.c_double(), ctypes.c_double()
            for k in range(1, n.value + 1):
                if self._lib.EN_getcontrol(self._ph, k, ctypes.byref(t), ctypes.byref(li), ctypes.byref(st),
                                           ctypes.byref(ni), ctypes.byref(lv)) == 0 and li.value > 0:
                    by_link.setdefault(li.value - 1, []).append(k)
            self._link_controls = by_link
        return self._link_controls.get(link, [])

    def hold_closed(self, link: int) -> None:
        """Close ``link`` for the whole run and disable the model's controls that would reopen it.

        EPANET refuses to set the status of a check-valve pipe (error 207), so a
        CV pipe is choked instead: a minor loss of 1e9 velocity heads lets no
        more than a trickle through (under 1e-4 L/s at 100 m of head in a 100 mm pipe).
        """
        for k in self.controls_on(link):
            self._check(self._lib.EN_setcontrolenabled(self._ph, k, 0), "disable a control")
            self._changes.append(("control", k, 0, 1.0))
        if self.link_types[link] == CVPIPE:
            self.set_link(link, MINORLOSS, 1e9)
        else:
            self.set_link(link, INITSTATUS, 0)

    def set_time(self, code: int, value: int) -> None:
        old = self.time_param(code)
        self._check(self._lib.EN_settimeparam(self._ph, code, int(value)), "set a time parameter")
        self._changes.append(("time", code, 0, old))

    def set_demand_model(self, pdd: bool, min_pressure: float = 0.0, required_pressure: float = 0.1,
                         exponent: float = 0.5) -> None:
        """DDA, or PDA with pressures in metres (converted to the network's pressure units)."""
        f = self.pressure_factor
        self._check(self._lib.EN_setdemandmodel(self._ph, PDA if pdd else DDA, min_pressure / f,
                                                max(required_pressure, min_pressure + 0.01) / f, exponent),
                    "set the demand model")

    def demand_model(self):
        """The network's own demand model (from its .inp options), thresholds in metres."""
        kind, pmin, preq, pexp = ctypes.c_int(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        self._check(self._lib.EN_getdemandmodel(self._ph, ctypes.byref(kind), ctypes.byref(pmin),
                                                ctypes.byref(preq), ctypes.byref(pexp)), "read the demand model")
        f = self.pressure_factor
        return DemandModel(kind.value == PDA, pmin.value * f, preq.value * f, pexp.value)

    def restore(self) -> None:
        """Undo every change since the last restore (in reverse order) and remove added controls."""
        lib, ph = self._lib, self._ph
        for idx in sorted(self._controls, reverse=True):
            lib.EN_deletecontrol(ph, idx)
        self._controls.clear()
        for kind, index, prop, old in reversed(self._changes):
            if kind == "node":
                lib.EN_setnodevalue(ph, index + 1, prop, old)
            elif kind == "link":
                lib.EN_setlinkvalue(ph, index + 1, prop, old)
            elif kind == "control":
                lib.EN_setcontrolenabled(ph, index, int(old))
            else:
                lib.EN_settimeparam(ph, index, int(old))
        self._changes.clear()

    # ------------------------------------------------------------------ solving
    def run(self, node_props=("pressure",), link_props=(), *, step_node_props=(), step_link_props=(),
            report=True) -> Run:
        """Solve the extended period (or the single steady state when the duration is 0).

        ``node_props``/``link_props`` are recorded at report times (as WNTR's
        results are); ``step_node_props`` at every hydraulic step, with the
        step lengths, for integrals such as undelivered volume.  EPANET errors
        raise :class:`SolverError`; an unbalanced step is recorded in
        ``Run.unbalanced_at`` (the caller decides whether that fails the scenario).
        """
        lib, ph = self._lib, self._ph
        if not self._h_open:
            self._check(lib.EN_openH(ph), "open the hydraulic solver")
            self._h_open = True
        # 10: re-initialise flows, as a fresh EPANET run does, so a result never depends on the
        # scenario solved before it (and equals a file-based run); 0: save nothing to a file
        self._check(lib.EN_initH(ph, 10), "initialise the hydraulics")
        rstep, rstart = self.time_param(REPORTSTEP) or 3600, self.time_param(REPORTSTART)
        nprops = [(p, NODE_PROPERTIES[p]) for p in node_props]
        lprops = [(p, LINK_PROPERTIES[p]) for p in link_props]
        # EPANET 2.3 reports a pipe's head loss differently from its binary output (per 1000 length
        # units, absolute, which WNTR reads): recompute it from the heads, as the output file has it.
        gradient = "headloss" in link_props
        if gradient and "status" not in link_props:
            lprops.append(("status", STATUS))
        # EPANET 2.3 converts psi with another factor than EPANET 2.2's output file (which WNTR
        # reads); pressure as head minus elevation is the same in both.
        from_heads = "pressure" in node_props and self.flow_units in _US_UNITS
        if (gradient or from_heads) and "head" not in node_props:
            nprops.append(("head", HEAD))
        sprops = [(p, NODE_PROPERTIES[p]) for p in step_node_props]
        slprops = [(p, LINK_PROPERTIES[p]) for p in step_link_props]
        slvals = {p: [] for p, _ in slprops}
        times, nvals, lvals = [], {p: [] for p, _ in nprops}, {p: [] for p, _ in lprops}
        stimes, slen, svals = [], [], {p: [] for p, _ in sprops}
        warnings: list[str] = []
        unbalanced = None
        t, step = ctypes.c_long(), ctypes.c_long()
        getn, getl = lib.EN_getnodevalues, lib.EN_getlinkvalues
        nbuf, lbuf, nptr, lptr = self._node_buf, self._link_buf, self._node_ptr, self._link_ptr
        while True:
            code = lib.EN_runH(ph, ctypes.byref(t))
            now = t.value
            if code > 100:
                raise SolverError(f"{self.name}: EPANET failed at {now / 3600:.2f} h: {_message(code)}")
            if code:
                if code == UNBALANCED and unbalanced is None:
                    unbalanced = now
                if len(warnings) < 20:
                    warnings.append(f"{now / 3600:.2f} h: {WARNINGS.get(code, f'warning {code}')}")
            if report and now >= rstart and (now - rstart) % rstep == 0 and (not times or times[-1] != now):
                times.append(now)
                for p, code_ in nprops:
                    getn(ph, code_, nptr)
                    nvals[p].append(nbuf.copy())
                for p, code_ in lprops:
                    getl(ph, code_, lptr)
                    lvals[p].append(lbuf.copy())
            code = lib.EN_nextH(ph, ctypes.byref(step))
            if code > 100:
                raise SolverError(f"{self.name}: EPANET failed after {now / 3600:.2f} h: {_message(code)}")
            if sprops or slprops:
                stimes.append(now)
                slen.append(step.value)
                for p, code_ in sprops:
                    getn(ph, code_, nptr)
                    svals[p].append(nbuf.copy())
                for p, code_ in slprops:
                    getl(ph, code_, lptr)
                    slvals[p].append(lbuf.copy())
            if step.value <= 0:
                break
        run = Run(times=np.asarray(times, dtype=float),
                  nodes={p: self._stack(v, self.node_count) * self._factor(p) for p, v in nvals.items()},
                  links={p: self._stack(v, self.link_count) * self._factor(p) for p, v in lvals.items()},
                  warnings=warnings, unbalanced_at=unbalanced)
        if from_heads and len(times):
            run.nodes["pressure"] = (np.vstack(nvals["head"]) - self._elevations()) * self.length_factor
        if gradient and len(times):
            heads = np.vstack(nvals["head"])
            pipes = self.pipes
            lengths = np.array([self.get_link(int(i), LENGTH) for i in pipes])
            a, b = self.link_nodes[pipes, 0], self.link_nodes[pipes, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                run.links["headloss"][:, pipes] = np.abs(heads[:, a] - heads[:, b]) / lengths
            # the output file reports no head loss across a closed link
            run.links["headloss"][run.links["status"] == 0] = 0.0
            if "status" not in link_props:
                run.links.pop("status")
        if "head" not in node_props:
            run.nodes.pop("head", None)
        if sprops or slprops:
            run.step_times = np.asarray(stimes, dtype=float)
            run.step_lengths = np.asarray(slen, dtype=float)
            run.step_nodes = {p: self._stack(v, self.node_count) * self._factor(p) for p, v in svals.items()}
            run.step_links = {p: self._stack(v, self.link_count) * self._factor(p) for p, v in slvals.items()}
        return run

    def run_window(self, start: float, end: float, integrand: int, *, mask_below: float | None = None,
                   steady_hours: float = 1.0) -> tuple[np.ndarray, np.ndarray, float | None]:
        """One solve, reduced on the fly: what a sweep scores, without storing time series.

        Returns, over the hydraulic steps in [start, end]: every node's lowest
        pressure (EPANET units), the time integral of node property ``integrand``
        over the overlap of each step with the window (EPANET units × s; with
        ``mask_below``, only while the node's pressure is below it), and the
        first unbalanced time (or None).  A steady state counts ``steady_hours``.
        """
        lib, ph = self._lib, self._ph
        if not self._h_open:
            self._check(lib.EN_openH(ph), "open the hydraulic solver")
            self._h_open = True
        self._check(lib.EN_initH(ph, 10), "initialise the hydraulics")
        n = self.node_count
        lowest = np.full(n, np.inf)
        total = np.zeros(n)
        pres = np.zeros(n)
        pptr = pres.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        buf, ptr = self._node_buf, self._node_ptr
        t, step = ctypes.c_long(), ctypes.c_long()
        unbalanced = None
        steady = self.time_param(DURATION) == 0
        while True:
            code = lib.EN_runH(ph, ctypes.byref(t))
            now = t.value
            if code > 100:
                raise SolverError(f"{self.name}: EPANET failed at {now / 3600:.2f} h: {_message(code)}")
            if code == UNBALANCED and unbalanced is None:
                unbalanced = now
            code = lib.EN_nextH(ph, ctypes.byref(step))
            if code > 100:
                raise SolverError(f"{self.name}: EPANET failed after {now / 3600:.2f} h: {_message(code)}")
            if start <= now <= end:
                lib.EN_getnodevalues(ph, PRESSURE, pptr)
                np.minimum(lowest, pres, out=lowest)
            weight = steady_hours * 3600.0 if steady else min(now + step.value, end) - max(now, start)
            if weight > 0:
                lib.EN_getnodevalues(ph, integrand, ptr)
                if mask_below is not None:
                    if not start <= now <= end:
                        lib.EN_getnodevalues(ph, PRESSURE, pptr)
                    buf[pres >= mask_below] = 0.0
                total += buf * weight
            if step.value <= 0:
                break
        return lowest, total, unbalanced

    def _elevations(self) -> np.ndarray:
        if getattr(self, "_elev", None) is None:
            self._check(self._lib.EN_getnodevalues(self._ph, ELEVATION, self._node_ptr), "read elevations")
            self._elev = self._node_buf.copy()
        return self._elev

    @staticmethod
    def _stack(rows: list[np.ndarray], width: int) -> np.ndarray:
        return np.vstack(rows) if rows else np.zeros((0, width))

    def run_quality(self) -> tuple[np.ndarray, np.ndarray]:
        """Hydraulics then water quality (as set in the network); node quality at report times.

        Returns (times, quality[time, node]) in the network's quality units
        (hours for age, mg/L for a chemical).
        """
        lib, ph = self._lib, self._ph
        self.close_hydraulics()
        self._check(lib.EN_solveH(ph), "solve the hydraulics")
        self._check(lib.EN_openQ(ph), "open the quality solver")
        self._q_open = True
        try:
            self._check(lib.EN_initQ(ph, 0), "initialise water quality")
            rstep, rstart = self.time_param(REPORTSTEP) or 3600, self.time_param(REPORTSTART)
            t, step = ctypes.c_long(), ctypes.c_long()
            times, rows = [], []
            while True:
                code = lib.EN_runQ(ph, ctypes.byref(t))
                if code > 100:
                    raise SolverError(f"{self.name}: water quality failed at {t.value / 3600:.2f} h: {_message(code)}")
                now = t.value
                if now >= rstart and (now - rstart) % rstep == 0 and (not times or times[-1] != now):
                    lib.EN_getnodevalues(ph, QUALITY, self._node_ptr)
                    times.append(now)
                    rows.append(self._node_buf.copy())
                lib.EN_nextQ(ph, ctypes.byref(step))
                if step.value <= 0:
                    break
        finally:
            lib.EN_closeQ(ph)
            self._q_open = False
        return np.asarray(times, dtype=float), self._stack(rows, self.node_count)

    def close_hydraulics(self) -> None:
        """Close the hydraulic solver (needed before a water-quality run re-solves everything)."""
        if self._h_open:
            self._lib.EN_closeH(self._ph)
            self._h_open = False
