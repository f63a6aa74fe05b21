"""The tool interface the canvas talks to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carvana_gui.canvas.view import MaskCanvas


class Tool:
    """A mouse gesture handler; positions are full-resolution (y, x) image pixels.

    ``erase`` is True for the right button (or for tools that subtract by default):
    every tool both adds and removes mask.
    """

    name = "tool"
    uses_ring = False  # show the brush-size ring cursor

    def press(self, canvas: MaskCanvas, y: int, x: int, erase: bool) -> None:
        raise NotImplementedError

    def move(self, canvas: MaskCanvas, y: int, x: int) -> None:
        """Pointer moved while the button is held."""

    def release(self, canvas: MaskCanvas, y: int, x: int) -> None:
        """Button released: the gesture ends (one undo step)."""

    def cancel(self, canvas: MaskCanvas) -> None:
        """The tool is being switched away in the middle of a gesture."""

    def hover(self, canvas: MaskCanvas, y: int, x: int) -> None:
        """Pointer moved with no button held."""

    def double_click(self, canvas: MaskCanvas, y: int, x: int) -> bool:
        """A double click; True when the tool used it."""
        return False

    def key_press(self, canvas: MaskCanvas, key: int) -> bool:
        """A key pressed on the canvas (``Qt.Key`` value); True when the tool used it."""
        return False
