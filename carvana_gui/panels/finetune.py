"""Fine-tune panel: train on the corrected masks in the background, then keep the better model.

The panel only collects settings and shows progress. The work (training set, training,
scoring both models, storing the version) is one job in the window's single model worker,
so the user keeps painting while it runs. Progress dicts arrive as queued Qt signals; the
per-batch handler only stores numbers and updates a label.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from carvana_gui.jobs.model_worker import JobContext, ModelWorker
from carvana_gui.jobs.runtime_tuning import lower_background_priority
from carvana_gui.panels.training_plots import TrainingPlots
from model.data.dataset import ImageRecord
from model.project import EditsProject
from model.store.versions import (
    ModelInfo,
    ModelStore,
    ModelStoreError,
    read_model_meta,
    shipped_model_path,
)
from model.workflows.finetune import FinetuneSettings, corrected_records, override_current
from model.workflows.finetune_process import make_request, run_finetune_process

log = logging.getLogger(__name__)

# The names of model.nn.network.PRESETS (importing it would pull Keras into the GUI thread).
PRESET_NAMES = ("256x384", "512x768", "768x1152", "1024x1536", "1280x1920")


def format_eta(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


def run_finetune_job(project: EditsProject, request: dict, ctx: JobContext) -> str | None:
    """Worker-thread side: run fine-tune-and-select in a child process and relay its progress.

    The child has its own interpreter, so Keras' Python-heavy moments never hold this
    process's GIL; this thread only waits on a pipe. The project's statuses are saved
    first because the child reads them from disk.
    """
    lower_background_priority()
    project.save()
    return run_finetune_process(request, ctx.report, ctx.should_stop)


class FinetunePanel(QWidget):
    """Settings, Start/Cancel, live curves and the keep/reject decision."""

    model_changed = Signal(object)  # ModelInfo that became current
    run_finished = Signal(object)  # the "selection" dict, or None when nothing was trained

    def __init__(self, worker: ModelWorker, store: ModelStore, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker
        self.store = store
        self.project: EditsProject | None = None
        self.images: list[ImageRecord] = []
        self.job_id: int | None = None
        self.selection: dict | None = None

        self.data_label = QLabel("Open a folder to fine-tune on its corrected masks.")
        self.data_label.setWordWrap(True)
        self.use_ground_truth = QCheckBox("Also use ground-truth masks")
        self.use_ground_truth.setToolTip("Add the folder's own masks (train_masks/) to training")
        self.use_ground_truth.toggled.connect(self.refresh_data)
        self.epochs = QSpinBox(minimum=1, maximum=200, value=1)
        self.learning_rate = QDoubleSpinBox(decimals=6, minimum=1e-6, maximum=1e-2, value=1e-4)
        self.learning_rate.setSingleStep(1e-5)
        self.preset = QComboBox()
        self.preset.addItems(PRESET_NAMES)
        self.batch_size = QSpinBox(minimum=1, maximum=64, value=2)
        form = QFormLayout()
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Preset (H×W)", self.preset)
        form.addRow("Batch size", self.batch_size)

        self.start_button = QPushButton("Start fine-tuning")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)

        self.progress_bar = QProgressBar()
        self.status_label = QLabel("Idle")
        self.status_label.setWordWrap(True)
        # A fixed height: a label that grows by a line would re-layout the plots every batch.
        lines = self.status_label.fontMetrics().lineSpacing()
        self.status_label.setFixedHeight(3 * lines + 4)
        self.plots = TrainingPlots()
        self.plots.setMinimumSize(220, 220)
        self.decision_label = QLabel("")
        self.decision_label.setWordWrap(True)
        self.override_button = QPushButton("")
        self.override_button.setVisible(False)
        self.override_button.clicked.connect(self._override)

        layout = QVBoxLayout(self)
        layout.addWidget(self.data_label)
        layout.addWidget(self.use_ground_truth)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.plots, stretch=1)
        layout.addWidget(self.decision_label)
        layout.addWidget(self.override_button)

        worker.started.connect(self._on_started)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_done)
        worker.errored.connect(self._on_errored)
        worker.cancelled.connect(self._on_done)

    # -- data --------------------------------------------------------------
    def set_data(self, project: EditsProject | None, images: list[ImageRecord]) -> None:
        self.project = project
        self.images = list(images)
        self.refresh_data()

    def refresh_data(self) -> None:
        """Recount the training set (cheap: statuses and file checks, no decoding)."""
        if self.project is None:
            self.data_label.setText("Open a folder to fine-tune on its corrected masks.")
            self.start_button.setEnabled(False)
            return
        corrected = corrected_records(self.project, self.images)
        cars = {r.car_id or r.image_id for r in corrected}
        text = f"Training set: {len(corrected)} corrected or reviewed masks ({len(cars)} cars)"
        gt = sum(1 for r in self.images if r.mask_path is not None)
        if self.use_ground_truth.isChecked():
            text += f" + up to {gt} ground-truth masks"
        elif gt:
            text += f"; {gt} ground-truth masks available"
        base = self.base_model()
        name = base.version if isinstance(base, ModelInfo) else (base.name if base else "none")
        self.data_label.setText(f"{text}.\nStarting from model: {name}")
        self._show_base_input_size(base)
        usable = len(corrected) >= 2 or (self.use_ground_truth.isChecked() and gt > 0)
        self.start_button.setEnabled(usable and self.job_id is None)

    def _show_base_input_size(self, base: ModelInfo | Path | None) -> None:
        """Fine-tuning keeps the starting model's input size: show it, locked.

        The preset is a choice only when there is no model to start from.
        """
        size = None
        if base is not None:
            try:
                meta = base.meta if isinstance(base, ModelInfo) else read_model_meta(base)
            except ModelStoreError as exc:
                log.warning("%s", exc)
                meta = {}
            dims = meta.get("input_size")
            if isinstance(dims, list) and len(dims) == 2:
                size = f"{dims[0]}x{dims[1]}"
            elif isinstance(meta.get("preset"), str):
                size = meta["preset"]
        if size is not None and self.preset.findText(size) < 0:
            self.preset.addItem(size)
        if size is not None:
            self.preset.setCurrentText(size)
        self.preset.setEnabled(size is None)
        self.preset.setToolTip(
            "Fine-tuning keeps the starting model's input size"
            if size is not None
            else "Input size of a new network (no model to start from)"
        )

    def base_model(self) -> ModelInfo | Path | None:
        return self.store.current() or shipped_model_path()

    def settings(self) -> FinetuneSettings:
        return FinetuneSettings(
            preset=self.preset.currentText(),
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(),
            include_ground_truth=self.use_ground_truth.isChecked(),
        )

    # -- run ---------------------------------------------------------------
    def start(self) -> int | None:
        if self.project is None or self.job_id is not None:
            return None
        base, project = self.base_model(), self.project
        request = make_request(
            self.project.root,
            self.images,
            self.store.root,
            base.version if isinstance(base, ModelInfo) else base,
            self.settings(),
        )
        self.plots.reset()
        self.selection = None
        self.decision_label.setText("")
        self.override_button.setVisible(False)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("Queued…")
        self.job_id = self.worker.submit(
            lambda ctx: run_finetune_job(project, request, ctx), "fine-tune"
        )
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.worker.cancel(self.job_id)
            self.status_label.setText("Cancelling after this batch…")
            self.cancel_button.setEnabled(False)

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def _on_started(self, job_id: int, _name: str) -> None:
        if job_id == self.job_id:
            self.status_label.setText("Loading data and model…")

    def _on_progress(self, job_id: int, info: dict) -> None:
        if job_id != self.job_id:
            return
        self.plots.add(info)
        event = info.get("event")
        if event == "batch":
            total = info["epochs"] * info["batches"]
            done = (info["epoch"] - 1) * info["batches"] + info["batch"]
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.status_label.setText(
                f"Epoch {info['epoch']}/{info['epochs']}, batch {info['batch']}/"
                f"{info['batches']}, loss {info['loss']:.4f}, "
                f"{info['images_per_s']:.2f} images/s, ETA {format_eta(info['eta_s'])}"
            )
        elif event == "epoch":
            self.status_label.setText(
                f"Epoch {info['epoch']}: loss {info['loss']:.4f}, val loss "
                f"{info['val_loss']:.4f}, val Dice {info['val_dice']:.4f}"
            )
        elif event == "scoring":
            self.progress_bar.setRange(0, 0)
            self.status_label.setText(
                f"Scoring new and current model on {info['holdout_images']} held-out images…"
            )
        elif event == "selection":
            self._show_selection(info)

    def _show_selection(self, info: dict) -> None:
        self.selection = info
        current = info["current_dice"]
        scores = f"new {info['new_dice']:.4f}"
        scores += f" vs current {current:.4f}" if current is not None else ""
        verdict = "now the current model" if info["accepted"] else "kept aside (not used)"
        self.decision_label.setText(
            f"<b>{info['version']}</b> {verdict}.<br>Held-out Dice: {scores}.<br>"
            f"{html.escape(info['reason'])}"
            + ("<br>(training was cancelled; best weights so far)" if info["cancelled"] else "")
        )
        if info["accepted"]:
            parent = self.store.get(info["version"]).meta.get("parent")
            self._override_to = parent if parent and self._is_version(parent) else None
            self.override_button.setText(f"Switch back to {parent}")
        else:
            self._override_to = info["version"]
            self.override_button.setText(f"Use {info['version']} anyway")
        self.override_button.setVisible(self._override_to is not None)
        if info["accepted"]:
            self.model_changed.emit(self.store.get(info["version"]))

    def _is_version(self, name: str) -> bool:
        return any(v.version == name for v in self.store.versions())

    def _override(self) -> None:
        if self._override_to is None:
            return
        info = override_current(self.store, self._override_to)
        self.decision_label.setText(self.decision_label.text() + f"<br>You chose {info.version}.")
        self.override_button.setVisible(False)
        self.model_changed.emit(info)

    def _finish(self) -> None:
        self.job_id = None
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if self.selection else 0)
        self.cancel_button.setEnabled(False)
        self.refresh_data()
        self.run_finished.emit(self.selection)

    def _on_done(self, job_id: int, *_: object) -> None:
        if job_id != self.job_id:
            return
        if self.selection is None:
            self.status_label.setText("Stopped before a full batch: nothing to keep.")
        else:
            self.status_label.setText(
                "Done." + (" (cancelled)" if self.selection["cancelled"] else "")
            )
        self._finish()

    def _on_errored(self, job_id: int, message: str, _traceback: str) -> None:
        if job_id != self.job_id:
            return
        self.status_label.setText(f"Failed: {message}")
        self._finish()
