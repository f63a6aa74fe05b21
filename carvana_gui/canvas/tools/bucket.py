"""Bucket: flood-fill the clicked connected region (left adds, right removes)."""

from __future__ import annotations

from carvana_gui.canvas.tools.base import Tool, ToolHost
from model.edits.mask_ops import flood_fill


class BucketTool(Tool):
    name = "bucket"

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        canvas.document.edit(
            "erase region" if erase else "fill region", flood_fill, y, x, 0 if erase else 1
        )
