"""Round brush (adds) and eraser (subtracts); one stroke = one undo step."""

from __future__ import annotations

from carvana_gui.canvas.tools.base import Tool, ToolHost
from model.edits.mask_ops import stroke_segment


class BrushTool(Tool):
    """Paints with the canvas brush size; strokes are interpolated between events."""

    uses_ring = True

    def __init__(self, erase: bool = False) -> None:
        self.erases = erase
        self.name = "eraser" if erase else "brush"
        self._last: tuple[int, int] | None = None
        self._value = 1

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        self._value = 0 if (self.erases or erase) else 1
        canvas.document.begin("erase" if self._value == 0 else "brush")
        self._last = (y, x)
        canvas.document.apply(stroke_segment, (y, x), (y, x), canvas.brush_size, self._value)

    def move(self, canvas: ToolHost, y: int, x: int) -> None:
        if self._last is None or self._last == (y, x):
            return
        canvas.document.apply(stroke_segment, self._last, (y, x), canvas.brush_size, self._value)
        self._last = (y, x)

    def release(self, canvas: ToolHost, y: int, x: int) -> None:
        if self._last is None:
            return
        self.move(canvas, y, x)
        self._last = None
        canvas.document.end()

    def cancel(self, canvas: ToolHost) -> None:
        if self._last is not None:
            self._last = None
            canvas.document.end()
