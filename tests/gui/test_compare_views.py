"""Where a mask errs, in the window (issue 23): X paints the difference to the truth, V
flips to the model's auto-mask 'before' (edits held meanwhile), W walks the folder by Dice,
worst first. Driven by the real keys on the window."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel
from test_canvas_editing import drag

from carvana_gui.panels.compare_views import BEFORE_HELD, WorstStep, next_worst_step
from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from model.kaggle.difference import FALSE_CAR_RGB, MISSED_CAR_RGB, compare
from model.kaggle.metrics import dice
from tiny_carvana import make_image_folder

# Each image's auto-mask is its truth shifted right by this many pixels: a known Dice order.
SHIFTS = {
    "000000000001_01": 3,
    "000000000001_02": 9,
    "000000000002_01": 1,
    "000000000002_02": 12,
    "000000000003_01": 6,
    "000000000003_02": 0,
}
# worst first: the largest shift (the images differ little in size)
WORST_FIRST = sorted(SHIFTS, key=lambda i: -SHIFTS[i])


def _shifted(truth: np.ndarray, image_id: str) -> np.ndarray:
    return np.roll(truth, SHIFTS[image_id], axis=1)


@pytest.fixture
def scored(tmp_path, isolated_config):
    """A tiny folder whose images all have a stored auto-mask (by "v001") and its Dice."""
    train, masks = make_image_folder(tmp_path / "data", cars=3, angles=2)
    store = ProjectStore(tmp_path / "edits")
    for image_id in SHIFTS:
        truth = read_mask(masks / f"{image_id}_mask.gif")
        auto = _shifted(truth, image_id)
        store.save_auto_mask(image_id, auto, "v001")
        store.set_dice(image_id, dice(auto, truth))
    store.close()
    return train, masks, tmp_path / "edits"


def _key(qtbot, window, key) -> None:
    qtbot.keyClick(window, key)


def _message(window) -> str:
    return window.statusBar().currentMessage()


def _colour_pixels(widget, rgb: tuple[int, int, int]) -> int:
    """Screen pixels of ``rgb`` in a grab of ``widget`` (what a person sees)."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, stride * h).reshape(h, stride)
    pixels = rows[:, : 3 * w].reshape(h, w, 3)
    return int(np.count_nonzero((np.abs(pixels.astype(int) - rgb) < 8).all(axis=2)))


def test_x_paints_false_and_missed_car_and_counts_them_in_the_status_bar(qtbot, scored):
    train, _masks, edits = scored
    window = open_window(qtbot, train, edits)
    truth = window.session.current.truth
    expected = compare(window.document.mask, truth)
    assert expected.false_car > 0 and expected.missed_car > 0
    assert _colour_pixels(window.canvas, FALSE_CAR_RGB) == 0

    _key(qtbot, window, Qt.Key.Key_X)
    assert window.action("diff_truth").isChecked()
    assert not window.canvas.mask_item.isVisible()  # the mask overlay gives way to the difference
    readout = window.status.compare.text()
    assert window.status.compare.isVisible() and not window.status.mask.isVisible()
    assert f"false car {expected.false_car:,}" in readout
    assert f"missed car {expected.missed_car:,} px" in readout
    assert f"Dice {expected.dice:.4f}" in readout
    assert _colour_pixels(window.canvas, FALSE_CAR_RGB) > 20  # magenta on screen
    assert _colour_pixels(window.canvas, MISSED_CAR_RGB) > 20  # and cyan

    window.action("use_ground_truth").trigger()  # an edit: the read-out follows it
    assert "false car 0 " in window.status.compare.text()
    assert "Dice 1.0000" in window.status.compare.text()
    assert _colour_pixels(window.canvas, FALSE_CAR_RGB) == 0
    window.document.undo()
    assert f"Dice {expected.dice:.4f}" in window.status.compare.text()

    _key(qtbot, window, Qt.Key.Key_X)
    assert not window.action("diff_truth").isChecked()
    assert window.canvas.mask_item.isVisible() and window.status.mask.isVisible()
    assert not window.status.compare.isVisible()
    assert _colour_pixels(window.canvas, FALSE_CAR_RGB) == 0
    window.close()


