"""File → Import as a user does it: choose the importer, fill its form, import, read the report."""

from __future__ import annotations

import pytest
from PyQt6.QtWidgets import QDialogButtonBox

pytestmark = pytest.mark.qt


@pytest.fixture
def restore_demo(window, demo_twin):
    yield
    window.open_twin(demo_twin)


def _press_import(dialog, qtbot):
    from PyQt6.QtCore import Qt

    button = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_missing_source_is_said_in_the_form_and_nothing_runs(window, qtbot):
    from app.window.importing import ImportDialog

    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    _press_import(dialog, qtbot)
    assert dialog.message.text() == "import inp: EPANET .inp file is required"
    assert not window.work.busy and dialog.result() == 0


def test_a_vector_import_into_an_unsaved_city_asks_to_save_first(window, qtbot):
    from app.window.importing import ImportDialog

    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData("vector"))
    dialog.inputs["vector"]["source"].setText("/tmp/anything.geojson")
    _press_import(dialog, qtbot)
    assert dialog.message.text() == ("import vector: save the project first; the vector import adds to a "
                                     "project file")


def test_importing_net3_opens_the_new_city_unsaved_with_its_report(window, qtbot, wntr_network_path,
                                                                   restore_demo):
    from app.window.importing import ImportDialog

    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.kind.currentData() == "inp"
    qtbot.keyClicks(dialog.inputs["inp"]["source"], str(wntr_network_path("Net3.inp")))
    dialog.inputs["inp"]["crs"].setText("local:ft")
    qtbot.keyClicks(dialog.inputs["inp"]["name"], "Net3 town")
    with qtbot.waitSignal(window.twin_opened, timeout=120_000):
        _press_import(dialog, qtbot)
    assert window.twin.name == "Net3 town" and window.path is None and window.modified is True
    assert window.windowTitle().startswith("Net3 town *")
    report = window.last_import_report
    assert report.counts["water_junctions"] == 92 and report.counts["water_pipes"] == 117
    log = window.log_panel.toPlainText()
    assert f"imported {wntr_network_path('Net3.inp')}" in log
    assert "water_pipes" in log and "117" in log
    tree = window.panels["layers"].items
    assert tree["water_pipes"].text(1) == "117"
