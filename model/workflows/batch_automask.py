"""Batch auto-mask: predict many images of a folder into the edits project.

Which images: all of them, only those without any mask, or only "stale" ones (auto-masks
made by a model version other than the current one). Whatever the selection, masks a
person edited or reviewed are never touched: they are skipped when the job is planned and
checked again right before each write, because the user keeps editing while it runs.
Each auto-mask is saved atomically as soon as it is predicted, so a cancel or crash keeps
everything finished so far.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from model.data.dataset import parse_image_name
from model.project import EditsProject, ImageEntry

log = logging.getLogger(__name__)

SELECTIONS = ("all", "without-mask", "stale")
HAND_MADE = ("edited", "reviewed")
SAVE_STATUS_EVERY_S = 2.0

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


class PathPredictor(Protocol):
    def predict_paths(self, paths: Iterable[Path], tta: bool = False) -> Iterator[tuple[Path, Any]]:
        """Yield (path, prediction with a .mask) in input order."""


def image_id_of(path: Path | str) -> str:
    # No Path() re-wrap: rebuilding 100k Paths costs seconds on the GUI thread.
    name = path.name if isinstance(path, Path) else os.path.basename(path)
    return parse_image_name(name)[0]


def is_hand_made(project: EditsProject, image_id: str) -> bool:
    """True when a person owns this mask: edited, reviewed, or an edited mask file exists."""
    return project.status(image_id) in HAND_MADE or project.has_edited_mask(image_id)


def is_stale(entry: ImageEntry, current_version: str | None) -> bool:
    """An auto-mask made by another model version than the current one."""
    return entry.status == "auto" and entry.model_version != current_version


def select_images(
    project: EditsProject,
    paths: Iterable[Path],
    selection: str,
    current_version: str | None,
) -> tuple[list[Path], int]:
    """(paths to predict, number of hand-made masks left alone) for one selection.

    Reads the project once (two directory listings and a status snapshot) rather than
    stat-ing files per image: the batch panel recounts on the GUI thread, and a 100k-image
    folder must not freeze it.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; use one of {', '.join(SELECTIONS)}")
    edited, autos = project.edited_mask_ids(), project.auto_mask_ids()
    states = project.status_snapshot()
    chosen: list[Path] = []
    protected = 0
    for path in paths:
        image_id = image_id_of(path)
        status, version = states.get(image_id, ("no-mask", None))
        if status in HAND_MADE or image_id in edited:
            protected += 1
            continue
        has_auto = status == "auto" and image_id in autos
        if (
            selection == "all"
            or (selection == "without-mask" and not has_auto)
            or (selection == "stale" and has_auto and version != current_version)
        ):
            chosen.append(path if isinstance(path, Path) else Path(path))
    return chosen, protected


@dataclass
class BatchResult:
    total: int
    saved: int = 0
    skipped_hand_made: int = 0  # edited/reviewed while the job ran
    protected_ids: list[str] = field(default_factory=list)  # kept out by protect() (open ones)
    cancelled: bool = False
    seconds: float = 0.0
    saved_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.saved / self.seconds if self.seconds > 0 else 0.0
        text = f"auto-masked {self.saved}/{self.total} images ({rate:.2f} images/s)"
        if self.skipped_hand_made:
            text += f", {self.skipped_hand_made} left alone (edited meanwhile)"
        if self.protected_ids:
            text += f", {len(self.protected_ids)} left to the editor (open there)"
        return text + (", cancelled" if self.cancelled else "")


def run_batch_predict(
    project: EditsProject,
    paths: list[Path],
    predictor: PathPredictor,
    model_version: str | None,
    tta: bool = False,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    protect: Callable[[str], bool] | None = None,
) -> BatchResult:
    """Predict ``paths`` and save each auto-mask into the project as it arrives.

    ``protect(image_id)`` lets the caller keep more masks out (e.g. the one open in the
    editor). on_progress gets {"done", "total", "image_id", "images_per_s", "eta_s"}.
    The project's status file is saved every few seconds and at the end.
    """
    result = BatchResult(total=len(paths))
    start = time.perf_counter()
    last_save = start
    stream = predictor.predict_paths(paths, tta)
    try:
        for done, (path, prediction) in enumerate(stream, start=1):
            image_id = image_id_of(path)
            if is_hand_made(project, image_id):
                result.skipped_hand_made += 1
            elif protect is not None and protect(image_id):
                result.protected_ids.append(image_id)
            else:
                project.save_auto_mask(image_id, prediction.mask, model_version)
                result.saved += 1
                result.saved_ids.append(image_id)
            now = time.perf_counter()
            if now - last_save > SAVE_STATUS_EVERY_S:
                project.save()
                last_save = now
            if on_progress is not None:
                rate = done / (now - start) if now > start else 0.0
                on_progress(
                    {
                        "event": "image",
                        "done": done,
                        "total": len(paths),
                        "image_id": image_id,
                        "images_per_s": rate,
                        "eta_s": (len(paths) - done) / rate if rate else 0.0,
                    }
                )
            if should_stop is not None and should_stop():
                result.cancelled = True
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # stop the predictor's background prefetch
            close()
        result.seconds = time.perf_counter() - start
        project.save()
    log.info("batch predict: %s", result.summary())
    return result
