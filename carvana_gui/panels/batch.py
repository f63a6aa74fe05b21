"""Batch auto-mask panel: predict a whole folder (or what is missing or stale) in the background.

The job runs in the window's single model worker and saves each auto-mask as it comes
(model.workflows.batch_automask), so the list fills in live and a cancel keeps what is done. The
image open in the editor and every hand-edited or reviewed mask are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from carvana_gui.jobs.background_call import BackgroundCall
from carvana_gui.jobs.model_worker import JobContext, ModelWorker
from carvana_gui.jobs.runtime_tuning import lower_background_priority
from carvana_gui.panels.finetune import format_eta
from model.data.dataset import ImageRecord
from model.edits.lifecycle import ActiveModels
from model.edits.project_store import ProjectStore
from model.workflows.batch_automask import (
    BatchCounts,
    BatchProgress,
    BatchResult,
    ModelGroup,
    active_model_files,
    count_selections,
    group_by_model,
    run_batch_by_model,
    select_images,
)

log = logging.getLogger(__name__)

SELECTION_LABELS = {
    "all": "All images",
    "without-mask": "Images without a mask",
    "stale": "Stale auto-masks (older model)",
}

ModelSource = Callable[[], tuple[Path, str] | None]  # (model file, version name) or None
# Learn this car: car id -> (its model file, its version), masked by it instead
CarModelSource = Callable[[], Mapping[str, tuple[Path, str]]]


class BatchPanel(QWidget):
    """Selection, Start/Cancel, progress bar with images/s and ETA."""

    mask_saved = Signal(str)  # image id whose auto-mask was just written
    batch_finished = Signal(object)  # BatchResult, or None when cancelled before a result

    def __init__(
        self,
        worker: ModelWorker,
        model_source: ModelSource,
        parent: QWidget | None = None,
        car_models: CarModelSource = dict,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.model_source = model_source
        self.car_models = car_models
        self.project: ProjectStore | None = None
        self.images: list[ImageRecord] = []
        self.open_image_id: str | None = None  # read from the worker thread: a plain str swap
        self.job_id: int | None = None
        self.result: BatchResult | None = None
        self._ids: list[str] = []
        self._recount = BackgroundCall(self)

        self.selection = QComboBox()
        for key, label in SELECTION_LABELS.items():
            self.selection.addItem(label, key)
        self.selection.currentIndexChanged.connect(self.refresh_counts)
        self.tta = QCheckBox("Flip TTA (slower, more precise)")
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.start_button = QPushButton("Auto-mask")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.status_label = QLabel("Idle")
        self.status_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.selection)
        layout.addWidget(self.tta)
        layout.addWidget(self.counts_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.errored.connect(self._on_errored)
        worker.cancelled.connect(self._on_cancelled)

    def set_data(self, project: ProjectStore | None, images: list[ImageRecord]) -> None:
        self.project = project
        self.images = list(images)
        self._ids = [r.image_id for r in self.images]
        self.refresh_counts()

    def selection_key(self) -> str:
        return self.selection.currentData()

    def set_selection(self, key: str) -> None:
        self.selection.setCurrentIndex(list(SELECTION_LABELS).index(key))

    def _active(self) -> tuple[ActiveModels, dict[str | None, Path]]:
        """Each image's active model (a learned car's own, else the general one) and the
        model files; with no general model, nothing is active."""
        return active_model_files(self.model_source(), self.car_models())

    def _plan(self) -> tuple[list[ModelGroup], int]:
        active, files = self._active()
        paths = [r.path for r in self.images]
        chosen, protected = select_images(self.project, paths, self.selection_key(), active)
        return group_by_model(chosen, active, files), protected

    def refresh_counts(self) -> None:
        """Recount what each selection would predict (a big folder on a helper thread)."""
        if self.project is None:
            self.counts_label.setText("Open a folder first.")
            self.start_button.setEnabled(False)
            return
        active, _ = self._active()
        records, ids = self.project.records(), self._ids
        self._recount.request(
            lambda: count_selections(records, ids, active),
            lambda counts: self._show_counts(counts, active.default),
            len(ids),
        )

    def _show_counts(self, counts: BatchCounts, version: str | None) -> None:
        chosen = counts.for_selection(self.selection_key())
        self.counts_label.setText(
            f"{chosen} images to predict with {version or 'no model'}; "
            f"{counts.protected} hand-edited or reviewed masks are never touched; "
            f"{counts.stale} auto-masks are stale (made by another model)."
        )
        self.start_button.setEnabled(bool(chosen) and version is not None and self.job_id is None)

    def start(self) -> int | None:
        source = self.model_source()
        if self.project is None or source is None or self.job_id is not None:
            return None
        groups, _ = self._plan()
        total = sum(len(g.paths) for g in groups)
        if not total:
            self.status_label.setText("Nothing to predict for this selection.")
            return None
        project, tta = self.project, self.tta.isChecked()
        truth = {r.image_id: r.mask_path for r in self.images if r.mask_path is not None}

        def job(ctx: JobContext) -> BatchResult:
            lower_background_priority()
            return run_batch_by_model(  # each image by its active model, recorded as such
                project,
                groups,
                ctx.predictor,
                tta,
                ctx.report,
                ctx.should_stop,
                protect=lambda image_id: image_id == self.open_image_id,
                truth_of=truth.get,
            )

        self.result = None
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        by_cars = total - sum(len(g.paths) for g in groups if g.version == source[1])
        self.status_label.setText(
            f"Queued {total} images"
            + (f" ({by_cars} by their car's own model)" if by_cars else "")
            + "…"
        )
        self.job_id = self.worker.submit(job, "batch auto-mask")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.worker.cancel(self.job_id)
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling after this image…")

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def _on_progress(self, job_id: int, info: BatchProgress) -> None:
        if job_id != self.job_id or not isinstance(info, BatchProgress):
            return
        self.progress_bar.setValue(info.done)
        self.status_label.setText(
            f"{info.done}/{info.total} — {info.images_per_s:.2f} images/s, "
            f"ETA {format_eta(info.eta_s)}"
        )
        self.mask_saved.emit(info.image_id)

    def _done(self, text: str, result: BatchResult | None) -> None:
        self.job_id = None
        self.result = result
        self.status_label.setText(text)
        self.cancel_button.setEnabled(False)
        self.refresh_counts()
        self.batch_finished.emit(result)

    def _on_finished(self, job_id: int, result: object) -> None:
        if job_id == self.job_id:
            self._done(result.summary() if isinstance(result, BatchResult) else "Done.", result)

    def _on_cancelled(self, job_id: int) -> None:
        if job_id == self.job_id:
            self._done("Cancelled; every mask finished so far is saved.", None)

    def _on_errored(self, job_id: int, message: str, _traceback: str) -> None:
        if job_id == self.job_id:
            self._done(f"Failed: {message}", None)
