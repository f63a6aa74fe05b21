"""Autosave content, reopening after a crash, save failures, image navigation and status."""

from __future__ import annotations

import errno

import numpy as np
from conftest import open_window
from PySide6.QtCore import Qt
from test_canvas_editing import drag

from model.data.masks import read_mask


def _paint(qtbot, window, y=30):
    window.canvas.set_brush_size(7)
    drag(qtbot, window, [(10, y), (120, y)])


def test_stroke_is_autosaved_as_png_soon_after_it_ends(qtbot, window, tmp_path):
    _paint(qtbot, window)
    image_id = window.session.current.record.image_id
    path = tmp_path / "edits" / "masks" / f"{image_id}_mask.png"
    qtbot.waitUntil(path.exists, timeout=1000)  # debounce + write well under a second
    qtbot.waitUntil(lambda: not window.session.autosaver.has_unsaved, timeout=2000)
    assert np.array_equal(read_mask(path), window.document.mask)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert window.session.project.state(image_id) == "edited"
    original_gif = window.session.current.record.mask_path
    assert original_gif.suffix == ".gif" and read_mask(original_gif)[30, 10:120].min() == 0


def test_edits_survive_reopening_in_a_new_window(qtbot, isolated_config, image_folder, tmp_path):
    first = open_window(qtbot, image_folder, tmp_path / "edits")
    _paint(qtbot, first, y=40)
    image_id = first.session.current.record.image_id
    expected = first.document.mask.copy()
    qtbot.waitUntil(lambda: not first.session.autosaver.has_unsaved, timeout=2000)
    # no close(): like a crash, only what is on disk counts
    second = open_window(qtbot, image_folder, tmp_path / "edits")
    assert second.session.current.record.image_id == image_id
    assert np.array_equal(second.document.mask, expected)
    second.close()
    first.close()


def test_failed_save_keeps_edits_and_retries(qtbot, window, monkeypatch):
    project = window.session.project
    real_save = project.save_edit

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(project, "save_edit", full_disk)
    with qtbot.waitSignal(window.session.autosaver.failed, timeout=2000):
        _paint(qtbot, window)
    image_id = window.session.current.record.image_id
    assert window.session.autosaver.has_unsaved
    assert "NOT SAVED" in window.status.saved.text()
    assert np.array_equal(window.session.autosaver.unsaved_mask(image_id), window.document.mask)
    window.step_image(1)
    window.step_image(-1)
    assert window.document.mask[30, 10:120].all()  # edits shown from memory
    monkeypatch.setattr(project, "save_edit", real_save)
    window.session.autosaver._retry.setInterval(50)
    window.session.autosaver._retry.start()
    qtbot.waitUntil(lambda: not window.session.autosaver.has_unsaved, timeout=3000)
    assert project.mask_path(image_id).exists()


def test_navigation_keys_and_next_unreviewed(qtbot, window):
    ids = [window.table_model.record_at(r).image_id for r in range(window.table_model.rowCount())]
    assert window.session.current.record.image_id == ids[0]
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert window.session.current.record.image_id == ids[1]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    assert window.session.current.record.image_id == ids[2]
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Left)
    assert window.session.current.record.image_id == ids[0]
    # Space marks reviewed; N skips reviewed images
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    project = window.session.project
    qtbot.waitUntil(lambda: project.state(ids[0]) == "reviewed", timeout=2000)
    window.show_image(ids[1])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: project.state(ids[1]) == "reviewed", timeout=2000)
    window.show_image(ids[0])
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.session.current.record.image_id == ids[2]
    assert window.image_list.current_row() == 2


def test_filter_group_and_dice_column(qtbot, window):
    model = window.table_model
    assert model.rowCount() == 6
    assert window.image_list.count_label.text() == "6 of 6 images"
    _paint(qtbot, window)
    image_id = window.session.current.record.image_id
    qtbot.waitUntil(lambda: window.session.project.record(image_id).dice is not None, timeout=2000)
    dice_text = model.data(model.index(0, 2))
    assert 0.0 <= float(dice_text) < 1.0
    window.image_list.filter_box.setCurrentText("Edited")
    assert model.rowCount() == 1 and model.record_at(0).image_id == image_id
    window.image_list.filter_box.setCurrentText("No mask")
    assert model.rowCount() == 5
    window.image_list.filter_box.setCurrentText("All images")
    model.sort(2, Qt.SortOrder.AscendingOrder)  # by Dice, but cars stay together
    cars = [model.record_at(r).car_id for r in range(6)]
    assert cars[0] == cars[1] and cars[2] == cars[3] and cars[4] == cars[5]
    window.image_list.group_box.setChecked(False)
    assert model.record_at(0).image_id == image_id  # the only scored image first


def test_settings_keep_recent_folder_and_geometry(qtbot, isolated_config, image_folder, tmp_path):
    from carvana_gui.settings import Preferences, WindowState

    win = open_window(qtbot, image_folder, tmp_path / "edits")
    win.canvas.set_brush_size(77)
    win.close()
    assert WindowState().last_folder() == str(image_folder)
    assert WindowState().geometry() is not None
    assert Preferences.load().brush_size == 77
    (isolated_config / "config.json").write_text("{broken")
    assert Preferences.load() == Preferences()


def test_model_column_marks_auto_masks_of_another_model_as_stale(qtbot, window):
    from carvana_gui.panels.image_list import STALE_COLOR

    model = window.table_model
    first, second = model.record_at(0).image_id, model.record_at(1).image_id
    window.session.project.save_auto_mask(first, np.zeros((96, 144), np.uint8), "v001-old")
    window.session.project.save_auto_mask(second, np.zeros((96, 144), np.uint8), "v002-new")
    model.rebuild()
    assert model.headerData(3, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) == "Model"
    assert model.data(model.index(0, 3)) == "v001-old"
    model.set_current_version("v002-new")
    fg = Qt.ItemDataRole.ForegroundRole
    assert model.data(model.index(0, 3), fg) == STALE_COLOR
    assert model.data(model.index(1, 3), fg) is None
    assert "Stale" in model.data(model.index(0, 3), Qt.ItemDataRole.ToolTipRole)
    zeros = np.zeros((96, 144), np.uint8)
    window.session.project.set_reviewed(first, True, zeros)  # accepted by a person: not stale
    assert model.data(model.index(0, 3), fg) is None
