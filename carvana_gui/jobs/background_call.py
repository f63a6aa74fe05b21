"""Run a cheap-but-not-free computation (a recount over 100k rows) off the GUI thread.

The panels recount what a batch or a fine-tune would use about a second after every edit.
In a folder the size of Kaggle's test set that pure-Python loop takes 50-250 ms, which
would freeze the window; on a helper thread it only holds the GIL in short slices. Calls
are coalesced: while one runs, later requests collapse into one more run afterwards, and
only the newest result is delivered (on the GUI thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

BACKGROUND_FROM = 5_000  # items: below this, computing at once is quicker than a thread


class BackgroundCall(QObject):
    """``request(fn, deliver)``: ``deliver(fn())`` on the GUI thread, fn on a helper thread."""

    _finished = Signal(object, object)  # deliver callable, result

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running = False
        self._again: tuple[Callable[[], Any], Callable[[Any], None]] | None = None
        self._finished.connect(self._on_finished)

    def request(
        self, fn: Callable[[], Any], deliver: Callable[[Any], None], size: int = BACKGROUND_FROM
    ) -> None:
        """Run ``fn`` now when ``size`` is small, else on a helper thread."""
        if size < BACKGROUND_FROM and not self._running:
            deliver(fn())
            return
        if self._running:
            self._again = (fn, deliver)
            return
        self._running = True
        threading.Thread(
            target=lambda: self._finished.emit(deliver, fn()), name="recount", daemon=True
        ).start()

    @property
    def running(self) -> bool:
        return self._running

    def _on_finished(self, deliver: Callable[[Any], None], result: Any) -> None:
        self._running = False
        if self._again is not None:
            fn, latest = self._again
            self._again = None
            self.request(fn, latest, BACKGROUND_FROM)  # the newer request wins
            return
        deliver(result)
