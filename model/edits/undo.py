"""Per-image undo history stored as bounding-box diffs of a 0/1 mask.

A brush stroke touches a small rectangle of a 2.4 MB mask, so each step keeps
only the before/after pixels of that rectangle, bit-packed (8 pixels per byte).
Even full-image steps (applying an auto-mask) cost ~300 kB, so hundreds of steps
fit in a modest memory cap. The oldest steps are dropped only when both the step
count and the byte cap are exceeded, so at least ``min_steps`` always survive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.edits.mask_ops import Box, box_slices, union_box

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MIN_STEPS = 200


@dataclass(frozen=True)
class UndoStep:
    """One user action: the rectangle it changed and its packed before/after pixels."""

    label: str
    box: Box
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes)


def _pack(patch: np.ndarray) -> np.ndarray:
    return np.packbits(patch.astype(bool), axis=None)


def _unpack(packed: np.ndarray, box: Box) -> np.ndarray:
    h, w = box[2] - box[0], box[3] - box[1]
    return np.unpackbits(packed, count=h * w).reshape(h, w)


class UndoHistory:
    """Linear undo/redo stack for one mask; a new step clears the redo branch."""

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, min_steps: int = DEFAULT_MIN_STEPS
    ) -> None:
        self.max_bytes = max_bytes
        self.min_steps = min_steps
        self._done: list[UndoStep] = []
        self._undone: list[UndoStep] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_count(self) -> int:
        return len(self._done)

    @property
    def memory_bytes(self) -> int:
        return sum(s.nbytes for s in self._done) + sum(s.nbytes for s in self._undone)

    def push(self, box: Box, before: np.ndarray, after: np.ndarray, label: str) -> UndoStep | None:
        """Record a finished action; returns None (nothing stored) when no pixel changed."""
        if before.shape != after.shape or before.shape != (box[2] - box[0], box[3] - box[1]):
            raise ValueError(f"patch shapes {before.shape}/{after.shape} do not match box {box}")
        if np.array_equal(before, after):
            return None
        step = UndoStep(label, box, _pack(before), _pack(after))
        self._done.append(step)
        self._undone.clear()
        self._trim()
        return step

    def _trim(self) -> None:
        total = self.memory_bytes
        while len(self._done) > self.min_steps and total > self.max_bytes:
            total -= self._done.pop(0).nbytes

    def undo(self, mask: np.ndarray) -> Box | None:
        """Restore the pixels before the last step; returns the box changed, or None."""
        if not self._done:
            return None
        step = self._done.pop()
        mask[box_slices(step.box)] = _unpack(step.before, step.box)
        self._undone.append(step)
        return step.box

    def redo(self, mask: np.ndarray) -> Box | None:
        """Re-apply the last undone step; returns the box changed, or None."""
        if not self._undone:
            return None
        step = self._undone.pop()
        mask[box_slices(step.box)] = _unpack(step.after, step.box)
        self._done.append(step)
        return step.box

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()


class EditRecorder:
    """Turns a sequence of in-place edits (one stroke, one tool action) into one undo step.

    ``begin`` snapshots the mask; each edit reports the box it touched; ``finish``
    stores only the union rectangle. A 2.4 MB copy per stroke costs well under a
    millisecond, far cheaper than diffing per mouse event.
    """

    def __init__(self, history: UndoHistory) -> None:
        self.history = history
        self._snapshot: np.ndarray | None = None
        self._box: Box | None = None
        self._label = ""

    @property
    def active(self) -> bool:
        return self._snapshot is not None

    def begin(self, mask: np.ndarray, label: str) -> None:
        self._snapshot = mask.copy()
        self._box = None
        self._label = label

    def touch(self, box: Box | None) -> None:
        self._box = union_box(self._box, box)

    def finish(self, mask: np.ndarray) -> UndoStep | None:
        """Close the action; returns the stored step (None when nothing changed)."""
        snapshot, box = self._snapshot, self._box
        self._snapshot, self._box = None, None
        if snapshot is None or box is None:
            return None
        sl = box_slices(box)
        return self.history.push(box, snapshot[sl].copy(), mask[sl].copy(), self._label)
