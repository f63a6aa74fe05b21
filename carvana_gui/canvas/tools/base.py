"""The tool interface the canvas talks to, and the small host a tool sees.

Tools never import the canvas: they act through ``ToolHost`` (the document, the brush
size, the zoom and the lasso outline), so the canvas depends on its tools and not the
other way round.
"""

from __future__ import annotations

from typing import Protocol

from carvana_gui.editing.document import MaskDocument


class ToolHost(Protocol):
    """What a tool may use of the widget it works in."""

    document: MaskDocument
    shift_press: bool  # Shift was held when the current gesture's button went down

    @property
    def brush_size(self) -> int: ...

    def zoom(self) -> float: ...

    def set_lasso_path(
        self, points: list[tuple[float, float]] | None, closed: bool = True
    ) -> None: ...


class Tool:
    """A mouse gesture handler; positions are full-resolution (y, x) image pixels.

    ``erase`` is True for the right button (or for tools that subtract by default):
    every tool both adds and removes mask.
    """

    name = "tool"
    uses_ring = False  # show the brush-size ring cursor

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        raise NotImplementedError

    def move(self, canvas: ToolHost, y: int, x: int) -> None:
        """Pointer moved while the button is held."""

    def release(self, canvas: ToolHost, y: int, x: int) -> None:
        """Button released: the gesture ends (one undo step)."""

    def cancel(self, canvas: ToolHost) -> None:
        """The tool is being switched away in the middle of a gesture."""

    def hover(self, canvas: ToolHost, y: int, x: int) -> None:
        """Pointer moved with no button held."""

    def double_click(self, canvas: ToolHost, y: int, x: int) -> bool:
        """A double click; True when the tool used it."""
        return False

    def key_press(self, canvas: ToolHost, key: int) -> bool:
        """A key pressed on the canvas (``Qt.Key`` value); True when the tool used it."""
        return False
