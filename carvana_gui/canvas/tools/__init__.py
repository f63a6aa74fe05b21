"""Editing tools: each turns canvas mouse input into MaskDocument edits."""

from carvana_gui.canvas.tools.base import Tool
from carvana_gui.canvas.tools.brush import BrushTool
from carvana_gui.canvas.tools.bucket import BucketTool
from carvana_gui.canvas.tools.edge_brush import EdgeBrushTool
from carvana_gui.canvas.tools.lasso import LassoTool
from carvana_gui.canvas.tools.smart import SmartClickTool, SmartSource

__all__ = [
    "BrushTool",
    "BucketTool",
    "EdgeBrushTool",
    "LassoTool",
    "SmartClickTool",
    "SmartSource",
    "Tool",
]