def test_x_on_an_image_without_truth_says_so(qtbot, scored):
    train, masks, edits = scored
    (masks / "000000000001_02_mask.gif").unlink()  # no truth for the second image
    window = open_window(qtbot, train, edits)
    _key(qtbot, window, Qt.Key.Key_X)
    assert window.action("diff_truth").isChecked()
    _key(qtbot, window, Qt.Key.Key_D)  # next image, the difference view stays on
    qtbot.waitUntil(lambda: window.session.current_id == "000000000001_02", timeout=5000)
    assert "has no ground-truth mask" in _message(window)
    assert window.status.compare.text() == "no ground truth"
    assert window.canvas.mask_item.isVisible()  # the mask is not hidden for nothing
    _key(qtbot, window, Qt.Key.Key_X)  # off, then on again: refused on this image
    _key(qtbot, window, Qt.Key.Key_X)
    assert not window.action("diff_truth").isChecked()
    assert "has no ground-truth mask" in _message(window)
    window.close()


def test_v_shows_the_auto_mask_and_holds_edits_until_v_again(qtbot, scored):
    train, _masks, edits = scored
    window = open_window(qtbot, train, edits)
    image_id = window.session.current_id
    truth = window.session.current.truth
    auto = _shifted(truth, image_id)
    window.action("use_ground_truth").trigger()  # the person's mask: the truth
    changed = int(np.count_nonzero(auto != truth))

    _key(qtbot, window, Qt.Key.Key_V)
    assert window.action("show_before").isChecked()
    assert np.array_equal(window.canvas.shown_mask, auto)
    assert np.array_equal(window.document.mask, truth)  # the person's mask is untouched
    assert f"you changed {changed:,} px" in _message(window)
    assert "by v001" in _message(window)
    assert f"{changed:,} px changed" in window.status.compare.text()

    drag(qtbot, window, [(5, 5), (40, 5)])  # a brush stroke while 'before' is shown
    assert np.array_equal(window.document.mask, truth)
    assert _message(window) == BEFORE_HELD
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, truth)  # undo is held too

    _key(qtbot, window, Qt.Key.Key_X)  # the difference of the 'before' to the truth
    assert window.status.compare.text().startswith("<b>before</b>: ")
    assert f"Dice {dice(auto, truth):.4f}" in window.status.compare.text()
    _key(qtbot, window, Qt.Key.Key_X)

    _key(qtbot, window, Qt.Key.Key_V)  # back to the person's mask: editing works again
    assert not window.action("show_before").isChecked()
    assert window.canvas.shown_mask is window.document.mask
    assert not window.status.compare.isVisible()
    drag(qtbot, window, [(5, 5), (40, 5)])
    assert window.document.mask[5, 20] == 1
    window.close()


def test_v_without_an_auto_mask_and_v_left_behind_by_navigation(qtbot, scored):
    train, _masks, edits = scored
    store = ProjectStore(edits)  # the second image: a person's mask, never an auto-mask
    store.save_edit("000000000001_02", np.ones((96, 144), np.uint8))
    store.auto_mask_path("000000000001_02").unlink()
    store.close()
    window = open_window(qtbot, train, edits)
    _key(qtbot, window, Qt.Key.Key_V)
    assert window.action("show_before").isChecked()
    _key(qtbot, window, Qt.Key.Key_D)  # another image: 'before' belonged to the last one
    qtbot.waitUntil(lambda: window.session.current_id == "000000000001_02", timeout=5000)
    assert not window.action("show_before").isChecked()
    assert window.document.edits_held is None
    _key(qtbot, window, Qt.Key.Key_V)
    assert not window.action("show_before").isChecked()
    assert "has no stored auto-mask" in _message(window)
    window.close()


