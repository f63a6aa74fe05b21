"""The difference-to-truth overlay: where the shown mask and the ground truth disagree.

Painted by ``model.kaggle.difference`` (the same painter as the evaluation report) into a
BGRA buffer the canvas draws over the photo in place of the mask overlay. A brush dab
repaints only the rectangle it touched; the counts are taken when a stroke ends, not per
mouse move (a full-image count costs milliseconds).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from carvana_gui.canvas.overlay import ArrayImageItem
from carvana_gui.canvas.view import MaskCanvas
from model.edits.mask_ops import Box, box_slices
from model.kaggle.difference import MaskDifference, compare, paint_difference

Z_VALUE = 1.5  # above the (hidden) mask overlay, below the confidence band and the lasso


class DifferenceLayer(QObject):
    def __init__(self, canvas: MaskCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.item = ArrayImageItem()
        self.item.setZValue(Z_VALUE)
        canvas.viewbox.addItem(self.item, ignoreBounds=True)
        self._truth: np.ndarray | None = None
        self._rgba: np.ndarray | None = None
        canvas.document.mask_changed.connect(self.refresh)
        canvas.document.image_loaded.connect(lambda: self.show(None))

    @property
    def shown(self) -> bool:
        return self._truth is not None

    def show(self, truth: np.ndarray | None) -> bool:
        """Show the difference of the canvas's shown mask to ``truth`` (None: hide it).
        False when it cannot be shown (no mask, or a truth of another size)."""
        mask = self.canvas.shown_mask
        if truth is None or mask is None or truth.shape != mask.shape:
            self._truth, self._rgba = None, None
            self.item.set_array(None)
            self.canvas.cover_mask(False)
            return truth is None
        self._truth = truth
        self._rgba = np.zeros((*mask.shape, 4), np.uint8)
        self.item.set_array(self._rgba)
        self.canvas.cover_mask(True)
        self.refresh(None)
        return True

    def refresh(self, box: Box | None = None) -> None:
        """Repaint ``box`` (None: everything) from the shown mask."""
        mask = self.canvas.shown_mask
        if self._truth is None or self._rgba is None or mask is None:
            return
        if box is None:
            paint_difference(mask, self._truth, self._rgba, order="bgra")
            self.item.update()
            return
        cut = box_slices(box)
        paint_difference(mask[cut], self._truth[cut], self._rgba[cut], order="bgra")
        self.item.update_box(box)

    def difference(self) -> MaskDifference | None:
        """False/missed car pixels and Dice of the shown mask, or None while hidden."""
        mask = self.canvas.shown_mask
        if self._truth is None or mask is None:
            return None
        return compare(mask, self._truth)
