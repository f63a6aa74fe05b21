"""The image canvas: photo, mask overlay, confidence band, brush ring and tool input.

pyqtgraph supplies the zoomable view (wheel zoom around the cursor, middle-button
pan). Left/right button input for the editing tools is taken from the viewport before
pyqtgraph sees it, converted to full-resolution image pixels and handed to the active
tool, so a press paints at once without waiting for a drag threshold. Space held while
dragging pans; a Space tap is reported as ``space_tapped`` (mark reviewed). While no
image is shown, a hint in the middle says how to open one.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainterPath,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QLabel,
    QWidget,
)

from carvana_gui.canvas.overlay import ArrayImageItem, bgra, render_confidence, render_mask_patch
from carvana_gui.canvas.tools.base import Tool
from carvana_gui.editing.document import MaskDocument
from model.edits.mask_ops import MAX_BRUSH, MIN_BRUSH, Box


class _CallbackFilter(QObject):
    """An event filter object that forwards to a function."""

    def __init__(self, callback, parent: QObject) -> None:
        super().__init__(parent)
        self._callback = callback

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        return self._callback(obj, event)


FIRST_START_HINT = (
    "<p style='font-size:15pt; color:#c9d2dc'>No image open</p>"
    "<p>Open a folder of car photos:<br><b>File → Open Folder…</b> &nbsp;(<b>Ctrl+O</b>)"
    "<br>or drop a folder or an image here.</p>"
    "<p style='color:#6b7480'>F1 lists every shortcut.</p>"
)
# The light pass of an outline is thin: keep it readable whatever the fill opacity.
MIN_OUTLINE_OPACITY = 0.85


class MaskCanvas(pg.GraphicsView):
    """Shows one image and its mask, and routes mouse input to the active tool."""

    cursor_moved = Signal(int, int)  # image x, y; -1, -1 when outside the image
    zoom_changed = Signal(float)  # screen pixels per image pixel
    brush_size_changed = Signal(int)
    space_tapped = Signal()

    def __init__(self, document: MaskDocument, parent=None) -> None:
        super().__init__(parent, background=QColor(38, 40, 44))
        self.document = document
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self.viewbox)
        # Row-major by itself, not by a global option the embedding app may not set.
        self.photo = pg.ImageItem(autoLevels=False, levels=(0, 255), axisOrder="row-major")
        self.mask_item = ArrayImageItem()
        self.confidence_item = ArrayImageItem()
        self.lasso_item = QGraphicsPathItem()
        self.ring = QGraphicsEllipseItem()
        self.ring_shadow = QGraphicsEllipseItem()
        for z, item in enumerate(
            (self.photo, self.mask_item, self.confidence_item, self.lasso_item)
        ):
            item.setZValue(z)
            self.viewbox.addItem(item, ignoreBounds=item is not self.photo)
        for z, (item, color, width) in enumerate(
            ((self.ring_shadow, QColor(0, 0, 0, 170), 3.0), (self.ring, QColor(255, 255, 255), 1.2))
        ):
            pen = QPen(color, width)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(10 + z)
            item.setVisible(False)
            self.viewbox.addItem(item, ignoreBounds=True)
        lasso_pen = QPen(QColor(255, 210, 0), 1.5, Qt.PenStyle.DashLine)
        lasso_pen.setCosmetic(True)
        self.lasso_item.setPen(lasso_pen)
        self.confidence_item.setOpacity(0.75)

        self.tool: Tool | None = None
        self._brush_size = 40
        self._color = bgra(QColor("#1e90ff"))
        self._outline = False
        self._overlay_rgba: np.ndarray | None = None
        self._mask_wanted = True  # the Show-mask choice (M)
        self._mask_covered = False  # a comparison view (difference to truth) hides the mask
        self._shown_instead: np.ndarray | None = None  # another mask on show (the 'before')
        self._space_down = False
        self._space_used = False
        self._panning = False
        self._tool_button: Qt.MouseButton | None = None
        self.shift_press = False  # Shift held at the press of the gesture going on (tools ask)
        self._last_image_pos: QPointF | None = None
        self.viewport().installEventFilter(self)
        self._space_window: QWidget | None = None
        self._space_filter = _CallbackFilter(self._filter_space, self)
        self.viewport().setMouseTracking(True)
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hint = QLabel(FIRST_START_HINT, self.viewport())
        self.hint.setObjectName("canvas_hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("QLabel { background: transparent; color: #8a94a0; }")
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.viewbox.sigRangeChanged.connect(self._on_range_changed)
        self.document.mask_changed.connect(self.refresh_mask)
        self.document.image_loaded.connect(self._on_document_loaded)

    # -- content -----------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self.photo.image is not None

    def set_image(self, image: np.ndarray) -> None:
        """Show a new photo (RGB uint8), fitted to the view (no zoom carried over)."""
        self.photo.setImage(image, autoLevels=False, levels=(0, 255))
        self.set_confidence(None)
        self.hint.hide()
        self.fit()
        self.zoom_changed.emit(self.zoom())

    def clear_image(self, hint: str = FIRST_START_HINT) -> None:
        """Show no image, and ``hint`` (rich text) in the middle instead."""
        if self.tool is not None:
            self.tool.cancel(self)
        self.photo.clear()
        self.mask_item.set_array(None)
        self._overlay_rgba = None
        self.set_confidence(None)
        self.set_hint(hint)
        self.zoom_changed.emit(0.0)

    def set_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setGeometry(self.viewport().rect())
        self.hint.show()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        hint = getattr(self, "hint", None)  # pyqtgraph resizes during its own __init__
        if hint is not None:
            hint.setGeometry(self.viewport().rect())

    def _on_range_changed(self, *_: object) -> None:
        if self.has_image:  # no "75300 %" for an empty view
            self.zoom_changed.emit(self.zoom())

    def _on_document_loaded(self) -> None:
        self._shown_instead = None
        mask = self.document.mask
        if mask is None:
            self.mask_item.set_array(None)
            return
        if self._overlay_rgba is None or self._overlay_rgba.shape[:2] != mask.shape:
            self._overlay_rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
            self.mask_item.set_array(self._overlay_rgba)
        self.refresh_mask(None)

    @property
    def shown_mask(self) -> np.ndarray | None:
        """The mask on screen: the document's, or the one ``show_instead`` put there."""
        return self.document.mask if self._shown_instead is None else self._shown_instead

    def show_instead(self, mask: np.ndarray | None) -> None:
        """Draw ``mask`` instead of the document's (None: the document's again); only the
        picture changes, never the edited mask or its history."""
        if mask is not None and (
            self.document.mask is None or mask.shape != self.document.mask.shape
        ):
            raise ValueError("the mask shown instead must have the edited mask's size")
        self._shown_instead = mask
        self.refresh_mask(None)

    def refresh_mask(self, box: Box | None = None) -> None:
        """Redraw the overlay for ``box`` (None: everything) from the shown mask."""
        mask = self.shown_mask
        if mask is None or self._overlay_rgba is None:
            return
        full = (0, 0, mask.shape[0], mask.shape[1])
        drawn = render_mask_patch(mask, self._overlay_rgba, box or full, self._color, self._outline)
        if box is None:
            self.mask_item.update()
        else:
            self.mask_item.update_box(drawn)

    def set_overlay_style(self, color: QColor, opacity: float, outline: bool) -> None:
        changed = outline != self._outline or not np.array_equal(bgra(color), self._color)
        self._color, self._outline = bgra(color), outline
        self.mask_item.setOpacity(max(opacity, MIN_OUTLINE_OPACITY) if outline else opacity)
        if changed:
            self.refresh_mask(None)

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_wanted = visible
        self.mask_item.setVisible(visible and not self._mask_covered)

    def cover_mask(self, covered: bool) -> None:
        """Hide the mask overlay while a view drawn in its place (the difference) is on."""
        self._mask_covered = covered
        self.mask_item.setVisible(self._mask_wanted and not covered)

    def set_confidence(self, prob: np.ndarray | None, low: float = 0.2, high: float = 0.8) -> None:
        """Highlight pixels the model was unsure about (None hides the band)."""
        if prob is None:
            self.confidence_item.set_array(None)
        else:
            self.confidence_item.set_array(render_confidence(prob, low, high, QColor(255, 140, 0)))

    def set_lasso_path(self, points: list[tuple[float, float]] | None, closed: bool = True) -> None:
        """The lasso's (y, x) path on screen (None hides it); open while placing corners."""
        path = QPainterPath()
        if points:
            path.moveTo(points[0][1] + 0.5, points[0][0] + 0.5)
            for y, x in points[1:]:
                path.lineTo(x + 0.5, y + 0.5)
            if closed:
                path.closeSubpath()
        self.lasso_item.setPath(path)

    # -- view --------------------------------------------------------------
    def fit(self) -> None:
        image = self.photo.image
        if image is not None:
            h, w = image.shape[:2]
            self.viewbox.setRange(QRectF(0, 0, w, h), padding=0.01)

    def zoom(self) -> float:
        (x0, x1), _ = self.viewbox.viewRange()
        width = self.viewbox.width()
        return float(width / (x1 - x0)) if x1 > x0 and width > 0 else 1.0

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        (x0, x1), (y0, y1) = self.viewbox.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        w, h = self.viewbox.width(), self.viewbox.height()
        self.viewbox.setRange(QRectF(cx - w / 2, cy - h / 2, w, h), padding=0)

    # -- brush -------------------------------------------------------------
    @property
    def brush_size(self) -> int:
        return self._brush_size

    def set_brush_size(self, size: int) -> None:
        size = int(min(max(size, MIN_BRUSH), MAX_BRUSH))
        if size != self._brush_size:
            self._brush_size = size
            self.brush_size_changed.emit(size)
            self._move_ring(self._last_image_pos)

    def set_tool(self, tool: Tool) -> None:
        if self.tool is not None:
            self.tool.cancel(self)
        self.tool = tool
        self._move_ring(self._last_image_pos)

    def _move_ring(self, pos: QPointF | None) -> None:
        show = pos is not None and self.tool is not None and self.tool.uses_ring
        for item in (self.ring, self.ring_shadow):
            item.setVisible(bool(show))
            if show:
                r = self._brush_size / 2
                item.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))

    # -- coordinates -------------------------------------------------------
    def viewport_to_image(self, pos: QPointF | QPoint) -> QPointF:
        return self.viewbox.mapSceneToView(self.mapToScene(QPoint(int(pos.x()), int(pos.y()))))

    def image_to_viewport(self, x: float, y: float) -> QPoint:
        """Viewport pixel showing image pixel (x, y) (its centre); used by tests and tools."""
        return self.mapFromScene(self.viewbox.mapViewToScene(QPointF(x + 0.5, y + 0.5)))

    def _pixel(self, pos: QPointF) -> tuple[int, int]:
        return int(np.floor(pos.y())), int(np.floor(pos.x()))

    # -- input -------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if obj is not self.viewport():
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            return self._on_press(event)
        if kind == QEvent.Type.MouseMove:
            return self._on_move(event)
        if kind == QEvent.Type.MouseButtonRelease:
            return self._on_release(event)
        if kind == QEvent.Type.MouseButtonDblClick:
            return self._on_double_click(event)
        if kind == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return self._on_ctrl_wheel(event)
        if kind == QEvent.Type.Leave:
            self._last_image_pos = None
            self._move_ring(None)
            self.cursor_moved.emit(-1, -1)
        return False

    def _on_press(self, event: QMouseEvent) -> bool:
        self.setFocus()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._panning = True
            self._space_used = self._space_down or self._space_used
            return False  # pyqtgraph pans
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        if self.tool is None or self.document.mask is None or self._tool_button is not None:
            return True
        if self.document.refuse():  # read-only image: the window says why
            return True
        self._tool_button = button
        self.shift_press = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        y, x = self._pixel(self.viewport_to_image(event.position()))
        self.tool.press(self, y, x, erase=button == Qt.MouseButton.RightButton)
        return True

    def _on_move(self, event: QMouseEvent) -> bool:
        pos = self.viewport_to_image(event.position())
        self._last_image_pos = pos
        self._move_ring(pos)
        y, x = self._pixel(pos)
        image = self.photo.image
        inside = image is not None and 0 <= y < image.shape[0] and 0 <= x < image.shape[1]
        self.cursor_moved.emit(x if inside else -1, y if inside else -1)
        if self._tool_button is not None and self.tool is not None:
            self.tool.move(self, y, x)
            return True
        if self.tool is not None and not self._panning and self.document.mask is not None:
            self.tool.hover(self, y, x)
        return False  # hover, or a pan drag that pyqtgraph handles

    def _on_double_click(self, event: QMouseEvent) -> bool:
        if self.tool is None or self.document.mask is None or self._panning:
            return False
        y, x = self._pixel(self.viewport_to_image(event.position()))
        return self.tool.double_click(self, y, x)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        """Keys a tool uses mid-gesture (the lasso's Enter, Backspace, Escape)."""
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        if self.tool is not None and plain and self.tool.key_press(self, event.key()):
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_release(self, event: QMouseEvent) -> bool:
        if self._panning and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._panning = False
            return False
        if event.button() != self._tool_button:
            return self._tool_button is not None
        self._tool_button = None
        if self.tool is not None:
            y, x = self._pixel(self.viewport_to_image(event.position()))
            self.tool.release(self, y, x)
        return True

    def _on_ctrl_wheel(self, event: QWheelEvent) -> bool:
        steps = event.angleDelta().y() / 120.0
        factor = 1.15**steps
        self.set_brush_size(
            round(self._brush_size * factor) if abs(factor - 1) > 1e-3 else self._brush_size
        )
        return True

    def watch_space_key(self, window: QWidget) -> None:
        """Take Space key presses anywhere in ``window`` (the list would eat them otherwise)."""
        self._space_window = window
        QApplication.instance().installEventFilter(self._space_filter)

    def unwatch_space_key(self) -> None:
        QApplication.instance().removeEventFilter(self._space_filter)

    def _filter_space(self, obj: QObject, event: QEvent) -> bool:
        if (
            event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
            and event.key() == Qt.Key.Key_Space
            and not event.modifiers()
            and isinstance(obj, QWidget)
            and obj.window() is self._space_window
            and self._space_window.isActiveWindow()
        ):
            return self.handle_space(event)
        return False

    def handle_space(self, event: QKeyEvent) -> bool:
        """Called by the window's key filter: Space held = pan mode, tapped = ``space_tapped``."""
        if event.isAutoRepeat():
            return True
        if event.type() == QEvent.Type.KeyPress:
            self._space_down, self._space_used = True, False
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            if not self._space_used and not self._panning:
                self.space_tapped.emit()
        return True

    def is_editing(self) -> bool:
        return self._tool_button is not None
