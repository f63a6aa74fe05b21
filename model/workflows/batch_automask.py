"""Batch auto-mask: predict many images of a folder into its project store.

Which images: the lifecycle decides (``lifecycle.batch_may_replace``): all of them, only
those without a mask, or only stale auto-masks; a mask a person edited or reviewed is
never touched, whatever the selection. It is planned from one snapshot of the store and
checked again inside the transaction that writes each auto-mask, because the person keeps
editing (in this window or another) while it runs. Each auto-mask is stored as soon as it
is predicted, so a cancel or crash keeps everything finished so far. Shared by the
window's batch panel and ``carvana automask``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from model.data.dataset import parse_image_name
from model.data.masks import read_mask
from model.edits import lifecycle
from model.edits.lifecycle import ActiveModels, BatchSelection
from model.edits.project_store import ProjectStore
from model.kaggle.metrics import dice, uncertainty_score

log = logging.getLogger(__name__)

SELECTIONS = tuple(s.value for s in BatchSelection)

StopFn = Callable[[], bool]


@dataclass(frozen=True)
class BatchProgress:
    """One image done (saved, left alone, or handed to the editor)."""

    done: int
    total: int
    image_id: str
    saved: bool
    images_per_s: float
    eta_s: float

    @classmethod
    def since(
        cls, start: float, done: int, total: int, image_id: str, saved: bool
    ) -> BatchProgress:
        """Progress ``done`` of ``total`` images ``time.perf_counter() - start`` in."""
        elapsed = time.perf_counter() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        return cls(done, total, image_id, saved, rate, eta)


ProgressFn = Callable[[BatchProgress], None]


class PathPredictor(Protocol):
    def predict_paths(self, paths: Iterable[Path], tta: bool = False) -> Iterator[tuple[Path, Any]]:
        """Yield (path, prediction with .mask and .prob) in input order."""


def image_id_of(path: Path | str) -> str:
    # No Path() re-wrap: rebuilding 100k Paths costs seconds on the GUI thread.
    name = path.name if isinstance(path, Path) else os.path.basename(path)
    return parse_image_name(name)[0]


def select_images(
    store: ProjectStore,
    paths: Iterable[Path],
    selection: BatchSelection | str,
    active: ActiveModels | str | None,
) -> tuple[list[Path], int]:
    """(paths to predict, number of people's masks left alone) for one selection.

    One in-memory snapshot of the store, no file system calls: the batch panel recounts on
    the GUI thread, and a 100k-image folder must not freeze it.
    """
    try:
        selection = BatchSelection(selection)
    except ValueError:
        raise ValueError(
            f"unknown selection {selection!r}; use one of {', '.join(SELECTIONS)}"
        ) from None
    records = store.records()
    empty = lifecycle.MaskRecord()
    chosen: list[Path] = []
    protected = 0
    for path in paths:
        image_id = image_id_of(path)
        record = records.get(image_id, empty)
        if lifecycle.is_hand_made(record):
            protected += 1
        elif lifecycle.batch_may_replace(record, image_id, selection, active):
            chosen.append(path if isinstance(path, Path) else Path(path))
    return chosen, protected


@dataclass(frozen=True)
class BatchCounts:
    """How many images each selection would predict, and the people's masks left alone."""

    all: int
    without_mask: int
    stale: int
    protected: int

    def for_selection(self, selection: BatchSelection | str) -> int:
        selection = BatchSelection(selection)
        if selection is BatchSelection.ALL:
            return self.all
        if selection is BatchSelection.WITHOUT_MASK:
            return self.without_mask
        return self.stale


def count_selections(
    records: dict[str, lifecycle.MaskRecord],
    image_ids: Iterable[str],
    active: ActiveModels | str | None,
) -> BatchCounts:
    """All three selections in one pass over a snapshot (``store.records()``).

    Images never touched (most of a fresh 100k folder) cost one failed dict lookup.
    """
    counts = {"all": 0, "without_mask": 0, "stale": 0, "protected": 0}
    for image_id in image_ids:
        record = records.get(image_id)
        if record is None:
            counts["all"] += 1
            counts["without_mask"] += 1
        elif lifecycle.is_hand_made(record):
            counts["protected"] += 1
        else:
            counts["all"] += 1
            if lifecycle.shown_source(record) is lifecycle.MaskSource.NONE:
                counts["without_mask"] += 1
            elif lifecycle.is_stale(record, image_id, active):
                counts["stale"] += 1
    return BatchCounts(**counts)


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


def run_batch_automask(
    store: ProjectStore,
    paths: list[Path],
    predictor: PathPredictor,
    model_version: str | None,
    tta: bool = False,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    protect: Callable[[str], bool] | None = None,
    truth_of: Callable[[str], Path | None] | None = None,
) -> BatchResult:
    """Predict ``paths`` and store each auto-mask as it arrives.

    ``protect(image_id)`` keeps more masks out (the one open in the editor).
    ``truth_of(image_id)``: the ground-truth mask file, when the folder has one, so the
    image list's Dice column is filled for batch-masked images too.
    """
    result = BatchResult(total=len(paths))
    start = time.perf_counter()
    stream = predictor.predict_paths(paths, tta)
    try:
        for done, (path, prediction) in enumerate(stream, start=1):
            image_id = image_id_of(path)
            saved = False
            if protect is not None and protect(image_id):
                result.protected_ids.append(image_id)
            else:
                prob = getattr(prediction, "prob", None)
                record = store.save_auto_mask(
                    image_id,
                    prediction.mask,
                    model_version,
                    by_person=False,
                    uncertainty=uncertainty_score(prob) if prob is not None else None,
                )
                if record is None:
                    result.skipped_hand_made += 1
                else:
                    saved = True
                    result.saved += 1
                    result.saved_ids.append(image_id)
                    _score(store, image_id, prediction.mask, truth_of)
            if on_progress is not None:
                on_progress(BatchProgress.since(start, done, len(paths), image_id, saved))
            if should_stop is not None and should_stop():
                result.cancelled = True
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # stop the predictor's background prefetch
            close()
        result.seconds = time.perf_counter() - start
    log.info("batch auto-mask: %s", result.summary())
    return result


def _score(
    store: ProjectStore,
    image_id: str,
    mask: Any,
    truth_of: Callable[[str], Path | None] | None,
) -> None:
    truth_path = truth_of(image_id) if truth_of is not None else None
    if truth_path is None:
        return
    try:
        truth = read_mask(truth_path)
    except Exception as exc:  # a broken ground truth must not stop the batch
        log.warning("%s: ground truth not scored (%s)", truth_path, exc)
        return
    if truth.shape == mask.shape:
        store.set_dice(image_id, dice(mask, truth))


@dataclass(frozen=True)
class ModelGroup:
    """The images one model predicts in a batch: each image goes to its active model."""

    version: str | None
    model_path: Path
    paths: list[Path]


def active_model_files(
    general: tuple[Path, str | None] | None, car_models: Mapping[str, tuple[Path, str]]
) -> tuple[ActiveModels, dict[str | None, Path]]:
    """Each image's active model and every such model's file (version -> path), from the
    general model (file, version; None: no model, nothing active) and the cars taught with
    Learn this car (car -> their model's file and version). The one place the CLI's
    ``automask`` and the window's batch dock assemble it."""
    if general is None:
        return ActiveModels(None), {}
    files: dict[str | None, Path] = {general[1]: Path(general[0])}
    by_car: dict[str, str] = {}
    for car, (path, version) in car_models.items():
        files[version] = Path(path)
        by_car[car] = version
    return ActiveModels(general[1], by_car), files


def group_by_model(
    paths: Iterable[Path], active: ActiveModels, model_paths: Mapping[str | None, Path]
) -> list[ModelGroup]:
    """``paths`` grouped by their active model (a learned car's own model, else the general
    one), the general model's group first. ``model_paths``: version -> model file, for the
    general version and every car version in ``active``."""
    groups: dict[str | None, list[Path]] = {}
    for path in paths:
        groups.setdefault(active.for_image(image_id_of(path)), []).append(path)
    order = sorted(groups, key=lambda v: (v != active.default, v or ""))
    missing = [v for v in order if v not in model_paths]
    if missing:
        raise ValueError(f"no model file for version(s) {', '.join(map(str, missing))}")
    return [ModelGroup(v, Path(model_paths[v]), groups[v]) for v in order]


def run_batch_by_model(
    store: ProjectStore,
    groups: list[ModelGroup],
    load: Callable[[Path], PathPredictor],
    tta: bool = False,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    protect: Callable[[str], bool] | None = None,
    truth_of: Callable[[str], Path | None] | None = None,
) -> BatchResult:
    """``run_batch_automask`` for each group with its own model (``load(model_path)``), as
    one batch: one progress count over all images, one merged result."""
    total = sum(len(g.paths) for g in groups)
    merged = BatchResult(total=total)
    done_before = 0
    start = time.perf_counter()
    for group in groups:
        offset = done_before

        def progress(p: BatchProgress, offset: int = offset) -> None:
            if on_progress is not None:
                on_progress(BatchProgress.since(start, offset + p.done, total, p.image_id, p.saved))

        part = run_batch_automask(
            store,
            group.paths,
            load(group.model_path),
            group.version,
            tta,
            progress,
            should_stop,
            protect,
            truth_of,
        )
        merged.saved += part.saved
        merged.skipped_hand_made += part.skipped_hand_made
        merged.protected_ids += part.protected_ids
        merged.saved_ids += part.saved_ids
        done_before += len(group.paths)
        if part.cancelled:
            merged.cancelled = True
            break
    merged.seconds = time.perf_counter() - start
    return merged