def test_w_walks_the_folder_by_dice_worst_first_and_a_corrected_image_keeps_its_place(
    qtbot, scored
):
    train, _masks, edits = scored
    window = open_window(qtbot, train, edits)
    rows = window.session.project.records()
    order = sorted((rows[i].dice, i) for i in SHIFTS)
    assert [i for _, i in order] == WORST_FIRST
    start = window.session.current_id
    position = [i for _, i in order].index(start)
    expected = WORST_FIRST[position + 1 :] + WORST_FIRST[: position + 1]
    messages = [_w_to(qtbot, window, image_id) for image_id in expected]
    wrap = len(SHIFTS) - position - 1  # the W that came round to the worst again
    assert messages[wrap] == f"Worst 1 of 6 again (Dice {order[0][0]:.4f}): {expected[wrap]}"
    assert messages[0].startswith(f"Worst {position + 2} of 6 (Dice {order[position + 1][0]:.4f})")

    # W to the 2nd worst and correct it there: W goes on to the 3rd worst. (By its new
    # Dice, 1.0, the corrected image would rank last and W would wrap to the worst.)
    while window.session.current_id != WORST_FIRST[1]:
        following = WORST_FIRST[(WORST_FIRST.index(window.session.current_id) + 1) % 6]
        _w_to(qtbot, window, following)
    window.action("use_ground_truth").trigger()
    project = window.session.project
    qtbot.waitUntil(lambda: project.record(WORST_FIRST[1]).dice == 1.0, timeout=5000)
    assert _w_to(qtbot, window, WORST_FIRST[2]).startswith("Worst 2 of 6")  # 2nd by now
    window.close()


def _w_to(qtbot, window, image_id: str) -> str:
    """Press W, expect ``image_id`` on the canvas; the status message it left."""
    _key(qtbot, window, Qt.Key.Key_W)
    qtbot.waitUntil(lambda: window.session.current_id == image_id, timeout=5000)
    return _message(window)


def test_w_needs_a_dice_to_rank_by(qtbot, isolated_config, tmp_path):
    train, _masks = make_image_folder(tmp_path / "data", cars=2, angles=1)
    window = open_window(qtbot, train, tmp_path / "edits")
    start = window.session.current_id
    _key(qtbot, window, Qt.Key.Key_W)
    assert window.session.current_id == start
    assert "no image has a Dice yet" in _message(window)
    window.close()


def test_next_worst_step_order_ties_and_wrap():
    dice = {"a": 0.9, "b": 0.5, "c": 0.7, "d": 0.5, "e": None}
    assert next_worst_step(dice, None) == WorstStep("b", 1, 4, 0.5, False)
    assert next_worst_step(dice, (0.5, "b")).image_id == "d"  # ties by id
    assert next_worst_step(dice, (0.7, "c")).image_id == "a"
    assert next_worst_step(dice, (0.9, "a")) == WorstStep("b", 1, 4, 0.5, True)
    # "c" was corrected since W went there (now 1.0): the walk goes on from where it was
    dice["c"] = 1.0
    assert next_worst_step(dice, (0.7, "c")).image_id == "a"
    assert next_worst_step({"a": None}, None) is None


def _message_room(window) -> int:
    """Pixels the status bar leaves its message: up to its first visible read-out."""
    bar = window.statusBar()
    return min(w.mapTo(bar, QPoint(0, 0)).x() for w in bar.findChildren(QLabel) if w.isVisible())


def test_messages_keep_room_beside_the_readouts_and_the_whole_text_on_hover(qtbot, scored):
    train, _masks, edits = scored
    window = open_window(qtbot, train, edits)
    window.resize(1300, 900)
    _key(qtbot, window, Qt.Key.Key_X)  # the widest read-out: the difference to the truth
    qtbot.wait(50)
    assert window.status.compare.isVisible()
    assert not window.status.position.isVisible() and not window.status.busy.isVisible()
    assert _message_room(window) >= 350  # about 130 px while the empty labels took room

    viewport = window.canvas.viewport()
    qtbot.mouseMove(viewport, pos=viewport.rect().center())  # over the image: x, y shown
    qtbot.waitUntil(window.status.position.isVisible)
    assert window.status.position.text().startswith("x ")

    long = "Refine edge: " + "a message longer than the room the bar leaves it " * 3
    window.status.show_message(long)
    assert window.statusBar().toolTip() == long
    window.statusBar().clearMessage()  # timed out: the last message still reads on hover
    assert window.statusBar().toolTip() == long

    window.status.show_busy("auto-mask…")
    assert window.status.busy.isVisible()
    window.status.show_busy("")
    assert not window.status.busy.isVisible()
    window.close()
