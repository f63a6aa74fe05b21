"""Fine-tune on the corrected masks, then keep the new model only if it is better.

The corrected images (hand-edited, or reviewed and accepted) are split BY CAR: most train
the new weights, the held-out cars score both the new and the current model with the
same full-resolution Dice that Kaggle uses. The new version is always stored (with its
parent, data summary and both scores in its JSON) so nothing is lost, but it becomes the
current model only when its held-out Dice is higher; the user can override either way.

Keras is imported only inside ``finetune_and_select`` (it runs in the model worker
thread); the rest moves records and JSON so the GUI can call it freely.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from model.data.dataset import ImageRecord, split_by_car
from model.data.masks import read_mask
from model.kaggle.metrics import DiceReport, dice
from model.project import EditsProject
from model.store.versions import ModelInfo, ModelStore, read_model_meta, write_model_meta

log = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.2
MAX_HOLDOUT_IMAGES = 32  # scoring runs at full resolution: keep it to seconds, not minutes

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


@dataclass
class TrainingSet:
    """(image, mask) records to train on, and the held-out corrected ones to score with."""

    train: list[ImageRecord]
    holdout: list[ImageRecord]
    corrected: int
    ground_truth: int
    by_car: bool

    def summary(self) -> dict:
        return {
            "corrected_images": self.corrected,
            "ground_truth_images": self.ground_truth,
            "train_images": len(self.train),
            "holdout_images": len(self.holdout),
            "holdout_ids": [r.image_id for r in self.holdout],
            "split": "by-car" if self.by_car else "by-image (one car only)",
        }


def corrected_records(project: EditsProject, images: list[ImageRecord]) -> list[ImageRecord]:
    """Images a person corrected or approved, with mask_path pointing at that mask."""
    found = []
    for record in images:
        status = project.status(record.image_id)
        mask: Path | None = None
        if project.has_edited_mask(record.image_id):
            mask = project.mask_path(record.image_id) if status in ("edited", "reviewed") else None
        elif status == "reviewed" and project.auto_mask_path(record.image_id).exists():
            mask = project.auto_mask_path(record.image_id)  # the auto-mask was accepted as is
        if mask is not None:
            found.append(replace(record, mask_path=mask))
    return found


def build_training_set(
    project: EditsProject,
    images: list[ImageRecord],
    include_ground_truth: bool = False,
    holdout_fraction: float = HOLDOUT_FRACTION,
    seed: int = 0,
) -> TrainingSet:
    """Split corrected images by car; optionally add the folder's own masks to training.

    Ground-truth masks of held-out cars are left out of training (another angle of the same
    car would leak the answer). With a single corrected car the split falls back to images.
    """
    corrected = corrected_records(project, images)
    train, holdout = split_by_car(corrected, holdout_fraction, seed=seed)
    by_car = True
    if not holdout and len(corrected) >= 2:
        n = max(1, round(len(corrected) * holdout_fraction))
        train, holdout, by_car = corrected[:-n], corrected[-n:], False
    if len(holdout) > MAX_HOLDOUT_IMAGES:
        train = train + holdout[MAX_HOLDOUT_IMAGES:]
        holdout = holdout[:MAX_HOLDOUT_IMAGES]
    ground_truth = 0
    if include_ground_truth:
        taken = {r.image_id for r in corrected}
        held_cars = {r.car_id for r in holdout if r.car_id is not None}
        for record in images:
            if (
                record.mask_path is not None
                and record.image_id not in taken
                and (record.car_id is None or record.car_id not in held_cars)
            ):
                train.append(record)
                ground_truth += 1
    return TrainingSet(train, holdout, len(corrected), ground_truth, by_car)


def score_predictor(
    predictor: Any, records: list[ImageRecord], on_progress: ProgressFn | None = None
) -> DiceReport:
    """Full-resolution Dice of a predictor on records whose mask_path holds the truth."""
    truth = {r.path: r for r in records}
    report = DiceReport()
    for done, (path, prediction) in enumerate(predictor.predict_paths(list(truth)), start=1):
        record = truth[Path(path)]
        report.scores[record.image_id] = dice(prediction.mask, read_mask(record.mask_path))
        if on_progress is not None:
            on_progress({"event": "score", "done": done, "total": len(records)})
    return report


@dataclass
class Decision:
    new_dice: float
    current_dice: float | None
    accept: bool
    reason: str
    holdout_images: int = 0


def decide(new_dice: float, current_dice: float | None, holdout_images: int) -> Decision:
    """Accept the new model only when its held-out Dice beats the current one."""
    if current_dice is None:
        return Decision(new_dice, None, True, "no current model to compare with", holdout_images)
    if holdout_images == 0 or math.isnan(new_dice):
        reason = "no held-out corrected images to compare on: keeping the current model"
        return Decision(new_dice, current_dice, False, reason, holdout_images)
    if new_dice > current_dice:
        reason = f"held-out Dice {new_dice:.4f} > current {current_dice:.4f}"
        return Decision(new_dice, current_dice, True, reason, holdout_images)
    reason = f"held-out Dice {new_dice:.4f} <= current {current_dice:.4f}: keeping the current"
    return Decision(new_dice, current_dice, False, reason, holdout_images)


def record_version(
    store: ModelStore, model_file: Path, decision: Decision, meta: dict, label: str = "finetune"
) -> ModelInfo:
    """Store the new model with both scores in its JSON; make it current only if accepted."""
    meta = dict(meta)
    new_dice = decision.new_dice if math.isfinite(decision.new_dice) else None  # JSON has no NaN
    meta["selection"] = {
        "holdout_dice_new": new_dice,
        "holdout_dice_parent": decision.current_dice,
        "holdout_images": decision.holdout_images,
        "accepted": decision.accept,
        "reason": decision.reason,
        "override": False,
    }
    meta["val_dice"] = new_dice
    info = store.add(model_file, meta, label)
    if decision.accept:
        store.set_current(info.version)
    log.info(
        "model %s %s: %s",
        info.version,
        "accepted" if decision.accept else "kept aside",
        decision.reason,
    )
    return info


def override_current(store: ModelStore, version: str) -> ModelInfo:
    """The user's word beats the score: make ``version`` current and note the override."""
    info = store.get(version)
    meta = read_model_meta(info.path)
    selection = meta.get("selection")
    if isinstance(selection, dict) and not selection.get("accepted"):
        selection["override"] = True
        write_model_meta(info.path, meta)
    store.set_current(version)
    return store.get(version)


