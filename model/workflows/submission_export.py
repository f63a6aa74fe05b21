"""Kaggle submission export: one RLE row per image, streamed, resumable, cancellable.

Rows go through SubmissionWriter, which keeps only the names already written, so 100k
images need no more memory than one batch. A hand-edited mask (override_mask) wins over
the prediction. Unreadable images are skipped and listed in the result, never fatal.
A cancelled or crashed export leaves its partial file; the next run with resume=True
continues after the last complete row, but only when it is the same export: the image
set (names, sizes, times), the model file, TTA and the masks taken from the project
(each image's state and revision) are fingerprinted beside the partial file, and a
partial made any other way is started over. A finished CSV is always replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.data.dataset import ImageRecord, split_submission_records
from model.data.file_hash import file_sha256
from model.kaggle.rle import rle_encode
from model.kaggle.submission import SubmissionWriter

log = logging.getLogger(__name__)

OverrideFn = Callable[[ImageRecord], "np.ndarray | None"]


@dataclass(frozen=True)
class ExportProgress:
    """One image written (or skipped) by a submission export."""

    done: int
    total: int
    images_per_s: float
    eta_s: float
    name: str


@dataclass
class ExportResult:
    path: Path  # the finished CSV, or the .partial file when cancelled
    written: int  # rows written by this run
    already_done: int  # rows kept from an earlier, interrupted run
    overridden: int  # rows taken from hand-edited masks
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable images
    cancelled: bool = False
    seconds: float = 0.0
    restarted: str | None = None  # why an unfinished earlier export was started over

    @property
    def complete(self) -> bool:
        return not self.cancelled and not self.skipped


def submission_name(record: ImageRecord) -> str:
    """Kaggle's `img` column: the file name with .jpg (the test images are JPEGs)."""
    name = record.path.name
    return name if name.lower().endswith(".jpg") else f"{record.image_id}.jpg"


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def images_fingerprint(images: list[ImageRecord]) -> str:
    """Hash of the image set: each submission name with its file's size and mtime."""
    rows = []
    for record in images:
        try:
            st = os.stat(record.path)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None  # unreadable now: skipped either way
        rows.append([submission_name(record), stamp])
    return _digest(sorted(rows, key=lambda row: row[0]))


def model_fingerprint(model_file: Path | None, predictor) -> str:
    """Hash of the model file's bytes (or, without a file, the predictor's name/meta),
    plus the threshold and the engine (bf16 OpenVINO flips a few edge pixels) it runs on,
    and the edge refiner's weights when one re-decides the edges."""
    threshold = getattr(predictor, "threshold", None)
    engine = getattr(getattr(predictor, "engine", None), "name", None)
    # an edge refiner (--refine-edge, a car's own model) changes the masks: it is part of
    # what made them; without one the parts stay as before, so older exports resume
    edges = getattr(predictor, "edges_digest", None)
    refined = [edges] if isinstance(edges, str) else []
    if model_file is not None and Path(model_file).is_file():
        return _digest([file_sha256(Path(model_file)), threshold, engine, *refined])
    meta = getattr(predictor, "meta", None)
    name = getattr(predictor, "name", type(predictor).__qualname__)
    return _digest([str(name), threshold, meta if isinstance(meta, dict) else None, *refined])


def masks_fingerprint(images: list[ImageRecord], override_mask: OverrideFn | None) -> str | None:
    """Hash of where the hand-made/stored masks come from; None when it cannot be known."""
    if override_mask is None:
        return "none"
    fingerprint = getattr(override_mask, "fingerprint", None)
    if fingerprint is None:
        return None  # a plain callable: its masks cannot be compared between runs
    return fingerprint([r.image_id for r in images])


def export_fingerprint(
    images: list[ImageRecord],
    predictor,
    tta: bool,
    override_mask: OverrideFn | None = None,
    model_file: Path | None = None,
) -> dict:
    """What makes two exports the same export (recorded beside the .partial file)."""
    masks = masks_fingerprint(images, override_mask)
    return {
        "images": images_fingerprint(images),
        "model": model_fingerprint(model_file, predictor),
        "tta": bool(tta),
        # an unknowable mask source never matches, so such a partial file is started over
        "masks": masks if masks is not None else f"unknown-{time.time_ns()}",
    }


def export_submission(
    images: list[ImageRecord],
    out_csv: Path,
    predictor,
    tta: bool = False,
    override_mask: OverrideFn | None = None,
    resume: bool = True,
    on_progress: Callable[[ExportProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model_file: Path | None = None,
) -> ExportResult:
    """Write a submission for `images` with `predictor` (a model.nn.predictor.Predictor).

    on_progress gets an ExportProgress after each image;
    should_stop() is polled after each image and stops with the partial file kept.
    `model_file` (the predictor's .keras file) identifies the model for resuming;
    `override_mask` should have a ``fingerprint(image_ids)`` (ShownMasks has) or an
    unfinished export is never resumed. The result's `restarted` says why an unfinished
    earlier export was started over.
    """
    started = time.perf_counter()
    # Names a CSV row cannot hold (a comma...) are skipped and listed before any row is
    # written; entries the folder scan left out (two files, one id) are listed too.
    skipped_by_scan = list(getattr(images, "skipped", []))
    images, bad_names = split_submission_records(images)
    fingerprint = export_fingerprint(images, predictor, tta, override_mask, model_file)
    writer = SubmissionWriter(Path(out_csv), resume=resume, fingerprint=fingerprint)
    result = ExportResult(path=writer.partial_path, written=0, already_done=0, overridden=0)
    result.skipped.extend((Path(e.path), e.reason) for e in [*skipped_by_scan, *bad_names])
    result.restarted = writer.restart_reason
    if result.restarted:
        log.warning("%s: %s", writer.partial_path, result.restarted)
    report = on_progress or (lambda info: None)
    stop = should_stop or (lambda: False)
    total = len(images)
    todo: list[ImageRecord] = []
    by_path: dict[Path, ImageRecord] = {}
    try:
        for record in images:
            name = submission_name(record)
            if name in writer.done:
                result.already_done += 1
                continue
            mask = override_mask(record) if override_mask is not None else None
            if mask is not None:
                writer.write(name, mask)
                result.overridden += 1
                result.written += 1
            else:
                todo.append(record)
                by_path[record.path] = record
        if result.already_done:
            log.info("resuming %s: %d rows already written", out_csv, result.already_done)

        def tick(name: str) -> None:
            done = result.already_done + result.written + len(result.skipped)
            predicted = result.written - result.overridden
            elapsed = time.perf_counter() - started
            rate = predicted / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else float("nan")
            report(ExportProgress(done, total, rate, eta, name))

        def skip(path: Path, exc: Exception) -> None:
            log.warning("skipping unreadable image %s: %s", path, exc)
            result.skipped.append((path, str(exc)))
            tick(path.name)

        # The RLE is made on the predictor's finishing thread, beside the network's work.
        stream: Iterator = predictor.predict_paths(
            (r.path for r in todo), tta=tta, on_error=skip, encode=rle_encode
        )
        for path, prediction in stream:
            record = by_path[Path(path)]
            encoded = getattr(prediction, "encoded", None)
            writer.write(submission_name(record), prediction.mask if encoded is None else encoded)
            result.written += 1
            tick(record.name)
            if stop():
                result.cancelled = True
                stream.close()  # stops the background decoders
                break
    except BaseException:
        writer.abort()
        raise
    if result.cancelled:
        writer.abort()
        result.path = writer.partial_path
    else:
        result.path = writer.close()
    result.seconds = time.perf_counter() - started
    return result
