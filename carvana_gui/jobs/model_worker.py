"""The one background thread that runs in-process model work (inference, batch, export, imports).

Keras models must not be used from two threads at once, and TensorFlow takes seconds
to import, so all of that happens here, one job at a time, off the GUI thread. A job is
a plain callable ``fn(ctx) -> result``; ``ctx.report(event)`` sends a typed progress event and
``ctx.should_stop()`` polls cooperative cancellation. Loaded predictors are cached
inside this thread (``ctx.predictor(path)``), so a model is loaded once.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from carvana_gui.jobs.runtime_tuning import collector_paused, import_model_stack

log = logging.getLogger(__name__)


class JobCancelledError(Exception):
    """Raised by a job that noticed ``should_stop()``; reported as cancelled, not as an error."""


@dataclass
class _Job:
    job_id: int
    name: str
    fn: Callable[[JobContext], Any]
    stop: threading.Event = field(default_factory=threading.Event)


class JobContext:
    """What a running job may use: progress reports, the stop flag and the model cache."""

    def __init__(self, worker: ModelWorker, job: _Job) -> None:
        self._worker = worker
        self._job = job
        self.job_id = job.job_id
        self.name = job.name

    def report(self, info: object) -> None:
        """Send a progress event (a frozen dataclass; dicts are copied) to the GUI thread."""
        self._worker.progress.emit(self.job_id, dict(info) if isinstance(info, dict) else info)

    def should_stop(self) -> bool:
        return self._job.stop.is_set()

    def predictor(self, path: Path) -> Any:
        """The Predictor for ``path``: loaded on first use, reused while the file is unchanged."""
        return self._worker._thread.cached_predictor(Path(path))


class _WorkerThread(QThread):
    def __init__(self, worker: ModelWorker) -> None:
        super().__init__()
        self.worker = worker
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.current: _Job | None = None
        self._predictors: dict[Path, tuple[float, Any]] = {}

    def cached_predictor(self, path: Path) -> Any:
        import_model_stack()  # keras is only ever imported in this thread
        from model.nn.predictor import Predictor

        mtime = path.stat().st_mtime
        cached = self._predictors.get(path)
        if cached is None or cached[0] != mtime:
            log.info("loading model %s", path)
            with collector_paused():  # a load makes ~10^5 objects: no full passes meanwhile
                self._predictors[path] = (mtime, Predictor.load(path))
        return self._predictors[path][1]

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if job.stop.is_set():
                self.worker.cancelled.emit(job.job_id)
                continue
            self.current = job
            self.worker.started.emit(job.job_id, job.name)
            try:
                result = job.fn(JobContext(self.worker, job))
            except JobCancelledError:
                self.worker.cancelled.emit(job.job_id)
            except Exception as exc:  # handed to the window's one error handler
                self.worker.errored.emit(job.job_id, f"{job.name}: {exc}", traceback.format_exc())
            else:
                if job.stop.is_set():
                    self.worker.cancelled.emit(job.job_id)
                else:
                    self.worker.finished.emit(job.job_id, result)
            finally:
                self.current = None


class ModelWorker(QObject):
    """A single-thread job queue with started/progress/finished/errored/cancelled signals."""

    started = Signal(int, str)
    progress = Signal(int, object)
    finished = Signal(int, object)
    errored = Signal(int, str, str)  # job id, one-line message, traceback
    cancelled = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._thread = _WorkerThread(self)
        self._pending: dict[int, _Job] = {}
        self._callbacks: dict[int, Callable[[Any], None]] = {}
        self._lock = threading.Lock()
        self.finished.connect(self._on_finished)
        self.errored.connect(self._forget)
        self.cancelled.connect(self._forget)
        self._thread.start()

    def submit(
        self,
        fn: Callable[[JobContext], Any],
        name: str,
        on_result: Callable[[Any], None] | None = None,
    ) -> int:
        """Queue a job; returns its id (signals carry it).

        ``on_result(result)`` runs on the GUI thread when the job finishes; errors go
        to ``errored`` (the window's one handler), never to the callback.
        """
        job = _Job(next(self._ids), name, fn)
        with self._lock:
            self._pending[job.job_id] = job
            if on_result is not None:
                self._callbacks[job.job_id] = on_result
        self._thread.jobs.put(job)
        log.debug("queued job %d %s", job.job_id, name)
        return job.job_id

    def _forget(self, job_id: int, *_: object) -> Callable[[Any], None] | None:
        with self._lock:
            self._pending.pop(job_id, None)
            return self._callbacks.pop(job_id, None)

    def _on_finished(self, job_id: int, result: object) -> None:
        callback = self._forget(job_id)
        if callback is not None:
            callback(result)

    def cancel(self, job_id: int | None = None) -> None:
        """Ask one job (or every queued and running job) to stop at its next check."""
        with self._lock:
            jobs = list(self._pending.values())
        for job in jobs:
            if job_id is None or job.job_id == job_id:
                job.stop.set()

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def current_job_name(self) -> str | None:
        job = self._thread.current
        return job.name if job else None

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything, stop the thread, and wait for it; False if it did not stop in time."""
        self.cancel()
        self._thread.jobs.put(None)
        return self._thread.wait(timeout_ms)
