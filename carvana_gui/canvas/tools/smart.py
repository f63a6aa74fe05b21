"""Smart click: one click says "this is car" (left) or "this is not car" (right), and the
mask is re-segmented around it so the boundary follows the car's edge.

The work is ``model.edits.click_session.ClickSession.click`` (``smart_click``, with the
image's earlier clicks kept from being undone by later ones), the very call the
correction benchmark (bench/correction_effort.py) counts clicks with; the tool keeps one
session per image, for as long as the window is open. The tool gets the photo and
the model's probability map from a ``source`` callable (the window knows them; tools do
not), and each click is one undo step. Without the model's probabilities for the image
(yet) the mask itself is the prior, and the tool says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from carvana_gui.canvas.tools.base import Tool, ToolHost
from model.edits.click_session import ClickSession
from model.edits.mask_ops import Box

NO_PROBABILITIES = (
    "Smart click: no model probabilities for this image yet, so the mask's own edge is the prior"
)


@dataclass
class SmartSource:
    """What a click needs besides the mask: the photo and the model's probabilities."""

    image: np.ndarray  # RGB uint8, the mask's size
    prob: np.ndarray | None  # float 0..1 of the mask's size; None: the mask is the prior


def click_op(
    mask: np.ndarray,
    session: ClickSession,
    image: np.ndarray,
    prob: np.ndarray | None,
    y: int,
    x: int,
    positive: bool,
) -> Box | None:
    """``ClickSession.click`` in the document's ``op(mask, *args)`` order."""
    return session.click(image, prob, mask, y, x, positive)


class SourcedTool(Tool):
    """A tool that reads the photo and the model's probabilities (``source``, asked at
    each gesture: the window knows them, tools do not) and talks to the status bar
    (``tell``)."""

    def __init__(
        self,
        source: Callable[[], SmartSource | None],
        tell: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.source = source
        self.tell = tell
        self._init_state()

    def _init_state(self) -> None:
        """Set up what the tool keeps between gestures (none here): subclasses say."""


class SmartClickTool(SourcedTool):
    name = "smart click"

    def _init_state(self) -> None:
        self.sessions: dict[str, ClickSession] = {}  # image id -> its clicks so far

    def session_for(self, image_id: str) -> ClickSession:
        return self.sessions.setdefault(image_id, ClickSession())

    def press(self, canvas: ToolHost, y: int, x: int, erase: bool) -> None:
        mask = canvas.document.mask
        source = self.source()
        if source is None or mask is None:
            return
        if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]):
            return
        prob = source.prob
        if prob is not None and prob.shape != mask.shape:
            prob = None  # probabilities of another size than this mask: not this image's
        positive = not erase
        label = "smart click: car" if positive else "smart click: not car"
        session = self.session_for(canvas.document.image_id or "")
        changed = canvas.document.edit(label, click_op, session, source.image, prob, y, x, positive)
        if canvas.document.refusal is not None:
            return  # the document said why
        if prob is None:
            self.tell(NO_PROBABILITIES + ("." if changed else "; nothing changed here."))
        elif not changed:
            side = "car" if positive else "not car"
            self.tell(f"Smart click: this pixel is already {side}; nothing changed.")
