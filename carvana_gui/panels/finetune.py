"""Fine-tune panel: train on the reviewed masks in the background, then keep the better model.

The panel only collects settings and shows progress. The work (split by car, training,
judging both models, storing the version) is ``model.workflows.finetune.run_finetune`` in
a child process, watched by a FinetuneJob thread of its own, so the model worker stays free
for Ctrl+R, batch auto-mask, export and model import. Events arrive as queued signals; the
per-batch handler only stores numbers and updates a label.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from carvana_gui.jobs.background_call import BackgroundCall
from carvana_gui.jobs.finetune_job import FinetuneJob
from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.training_plots import TrainingPlots
from model.choices import PRECISIONS
from model.data.dataset import ImageRecord
from model.edits.project_store import ProjectStore
from model.store.keep_or_not import override_current
from model.store.versions import ModelInfo, ModelStore, ModelStoreError
from model.workflows.finetune import FRESH_PRESET, FinetuneSettings, base_input_size
from model.workflows.finetune_data import build_training_set, describe, reviewed_sources
from model.workflows.finetune_events import (
    Batch,
    DataSummary,
    Epoch,
    Finished,
    Phase,
    Scoring,
    Selection,
)
from model.workflows.finetune_process import make_request

log = logging.getLogger(__name__)

# The names of model.nn.network.PRESETS (importing it would pull Keras into the GUI thread).
PRESET_NAMES = ("256x384", "512x768", "768x1152", "1024x1536", "1280x1920")
DEFAULTS = FinetuneSettings()


def format_eta(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


def _summary(
    project: ProjectStore | None, images: list[ImageRecord], settings: FinetuneSettings
) -> DataSummary | None:
    """What a run would use (no Qt: may run on a helper thread)."""
    if project is None:
        return None
    sources = reviewed_sources(project, images)
    return build_training_set(sources, settings.include_ground_truth, settings.seed).summary


class FinetunePanel(QWidget):
    """Settings, Start/Cancel, live curves and the keep/reject decision."""

    model_changed = Signal(object)  # ModelInfo that became current
    run_finished = Signal(object)  # the run's Finished event, or None when it failed

    def __init__(self, worker: ModelWorker, store: ModelStore, parent: QWidget | None = None):
        super().__init__(parent)
        self.worker = worker  # not used to fine-tune: the run has a job of its own
        self.store = store
        self.project: ProjectStore | None = None
        self._ground_truth_count = 0
        self._recount = BackgroundCall(self)
        self.images: list[ImageRecord] = []
        self.job: FinetuneJob | None = None
        self.child_command: Sequence[str] | None = None  # tests: a fake child process
        self.selection: Selection | None = None
        self.epochs_done = 0
        self._override_to: str | None = None

        self.data_label = QLabel("Open a folder to fine-tune on its reviewed masks.")
        self.data_label.setWordWrap(True)
        self.use_ground_truth = QCheckBox("Also use ground-truth masks")
        self.use_ground_truth.setToolTip(
            "Add the folder's own masks to training (never of a select or judge car)"
        )
        self.use_ground_truth.setChecked(DEFAULTS.include_ground_truth)
        self.use_ground_truth.toggled.connect(self.refresh_data)
        self.epochs = QSpinBox(minimum=1, maximum=200, value=DEFAULTS.epochs)
        self.learning_rate = QDoubleSpinBox(
            decimals=6, minimum=1e-6, maximum=1e-2, value=DEFAULTS.learning_rate
        )
        self.learning_rate.setSingleStep(1e-5)
        self.patience = QSpinBox(minimum=1, maximum=50, value=DEFAULTS.patience)
        self.patience.setToolTip("Early stopping: epochs without progress on the select cars")
        self.preset = QComboBox()
        self.preset.addItems(PRESET_NAMES)
        self.preset.setCurrentText(FRESH_PRESET)
        self.batch_size = QSpinBox(minimum=1, maximum=64, value=DEFAULTS.batch_size)
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.precision.setToolTip(
            "Compute precision while training. auto: bfloat16 on CPUs with AMX (about 1.3x "
            "faster there, as accurate), float32 elsewhere (without AMX bfloat16 is no faster, "
            "or emulated and slower); float16 is for GPUs"
        )
        form = QFormLayout()
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Patience", self.patience)
        form.addRow("Preset (H×W)", self.preset)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Precision", self.precision)

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

    # -- data --------------------------------------------------------------
    def set_data(self, project: ProjectStore | None, images: list[ImageRecord]) -> None:
        self.project = project
        self.images = list(images)
        self._ground_truth_count = sum(1 for r in self.images if r.mask_path is not None)
        self.refresh_data()

    def training_summary(self) -> DataSummary | None:
        """What a run would use now (the store's rows and file checks, no decoding)."""
        return _summary(self.project, self.images, self.settings())

    def refresh_data(self) -> None:
        """Recount the training set (a big folder on a helper thread: no stall after edits)."""
        if self.project is None:
            self._show_summary(None)
            return
        project, images, settings = self.project, self.images, self.settings()  # widgets: here
        self._recount.request(
            lambda: _summary(project, images, settings), self._show_summary, len(images)
        )

    def _show_summary(self, summary: DataSummary | None) -> None:
        if summary is None or self.project is None:
            self.data_label.setText("Open a folder to fine-tune on its reviewed masks.")
            self.start_button.setEnabled(False)
            return
        text = describe(summary)
        gt = self._ground_truth_count
        if gt and not self.use_ground_truth.isChecked():
            text += f"\n{gt} ground-truth masks available."
        base = self.base_model()
        self.data_label.setText(f"{text}\nStarting from model: {base.version if base else 'none'}")
        self._show_base_input_size(base)
        self.start_button.setEnabled(summary.train_images > 0 and self.job is None)

    def _show_base_input_size(self, base: ModelInfo | None) -> None:
        """Fine-tuning keeps the starting model's input size: show it, locked.

        The preset is a choice only when there is no model to start from.
        """
        size = base_input_size(base)
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

    def base_model(self) -> ModelInfo | None:
        return self.store.current()

    def settings(self) -> FinetuneSettings:
        fresh = self.base_model() is None
        return FinetuneSettings(
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(),
            patience=self.patience.value(),
            include_ground_truth=self.use_ground_truth.isChecked(),
            preset=self.preset.currentText() if fresh else None,
            extra={"precision": self.precision.currentText()},
        )

    # -- run ---------------------------------------------------------------
    def start(self) -> FinetuneJob | None:
        if self.project is None or self.job is not None:
            return None
        request = make_request(
            reviewed_sources(self.project, self.images),
            self.store.root,
            self.base_model(),
            self.settings(),
        )
        self.plots.reset()
        self.selection = None
        self.epochs_done = 0
        self.decision_label.setText("")
        self.override_button.setVisible(False)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("Starting…")
        job = FinetuneJob(request, self.child_command)  # no Qt parent: outlives a closed panel
        job.event.connect(self._on_event)
        job.finished.connect(self._on_finished)
        job.errored.connect(self._on_errored)
        self.job = job
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        job.start()
        return job

    def ask_keep(self) -> bool:
        """Cancelled after an epoch finished: judge and keep it, or store nothing?"""
        answer = QMessageBox.question(
            self,
            "Cancel fine-tuning",
            f"{self.epochs_done} epoch(s) finished. Keep the last finished epoch?\n\n"
            "Yes: it is judged against the current model like any candidate and stored.\n"
            "No: nothing is stored.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        if self.job is None or self.job.cancelling:
            return
        keep = self.epochs_done > 0 and self.ask_keep()
        if self.job is None:  # it finished while the question was open
            return
        self.job.cancel(keep)
        self.status_label.setText(
            "Stopping; judging the last finished epoch…" if keep else "Cancelling…"
        )
        self.cancel_button.setEnabled(False)

    def shutdown(self, timeout_s: float = 3.0) -> None:
        """Stop a run (nothing stored) and wait for its child to go (window close, tests)."""
        if self.job is not None:
            self.job.cancel(False)
            self.job.wait(timeout_s)

    @property
    def running(self) -> bool:
        return self.job is not None

    def _on_event(self, event: object) -> None:
        if self.job is None:
            return
        self.plots.add(event)
        if isinstance(event, DataSummary):
            self.status_label.setText(describe(event))
        elif isinstance(event, Phase):
            self.progress_bar.setRange(0, 0)
            self.status_label.setText(event.message[:1].upper() + event.message[1:] + "…")
        elif isinstance(event, Batch):
            self.progress_bar.setRange(0, event.epochs * event.batches)
            self.progress_bar.setValue((event.epoch - 1) * event.batches + event.batch)
            self.status_label.setText(
                f"Epoch {event.epoch}/{event.epochs}, batch {event.batch}/{event.batches}, "
                f"loss {event.loss:.4f}, {event.images_per_s:.2f} images/s, "
                f"ETA {format_eta(event.eta_s)}"
            )
        elif isinstance(event, Epoch):
            self.epochs_done += 1
            self.status_label.setText(
                f"Epoch {event.epoch}: loss {event.loss:.4f}, select loss "
                f"{event.val_loss:.4f}, select Dice {event.val_dice:.4f}"
            )
        elif isinstance(event, Scoring):
            self.progress_bar.setRange(0, event.total)
            self.progress_bar.setValue(event.done)
            which = "new" if event.model == "new" else "current"
            self.status_label.setText(
                f"Judging the {which} model: {event.done}/{event.total} judge images"
            )
        elif isinstance(event, Selection):
            self._show_selection(event)

    def _show_selection(self, sel: Selection) -> None:
        self.selection = sel
        if sel.new_dice is not None:
            scores = f"Judge-set Dice: new {sel.new_dice:.4f}"
            scores += f" vs current {sel.base_dice:.4f}" if sel.base_dice is not None else ""
        else:
            scores = "Not judged"
        current = sel.accepted or sel.overridden
        verdict = "now the current model" if current else "kept aside (not used)"
        self.decision_label.setText(
            f"<b>{html.escape(sel.version)}</b> {verdict}.<br>{scores}.<br>"
            f"{html.escape(sel.reason)}"
            + ("<br>(cancelled; the last finished epoch was kept)" if sel.cancelled else "")
        )
        if current:
            parent = sel.parent
            self._override_to = parent if parent and self._is_version(parent) else None
            self.override_button.setText(f"Switch back to {parent}")
        else:
            self._override_to = sel.version
            self.override_button.setText(f"Use {sel.version} anyway")
        self.override_button.setVisible(self._override_to is not None)
        if current:
            self.model_changed.emit(self.store.get(sel.version))

    def _is_version(self, name: str) -> bool:
        try:
            self.store.get(name)
        except ModelStoreError:
            return False
        return True

    def _override(self) -> None:
        if self._override_to is None:
            return
        info = override_current(self.store, self._override_to)
        self.decision_label.setText(self.decision_label.text() + f"<br>You chose {info.version}.")
        self.override_button.setVisible(False)
        self.model_changed.emit(info)

    def _finish(self, result: Finished | None) -> None:
        self.job = None
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1 if result is not None and result.stored else 0)
        self.cancel_button.setEnabled(False)
        self.refresh_data()
        self.run_finished.emit(result)

    def _on_finished(self, result: Finished) -> None:
        if result.stored:
            self.status_label.setText("Done." + (" (cancelled)" if result.cancelled else ""))
        else:
            self.status_label.setText(result.message[:1].upper() + result.message[1:] + ".")
        self._finish(result)

    def _on_errored(self, message: str, _traceback: str) -> None:
        self.status_label.setText(f"Failed: {message}")
        self._finish(None)
