"""EPANET is the authority: import -> save -> load -> solve equals EPANET's solve of the original file.

Every network of the collections named in issue 9 that EPANET 2.3 opens is
imported, saved as a project, loaded back and solved by the project's engine;
heads (m) and flows (L/s) must equal EPANET's own solve of the original file
(``tests/epanet_reference.py``, written independently of the project's code)
to 1e-3 at every report time.  Edits made in the project (a retrofit
diameter, a closed pipe) survive the round trip the same way.  Spellings
EPANET accepts but WNTR's reader refuses import and solve too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import wntr

from simulation.hydraulics.solver import Solver
from simulation.hydraulics.system import from_twin
from twin import project
from twin.epanet import open_errors
from twin.errors import SourceError
from twin.importers.epanet import import_inp
from twin.network import Edit, read_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from epanet_reference import solve_file  # noqa: E402
from shared_data import SHARED, shared_path  # noqa: E402

WNTR = Path(wntr.__path__[0])
LIBRARY = sorted((WNTR / "library" / "networks").glob("*.inp"))
WNTR_TESTS = sorted((WNTR / "tests" / "networks_for_testing").glob("*.inp"))
SHARED_NETWORKS = ["ky4/ky4.inp", "ltown/L-TOWN.inp", "micropolis/MICROPOLIS_v1.inp", "networks/Anytown.inp",
                   "networks/BIWS.inp", "networks/BWSN_Network_2.inp", "networks/CTOWN.INP", "networks/EXN.inp",
                   "networks/NJ1.inp", "networks/Net3.inp", "networks/ky17.inp"]
TOLERANCE = 1e-3  # m of head, L/s of flow


def _round_trip(path: Path, tmp_path: Path, edits=()):
    twin, _ = import_inp(path, crs="local:m")
    if edits:
        twin.network = twin.network.edited(*edits)
    back = project.load(project.save(twin, tmp_path / "net.gpkg"))
    assert back.network.text == read_text(path)  # the text is kept exactly as imported
    assert back.network.edits == twin.network.edits
    with Solver(from_twin(back).epanet) as s:
        run = s.run(("head",), ("flow",))
        return run.times, run.nodes["head"], run.links["flow"] * 1000.0, s.node_ids, s.link_ids


def _same_as_epanet(path, tmp_path, edits=(), reference_edits=()):
    times, heads, flows, nodes, links = _round_trip(path, tmp_path, edits)
    r_times, r_heads, r_flows, r_nodes, r_links = solve_file(path, reference_edits)
    assert nodes == r_nodes and links == r_links
    np.testing.assert_array_equal(times, r_times)  # every report time, no more, no less
    assert np.abs(heads - r_heads).max() < TOLERANCE
    assert np.abs(flows - r_flows).max() < TOLERANCE
    return heads, flows


def _accepted(paths):
    return [p for p in paths if not open_errors(read_text(p))]


@pytest.mark.parametrize("path", LIBRARY + _accepted(WNTR_TESTS), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_wntr_networks_round_trip_to_epanets_numbers(path, tmp_path):
    _same_as_epanet(path, tmp_path)


def test_wntr_collection_is_what_we_think():
    # the collections above are not silently empty, and only the two broken files are refused
    assert len(LIBRARY) == 6 and len(WNTR_TESTS) >= 30
    assert sorted(p.name for p in WNTR_TESTS if p not in _accepted(WNTR_TESTS)) == ["bad_syntax.inp",
                                                                                   "bad_values.inp"]


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", SHARED_NETWORKS)
def test_shared_networks_round_trip_to_epanets_numbers(relative, tmp_path):
    _same_as_epanet(shared_path(*relative.split("/")), tmp_path)


@pytest.mark.shared_data
def test_every_shared_network_is_listed():
    found = sorted(str(p.relative_to(SHARED)) for p in shared_path().rglob("*")
                   if p.suffix.lower() == ".inp" and "swmm" not in p.parts)
    assert found == sorted(SHARED_NETWORKS)


def test_edits_survive_the_round_trip(wntr_network_path, tmp_path):
    """A retrofit diameter and a closed pipe, in the project, give EPANET's numbers for the same changes."""
    path = wntr_network_path("Net3.inp")  # GPM: diameters in inches
    edits = (Edit("125", "diameter", 0.3048), Edit("175", "status", "CLOSED"), Edit("20", "roughness", 100.0))
    reference = (("125", 0, 12.0), ("175", 4, 0), ("20", 2, 100.0))
    heads, flows = _same_as_epanet(path, tmp_path, edits, reference)
    base = solve_file(path)
    assert np.abs(flows - base[2]).max() > 1.0  # the edits changed the hydraulics: the check is not trivial
    links = base[4]
    assert np.abs(flows[:, links.index("175")]).max() < 1e-6


