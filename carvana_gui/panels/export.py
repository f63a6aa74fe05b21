"""File → Export: a Kaggle submission CSV, or the masks as a PNG/GIF folder.

Submission: predicted in the model worker (model.workflows.submission_export), with the
person's masks taking precedence (hand-edited, then reviewed auto-masks, optionally any
auto-mask of the current model), resumable and cancellable, then validated (every RLE
decodes; the image set matches sample_submission.csv when it lists these images) and a
plain-text report is shown. Mask folders need no model, so they are written by a small
thread of their own and never wait behind a fine-tuning run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from carvana_gui.jobs.model_worker import JobContext, ModelWorker
from carvana_gui.jobs.runtime_tuning import lower_background_priority
from carvana_gui.panels.finetune import format_eta
from carvana_gui.settings import WindowState
from model.data.dataset import list_images
from model.data.masks import image_size
from model.edits.project_store import ProjectStore, default_project_dir
from model.kaggle.submission import SubmissionReport, iter_rle_csv, validate_submission
from model.workflows.mask_export import (
    FORMATS,
    MaskExportProgress,
    MaskExportResult,
    export_masks,
)
from model.workflows.mask_sources import ShownMasks
from model.workflows.submission_export import ExportProgress

log = logging.getLogger(__name__)

ModelSource = Callable[[], tuple[Path, str] | None]
SAMPLE_NAME = "sample_submission.csv"


@dataclass(frozen=True)
class Validating:
    """Progress event: every row written, the CSV is being validated."""


@dataclass
class SubmissionOutcome:
    result: object  # model.workflows.submission_export.ExportResult
    report: SubmissionReport | None
    sample: Path | None
    note: str
    shown: ShownMasks | None = None  # where the stored masks came from


@dataclass(frozen=True)
class SubmissionDone:
    """Progress event: the export ended (finished or cancelled) with this outcome."""

    outcome: SubmissionOutcome


def default_export_dir(state: WindowState | None) -> Path:
    """The last export folder, else the user's documents folder (else home)."""
    last = state.last_export_dir() if state is not None else None
    if last and Path(last).is_dir():
        return Path(last)
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents and Path(documents).is_dir() else Path.home()


def find_sample(folder: Path, names: set[str]) -> tuple[Path | None, str]:
    """sample_submission.csv beside the folder, if it lists (some of) these images."""
    sample = folder.parent / SAMPLE_NAME
    if not sample.is_file():
        return None, f"no {SAMPLE_NAME} beside {folder.name}/: image set not compared"
    listed = {name for name, _ in iter_rle_csv(sample)}
    if listed.isdisjoint(names):
        return None, f"{sample.name} lists other images (not {folder.name}/): not compared"
    return sample, f"compared with {sample}"


def submission_report_text(outcome: SubmissionOutcome) -> str:
    r = outcome.result
    lines = [f"Wrote {r.written} rows to {r.path} in {r.seconds:.1f} s."]
    shown = outcome.shown
    if shown is not None:
        predicted = r.written - r.overridden
        lines.append(f"Masks: {shown.tally.describe(predicted)}.")
        if shown.unreviewed_ids:
            names = ", ".join(shown.unreviewed_ids[:10])
            more = "…" if len(shown.unreviewed_ids) > 10 else ""
            lines.append(
                f"Warning: {len(shown.unreviewed_ids)} edited masks nobody marked reviewed "
                f"were exported as they are: {names}{more}"
            )
    restarted = getattr(r, "restarted", None)
    if restarted:
        lines.append(f"Note: {restarted}.")
    if r.already_done:
        lines.append(
            f"{r.already_done} rows kept from the same export, interrupted earlier "
            "(same images, model, TTA and masks)."
        )
    if r.skipped:
        lines.append(f"{len(r.skipped)} unreadable images skipped:")
        lines += [f"  {path}: {why}" for path, why in r.skipped[:20]]
    if r.cancelled:
        lines.append("Cancelled: the partial file is kept; export again to resume.")
        return "\n".join(lines)
    report = outcome.report
    if report is not None:
        verdict = "VALID" if report.ok else f"{len(report.problems)} PROBLEMS"
        lines.append(f"Validation: {verdict} — {report.rows} rows, every RLE decode-checked.")
        lines += [f"  {p}" for p in report.problems[:20]]
    lines.append(f"Image set: {outcome.note}.")
    return "\n".join(lines)


