"""Editing tools: each turns canvas mouse input into MaskDocument edits."""

from carvana_gui.tools.base import Tool
from carvana_gui.tools.brush import BrushTool
from carvana_gui.tools.bucket import BucketTool
from carvana_gui.tools.lasso import LassoTool

__all__ = ["BrushTool", "BucketTool", "LassoTool", "Tool"]
