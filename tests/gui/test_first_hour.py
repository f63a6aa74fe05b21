"""The first hour with the window: first start, focus, continuity, editing comfort.

Each test drives the window with real key and mouse events, as a person would.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QMessageBox, QTabBar
from test_canvas_editing import _vp, drag

from carvana_gui.actions import ACTIONS, NEEDS_IMAGE
from carvana_gui.canvas.overlay import OUTLINE_DARK, bgra, light_tone, render_mask_patch
from model.edits.mask_ops import stroke_segment

L, R = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
CTRL = Qt.KeyboardModifier.ControlModifier


def _empty_window(qtbot):
    from carvana_gui.app import create_app
    from carvana_gui.main_window import MainWindow

    create_app()
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts need the active window
    return window


def _key(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    """A key press where the keyboard focus is, like a person typing."""
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


# -- 3. first start -----------------------------------------------------------------
def test_first_start_says_how_to_open_a_folder(qtbot, isolated_config, image_folder, tmp_path):
    window = _empty_window(qtbot)
    hint = window.canvas.hint
    assert hint.isVisible() and "Ctrl+O" in hint.text() and "Open Folder" in hint.text()
    assert "drop" in hint.text()
    assert hint.geometry().center() == window.canvas.viewport().rect().center()
    assert window.status.zoom.text() == "–"  # not "75300 %"
    status = window.status  # no framed empty boxes before there is something to say
    assert not any(label.isVisible() for label in (status.image, status.mask, status.saved))
    for name in NEEDS_IMAGE:
        assert not window.action(name).isEnabled(), name
    assert not window.toolbar.widgetForAction(window.action("auto_mask")).isEnabled()
    window.grab().save("/tmp/work/first_start.png")

    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_R, CTRL)  # said nothing before
    assert "open a folder first" in window.statusBar().currentMessage()
    assert "Auto-mask" in window.statusBar().currentMessage()
    window.statusBar().clearMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert "open a folder first" in window.statusBar().currentMessage()
    window.statusBar().clearMessage()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    assert "open a folder first" in window.statusBar().currentMessage()

    window.open_folder(image_folder)
    qtbot.waitUntil(lambda: window.session.current is not None, timeout=10_000)
    assert not hint.isVisible()
    assert window.status.zoom.text().endswith(" %")
    for name in NEEDS_IMAGE:
        assert window.action(name).isEnabled(), name
    assert status.image.isVisible() and status.mask.text().startswith("mask ")
    assert status.mask.isVisible()

    status.show_image_name(None)  # no image on the canvas: its name and area go
    status.show_no_mask()
    status.show_comparison(None)  # a comparison switched off brings no empty box back
    assert not status.image.isVisible() and not status.mask.isVisible()
    assert status.mask.text() == ""
    window.close()


def test_tooltips_name_each_shortcut_once(qtbot, window):
    auto = window.action("auto_mask").toolTip()
    assert auto.count("Ctrl+R") == 1, auto
    for spec in ACTIONS:
        action = window.action(spec.name)
        keys = [k.toString() for k in action.shortcuts()]
        if keys:
            assert action.toolTip().count(f"[{keys[0]}]") == 1, action.toolTip()
            if len(keys[0]) > 1:  # "Ctrl+R" nowhere else in the tip
                assert action.toolTip().count(keys[0]) == 1, action.toolTip()
    assert window.action("mark_reviewed").toolTip().count("Space") == 1


# -- 4. keyboard focus ----------------------------------------------------------------
def test_brush_size_box_gives_the_keys_back_on_enter_and_escape(qtbot, window):
    spin = window.overlay.brush_spin
    qtbot.mouseClick(spin.lineEdit(), L)
    assert spin.hasFocus()
    _key(qtbot, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(QApplication.focusWidget(), "25")
    _key(qtbot, Qt.Key.Key_Return)
    assert window.canvas.brush_size == 25
    assert QApplication.focusWidget() is window.canvas
    _key(qtbot, Qt.Key.Key_E)
    assert window.action("tool_eraser").isChecked()
    _key(qtbot, Qt.Key.Key_B)
    assert window.action("tool_brush").isChecked()
    _key(qtbot, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size == 31 and spin.value() == 31

    qtbot.mouseClick(spin.lineEdit(), L)
    _key(qtbot, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(QApplication.focusWidget(), "99")
    _key(qtbot, Qt.Key.Key_Escape)  # drops the typed size
    assert QApplication.focusWidget() is window.canvas
    assert window.canvas.brush_size == 31 and spin.value() == 31 and "31" in spin.text()
    _key(qtbot, Qt.Key.Key_E)
    assert window.action("tool_eraser").isChecked()
    assert window.document.mask.sum() == 0  # no click on the canvas was needed


# -- 5. continuity ---------------------------------------------------------------------
@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_reopens_at_the_last_image_with_sort_and_brush_kept_after_a_crash(
    qtbot, isolated_config, image_folder, tmp_path
):
    from carvana_gui.settings import Preferences

    first = open_window(qtbot, image_folder, tmp_path / "edits")
    first._prefs_timer.setInterval(50)
    canvas = first.canvas
    ids = [first.table_model.record_at(r).image_id for r in range(first.table_model.rowCount())]
    qtbot.keyClick(canvas, Qt.Key.Key_1)  # actual pixels...
    assert abs(canvas.zoom() - 1.0) < 0.02
    qtbot.keyClick(canvas, Qt.Key.Key_D)  # ...then the next image is shown fitted again
    vb = canvas.viewbox
    fitted = min(vb.width() / 144, vb.height() / 96)
    assert abs(canvas.zoom() - fitted) / fitted < 0.05
    qtbot.keyClick(canvas, Qt.Key.Key_D)
    shown = ids[2]
    assert first.session.current_id == shown
    assert shown in first.windowTitle() and "train (6 images)" in first.windowTitle()
    assert shown in first.status.image.text() and "3 / 6" in first.status.image.text()

    header = first.image_list.view.horizontalHeader()
    x = header.sectionViewportPosition(1) + header.sectionSize(1) // 2
    qtbot.mouseClick(header.viewport(), L, pos=QPoint(x, header.height() // 2))
    assert first.table_model.sort_column == 1
    assert first.image_list.current_row() == first.table_model.row_of(shown)  # row kept
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    size = canvas.brush_size
    qtbot.waitUntil(lambda: Preferences.load().brush_size == size, timeout=2000)

    # no close(): like a crash, only what was saved when it changed counts
    second = open_window(qtbot, image_folder, tmp_path / "edits")
    assert second.session.current_id == shown
    assert second.table_model.sort_column == 1
    assert second.canvas.brush_size == size
    second.close()
    first.close()


# -- 6. editing comfort ----------------------------------------------------------------
def _click(qtbot, window, x, y, button=L):
    qtbot.mouseClick(window.canvas.viewport(), button, pos=_vp(window, x, y))


def test_polygon_lasso_by_clicked_points(qtbot, window):
    canvas = window.canvas
    qtbot.keyClick(canvas, Qt.Key.Key_L)
    assert window.action("tool_lasso").isChecked()
    for x, y in ((10, 10), (100, 10), (100, 80)):
        _click(qtbot, window, x, y)
    assert window.document.mask.sum() == 0  # nothing until the polygon is closed
    assert not canvas.lasso_item.path().isEmpty()
    qtbot.mouseDClick(canvas.viewport(), L, pos=_vp(window, 10, 80))  # last point, closes
    mask = window.document.mask
    assert mask[15:75, 15:95].all() and mask[90, 120] == 0
    assert window.document.history.undo_count == 1
    assert canvas.lasso_item.path().isEmpty()

    # right button: remove; Backspace drops the last point, Enter closes
    for x, y in ((20, 20), (60, 20), (60, 60), (20, 60)):
        _click(qtbot, window, x, y, R)
    _click(qtbot, window, 5, 95, R)  # a wrong point...
    qtbot.keyClick(canvas, Qt.Key.Key_Backspace)  # ...taken back
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert mask[25:55, 25:55].sum() == 0 and mask[70, 15:95].all()
    assert window.document.history.undo_count == 2

    # Escape cancels a polygon in progress
    _click(qtbot, window, 110, 10)
    _click(qtbot, window, 130, 10)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.lasso_item.path().isEmpty()
    _click(qtbot, window, 130, 90)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)  # one point: nothing to fill
    assert window.document.history.undo_count == 2

    drag(qtbot, window, [(110, 85), (140, 85), (140, 94), (110, 94)])  # freehand still works
    assert mask[88, 115:135].all()


def test_outline_is_two_tone_and_dirty_rects_match_a_full_render():
    color = bgra(QColor("#1e90ff"))
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 20:50] = 1
    rgba = np.zeros((60, 80, 4), np.uint8)
    render_mask_patch(mask, rgba, (0, 0, 60, 80), color, outline=True)
    assert (rgba[20, 30] == light_tone(color)).all()  # light pass on the mask's edge
    assert (rgba[19, 30] == OUTLINE_DARK).all()  # dark pass just outside it
    assert rgba[30, 35, 3] == 0 and rgba[5, 5, 3] == 0

    incremental = rgba.copy()
    rng = np.random.default_rng(3)
    for _ in range(15):
        p0, p1 = (tuple(int(v) for v in rng.integers(0, 60, 2)) for _ in range(2))
        box = stroke_segment(mask, p0, p1, int(rng.integers(1, 12)), int(rng.integers(0, 2)))
        if box is not None:
            render_mask_patch(mask, incremental, box, color, outline=True)
    full = np.zeros_like(incremental)
    render_mask_patch(mask, full, (0, 0, 60, 80), color, outline=True)
    assert np.array_equal(incremental, full)


def test_outline_key_shows_a_readable_two_tone_outline(qtbot, window):
    window.canvas.set_brush_size(30)
    drag(qtbot, window, [(40, 48), (100, 48)])
    qtbot.keyClick(window.canvas, Qt.Key.Key_O)
    assert window.action("outline").isChecked()
    overlay = window.canvas.mask_item.array.view(np.uint32)[..., 0]
    color = bgra(QColor(window.prefs.overlay_color))
    assert (overlay == light_tone(color).view(np.uint32)[0]).any()
    assert (overlay == OUTLINE_DARK.view(np.uint32)[0]).any()
    assert window.canvas.mask_item.opacity() >= 0.85
    window.grab().save("/tmp/work/outline.png")


def test_menus_and_f1_show_every_key(qtbot, window):
    assert window.action("mark_reviewed").text().endswith("\tSpace")  # shown in the menu
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1
    text = boxes[0].text()
    assert "Export" in text and "Ctrl+E" in text and "Space" in text and "Ctrl+R" in text
    qtbot.keyClick(boxes[0], Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not any(b.isVisible() for b in window.findChildren(QMessageBox)))


def test_effort_table_columns_fit_their_dock(qtbot, window):
    project = window.session.project
    ids = [window.table_model.record_at(r).image_id for r in range(4)]
    mask = np.zeros((96, 144), np.uint8)
    for i, image_id in enumerate(ids):
        project.save_auto_mask(image_id, mask, f"v00{i % 2 + 1}-finetuned-on-reviewed-masks")
    project.set_reviewed(ids[0], True, mask)
    loop = window.model_loop
    loop.docks["effort"].show()
    loop.docks["effort"].raise_()
    window.resizeDocks([loop.docks["effort"]], [260], Qt.Orientation.Horizontal)
    panel = loop.effort
    panel.refresh()
    qtbot.waitUntil(lambda: panel.table.isVisible() and panel.table.rowCount() == 2)
    table = panel.table
    header = table.horizontalHeader()
    assert header.length() <= table.viewport().width() + 1
    assert not table.horizontalScrollBar().isVisible()
    for column in range(1, table.columnCount()):  # the figures are never cut
        width = header.sectionSize(column)
        assert width >= table.sizeHintForColumn(column) - 1, column


def test_right_dock_tabs_show_their_titles_whole(qtbot, isolated_config):
    window = _empty_window(qtbot)
    titles = {dock.windowTitle() for dock in window.model_loop.docks.values()}
    bars = [
        bar
        for bar in window.findChildren(QTabBar)
        if {bar.tabText(i) for i in range(bar.count())} == titles
    ]
    assert len(bars) == 1
    bar = bars[0]
    for i in range(bar.count()):  # Qt elides a tab narrower than its hint ("Fine-t…")
        assert bar.tabRect(i).width() >= bar.tabSizeHint(i).width(), bar.tabText(i)