def run_submission_job(
    ctx: JobContext,
    folder: Path,
    out_csv: Path,
    model_path: Path,
    tta: bool,
    resume: bool,
    lookup: ShownMasks,
) -> SubmissionOutcome:
    """Worker side: predict, write, then validate the finished file."""
    from model.workflows.submission_export import export_submission  # keras: worker thread only

    lower_background_priority()

    records = list_images(folder)
    if not records:
        raise ValueError(f"{folder}: no images to export")
    predictor = ctx.predictor(model_path)
    result = export_submission(
        records,
        out_csv,
        predictor,
        tta,
        lookup,
        resume,
        ctx.report,
        ctx.should_stop,
        model_file=model_path,  # with lookup's fingerprint: resume only the same export
    )
    if result.cancelled:
        outcome = SubmissionOutcome(result, None, None, "not checked", lookup)
        ctx.report(SubmissionDone(outcome))  # a cancelled job's result is not delivered
        return outcome
    ctx.report(Validating())
    from model.workflows.submission_export import submission_name

    sample, note = find_sample(folder, {submission_name(r) for r in records})
    report = validate_submission(result.path, sample, image_size(records[0].path))
    outcome = SubmissionOutcome(result, report, sample, note, lookup)
    ctx.report(SubmissionDone(outcome))
    return outcome


class MaskExportThread(QThread):
    """Writes a mask folder off the GUI thread (no model needed, so not in the model queue)."""

    progress = Signal(object)
    done = Signal(object)  # MaskExportResult
    failed = Signal(str)

    def __init__(
        self, project: ProjectStore, ids: list[str], out_dir: Path, fmt: str, include_auto: bool
    ) -> None:
        super().__init__()
        self.args = (project, ids, out_dir, fmt, include_auto)
        self.stop_requested = False

    def run(self) -> None:
        try:
            result = export_masks(
                *self.args, on_progress=self.progress.emit, should_stop=lambda: self.stop_requested
            )
        except Exception as exc:
            log.exception("mask export failed")
            self.failed.emit(str(exc))
        else:
            self.done.emit(result)


