"""Score a model at FULL resolution on held-out cars: plain vs flip-TTA and a threshold sweep.

Validation Dice during training is measured at the network's input size; what Kaggle (and a
user) sees is the mask upsampled to 1918x1280, so this is the honest number for a model card.
One forward pass per image serves both variants: the batch holds the image and its mirror,
the plain prediction is the first half and TTA averages it with the un-mirrored second half.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.data.dataset import ImageRecord, scan_folder, split_by_car
from model.data.masks import read_image, read_mask
from model.kaggle.metrics import dice
from model.nn.predictor import Predictor, from_model_output, to_model_input

log = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


@dataclass
class ModelScore:
    """Per-image full-resolution Dice for each (tta, threshold) variant."""

    thresholds: tuple[float, ...]
    model_threshold: float
    scores: dict[tuple[bool, float], dict[str, float]] = field(default_factory=dict)

    def mean(self, tta: bool, threshold: float | None = None) -> float:
        values = self.scores[(tta, self._t(threshold))].values()
        return float(np.mean(list(values))) if values else float("nan")

    def worst(
        self, tta: bool, n: int = 10, threshold: float | None = None
    ) -> list[tuple[str, float]]:
        per_image = self.scores[(tta, self._t(threshold))]
        return sorted(per_image.items(), key=lambda kv: (kv[1], kv[0]))[:n]

    def best_threshold(self, tta: bool) -> float:
        return max(self.thresholds, key=lambda t: self.mean(tta, t))

    def _t(self, threshold: float | None) -> float:
        return self.model_threshold if threshold is None else threshold

    @property
    def count(self) -> int:
        return len(self.scores[(False, self.model_threshold)])


@dataclass
class ScoredImage:
    """One scored image handed to ``score_model``'s ``on_image``: the photo, its truth and
    the masks at the model's threshold, plain (False) and flip TTA (True), with their Dice.

    Only lent for the call: a caller keeps what it needs (a report, its worst crops), so
    memory does not grow with the number of images.
    """

    record: ImageRecord
    image: np.ndarray
    truth: np.ndarray
    masks: dict[bool, np.ndarray]
    dice: dict[bool, float]


def validation_records(
    data_dir: Path, meta: dict, val_fraction: float = 0.1, seed: int = 0
) -> list[ImageRecord]:
    """The held-out images: the car ids named in the model's JSON, else a by-car split."""
    records = [r for r in scan_folder(data_dir).images if r.mask_path is not None]
    if not records:
        raise ValueError(f"{data_dir}: no images with ground-truth masks to score against")
    val_cars = (meta.get("data") or {}).get("val_cars")
    if val_cars:
        chosen = [r for r in records if r.car_id in set(val_cars)]
        if chosen:
            return chosen
        log.warning("none of the model's validation cars are in %s; splitting by car", data_dir)
    return split_by_car(records, val_fraction, seed)[1]


def training_car_records(data_dir: Path, meta: dict, cars: int) -> list[ImageRecord]:
    """All angles of the first `cars` cars (by id) the model trained on.

    Choosing a threshold on these, not on the validation cars, keeps the validation Dice
    an honest estimate.
    """
    val_cars = set((meta.get("data") or {}).get("val_cars") or ())
    if not val_cars:
        raise ValueError(
            "the model's JSON names no validation cars, so its training cars are unknown"
        )
    records = [
        r
        for r in scan_folder(data_dir).images
        if r.mask_path is not None and r.car_id is not None and r.car_id not in val_cars
    ]
    chosen = set(sorted({r.car_id for r in records})[:cars])
    if not chosen:
        raise ValueError(f"{data_dir}: no training-car images with masks")
    return [r for r in records if r.car_id in chosen]


def _load(record: ImageRecord) -> tuple[ImageRecord, np.ndarray, np.ndarray]:
    return record, read_image(record.path), read_mask(record.mask_path)


def score_model(
    predictor: Predictor,
    records: Iterable[ImageRecord],
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
    on_progress: Callable[[int], None] | None = None,
    on_image: Callable[[ScoredImage], None] | None = None,
) -> ModelScore:
    """Full-resolution Dice of every record, with and without flip TTA, at each threshold."""
    model_t = round(predictor.threshold, 4)
    all_t = tuple(sorted(set(thresholds) | {model_t}))
    result = ModelScore(thresholds=all_t, model_threshold=model_t)
    for key in ((tta, t) for tta in (False, True) for t in all_t):
        result.scores[key] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="score-decode") as pool:
        for done, (record, image, truth) in enumerate(pool.map(_load, records), start=1):
            x = to_model_input(image, predictor.input_size)[None]
            both = predictor.predict_probabilities(np.concatenate([x, x[:, :, ::-1]]))
            plain_small, mirror_small = both[0], both[1][:, ::-1]
            variants = {False: plain_small, True: 0.5 * (plain_small + mirror_small)}
            masks = {}
            for tta, small in variants.items():
                prob = from_model_output(small, truth.shape)
                if predictor.edges is not None:  # a car's own version scores as it masks
                    prob = predictor.edges.refine(image, np.clip(prob, 0, 1), predictor.threshold)
                for t in all_t:
                    result.scores[(tta, t)][record.image_id] = dice(prob > t, truth)
                if on_image is not None:
                    masks[tta] = prob > model_t
            if on_image is not None:
                scores = {tta: result.scores[(tta, model_t)][record.image_id] for tta in masks}
                on_image(ScoredImage(record, image, truth, masks, scores))
            if on_progress:
                on_progress(done)
    return result
