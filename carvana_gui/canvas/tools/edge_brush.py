"""Edge brush: paint roughly over the car's edge and the photo's edge decides.

Each pixel under the stroke goes to the side (car or not car) it resembles, judged from
the pixels of both sides around the stroke in the mask as it was when the stroke began
(``model.edits.edge_brush.edge_segment``, the model's probabilities joining the colours
when the window has them). Both buttons do the same: the stroke says where, not which
way. One stroke = one undo step; away from the mask's edge a stroke changes nothing, and
says so.
"""

from __future__ import annotations

import numpy as np

from carvana_gui.canvas.tools.base import ToolHost
from carvana_gui.canvas.tools.smart import SourcedTool
from model.edits.edge_brush import edge_segment
from model.edits.mask_ops import Box

NO_EDGE = "Edge brush: no mask edge under the brush here; draw across the edge to snap it."


def segment_op(
    mask: np.ndarray,
    image: np.ndarray,
    reference: np.ndarray,
    prob: np.ndarray | None,
    p0: tuple[int, int],
    p1: tuple[int, int],
    diameter: int,
) -> Box | None:
    """``edge_segment`` in the document's ``op(mask, *args)`` order."""
    return edge_segment(image, reference, mask, p0, p1, diameter, prob)


class EdgeBrushTool(SourcedTool):
    name = "edge brush"
    uses_ring = True

    def _init_state(self) -> None:
        self._last: tuple[int, int] | None = None
        self._stroke: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._changed = False

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        mask = canvas.document.mask
        source = self.source()
        if source is None or mask is None or source.image.shape[:2] != mask.shape:
            return
        prob = source.prob if source.prob is not None and source.prob.shape == mask.shape else None
        self._stroke = (source.image, mask.copy(), prob)
        self._changed = False
        canvas.document.begin("edge brush")
        self._last = (y, x)
        self._dab(canvas, (y, x), (y, x))

    def _dab(self, canvas: ToolHost, p0: tuple[int, int], p1: tuple[int, int]) -> None:
        assert self._stroke is not None
        image, reference, prob = self._stroke
        box = canvas.document.apply(segment_op, image, reference, prob, p0, p1, canvas.brush_size)
        self._changed = self._changed or box is not None

    def move(self, canvas: ToolHost, y: int, x: int) -> None:
        if self._last is None or self._last == (y, x):
            return
        self._dab(canvas, self._last, (y, x))
        self._last = (y, x)

    def release(self, canvas: ToolHost, y: int, x: int) -> None:
        if self._last is None:
            return
        self.move(canvas, y, x)
        self._finish(canvas)
        if not self._changed and canvas.document.refusal is None:
            self.tell(NO_EDGE)

    def cancel(self, canvas: ToolHost) -> None:
        if self._last is not None:
            self._finish(canvas)

    def _finish(self, canvas: ToolHost) -> None:
        self._last = None
        self._stroke = None
        canvas.document.end()
