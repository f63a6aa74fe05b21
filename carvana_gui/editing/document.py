"""The mask being edited, its per-image undo history and change notifications.

Tools and actions change the mask only through this object, which groups the
changes of one gesture into one undo step (``begin``/``apply``/``end``) and tells
the canvas which rectangle to repaint. Histories are kept per image, so going back
to an image keeps its undo steps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from model.edits.mask_ops import Box, replace_mask
from model.edits.undo import EditRecorder, UndoHistory

MAX_HISTORIES = 50  # images whose undo history is kept (least recently used dropped)


class MaskDocument(QObject):
    """Current image id + mask, with undo/redo; emits what changed."""

    image_loaded = Signal()
    mask_changed = Signal(object)  # Box or None (= whole mask)
    edit_finished = Signal(str)  # label of the undo step just recorded / undone / redone
    history_changed = Signal()
    refused = Signal(str)  # an edit was tried on a read-only image: why it is read-only

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image_id: str | None = None
        self.mask: np.ndarray | None = None
        self._histories: OrderedDict[str, UndoHistory] = OrderedDict()
        self._recorder: EditRecorder | None = None
        # Why the shown image may not be edited (its stored mask is unreadable or of
        # another size: an edit would overwrite that file), or None.
        self.read_only: str | None = None
        # Why edits are held for now (a view shows another mask than the one edited:
        # the auto-mask 'before'), or None; unlike read_only, nothing is wrong on disk.
        self.edits_held: str | None = None

    @property
    def history(self) -> UndoHistory | None:
        return self._histories.get(self.image_id) if self.image_id else None

    def load(self, image_id: str, mask: np.ndarray, read_only: str | None = None) -> None:
        """Switch to another image; its undo history (if any) is kept.

        ``read_only``: the reason the image must not be edited; every edit is then
        refused (``refused`` says why) and nothing changes the mask.
        """
        if self._recorder is not None and self._recorder.active:
            self.end()
        self.read_only = read_only
        self.edits_held = None  # a hold belongs to the view of the image being left
        self.image_id = image_id
        mask = np.ascontiguousarray(mask, dtype=np.uint8)
        # The document edits in place: never a read-only buffer (a decoded image's memory).
        self.mask = mask if mask.flags.writeable else mask.copy()
        history = self._histories.pop(image_id, None) or UndoHistory()
        self._histories[image_id] = history
        while len(self._histories) > MAX_HISTORIES:
            self._histories.popitem(last=False)
        self._recorder = EditRecorder(history)
        self.image_loaded.emit()
        self.history_changed.emit()

    def unload(self) -> None:
        """No image any more (a folder without images): nothing to edit or show."""
        if self._recorder is not None and self._recorder.active:
            self.end()
        self.image_id, self.mask, self.read_only, self._recorder = None, None, None, None
        self.edits_held = None
        self.image_loaded.emit()
        self.history_changed.emit()

    # -- grouped edits -----------------------------------------------------
    @property
    def refusal(self) -> str | None:
        """Why an edit would be refused now (read-only image, or edits held), or None."""
        return self.read_only or self.edits_held

    def refuse(self) -> bool:
        """True (and ``refused`` emitted) when the shown image is read-only or edits are held."""
        why = self.refusal
        if why is None:
            return False
        self.refused.emit(why)
        return True

    def begin(self, label: str) -> None:
        if self.refuse():
            return
        if self.mask is not None and self._recorder is not None:
            self._recorder.begin(self.mask, label)

    def apply(self, op: Callable[..., Box | None], *args: object) -> Box | None:
        """Run one editing operation ``op(mask, *args)`` inside the open gesture."""
        if self.mask is None or self._recorder is None or self.refusal is not None:
            return None
        box = op(self.mask, *args)
        if box is not None:
            self._recorder.touch(box)
            self.mask_changed.emit(box)
        return box

    def end(self) -> bool:
        """Close the gesture; True when it changed the mask (one undo step recorded)."""
        if self.mask is None or self._recorder is None:
            return False
        step = self._recorder.finish(self.mask)
        if step is None:
            return False
        self.history_changed.emit()
        self.edit_finished.emit(step.label)
        return True

    def edit(self, label: str, op: Callable[..., Box | None], *args: object) -> bool:
        """A one-shot action (fill holes, bucket, lasso) as one undo step."""
        if self.refuse():
            return False
        self.begin(label)
        self.apply(op, *args)
        return self.end()

    def replace(self, new_mask: np.ndarray, label: str) -> bool:
        """Replace the whole mask (auto-mask, ground truth) as one undoable step."""
        return self.edit(label, replace_mask, new_mask)

    def clear(self) -> bool:
        return self.mask is not None and self.replace(np.zeros_like(self.mask), "clear mask")

    # -- history -----------------------------------------------------------
    def undo(self) -> bool:
        return self._step(lambda h, m: h.undo(m), "undo")

    def redo(self) -> bool:
        return self._step(lambda h, m: h.redo(m), "redo")

    def _step(self, fn: Callable[[UndoHistory, np.ndarray], Box | None], label: str) -> bool:
        if self.refuse():
            return False
        history = self.history
        if history is None or self.mask is None or (self._recorder and self._recorder.active):
            return False
        box = fn(history, self.mask)
        if box is None:
            return False
        self.mask_changed.emit(box)
        self.history_changed.emit()
        self.edit_finished.emit(label)
        return True
