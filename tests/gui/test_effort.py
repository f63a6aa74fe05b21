"""Effort panel shows per-version acceptance share and mean pixels changed from the project."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from carvana_gui.panels.effort import EffortPanel
from model.edits.project_store import ProjectStore


def _cell(panel, row, col):
    return panel.table.item(row, col).text()


def test_panel_shows_per_version_effort(tmp_path, qtbot):
    project = ProjectStore(tmp_path / "p")
    auto = np.zeros((10, 10), np.uint8)
    auto[2:8, 2:8] = 1
    for i in range(1, 5):
        project.save_auto_mask(f"car_{i:02d}", auto, "v001" if i <= 2 else "v002")
    edited = auto.copy()
    edited[0:2, :] = 1  # 20 pixels changed
    project.save_edit("car_01", edited)
    project.set_reviewed("car_02", True, auto)
    project.set_reviewed("car_03", True, auto)
    panel = EffortPanel()
    qtbot.addWidget(panel)
    panel.set_current_version("v002")
    panel.set_project(project)
    assert panel.table.rowCount() == 2
    assert [_cell(panel, 0, c) for c in range(6)] == ["v001", "2", "50%", "10", "0.0", "0"]
    assert [_cell(panel, 1, c) for c in range(6)] == ["v002", "1", "100%", "0", "0.0", "1"]
    assert panel.table.item(1, 0).font().bold() and not panel.table.item(0, 0).font().bold()
    # the panel follows the project store, including another writer's rows
    ProjectStore(tmp_path / "p").save_edit("car_04", edited)
    panel.refresh()
    assert _cell(panel, 1, 2) == "50%"
    assert panel.table.item(1, 2).toolTip() == "1 of 2 accepted without edits"


def test_panel_without_project_or_with_no_judged_masks(tmp_path, qtbot):
    panel = EffortPanel()
    qtbot.addWidget(panel)
    panel.set_project(None)
    assert panel.table.rowCount() == 0 and "Open a folder" in panel.note.text()
    panel.set_project(ProjectStore(tmp_path / "p"))
    assert panel.table.rowCount() == 0 and "No auto-masks judged" in panel.note.text()