def version_label(info: ModelInfo) -> str:
    """'v003-finetune — Dice 0.9921 vs 0.9910, from v002 (kept aside)': held-out Dice of a
    fine-tuned version against its parent (Model menu and `carvana models`)."""
    meta = info.meta
    parts = [info.version]
    selection = meta.get("selection") if isinstance(meta.get("selection"), dict) else None
    if selection and selection.get("holdout_dice_new") is not None:
        score = f"Dice {selection['holdout_dice_new']:.4f}"
        if selection.get("holdout_dice_parent") is not None:
            score += f" vs {selection['holdout_dice_parent']:.4f}"
        parts.append(score)
    elif isinstance(meta.get("val_dice"), int | float):
        parts.append(f"val Dice {meta['val_dice']:.4f}")
    if meta.get("parent"):
        parts.append(f"from {meta['parent']}")
    text = " — ".join(parts[:2]) + (", " + parts[2] if len(parts) > 2 else "")
    if selection and not selection.get("accepted") and not selection.get("override"):
        text += " (kept aside)"
    return text


@dataclass
class FinetuneSettings:
    preset: str = "256x384"
    epochs: int = 1
    learning_rate: float = 1e-4
    batch_size: int = 2
    width_multiplier: float = 0.5  # only used when there is no model to start from
    include_ground_truth: bool = False
    seed: int = 0
    extra: dict = field(default_factory=dict)  # passed on to TrainConfig


@dataclass
class FinetuneOutcome:
    version: ModelInfo
    decision: Decision
    cancelled: bool
    history: dict[str, list[float]]
    training_set: dict


def finetune_and_select(
    training_set: TrainingSet,
    store: ModelStore,
    base: ModelInfo | Path | None,
    settings: FinetuneSettings,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> FinetuneOutcome | None:
    """Fine-tune ``base`` (or train fresh), score new vs base on the holdout, record the result.

    A cancel stops training within one batch; the best weights so far are still scored and
    stored (as a non-current version unless they win). Returns None when not one batch ran.
    """
    from model.nn.predictor import Predictor  # keras: only ever imported in the worker thread
    from model.nn.training import TrainConfig, train

    if not training_set.train:
        raise ValueError("nothing to fine-tune on: correct or review at least two masks first")
    report = on_progress or (lambda info: None)
    base_path = base.path if isinstance(base, ModelInfo) else base
    parent = (
        base.version if isinstance(base, ModelInfo) else (base_path.name if base_path else None)
    )
    run_dir = store.root / ".runs" / time.strftime("%Y%m%d-%H%M%S")
    config = TrainConfig(
        train_pairs=[(r.path, r.mask_path) for r in training_set.train],
        val_pairs=[(r.path, r.mask_path) for r in training_set.holdout],
        out_dir=run_dir,
        preset=settings.preset,
        width_multiplier=settings.width_multiplier,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        base_model=base_path,
        resume=False,
        seed=settings.seed,
        workers=1,
        tensorboard=False,
        **settings.extra,
    )
    result = train(config, report, should_stop)
    if result.model_path is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        return None
    report({"event": "scoring", "holdout_images": len(training_set.holdout)})
    new_predictor = Predictor.load(result.model_path)
    new_dice = score_predictor(new_predictor, training_set.holdout, report).mean
    current_dice = None
    if base_path is not None:
        current_dice = score_predictor(Predictor.load(base_path), training_set.holdout, report).mean
    decision = decide(new_dice, current_dice, len(training_set.holdout))
    base_meta = base.meta if isinstance(base, ModelInfo) else {}
    h, w = new_predictor.input_size
    meta = {
        "kind": "finetune",
        "parent": parent,
        "preset": f"{h}x{w}",
        "input_size": [h, w],
        "threshold": base_meta.get("threshold", new_predictor.threshold),
        "data": training_set.summary(),
        "training": {
            "epochs_run": result.epochs_run,
            "epochs": settings.epochs,
            "learning_rate": settings.learning_rate,
            "cancelled": result.cancelled,
            "best_val_loss": result.best_val_loss,
            "best_val_dice": result.best_val_dice,
        },
    }
    info = record_version(store, result.model_path, decision, meta)
    shutil.rmtree(run_dir, ignore_errors=True)
    outcome = FinetuneOutcome(
        info, decision, result.cancelled, result.history, training_set.summary()
    )
    report(
        {
            "event": "selection",
            "version": info.version,
            "accepted": decision.accept,
            "new_dice": decision.new_dice,
            "current_dice": decision.current_dice,
            "reason": decision.reason,
            "cancelled": result.cancelled,
        }
    )
    return outcome
