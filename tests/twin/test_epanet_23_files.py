"""Files only EPANET 2.3 reads import, save, load and solve to EPANET's own numbers.

Three kinds a reviewer found refused: a ``PCV`` valve and ``UNITS CMS`` (both
new in EPANET 2.3, unknown to the WNTR helper's reader) and an ID holding a
Latin-1 byte (EPANET reads bytes; the project must hand it the file's own
bytes, not a UTF-8 re-encoding).  Every text here is made from WNTR's Net1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import wntr

from simulation.hydraulics.solver import Solver
from simulation.hydraulics.system import from_twin, isolation_valves
from twin import epanet, project
from twin.errors import SourceError
from twin.importers.epanet import import_inp
from twin.network import load_network, read_inp, read_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from epanet_reference import solve_file  # noqa: E402

NET1 = Path(wntr.__path__[0]) / "library" / "networks" / "Net1.inp"
TOLERANCE = 1e-3  # m of head, L/s of flow
LATIN_ID = b"J" + b"\xe9" * 20  # 21 bytes in Latin-1, 41 in UTF-8: longer than EPANET's 31-byte IDs


def _net1() -> str:
    return NET1.read_text()


def pcv_text() -> str:
    return _net1().replace("[VALVES]", "[VALVES]\n V1 22 23 8 PCV 50 0 ", 1)


def cms_text() -> str:
    return _net1().replace(" Units              \tGPM", " Units              \tCMS")


def latin_bytes() -> bytes:
    """Net1 with junction 32 renamed to an ID of Latin-1 bytes (junction, two pipes, quality, coordinates)."""
    raw = _net1().encode("ascii")
    lines = raw.split(b"\n")
    out = []
    for line in lines:
        fields = line.split()
        if b"32" in fields and (line.startswith((b" 32 ", b"32 ")) or fields[:1] in ([b"31"], [b"122"])):
            line = line.replace(b"32", LATIN_ID, 1) if not fields[:1] == [b"122"] else line.replace(
                b"\t32 ", b"\t" + LATIN_ID + b" ", 1)
        out.append(line)
    return b"\n".join(out)


def _write(tmp_path, name, data) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _round_trip(path: Path, tmp_path: Path):
    twin, report = import_inp(path, crs="local:m")
    back = project.load(project.save(twin, tmp_path / "net.gpkg"))
    assert back.network.text == read_text(path)  # the text is kept exactly as imported
    assert back.network.inp_bytes == path.read_bytes()  # and EPANET is given the file's own bytes
    return twin, report, back


def _solve(network):
    with Solver(network) as s:
        run = s.run(("head",), ("flow",))
        return run.times, run.nodes["head"], run.links["flow"] * 1000.0, s.node_ids, s.link_ids


def _same_as_epanet(path: Path, tmp_path: Path, reference: Path | None = None):
    twin, report, back = _round_trip(path, tmp_path)
    times, heads, flows, nodes, links = _solve(from_twin(back).epanet)
    r_times, r_heads, r_flows, r_nodes, r_links = solve_file(reference or path)
    if reference is None:
        assert nodes == r_nodes and links == r_links
    np.testing.assert_array_equal(times, r_times)  # every report time
    assert len(times) == 25
    assert np.abs(heads - r_heads).max() < TOLERANCE
    assert np.abs(flows - r_flows).max() < TOLERANCE
    return twin, report, back, (heads, flows, nodes, links)


def test_wntr_alone_cannot_read_the_three_files(tmp_path):
    """The check is not trivial: WNTR 1.5's reader refuses all three, EPANET 2.3 opens all three."""
    for name, data in (("pcv.inp", pcv_text()), ("cms.inp", cms_text()), ("latin.inp", latin_bytes())):
        path = _write(tmp_path, name, data)
        text, encoding = read_inp(path)
        assert epanet.open_errors(text, encoding) == [], name
        if name != "latin.inp":  # WNTR reads the Latin-1 bytes as UTF-8 text; EPANET's check is the point there
            with pytest.raises(Exception):
                wntr.network.read_inpfile(str(path))
    # re-encoded as UTF-8 the Latin-1 ID is too long for EPANET: the bytes must be kept
    assert epanet.open_errors(latin_bytes().decode("latin-1"))[0].startswith("Error 252: invalid ID name J")