def _path_row(edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class ExportDialog(QDialog):
    """Two tabs (submission, mask folder), one progress bar, one report."""

    export_finished = Signal(object)  # SubmissionOutcome or MaskExportResult

    def __init__(
        self,
        worker: ModelWorker,
        model_source: ModelSource,
        project: ProjectStore | None = None,
        image_folder: Path | None = None,
        parent: QWidget | None = None,
        state: WindowState | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.state = state
        self.worker = worker
        self.model_source = model_source
        self.project = project
        self.image_folder = image_folder
        self.job_id: int | None = None
        self.mask_thread: MaskExportThread | None = None
        self._started = 0.0

        self.folder_edit = QLineEdit(str(image_folder or ""))
        out = default_export_dir(state)  # never inside the dataset folder
        self.csv_edit = QLineEdit(str(out / "submission.csv"))
        self.tta = QCheckBox("Flip test-time augmentation")
        self.resume = QCheckBox("Resume an interrupted export")
        self.resume.setToolTip(
            "Continue the same unfinished export (same images, model, TTA and masks).\n"
            "A finished CSV, or a partial one made any other way, is always started over."
        )
        self.resume.setChecked(True)
        self.reuse_auto = QCheckBox("Use the stored auto-masks (else predict them again)")
        self.reuse_auto.setChecked(True)
        self.submit_button = QPushButton("Export submission")
        self.submit_button.clicked.connect(self.start_submission)
        sub = QWidget()
        form = QFormLayout(sub)
        form.addRow("Image folder", _path_row(self.folder_edit, self._browse_folder))
        form.addRow("Output CSV", _path_row(self.csv_edit, self._browse_csv))
        form.addRow(self.tta)
        form.addRow(self.resume)
        form.addRow(self.reuse_auto)
        form.addRow(QLabel("Each image gets the mask the editor shows; the others are predicted."))
        form.addRow(self.submit_button)

        default_masks = out / (f"{image_folder.name}_masks" if image_folder else "masks")
        self.masks_edit = QLineEdit(str(default_masks))
        self.format = QComboBox()
        self.format.addItems([f.upper() for f in FORMATS])
        self.include_auto = QCheckBox("Include auto-masks (hand-edited ones always win)")
        self.include_auto.setChecked(True)
        self.masks_button = QPushButton("Export masks")
        self.masks_button.clicked.connect(self.start_masks)
        masks = QWidget()
        mform = QFormLayout(masks)
        mform.addRow("Output folder", _path_row(self.masks_edit, self._browse_masks))
        mform.addRow("Format", self.format)
        mform.addRow(self.include_auto)
        mform.addRow(self.masks_button)

        self.tabs = QTabWidget()
        self.tabs.addTab(sub, "Submission CSV")
        self.tabs.addTab(masks, "Mask folder")
        self.progress_bar = QProgressBar()
        self.status_label = QLabel("")
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setMinimumHeight(140)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.report, 1)
        layout.addLayout(buttons)
        self.resize(640, 520)

        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_job_end)
        worker.cancelled.connect(self._on_job_end)
        worker.errored.connect(self._on_errored)

    # -- browsing ------------------------------------------------------------
    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Submission CSV", self.csv_edit.text(), "CSV (*.csv)"
        )
        if path:
            self.csv_edit.setText(path)

    def _browse_masks(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Mask folder", self.masks_edit.text())
        if path:
            self.masks_edit.setText(path)

    # -- submission ------------------------------------------------------------
    def _project_for(self, folder: Path) -> ProjectStore | None:
        """The window's project when exporting its folder, else an existing one beside it."""
        if (
            self.project is not None
            and self.image_folder is not None
            and (folder.resolve() == Path(self.image_folder).resolve())
        ):
            return self.project
        root = default_project_dir(folder)
        return ProjectStore(root) if root.is_dir() else None

    def _remember(self, folder: Path) -> None:
        if self.state is not None and folder.is_dir():
            self.state.set_last_export_dir(str(folder))

    def _busy(self, on: bool) -> None:
        self.submit_button.setEnabled(not on)
        self.masks_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def start_submission(self) -> int | None:
        folder, out_csv = Path(self.folder_edit.text()), Path(self.csv_edit.text())
        self._remember(out_csv.parent)
        source = self.model_source()
        problem = None
        if source is None:
            problem = "No model: import or train one first (Model menu)."
        elif not folder.is_dir():
            problem = f"{folder}: not a folder"
        elif out_csv.suffix.lower() != ".csv":
            problem = f"{out_csv}: the output should be a .csv file"
        if problem:
            self.report.setPlainText(problem)
            return None
        model_path, version = source
        lookup = ShownMasks(self._project_for(folder), version, self.reuse_auto.isChecked())
        tta, resume = self.tta.isChecked(), self.resume.isChecked()
        self.report.setPlainText(f"Exporting {folder} with {version}…")
        self.progress_bar.setRange(0, 0)
        self._started = time.perf_counter()
        self.job_id = self.worker.submit(
            lambda ctx: run_submission_job(ctx, folder, out_csv, model_path, tta, resume, lookup),
            "export submission",
        )
        self._busy(True)
        return self.job_id

    def _on_progress(self, job_id: int, info: object) -> None:
        if job_id != self.job_id:
            return
        if isinstance(info, ExportProgress):
            self.progress_bar.setRange(0, info.total)
            self.progress_bar.setValue(info.done)
            self.status_label.setText(
                f"{info.done}/{info.total} — {info.images_per_s:.2f} images/s, "
                f"ETA {format_eta(info.eta_s)}"
            )
        elif isinstance(info, Validating):
            self.progress_bar.setRange(0, 0)
            self.status_label.setText("Validating the CSV…")
        elif isinstance(info, SubmissionDone):
            self._show_outcome(info.outcome)

    def _show_outcome(self, outcome: SubmissionOutcome) -> None:
        self.report.setPlainText(submission_report_text(outcome))
        self.status_label.setText("Cancelled." if outcome.result.cancelled else "Finished.")
        self.export_finished.emit(outcome)

    def _on_job_end(self, job_id: int, *_: object) -> None:
        if job_id == self.job_id:
            self.job_id = None
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
            self._busy(False)

    def _on_errored(self, job_id: int, message: str, _tb: str) -> None:
        if job_id == self.job_id:
            self.report.setPlainText(f"Export failed: {message}")
            self.status_label.setText("Failed.")
            self._on_job_end(job_id)

    def cancel(self) -> None:
        if self.job_id is not None:
            self.worker.cancel(self.job_id)
        if self.mask_thread is not None:
            self.mask_thread.stop_requested = True
        self.status_label.setText("Cancelling…")

    # -- mask folder ---------------------------------------------------------
    def start_masks(self) -> bool:
        if self.project is None:
            self.report.setPlainText("Open a folder first: masks are exported from its project.")
            return False
        ids = sorted(self.project_image_ids())
        out_dir = Path(self.masks_edit.text())
        self._remember(out_dir.parent)
        thread = MaskExportThread(
            self.project,
            ids,
            out_dir,
            self.format.currentText().lower(),
            self.include_auto.isChecked(),
        )
        thread.progress.connect(self._on_mask_progress)
        thread.done.connect(self._on_masks_done)
        thread.failed.connect(lambda msg: self._on_masks_done(None, msg))
        self.mask_thread = thread
        self.progress_bar.setRange(0, max(1, len(ids)))
        self._busy(True)
        thread.start()
        return True

    def project_image_ids(self) -> list[str]:
        if self.image_folder is not None and Path(self.image_folder).is_dir():
            return [r.image_id for r in list_images(self.image_folder)]
        return sorted(self.project.records()) if self.project else []

    def _on_mask_progress(self, info: MaskExportProgress) -> None:
        self.progress_bar.setValue(info.done)
        self.status_label.setText(f"{info.done}/{info.total} masks")

    def _on_masks_done(self, result: MaskExportResult | None, error: str = "") -> None:
        if self.mask_thread is not None:
            self.mask_thread.wait()
            self.mask_thread = None
        self._busy(False)
        if result is None:
            self.report.setPlainText(f"Mask export failed: {error}")
            return
        text = result.summary()
        if result.missing:
            text += "\nWithout any mask: " + ", ".join(result.missing[:20])
        self.report.setPlainText(text)
        self.status_label.setText("Finished.")
        self.export_finished.emit(result)
