"""The main job: `lifeline-twin start --headless` on the demo city writes every engine's outputs."""

import json

from app.cli import main
from twin.project import load


def test_start_headless_writes_the_demo_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "demo-out"
    assert main(["start", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"demo outputs in {out}" in printed
    for name in ("demo.gpkg", "demo-town-map.png", "main-burst/report.html", "main-burst/events.parquet",
                 "main-burst/summary.json", "emergency/kpis.json",
                 "scene-overview.png", "scene-underground.png", "hydraulics/criticality.json",
                 "hydraulics/fire_flow.json"):
        assert (out / name).stat().st_size > 0, name
        assert f"  {name}" in printed
    twin = load(out / "demo.gpkg")
    assert len(twin["buildings"]) > 10_000 and twin.network_problems() == []
    burst = json.loads((out / "main-burst" / "summary.json").read_text())
    assert burst["chain_complete"] and burst["chain_in_order"]  # the coupled chain, on the one clock
    crit = json.loads((out / "hydraulics" / "criticality.json").read_text())
    assert crit["scenarios"] == len(twin["water_pipes"]) and crit["pipes"]


def test_start_refuses_an_output_it_cannot_write_before_building(tmp_path, capsys, monkeypatch):
    import twin.demo

    def never(seed=7):
        raise AssertionError("built the city for outputs it cannot write")
    monkeypatch.setattr(twin.demo, "build_demo", never)
    monkeypatch.delenv("DISPLAY", raising=False)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert main(["start", "--out", str(a_file)]) == 2
    assert capsys.readouterr().err == (f"lifeline-twin start: error: {a_file}: --out is a file; a folder for "
                                       "the results is expected\n")
    assert main(["start", "--out", str(a_file / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lifeline-twin start: error: {a_file / 'out'}: cannot make the folder")
    assert a_file.read_text() == "keep me"


def test_a_negative_seed_names_the_flag(tmp_path, capsys, monkeypatch):
    import twin.demo

    def never(seed=7):
        raise AssertionError("built the city with a seed numpy refuses")
    monkeypatch.setattr(twin.demo, "build_demo", never)
    for argv in (["start", "--headless", "--out", str(tmp_path / "o"), "--seed", "-1"],
                 ["demo", "-o", str(tmp_path / "d.gpkg"), "--seed", "-1"]):
        assert main(argv) == 2
        assert capsys.readouterr().err == (f"lifeline-twin {argv[0]}: error: argument --seed: -1 is outside "
                                            f"[0, 4.29e+09] (see lifeline-twin {argv[0]} --help)\n")
