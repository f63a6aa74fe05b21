"""Round brush (adds) and eraser (subtracts); one stroke = one undo step.

Shift+click hands the click to the ``shift_tool`` (the smart click: left = car, right =
not car; the eraser's left click = not car), so correcting by clicks needs no tool switch.
"""

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
        self.shift_tool: Tool | None = None  # what a Shift+click does instead of a dab

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        if self.shift_tool is not None and canvas.shift_press:
            self.shift_tool.press(canvas, y, x, self.erases or erase)
            return
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
