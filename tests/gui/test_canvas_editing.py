"""Brush, eraser, bucket, lasso, fill holes and undo through real mouse events."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

L, R = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


def _vp(window, x, y) -> QPoint:
    return window.canvas.image_to_viewport(x, y)


def drag(qtbot, window, points, button=L):
    """Press at the first image point, move through the rest, release at the last."""
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, button, pos=_vp(window, *points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(viewport, pos=_vp(window, x, y))
    qtbot.mouseRelease(viewport, button, pos=_vp(window, *points[-1]))


def test_image_and_view_coordinates_round_trip(window):
    canvas = window.canvas
    for x, y in ((0, 0), (70, 40), (143, 95)):
        p = canvas.viewport_to_image(canvas.image_to_viewport(x, y))
        assert (int(np.floor(p.x())), int(np.floor(p.y()))) == (x, y)


def test_the_photo_is_drawn_row_major_whatever_the_global_pyqtgraph_option(qtbot):
    """A canvas embedded without create_app() (pyqtgraph's default is column-major) must
    not show the photo transposed: it was, sideways and cut off, before the fix."""
    import pyqtgraph as pg

    from carvana_gui.canvas.view import MaskCanvas
    from carvana_gui.editing.document import MaskDocument

    previous = pg.getConfigOption("imageAxisOrder")
    pg.setConfigOptions(imageAxisOrder="col-major")
    try:
        canvas = MaskCanvas(MaskDocument())
        qtbot.addWidget(canvas)
        image = np.zeros((40, 90, 3), np.uint8)
        image[:, :30] = (255, 0, 0)  # red left third
        canvas.set_image(image)
        rect = canvas.photo.boundingRect()
        assert (rect.width(), rect.height()) == (90, 40)
        rendered = canvas.photo.getPixmap().toImage()  # what the view paints
        assert (rendered.width(), rendered.height()) == (90, 40)
        assert rendered.pixelColor(5, 20).red() == 255 and rendered.pixelColor(80, 20).red() == 0
    finally:
        pg.setConfigOptions(imageAxisOrder=previous)


def test_brush_stroke_paints_without_gaps(qtbot, window):
    window.canvas.set_brush_size(3)
    drag(qtbot, window, [(10, 20), (130, 20)])  # one fast move across the image
    mask = window.document.mask
    assert mask[20, 10:131].all(), "stroke has gaps"
    assert mask[30].sum() == 0 and mask[:, 5].sum() == 0
    assert window.document.history.undo_count == 1


def test_right_button_and_eraser_remove(qtbot, window):
    window.canvas.set_brush_size(9)
    drag(qtbot, window, [(10, 50), (130, 50)])
    assert window.document.mask[50, 10:131].all()
    drag(qtbot, window, [(40, 50), (60, 50)], button=R)
    assert window.document.mask[50, 40:61].sum() == 0
    window.action("tool_eraser").trigger()
    drag(qtbot, window, [(100, 50), (110, 50)])
    assert window.document.mask[50, 100:111].sum() == 0
    assert window.document.mask[50, 80] == 1


def test_bucket_fills_and_removes_regions(qtbot, window):
    window.canvas.set_brush_size(3)
    drag(qtbot, window, [(20, 20), (60, 20), (60, 60), (20, 60), (20, 20)])  # closed ring
    window.action("tool_bucket").trigger()
    viewport = window.canvas.viewport()
    qtbot.mouseClick(viewport, L, pos=_vp(window, 40, 40))
    assert window.document.mask[25:56, 25:56].all()
    assert window.document.mask[80, 100] == 0
    qtbot.mouseClick(viewport, R, pos=_vp(window, 40, 40))
    assert window.document.mask.sum() == 0


def test_fill_holes_action_and_lasso(qtbot, window):
    window.action("tool_lasso").trigger()
    drag(qtbot, window, [(10, 10), (100, 10), (100, 80), (10, 80)])
    mask = window.document.mask
    assert mask[15:75, 15:95].all() and mask[90, 120] == 0
    drag(qtbot, window, [(40, 30), (60, 30), (60, 50), (40, 50)], button=R)
    assert mask[35:46, 45:56].sum() == 0
    window.action("fill_holes").trigger()
    assert mask[35:46, 45:56].all()
    assert window.document.history.undo_count == 3


def test_undo_redo_per_stroke(qtbot, window):
    window.canvas.set_brush_size(5)
    drag(qtbot, window, [(10, 10), (50, 10)])
    first = window.document.mask.copy()
    drag(qtbot, window, [(10, 40), (50, 40)])
    second = window.document.mask.copy()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, first)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.document.mask.sum() == 0
    assert not window.action("undo").isEnabled()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, ctrl_shift)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, ctrl_shift)
    assert np.array_equal(window.document.mask, second)


def test_brush_size_keys_and_ctrl_wheel(qtbot, window):
    canvas = window.canvas
    canvas.set_brush_size(40)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size == 50
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size == 40
    canvas.set_brush_size(1000)
    assert canvas.brush_size == 300
    assert window.overlay.brush_spin.value() == 300


def test_view_shortcuts_zoom_and_toggle_mask(qtbot, window):
    canvas = window.canvas
    window.resize(1200, 700)  # room for the canvas beside the docks (the list has 5 columns)
    qtbot.waitUntil(lambda: canvas.width() > 300)
    qtbot.keyClick(canvas, Qt.Key.Key_1)
    assert abs(canvas.zoom() - 1.0) < 0.02
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    # Fit: the whole 144x96 image fills the view, whatever the docks leave of the window.
    vb = canvas.viewbox
    fitted = min(vb.width() / 144, vb.height() / 96)
    assert fitted > 1.5 and abs(canvas.zoom() - fitted) / fitted < 0.05
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 <= 0 and x1 >= 144 and y0 <= 0 and y1 >= 96
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert not canvas.mask_item.isVisible()
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert canvas.mask_item.isVisible()


def test_space_drag_pans_without_painting_and_space_tap_marks_reviewed(qtbot, window):
    canvas = window.canvas
    canvas.one_to_one()
    before = canvas.viewbox.viewRange()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, window, [(60, 40), (70, 45), (90, 60), (100, 70)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    after = canvas.viewbox.viewRange()
    assert window.document.mask.sum() == 0
    assert after != before
    assert window.session.project.state(window.session.current.record.image_id) != "reviewed"
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    image_id = window.session.current.record.image_id
    qtbot.waitUntil(lambda: window.session.project.state(image_id) == "reviewed", timeout=2000)


def test_ctrl_wheel_changes_brush_size(qtbot, window):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    canvas = window.canvas
    canvas.set_brush_size(40)
    pos = QPointF(canvas.image_to_viewport(50, 50))
    event = QWheelEvent(
        pos,
        QPointF(canvas.viewport().mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    zoom = canvas.zoom()
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.brush_size == round(40 * 1.15**2)
    assert canvas.zoom() == zoom  # Ctrl+wheel sizes the brush, it does not zoom