def test_an_edit_of_an_unknown_link_is_refused(wntr_network_path):
    twin, _ = import_inp(wntr_network_path("Net1.inp"), crs="local:m")
    with pytest.raises(KeyError, match="no link 'nope' in the network to edit"):
        twin.network.edited(Edit("nope", "diameter", 0.2))
    with pytest.raises(ValueError, match="diameter must be a finite number > 0, not nan"):
        Edit("10", "diameter", float("nan"))


NET1 = WNTR / "library" / "networks" / "Net1.inp"


def _variant(kind: str) -> str:
    text = NET1.read_text()

    def after(section, line):
        return text.replace(f"[{section}]", f"[{section}]\n {line}", 1)

    return {
        "units SI": text.replace(" Units              \tGPM", " Units SI"),
        "statistic average": re.sub(r"(?im)^ *Statistic.*$", " Statistic Average", text),
        "backdrop units in Spanish": after("BACKDROP", "UNITS Metros"),
        "segments option": after("OPTIONS", "SEGMENTS 1000"),
        "quality chlorine without units": text.replace(" Quality            \tChlorine mg/L", " Quality Chlorine"),
        "chemical quality option lines": after("OPTIONS", "Tolerance 0.01\n Diffusivity 1.0"),
        "undefined default pattern": re.sub(r"(?im)^ *Pattern +\t1 *$", " Pattern 99", text),
        "start clocktime in seconds": re.sub(r"(?im)^ *Start ClockTime.*$", " Start ClockTime 0.000000 SEC", text),
        "padding after END": text + "\x00" * 4096,
        "rule after noon": after("RULES", "RULE 9\nIF SYSTEM CLOCKTIME >= 1:30 PM\nTHEN PIPE 12 STATUS IS CLOSED\n"
                                          "ELSE PIPE 12 STATUS IS OPEN\n"),
        "rule at 24:00": after("RULES", "RULE 9\nIF SYSTEM CLOCKTIME >= 12:00:00 AM\nTHEN PIPE 10 STATUS IS OPEN\n"),
        "control at 6:03": after("CONTROLS", "LINK 10 CLOSED AT CLOCKTIME 6:03:00\n LINK 10 OPEN AT CLOCKTIME 9"),
    }[kind]


@pytest.mark.parametrize("kind", ["units SI", "statistic average", "backdrop units in Spanish", "segments option",
                                  "quality chlorine without units", "chemical quality option lines",
                                  "undefined default pattern", "start clocktime in seconds", "padding after END",
                                  "rule after noon", "rule at 24:00", "control at 6:03"])
def test_spellings_epanet_accepts_import_and_solve_as_epanet(kind, tmp_path):
    text = _variant(kind)
    assert text != NET1.read_text()
    path = tmp_path / "variant.inp"
    path.write_bytes(text.encode("utf-8"))
    assert open_errors(text) == []  # EPANET 2.3 accepts it, so the project must
    _same_as_epanet(path, tmp_path)


def test_a_rule_after_noon_fires_after_noon(tmp_path):
    """Net1 has no RULE TIMESTEP: EPANET's default applies, and the 1:30 PM rule closes pipe 12 then."""
    text = _variant("rule after noon")
    assert "rule timestep" not in text.lower()
    path = tmp_path / "rule.inp"
    path.write_text(text)
    _, flows = _same_as_epanet(path, tmp_path)
    times, _, original, _, links = solve_file(NET1)
    pipe = links.index("12")
    hour = (times / 3600.0) % 24
    afternoon, morning = (hour >= 14) & (hour <= 23), hour <= 13
    assert (np.abs(flows[afternoon, pipe]) < 1e-6).all() and (np.abs(original[afternoon, pipe]) > 1.0).all()
    np.testing.assert_allclose(flows[morning & (times < 24 * 3600)], original[morning & (times < 24 * 3600)],
                               atol=1e-6)


def test_epanets_own_error_lines_when_it_refuses(tmp_path):
    text = NET1.read_text().replace("[SOURCES]", "[SOURCES]\n 11 CONCEN 1 NOPAT", 1)
    path = tmp_path / "bad.inp"
    path.write_text(text)
    number = text.splitlines().index(" 11 CONCEN 1 NOPAT") + 1
    with pytest.raises(SourceError) as caught:
        import_inp(path, crs="local:m")
    assert str(caught.value) == (f"{path}: EPANET 2.3 cannot open the network: Error 205: undefined time pattern "
                                 f"NOPAT in [SOURCES] section (line {number}: 11 CONCEN 1 NOPAT)")
