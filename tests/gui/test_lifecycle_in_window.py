"""The mask lifecycle as a person meets it in the window: what the canvas shows, what an
edit or Space does to the state, and two windows on one folder."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import Qt
from test_canvas_editing import drag

from model.edits.lifecycle import MaskState
from model.edits.project_store import ProjectStore
from tiny_carvana import IMAGE_HW


def _ellipse_mask() -> np.ndarray:
    mask = np.zeros(IMAGE_HW, np.uint8)
    mask[20:70, 30:110] = 1
    return mask


def _paint(qtbot, window, y: int, size: int = 5) -> None:
    window.canvas.set_brush_size(size)
    drag(qtbot, window, [(10, y), (40, y)])


def _settled(window) -> bool:
    return not window.session.autosaver.has_unsaved


def test_a_batch_auto_mask_opens_on_the_canvas(qtbot, isolated_config, image_folder, tmp_path):
    """Failure 1: auto-masks made outside the editor are what the editor shows and edits."""
    auto = _ellipse_mask()
    store = ProjectStore(tmp_path / "edits")
    ids = sorted(p.stem for p in image_folder.glob("*.jpg"))
    for image_id in ids:
        store.save_auto_mask(image_id, auto, "v001")
    store.close()
    window = open_window(qtbot, image_folder, tmp_path / "edits")
    assert np.array_equal(window.document.mask, auto)
    assert window.status.mask.text().startswith(f"mask {int(auto.sum()):,} px")
    _paint(qtbot, window, y=10)  # a small stroke above the car
    image_id = window.session.current_id
    qtbot.waitUntil(lambda: _settled(window), timeout=3000)
    record = window.session.project.record(image_id)
    assert record.state is MaskState.EDITED
    assert 0 < record.pixels_changed < 500  # the stroke, not the whole auto-mask
    assert window.document.mask[20:70, 30:110].all()  # painting started from the auto-mask
    window.close()


def test_unchanged_auto_mask_stays_an_auto_mask_and_undo_returns_to_it(
    qtbot, isolated_config, image_folder, tmp_path
):
    """Failure 2: the model's mask saved by the editor is not a person's mask."""
    store = ProjectStore(tmp_path / "edits")
    first = sorted(p.stem for p in image_folder.glob("*.jpg"))[0]
    store.save_auto_mask(first, _ellipse_mask(), "v001", by_person=True)
    store.close()
    window = open_window(qtbot, image_folder, tmp_path / "edits")
    project = window.session.project
    _paint(qtbot, window, y=8)
    qtbot.waitUntil(lambda: project.state(first) is MaskState.EDITED, timeout=3000)
    window.document.undo()  # back to exactly the model's mask
    qtbot.waitUntil(lambda: project.state(first) is MaskState.AUTO, timeout=3000)
    assert not project.mask_path(first).exists()
    window.table_model.set_current_version("v002")
    fg = window.table_model.data(window.table_model.index(0, 3), Qt.ItemDataRole.ForegroundRole)
    assert fg is not None  # orange: stale
    window.close()


def test_space_marks_the_shown_auto_mask_reviewed(qtbot, isolated_config, image_folder, tmp_path):
    store = ProjectStore(tmp_path / "edits")
    first = sorted(p.stem for p in image_folder.glob("*.jpg"))[0]
    store.save_auto_mask(first, _ellipse_mask(), "v001")
    store.close()
    window = open_window(qtbot, image_folder, tmp_path / "edits")
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    project = window.session.project
    qtbot.waitUntil(lambda: project.state(first) is MaskState.REVIEWED, timeout=3000)
    assert project.record(first).pixels_changed == 0  # accepted as it was
    assert window.action("mark_reviewed").isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)  # taken back
    qtbot.waitUntil(lambda: project.state(first) is MaskState.AUTO, timeout=3000)
    window.close()


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
@pytest.mark.parametrize("keep_mine", [True, False])
def test_two_windows_on_one_folder_never_lose_a_stroke_silently(
    qtbot, isolated_config, image_folder, tmp_path, keep_mine
):
    """Failure 12: both windows said "saved" and the file kept only the second stroke."""
    a = open_window(qtbot, image_folder, tmp_path / "edits")
    b = open_window(qtbot, image_folder, tmp_path / "edits")
    image_id = a.session.current_id
    assert b.session.current_id == image_id
    _paint(qtbot, a, y=20)
    qtbot.waitUntil(lambda: _settled(a), timeout=3000)
    a_mask = a.document.mask.copy()
    with qtbot.waitSignal(b.session.autosaver.conflict, timeout=3000):
        _paint(qtbot, b, y=60)
    b_mask = b.document.mask.copy()
    store = ProjectStore(tmp_path / "edits")
    assert np.array_equal(store.load_shown_mask(image_id), a_mask)  # A's stroke is kept...
    assert np.array_equal(b.session.autosaver.unsaved_mask(image_id), b_mask)  # ...and B's
    assert b.session.autosaver.has_unsaved and b.save_questions.conflict_box.isVisible()
    chosen = b.save_questions.conflict_box.buttons()[0 if keep_mine else 1]
    qtbot.mouseClick(chosen, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _settled(b), timeout=3000)
    store.refresh()
    if keep_mine:
        assert np.array_equal(store.load_shown_mask(image_id), b_mask)
        # A is told in turn when it next saves over B's mask
        with qtbot.waitSignal(a.session.autosaver.conflict, timeout=3000):
            _paint(qtbot, a, y=80)
    else:
        assert np.array_equal(store.load_shown_mask(image_id), a_mask)
        assert np.array_equal(b.document.mask, a_mask)  # B now shows A's mask
    a.close()
    if keep_mine:  # A's last stroke is held back (a conflict): closing asks first
        qtbot.waitUntil(lambda: a.save_questions.unsaved_box is not None)
        discard = next(x for x in a.save_questions.unsaved_box.buttons() if x.text() == "Discard")
        qtbot.mouseClick(discard, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not a.isVisible())
    b.close()
