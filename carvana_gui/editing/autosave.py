"""Saving edited masks in the background without ever losing a stroke.

Each finished stroke schedules a save; a short debounce merges bursts of strokes,
then one writer thread stores the mask through the project store (atomic PNG, one
transaction). A write that fails (read-only folder, full disk) keeps the mask in memory,
reports the error once per failure streak and is retried periodically and on every new
edit, so edits survive until the disk accepts them. A mask another window or process
changed meanwhile is not overwritten: it is held back and ``conflict`` lets the person
choose (``resolve_conflict``: keep mine, or take theirs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from model.edits.project_store import ConflictError, ProjectStore

log = logging.getLogger(__name__)

DEBOUNCE_MS = 250
RETRY_MS = 5000


class Autosaver(QObject):
    """Debounced, threaded, atomic saving of masks into a ProjectStore."""

    saved = Signal(str)  # image id
    failed = Signal(str, str)  # image id, message
    conflict = Signal(str, str)  # image id, who changed it and when

    def __init__(
        self,
        project: ProjectStore,
        after_save: Callable[[str, np.ndarray], None] | None = None,
        delay_ms: int = DEBOUNCE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.after_save = after_save  # runs in the writer thread (e.g. Dice against ground truth)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._lock = threading.Lock()
        self._pending: dict[str, np.ndarray] = {}
        self._failed: dict[str, np.ndarray] = {}
        self._inflight: dict[str, np.ndarray] = {}
        self._conflicts: dict[str, np.ndarray] = {}  # held back until the person chooses
        self._forced: set[str] = set()  # "keep mine": overwrite the other writer's mask
        self._futures: list[Future] = []
        self._closed = False
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.flush)
        self._retry = QTimer(self, singleShot=True, interval=RETRY_MS)
        self._retry.timeout.connect(self._retry_failed)
        self.failed.connect(self._schedule_retry)  # queued: runs on the GUI thread

    @property
    def has_unsaved(self) -> bool:
        with self._lock:
            return bool(self._pending or self._inflight or self._failed or self._conflicts)

    def unsaved_mask(self, image_id: str) -> np.ndarray | None:
        """A mask not yet on disk (pending or failed), so switching back shows the latest edits."""
        with self._lock:
            for source in (self._pending, self._inflight, self._failed, self._conflicts):
                mask = source.get(image_id)
                if mask is not None:
                    return mask.copy()
            return None

    def unsaved_masks(self) -> dict[str, np.ndarray]:
        """Every mask not yet on disk, newest version of each (copies)."""
        masks: dict[str, np.ndarray] = {}
        with self._lock:
            for source in (self._conflicts, self._failed, self._inflight, self._pending):
                masks.update({image_id: mask.copy() for image_id, mask in source.items()})
        return masks

    def discard_unsaved(self) -> None:
        """Forget every mask not yet written (the person chose Discard, or saved them
        elsewhere); nothing already in the writer is stopped."""
        self._timer.stop()
        self._retry.stop()
        with self._lock:
            self._pending.clear()
            self._failed.clear()
            self._conflicts.clear()
            self._forced.clear()

    def schedule(self, image_id: str, mask: np.ndarray) -> None:
        """Remember the mask now (a copy) and write it after the debounce delay."""
        with self._lock:
            self._pending[image_id] = mask.copy()
            self._failed.pop(image_id, None)
        self._timer.start()

    def resolve_conflict(self, image_id: str, keep_mine: bool) -> np.ndarray | None:
        """The person's choice after ``conflict``; returns the held-back mask (theirs: dropped)."""
        with self._lock:
            mask = self._conflicts.pop(image_id, None)
            if keep_mine and mask is not None:
                self._forced.add(image_id)
                self._pending[image_id] = mask
        if keep_mine:
            self.flush()
        return mask

    def flush(self, wait: bool = False) -> None:
        """Send everything pending to the writer now; with ``wait`` block until written."""
        self._timer.stop()
        with self._lock:
            pending, self._pending = self._pending, {}
            self._inflight.update(pending)
        if self._closed:  # late flush (e.g. window closing after the folder changed)
            self._write(pending)
        elif pending:
            self._futures.append(self._pool.submit(self._write, pending))
        self._futures = [f for f in self._futures if not f.done()]
        if wait:
            for future in list(self._futures):
                future.result()

    def _write(self, masks: dict[str, np.ndarray]) -> None:
        for image_id, mask in masks.items():
            with self._lock:
                force = image_id in self._forced
            try:
                self.project.save_edit(image_id, mask, force=force)
                with self._lock:
                    self._forced.discard(image_id)
                if self.after_save is not None:
                    self.after_save(image_id, mask)
            except ConflictError as exc:  # never overwrite another window's work silently
                log.warning("%s", exc)
                with self._lock:
                    if image_id not in self._pending:
                        self._conflicts[image_id] = mask
                    self._drop_inflight(image_id, mask)
                self.conflict.emit(image_id, str(exc))
                continue
            except Exception as exc:  # kept in memory and retried; the window shows the error
                log.warning("autosave of %s failed: %s", image_id, exc)
                with self._lock:
                    if image_id not in self._pending:
                        self._failed[image_id] = mask
                    self._drop_inflight(image_id, mask)
                self.failed.emit(image_id, f"Could not save the mask of {image_id}: {exc}")
                continue
            with self._lock:
                self._drop_inflight(image_id, mask)
            self.saved.emit(image_id)

    def _drop_inflight(self, image_id: str, mask: np.ndarray) -> None:
        if self._inflight.get(image_id) is mask:
            del self._inflight[image_id]

    def review(self, image_id: str, reviewed: bool, mask: np.ndarray) -> None:
        """Mark the shown mask reviewed (or take the mark back), after the pending strokes."""
        mask = mask.copy()
        self.flush()

        def task() -> None:
            try:
                self.project.set_reviewed(image_id, reviewed, mask)
            except ConflictError as exc:
                with self._lock:
                    self._conflicts[image_id] = mask
                self.conflict.emit(image_id, str(exc))
                return
            self.saved.emit(image_id)

        self.run_in_writer(task)

    def run_in_writer(self, fn: Callable[[], None]) -> None:
        """Run a file write in the writer thread, in order with the mask saves."""

        def task() -> None:
            try:
                fn()
            except Exception as exc:
                log.warning("background write failed: %s", exc)
                self.failed.emit("", str(exc))

        if self._closed:
            task()
        else:
            self._futures.append(self._pool.submit(task))

    def _retry_failed(self) -> None:
        with self._lock:
            failed, self._failed = self._failed, {}
            for image_id, mask in failed.items():
                self._pending.setdefault(image_id, mask)
        self.flush()

    def _schedule_retry(self, *_: object) -> None:
        if not self._retry.isActive():
            self._retry.start()

    def close(self) -> None:
        """Write what is pending and stop the writer thread."""
        self.flush(wait=True)
        self._closed = True
        self._retry.stop()
        self._pool.shutdown(wait=True)
