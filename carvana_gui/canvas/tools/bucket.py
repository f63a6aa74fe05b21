"""Bucket: flood-fill the clicked connected region (left adds, right removes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carvana_gui.canvas.tools.base import Tool
from model.edits.mask_ops import flood_fill

if TYPE_CHECKING:
    from carvana_gui.canvas.view import MaskCanvas


class BucketTool(Tool):
    name = "bucket"

    def press(self, canvas: MaskCanvas, y: int, x: int, erase: bool) -> None:
        canvas.document.edit(
            "erase region" if erase else "fill region", flood_fill, y, x, 0 if erase else 1
        )