def test_a_pcv_valve_imports_and_solves_as_epanet(tmp_path):
    path = _write(tmp_path, "pcv.inp", pcv_text())
    twin, report, back, (heads, flows, nodes, links) = _same_as_epanet(path, tmp_path)
    # the valve is there and does something: EPANET's flow through V1 is not zero
    assert abs(flows[:, links.index("V1")]).max() > 1.0
    # the helper and the layers say what EPANET solves: a PCV, not the TCV it was read as
    valve = back.network.model.get_link("V1")
    assert (valve.valve_type, valve.start_node_name, valve.end_node_name) == ("PCV", "22", "23")
    assert valve.diameter == pytest.approx(8 * 0.0254)
    layer = back["water_valves"]
    assert layer[["id", "valve_type", "node_id"]].values.tolist() == [["V1", "PCV", "23"]]
    # a PCV regulates: it is no isolation valve (those are TCVs and GPVs)
    assert len(isolation_valves(layer, back.network.model)) == 0
    # the helper is read from EPANET's rewrite; the one 2.3 option WNTR refuses is named, not hidden
    assert report.warnings == [f"network: the WNTR helper (graphs, map) left out line(s) of EPANET's rewrite of "
                               f"{path} it cannot read: 139 ([OPTIONS] BACKFLOW ALLOWED YES); EPANET reads them"]


def test_cms_units_import_and_solve_as_epanet(tmp_path):
    path = _write(tmp_path, "cms.inp", cms_text())
    twin, report, back, _ = _same_as_epanet(path, tmp_path)
    wn = back.network.model
    # the helper's values are EPANET's in SI: demands in m3/s (the file's own unit), diameters from mm
    assert wn.get_node("11").base_demand == pytest.approx(150.0)
    assert wn.get_node("22").base_demand == pytest.approx(200.0)
    assert wn.get_link("10").diameter == pytest.approx(0.018)
    assert wn.get_link("10").length == pytest.approx(10530.0)
    assert wn.get_node("2").elevation == pytest.approx(850.0)
    assert back["water_junctions"].set_index("id")["base_demand"]["23"] == pytest.approx(150.0)


def test_a_latin1_id_keeps_its_bytes_and_reads_as_text(tmp_path):
    raw = latin_bytes()
    path = _write(tmp_path, "latin.inp", raw)
    text, encoding = read_inp(path)
    readable = LATIN_ID.decode("latin-1")
    assert encoding == "latin-1" and readable == "J" + "é" * 20 and f" {readable} " in text
    twin, report, back = _round_trip(path, tmp_path)
    assert back.network.encoding == "latin-1"
    assert epanet.open_errors(back.network.text, back.network.encoding) == []
    # the helper, the layers (and so the CSV / JSON written from them) name the junction readably
    assert readable in back.network.model.junction_name_list
    pipes = back["water_pipes"].set_index("id")
    assert pipes.loc["31", "end_node"] == readable and pipes.loc["122", "end_node"] == readable
    assert readable in set(back["water_junctions"]["id"])
    # an edit keeps the encoding
    from twin.network import Edit

    assert back.network.edited(Edit("10", "diameter", 0.5)).inp_bytes == raw


def test_epanets_error_lines_about_a_latin1_file_quote_it_readably(tmp_path):
    raw = latin_bytes().replace(b"[SOURCES]", b"[SOURCES]\n " + LATIN_ID + b" CONCEN 1 NOPAT", 1)
    path = _write(tmp_path, "bad.inp", raw)
    number = raw.split(b"\n").index(b" " + LATIN_ID + b" CONCEN 1 NOPAT") + 1
    readable = LATIN_ID.decode("latin-1")
    with pytest.raises(SourceError) as caught:
        load_network(path)
    assert str(caught.value) == (f"{path}: EPANET 2.3 cannot open the network: Error 205: undefined time "
                                 f"pattern NOPAT in [SOURCES] section (line {number}: {readable} CONCEN 1 NOPAT)")


def test_a_latin1_id_solves_as_epanet(tmp_path):
    path = _write(tmp_path, "latin.inp", latin_bytes())
    # EPANET's own solve of the same network with an ASCII ID of the same place: the same numbers
    ascii_twin = _write(tmp_path, "ascii.inp", latin_bytes().replace(LATIN_ID, b"J32"))
    _, _, back, (heads, flows, nodes, links) = _same_as_epanet(path, tmp_path, reference=ascii_twin)
    assert LATIN_ID.decode("latin-1") in nodes
