"""Lasso: drag around an area, or click its corners one by one (labelme style).

Freehand: press, drag around the area, release; the enclosed area is added (left
button) or removed (right button). By points: click without dragging to add a corner;
double-click or Enter closes the polygon and applies it, Backspace removes the last
corner, Escape cancels. The button of the first click decides add or remove.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from carvana_gui.canvas.tools.base import Tool, ToolHost
from model.edits.mask_ops import fill_polygon

CLICK_SLOP_PX = 4  # screen pixels a click may wander and still count as a click
CLOSE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class LassoTool(Tool):
    name = "lasso"

    def __init__(self) -> None:
        self._drag: list[tuple[int, int]] = []  # the freehand path of the current press
        self._corners: list[tuple[int, int]] = []  # clicked polygon corners
        self._erase = False
        self._dragged = False

    @property
    def in_polygon(self) -> bool:
        """Corners have been clicked and the polygon is not closed yet."""
        return bool(self._corners)

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        if not self._corners:
            self._erase = erase
        self._drag = [(y, x)]
        self._dragged = False
        self._show(canvas)

    def move(self, canvas: ToolHost, y: int, x: int) -> None:
        if not self._drag:
            return
        y0, x0 = self._drag[0]
        slop = CLICK_SLOP_PX / max(canvas.zoom(), 1e-6)
        if abs(y - y0) > slop or abs(x - x0) > slop:
            self._dragged = True
        self._drag.append((y, x))
        self._show(canvas)

    def release(self, canvas: ToolHost, y: int, x: int) -> None:
        if not self._drag:
            return
        self.move(canvas, y, x)
        drag, self._drag = self._drag, []
        if self._dragged and not self._corners:  # a freehand lasso
            self._apply(canvas, drag)
        else:  # a click (or a drag while placing corners): one corner where it ended
            if not self._corners or self._corners[-1] != drag[-1]:
                self._corners.append(drag[-1])
            self._show(canvas)

    def hover(self, canvas: ToolHost, y: int, x: int) -> None:
        if self._corners:
            self._show(canvas, (y, x))

    def double_click(self, canvas: ToolHost, y: int, x: int) -> bool:
        """Close the polygon at (y, x) (usually placed already by the first click)."""
        if not self._corners:
            return False
        if self._corners[-1] != (y, x):
            self._corners.append((y, x))
        self.close_polygon(canvas)
        return True

    def key_press(self, canvas: ToolHost, key: int) -> bool:
        if not self._corners:
            return False
        if key in CLOSE_KEYS:
            self.close_polygon(canvas)
        elif key == Qt.Key.Key_Escape:
            self.cancel(canvas)
        elif key == Qt.Key.Key_Backspace:
            self._corners.pop()
            self._show(canvas)
        else:
            return False
        return True

    def close_polygon(self, canvas: ToolHost) -> None:
        corners, self._corners = self._corners, []
        if len(corners) >= 3:
            self._apply(canvas, corners)
        else:
            canvas.set_lasso_path(None)

    def _apply(self, canvas: ToolHost, points: list[tuple[int, int]]) -> None:
        canvas.set_lasso_path(None)
        label = "lasso remove" if self._erase else "lasso add"
        canvas.document.edit(label, fill_polygon, points, 0 if self._erase else 1)

    def _show(self, canvas: ToolHost, cursor: tuple[int, int] | None = None) -> None:
        if self._corners:  # an open polyline, with a rubber band to the pointer
            points = self._corners + (self._drag[-1:] or ([cursor] if cursor else []))
            canvas.set_lasso_path(points, closed=False)
        else:
            canvas.set_lasso_path(self._drag, closed=True)

    def cancel(self, canvas: ToolHost) -> None:
        self._drag, self._corners = [], []
        canvas.set_lasso_path(None)
