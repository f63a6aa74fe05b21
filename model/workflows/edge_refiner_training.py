"""Train the general edge refiner (``model.nn.edge_refiner``) on cars the model never saw.

Per image: the model's flip-TTA probabilities, the edge band of its mask
(``band_features``), and a random sample of the band's pixels with their true side. The
sample comes from cars the model did not train on, so the band's errors are those a user
meets on a new car; its validation cars are refused, so the correction benchmark on them
stays honest. Run by ``carvana train-edge-refiner`` (model/cli/edge_refiner.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.dataset import ImageRecord
from model.data.masks import read_image, read_mask
from model.nn.edge_classifier import EdgeClassifier, EdgeSettings, fit_edge_classifier
from model.nn.edge_features import band_features

# How the shipped refiner learns (chosen on 37 added cars, MODEL_CARD.md): a 6 px band
# (16 px took in more shadow and did less), 64 hidden units, 10 epochs
REFINER_EDGE = EdgeSettings(band_px=6.0, hidden=64, epochs=10, blend=0.5, smooth_sigma=1.0)


@dataclass(frozen=True)
class RefinerTraining:
    """The refiner's settings and how its training pixels are sampled."""

    edge: EdgeSettings = REFINER_EDGE
    pixels_per_image: int = 8000  # a random sample of each image's band
    tta: bool = True
    seed: int = 0


def unseen_records(records: Sequence[ImageRecord], meta: dict) -> list[ImageRecord]:
    """``records`` with masks, refusing the model's validation cars (ValueError naming them)."""
    val_cars = set((meta.get("data") or {}).get("val_cars") or ())
    clash = sorted({r.car_id for r in records if r.car_id in val_cars})
    if clash:
        raise ValueError(
            f"{', '.join(clash)}: the model's validation cars; train the refiner on others "
            "so the correction benchmark on them stays honest"
        )
    missing = [r.path.name for r in records if r.mask_path is None]
    if missing:
        raise ValueError(f"no true mask for {', '.join(missing[:5])}")
    return list(records)


def band_sample(
    image: np.ndarray,
    prob: np.ndarray,
    truth: np.ndarray,
    settings: RefinerTraining,
    threshold: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of up to ``pixels_per_image`` random pixels of the edge band."""
    band, features = band_features(image, prob, settings.edge.band_px, threshold)
    labels = truth[band] > 0
    if len(labels) > settings.pixels_per_image:
        rows = rng.choice(len(labels), settings.pixels_per_image, replace=False)
        rows.sort()
        return features[rows], labels[rows]
    return features, labels


def train_edge_refiner(
    predictor,
    records: Sequence[ImageRecord],
    settings: RefinerTraining = RefinerTraining(),
    progress: Callable[[int, int, ImageRecord], None] = lambda done, total, record: None,
) -> EdgeClassifier:
    """Sample the edge band of ``predictor``'s masks of ``records`` and fit the refiner."""
    rng = np.random.default_rng(settings.seed)
    features, labels = [], []
    for done, record in enumerate(records, 1):
        assert record.mask_path is not None  # unseen_records checked
        image, truth = read_image(record.path), read_mask(record.mask_path)
        if truth.shape != image.shape[:2]:
            raise ValueError(
                f"{record.mask_path}: mask {truth.shape} does not match image "
                f"{Path(record.path).name} {image.shape[:2]}"
            )
        prob = predictor.predict(image, tta=settings.tta).prob
        rows, sides = band_sample(image, prob, truth, settings, predictor.threshold, rng)
        features.append(rows)
        labels.append(sides)
        progress(done, len(records), record)
    if not features:
        raise ValueError("no images to learn the edge from")
    return fit_edge_classifier(np.concatenate(features), np.concatenate(labels), settings.edge)
