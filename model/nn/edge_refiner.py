"""Refine the edge: one action re-decides the mask's edge band at full resolution.

The auto-mask's remaining errors are mostly thin slivers along its edge: the network sees
the photo at 0.6 of its size and its upsampled probabilities put the edge a pixel or two
off. "Learn this car" fixes that per car with an edge classifier trained on the car's
reviewed angles (``model.nn.edge_classifier``); the same classifier trained once on the
edge bands of many cars the network never saw is a general refiner, shipped beside the
default model (``model/weights/edge_refiner.npz``, trained by ``carvana
train-edge-refiner``). Its features are what the photo shows across the edge (the colour
profile along the probability's gradient, the brightness gradient, how far each pixel's
colour is from the mask's inside and outside around it), so a pixel changes side only
where the photo's edge says so.

Chosen on 37 of the added cars (trained on 27, scored on 10 others, none a validation
car; MODEL_CARD.md, "Refine the edge"): a 6 px band, 64 hidden units, the classifier's
probability averaged half and half with the network's and smoothed by 1 px: auto-mask
error -3.3 %; run once before the smart clicks, 50.6 % instead of 41.2 % of the images
reached Dice 0.997 within 20 interactions (16 and 10 px bands did less). The shipped one
learned from all 60 added cars; on the 10 validation cars it takes 8 % of the auto-mask's
error off (Dice 0.99357 -> 0.99408, 13 of 160 images a little worse) in 0.23 s per image,
and as the first smart interaction it takes the share of images that reach 0.997 within
20 interactions from 33.8 to 44.4 % (bench/correction_effort.py).

It only changes pixels where the mask still says what the network said: whatever a
person or a click changed stays (``apply_refined``), so refining twice changes nothing
more. ``refined_probability`` is the slow half (a whole car: 0.23 s median on the 2-core
EPYC of stop 38; the region under the cursor: 0.06 s), safe on a background thread;
``apply_refined`` is a few milliseconds and edits the mask in place, one undo step.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from model.edits.mask_ops import Box, box_slices, clip_box, window_box
from model.nn.edge_classifier import EdgeClassifier
from model.nn.edge_features import band_features

REFINER_FILE = "edge_refiner.npz"
MISSING = (
    f"no edge refiner is installed (model/weights/{REFINER_FILE} is missing); reinstall carvana-gui"
)
LOCAL_RADIUS = 120  # px: "refine here" re-decides the band within this distance of the cursor


def shipped_refiner_path() -> Path | None:
    """The refiner shipped beside the default model, or None when the install has none."""
    path = Path(str(resources.files("model") / "weights" / REFINER_FILE))
    return path if path.is_file() else None


def load_refiner(path: Path | None = None) -> EdgeClassifier | None:
    """The refiner in ``path`` (default: the shipped one; None when there is none);
    ``EdgeClassifierError`` naming the file when it cannot be used."""
    path = path if path is not None else shipped_refiner_path()
    return None if path is None else EdgeClassifier.load(path)


def refined_probability(
    image: np.ndarray,
    prob: np.ndarray,
    refiner: EdgeClassifier,
    threshold: float = 0.5,
    center: tuple[int, int] | None = None,
    radius: int = LOCAL_RADIUS,
) -> np.ndarray:
    """``prob`` with the edge band of ``prob > threshold`` re-decided by ``refiner``: the
    whole band, or (``center`` = (y, x)) the band within ``radius`` px of it. A new array."""
    if image.shape[:2] != prob.shape:
        raise ValueError(f"image {image.shape} and probabilities {prob.shape} differ")
    if center is None:
        return refiner.refine(image, prob, threshold)
    y, x = center
    box = clip_box((y - radius, x - radius, y + radius + 1, x + radius + 1), prob.shape)
    if box is None:
        return np.array(prob, dtype=np.float32, copy=True)
    # the features of the band's part in the disc's box, worked out with the whole car in
    # view (its box and the colours around the edge), so they match the whole-mask action's
    band, features = band_features(image, prob, refiner.band_px, threshold, within=box)
    by, bx = np.nonzero(band)
    near = (by - y) ** 2 + (bx - x) ** 2 <= radius**2
    band[by[~near], bx[~near]] = False
    return refiner.refine_band(prob, band, features[near])


def apply_refined(
    mask: np.ndarray, prob: np.ndarray, refined: np.ndarray, threshold: float = 0.5
) -> Box | None:
    """Set the pixels where the mask still says what the network's ``prob`` said and the
    ``refined`` probability says otherwise; in place. The changed box, or None."""
    if not (mask.shape == prob.shape == refined.shape):
        raise ValueError(f"mask {mask.shape}, probabilities {prob.shape}, {refined.shape} differ")
    network = prob > threshold
    decided = refined > threshold
    flip = (decided != network) & (mask.astype(bool) == network)
    if not flip.any():
        return None
    box = window_box(flip, (0, 0))
    sl = box_slices(box)
    local = mask[sl]  # a view
    local[flip[sl]] = decided[sl][flip[sl]]
    return box


def refine_edge(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    refiner: EdgeClassifier,
    threshold: float = 0.5,
    center: tuple[int, int] | None = None,
    radius: int = LOCAL_RADIUS,
) -> tuple[np.ndarray, Box | None]:
    """Both halves at once: (the refined probability, the mask's changed box or None).
    What bench/correction_effort.py counts as one ``smart`` interaction."""
    refined = refined_probability(image, prob, refiner, threshold, center, radius)
    return refined, apply_refined(mask, prob, refined, threshold)
