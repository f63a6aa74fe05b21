"""A fine-tune run as a job of its own: a child process watched from a plain thread.

Not a ModelWorker job: the worker owns the in-process Keras model, and a fine-tune that
held it for minutes would make Ctrl+R, batch auto-mask, export and model import wait.
The child does the work; this thread only reads its pipe, and hands each typed event to
the GUI thread as a queued Qt signal.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from model.workflows.finetune_process import run_finetune_process

log = logging.getLogger(__name__)


class FinetuneJob(QObject):
    """started / event(FinetuneEvent) / finished(Finished) / errored(message, traceback).

    ``cancel(keep)``: stop the run; ``keep`` asks the child to judge and store the best
    finished epoch instead of nothing (the child is killed ~1.5 s after a plain stop).
    """

    started = Signal()
    event = Signal(object)
    finished = Signal(object)
    errored = Signal(str, str)

    def __init__(
        self,
        request: dict,
        command: Sequence[str] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.request = request
        self.command = command
        self._stop = threading.Event()
        self._keep = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="finetune-job")
        self._thread.start()

    def cancel(self, keep: bool = False) -> None:
        self._keep = keep
        self._stop.set()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.is_running()

    def _run(self) -> None:
        self.started.emit()
        try:
            finished = run_finetune_process(
                self.request, self.event.emit, self._stop.is_set, lambda: self._keep, self.command
            )
        except Exception as exc:  # handed to the panel, which shows it
            log.error("fine-tuning failed: %s", exc)
            self.errored.emit(str(exc), traceback.format_exc())
        else:
            self.finished.emit(finished)
