"""``lifeline-twin drill run``: the three outputs, the same run as in-process, one-line errors."""

from __future__ import annotations

import json

import pandas as pd

from app.cli import main
from tests.drill.conftest import DRILL, DRILLS


def test_drill_run_writes_the_log_the_scores_and_the_report(good, tmp_path, capsys):
    out = tmp_path / "aar"
    assert main(["drill", "run", str(DRILL), "--actions", str(DRILLS / "main-burst-good.yaml"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "7 met, 0 late, 0 missed" in printed and "O3 P" in printed
    assert sorted(p.name for p in out.iterdir()) == ["aar.html", "aar.pdf", "events.csv", "events.parquet",
                                                     "scores.json"]
    # same drill, same seed, same actions: the same run, event for event
    table = pd.read_parquet(out / "events.parquet")
    mine = good["session"].log.frame()
    assert table[["time", "kind", "feature", "message"]].equals(mine[["time", "kind", "feature", "message"]])
    scores = json.loads((out / "scores.json").read_text())
    assert [o["rating"] for o in scores["objectives"]] == ["P"] * 5
    page = (out / "aar.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    # the plot and one picture of the 3D view per key moment the water network kept (break, valves, repair)
    moments = good["session"].water.snapshots
    assert len(moments) >= 2 and page.count("<figure><img") == len(moments)
    assert "The 3D view at key moments" in page
    for heading in ("Overview", "Objectives and ratings", "Improvement plan", "Timeline: injects against actions"):
        assert heading in page
    assert "Pre-written notification texts for a main shutdown" in page
    # the PDF copy: a real PDF of several A4 pages with the report's text in it
    pdf = (out / "aar.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    from PyQt6.QtPdf import QPdfDocument

    doc = QPdfDocument(None)
    doc.load(str(out / "aar.pdf"))
    assert doc.pageCount() >= 4
    text = " ".join(doc.getAllText(k).text() for k in range(doc.pageCount()))
    assert "After-action report" in text and "Improvement plan" in text


def test_no_pictures_leaves_the_3d_view_out(tmp_path):
    out = tmp_path / "aar"
    assert main(["drill", "run", str(DRILL), "--actions", str(DRILLS / "main-burst-good.yaml"),
                 "--out", str(out), "--no-pictures"]) == 0
    page = (out / "aar.html").read_text()
    assert "<figure><img" not in page and "The 3D view at key moments" not in page


def test_a_bad_actions_file_gives_one_line_and_a_non_zero_exit(tmp_path, capsys):
    bad = tmp_path / "actions.yaml"
    bad.write_text("actions:\n  - {inject: 2, after_s: 60, role: control_room, action: dispatch, colour: red}\n")
    assert main(["drill", "run", str(DRILL), "--actions", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lifeline-twin drill: error: {bad}: line 2: field actions.0.colour: unknown key"]
    assert not (tmp_path / "o").exists()


def test_the_output_folder_must_not_be_a_file(tmp_path, capsys):
    mine = tmp_path / "notes.txt"
    mine.write_text("my notes")
    assert main(["drill", "run", str(DRILL), "--actions", str(DRILLS / "main-burst-good.yaml"),
                 "--out", str(mine)]) != 0
    assert "--out is a file" in capsys.readouterr().err
    assert mine.read_text() == "my notes"
