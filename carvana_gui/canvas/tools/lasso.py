"""Polygon lasso: drag around an area; release adds it (left) or removes it (right)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carvana_gui.canvas.tools.base import Tool
from model.edits.mask_ops import fill_polygon

if TYPE_CHECKING:
    from carvana_gui.canvas.view import MaskCanvas


class LassoTool(Tool):
    name = "lasso"

    def __init__(self) -> None:
        self._points: list[tuple[float, float]] = []
        self._erase = False

    def press(self, canvas: MaskCanvas, y: int, x: int, erase: bool) -> None:
        self._erase = erase
        self._points = [(y, x)]
        canvas.set_lasso_path(self._points)

    def move(self, canvas: MaskCanvas, y: int, x: int) -> None:
        if self._points:
            self._points.append((y, x))
            canvas.set_lasso_path(self._points)

    def release(self, canvas: MaskCanvas, y: int, x: int) -> None:
        if not self._points:
            return
        self.move(canvas, y, x)
        points, self._points = self._points, []
        canvas.set_lasso_path(None)
        label = "lasso remove" if self._erase else "lasso add"
        canvas.document.edit(label, fill_polygon, points, 0 if self._erase else 1)

    def cancel(self, canvas: MaskCanvas) -> None:
        self._points = []
        canvas.set_lasso_path(None)
