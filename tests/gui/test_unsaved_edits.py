"""Never drop an edit: closing or switching folders with edits the disk refused asks first;
a read-only image folder still takes edits (elsewhere); a stored mask of another size is
never overwritten."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from test_canvas_editing import drag

from model.data.masks import read_mask

L = Qt.MouseButton.LeftButton


def _full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _paint_unsaved(qtbot, window, monkeypatch, y=30):
    monkeypatch.setattr(window.session.project, "save_edit", _full_disk)
    window.canvas.set_brush_size(7)
    with qtbot.waitSignal(window.session.autosaver.failed, timeout=2000):
        drag(qtbot, window, [(10, y), (120, y)])
    qtbot.waitUntil(lambda: "NOT SAVED" in window.status.saved.text(), timeout=2000)
    return window.session.current_id, window.document.mask.copy()


def _button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text().replace("&", "") == text)


def _answer(qtbot, window, text: str) -> None:
    qtbot.waitUntil(
        lambda: (
            window.save_questions.unsaved_box is not None
            and window.save_questions.unsaved_box.isVisible()
        )
    )
    qtbot.mouseClick(_button(window.save_questions.unsaved_box, text), L)


def test_closing_with_unsaved_edits_asks_and_saves_them_elsewhere(
    qtbot, window, monkeypatch, tmp_path
):
    image_id, mask = _paint_unsaved(qtbot, window, monkeypatch)
    rescue = tmp_path / "rescue"
    rescue.mkdir()
    monkeypatch.setattr(window.save_questions, "choose_rescue_folder", lambda: rescue)
    window.close()
    assert window.isVisible()  # not closed: asked first
    box = window.save_questions.unsaved_box
    assert "1 edited mask" in box.text() and image_id in box.text()
    assert {b.text().replace("&", "") for b in box.buttons()} == {
        "Save elsewhere…",
        "Discard",
        "Cancel",
    }
    _answer(qtbot, window, "Save elsewhere…")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)
    assert np.array_equal(read_mask(rescue / f"{image_id}_mask.png"), mask)


def test_cancel_keeps_the_window_and_discard_closes_it(qtbot, window, monkeypatch):
    image_id, _mask = _paint_unsaved(qtbot, window, monkeypatch)
    window.close()
    qtbot.waitUntil(lambda: window.save_questions.unsaved_box is not None)
    qtbot.keyClick(window.save_questions.unsaved_box, Qt.Key.Key_Escape)  # = Cancel
    qtbot.waitUntil(lambda: window.save_questions.unsaved_box is None)
    assert window.isVisible() and window.session.autosaver.has_unsaved
    assert window.document.mask[30, 10:120].all()
    window.close()
    _answer(qtbot, window, "Discard")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=3000)
    assert not window.session.project.mask_path(image_id).exists()


def test_opening_another_folder_with_unsaved_edits_asks(
    qtbot, window, monkeypatch, image_folder, tmp_path
):
    from tiny_carvana import make_image_folder

    other, _ = make_image_folder(tmp_path / "other", cars=1, angles=2)
    image_id, _mask = _paint_unsaved(qtbot, window, monkeypatch)
    window.open_folder(other)
    _answer(qtbot, window, "Cancel")
    assert window.session.folder == image_folder and window.session.current_id == image_id
    window.open_folder(other)
    _answer(qtbot, window, "Discard")
    qtbot.waitUntil(lambda: window.session.folder == other, timeout=5000)
    assert window.session.current is not None


def test_a_read_only_image_folder_saves_edits_in_the_user_data_dir(
    qtbot, isolated_config, image_folder, tmp_path, monkeypatch
):
    import carvana_gui.edits_folder as edits_folder

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    real = edits_folder.folder_is_writable
    monkeypatch.setattr(
        edits_folder, "folder_is_writable", lambda p: not p.name.endswith("_edits") and real(p)
    )
    window = open_window(qtbot, image_folder, None)  # the default place: beside the images
    root = window.session.project.root
    assert root.parent == tmp_path / "xdg" / "carvana-gui" / "edits"
    assert root.name.startswith("train-") and len(root.name) == len("train-") + 8
    assert str(root) in window.statusBar().currentMessage()
    assert "cannot be written" in window.statusBar().currentMessage()
    assert window.status.edits.isVisible() and str(root) in window.status.edits.text()
    window.canvas.set_brush_size(7)
    drag(qtbot, window, [(10, 30), (120, 30)])
    image_id = window.session.current_id
    qtbot.waitUntil(lambda: (root / "masks" / f"{image_id}_mask.png").exists(), timeout=2000)
    assert not (image_folder.parent / "train_edits").exists()
    window.close()


@pytest.mark.parametrize("broken", ["other size", "unreadable"])
def test_a_stored_mask_that_does_not_fit_is_never_overwritten(qtbot, window, broken):
    project = window.session.project
    second = window.table_model.record_at(1).image_id
    if broken == "other size":
        big = np.zeros((1280, 1918), np.uint8)
        big[100:900, 200:1700] = 1  # a 1.2M-px mask made for a full-size photo
        project.save_edit(second, big)
    else:
        project.save_edit(second, np.ones((96, 144), np.uint8))
        project.mask_path(second).write_bytes(b"not a png")
    path = project.mask_path(second)
    before = path.read_bytes()

    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert window.session.current_id == second
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and str(path) in boxes[-1].text()
    if broken == "other size":
        assert "1918×1280" in boxes[-1].text() and "144×96" in boxes[-1].text()
    assert "read-only" in window.status.mask.text()
    assert window.document.read_only is not None
    qtbot.mouseClick(boxes[-1].buttons()[0], L)  # OK: the keys go back to the window
    qtbot.waitUntil(lambda: not window.findChildren(QMessageBox))  # closed and deleted
    window.activateWindow()  # what the window manager does (the offscreen platform doesn't)
    qtbot.waitUntil(window.isActiveWindow)

    window.canvas.set_brush_size(9)
    drag(qtbot, window, [(10, 30), (120, 30)])  # the tools do nothing...
    assert window.document.mask.sum() == 0
    assert "read-only" in window.statusBar().currentMessage()  # ...and say why
    window.statusBar().clearMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_H)  # fill holes
    assert "read-only" in window.statusBar().currentMessage()
    window.statusBar().clearMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)  # mark reviewed writes the mask file
    assert "read-only" in window.statusBar().currentMessage()
    assert not window.action("mark_reviewed").isChecked()
    qtbot.wait(400)  # past the autosave debounce
    assert not window.session.autosaver.has_unsaved
    assert path.read_bytes() == before
    assert project.state(second) == "edited"

    qtbot.keyClick(window.canvas, Qt.Key.Key_A)  # other images stay editable
    assert window.document.read_only is None
    drag(qtbot, window, [(10, 30), (120, 30)])
    assert window.document.mask[30, 10:120].all()


def test_a_stored_mask_decoded_into_read_only_memory_can_still_be_painted(
    qtbot, window, monkeypatch
):
    """read_mask may hand back a decoded image's read-only buffer (a 0/1 GIF): the first
    stroke on such a mask raised "assignment destination is read-only"."""
    project = window.session.project
    real = project.load_for_editing

    def read_only_mask(image_id):
        mask = real(image_id)
        mask = np.zeros((96, 144), np.uint8) if mask is None else mask
        mask.setflags(write=False)
        return mask

    monkeypatch.setattr(project, "load_for_editing", read_only_mask)
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    window.canvas.set_brush_size(7)
    drag(qtbot, window, [(10, 30), (120, 30)])
    assert window.document.mask[30, 10:120].all()
