"""Dice score per image and over a set, as on the Kaggle leaderboard.

Kaggle's metric is the mean over images of 2|X∩Y| / (|X|+|Y|), with 1 when both
masks are empty. Sources are a folder of mask files or an ``img,rle_mask`` CSV,
matched by image id (file stem, no ``.jpg`` / ``_mask``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.data.dataset import list_masks, parse_image_name
from model.data.masks import read_mask
from model.kaggle.rle import CARVANA_SHAPE, rle_decode
from model.kaggle.submission import iter_rle_csv

log = logging.getLogger(__name__)

MaskLoader = Callable[[tuple[int, int] | None], np.ndarray]


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two binary masks (nonzero = car); 1.0 when both are empty."""
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: pred {pred.shape} vs truth {truth.shape}")
    p = pred.astype(bool, copy=False)
    t = truth.astype(bool, copy=False)
    total = np.count_nonzero(p) + np.count_nonzero(t)
    if total == 0:
        return 1.0
    return 2.0 * np.count_nonzero(p & t) / total


@dataclass
class DiceReport:
    """Dice per image id; mean and worst images for a quick look at failures."""

    scores: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        if not self.scores:
            return float("nan")
        return float(np.mean(list(self.scores.values())))

    def worst(self, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` lowest-scoring images, lowest first (ties by id)."""
        return sorted(self.scores.items(), key=lambda item: (item[1], item[0]))[:n]


UNCERTAIN_LOW, UNCERTAIN_HIGH = 0.1, 0.9


def uncertainty_score(prob: np.ndarray) -> float:
    """Share of pixels the model is unsure about (probability between 0.1 and 0.9).

    Stored with each auto-mask so a reviewer can start with the masks most likely wrong;
    the errors cluster along the edges, which is where this band lies.
    """
    prob = np.asarray(prob)
    if prob.size == 0:
        return 0.0
    return float(np.count_nonzero((prob > UNCERTAIN_LOW) & (prob < UNCERTAIN_HIGH)) / prob.size)


def _csv_loaders(path: Path) -> dict[str, MaskLoader]:
    loaders: dict[str, MaskLoader] = {}
    for line, (name, rle) in enumerate(iter_rle_csv(path), start=2):
        image_id = parse_image_name(name)[0]
        if image_id in loaders:
            raise ValueError(f"{path}: line {line}: duplicate image {name!r}")

        def load(shape: tuple[int, int] | None, rle: str = rle) -> np.ndarray:
            return rle_decode(rle, shape or CARVANA_SHAPE)

        loaders[image_id] = load
    return loaders


def _folder_loaders(path: Path) -> dict[str, MaskLoader]:
    return {
        image_id: (lambda shape, p=mask_path: read_mask(p))
        for image_id, mask_path in list_masks(path).items()
    }


def mask_source(source: str | os.PathLike[str]) -> dict[str, MaskLoader]:
    """Image id -> lazy mask loader, for a masks folder or an RLE CSV file."""
    path = Path(source)
    if path.is_dir():
        return _folder_loaders(path)
    if path.is_file():
        return _csv_loaders(path)
    raise FileNotFoundError(f"{path}: neither a masks folder nor an RLE CSV file")


def evaluate_masks(
    pred_source: str | os.PathLike[str],
    truth_source: str | os.PathLike[str],
    on_progress: Callable[[int, int], None] | None = None,
    wrap: Callable[[Iterable[str]], Iterable[str]] | None = None,
    on_pair: Callable[[str, np.ndarray, np.ndarray, float], None] | None = None,
) -> DiceReport:
    """Dice of every predicted image against its ground truth.

    Every predicted image must have a truth mask (an error lists the missing
    ones); truth images without a prediction are ignored (a validation subset).
    RLE masks take the shape of the folder mask they are compared with, or the
    Carvana size when both sides are CSVs. ``on_progress(done, total)`` reports
    progress; ``wrap`` can wrap the id iterator (a CLI progress bar); ``on_pair(id, pred,
    truth, dice)`` sees each decoded pair once (a report keeps its worst crops).
    """
    preds = mask_source(pred_source)
    truths = mask_source(truth_source)
    missing = sorted(set(preds) - set(truths))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{len(missing)} predicted image(s) have no truth in {truth_source}: {shown}"
        )
    if len(truths) > len(preds):
        log.info("evaluating %d of %d truth masks (the predicted ones)", len(preds), len(truths))
    ids: Iterable[str] = sorted(preds)
    if wrap is not None:
        ids = wrap(ids)
    pred_first = Path(pred_source).is_dir()  # a folder mask knows its own size
    report = DiceReport()
    for done, image_id in enumerate(ids, start=1):
        if pred_first:
            pred = preds[image_id](None)
            truth = truths[image_id](pred.shape)
        else:
            truth = truths[image_id](None)
            pred = preds[image_id](truth.shape)
        if pred.shape != truth.shape:
            raise ValueError(
                f"{image_id}: predicted mask is {pred.shape[0]}x{pred.shape[1]} but truth is "
                f"{truth.shape[0]}x{truth.shape[1]}"
            )
        report.scores[image_id] = dice(pred, truth)
        if on_pair is not None:
            on_pair(image_id, pred, truth, report.scores[image_id])
        if on_progress is not None:
            on_progress(done, len(preds))
    return report
