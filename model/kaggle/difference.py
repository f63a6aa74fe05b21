"""Where a mask differs from its ground truth: counts, a two-colour picture, error windows.

One painter serves the editor's difference overlay and the evaluation report, so both show
false car (mask but not truth) and missed car (truth but not mask) in the same colours.
Magenta and cyan differ in lightness too, so they stay apart for the common colour-vision
deficiencies; neither is the editor's mask blue or the orange confidence band, and false
car (mostly on the pale studio floor) and missed car (mostly on dark paint and tyres)
both stand out where they usually fall. Pure: numpy and OpenCV only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.kaggle.metrics import dice

FALSE_CAR_RGB = (255, 0, 220)  # magenta: the mask claims car where the truth has none
MISSED_CAR_RGB = (0, 230, 255)  # cyan: car in the truth that the mask left out
LEGEND = "magenta: false car (mask, not truth); cyan: missed car (truth, not mask)"


@dataclass(frozen=True)
class MaskDifference:
    """Pixel counts of the two kinds of error, and the Dice they add up to."""

    false_car: int
    missed_car: int
    dice: float

    def describe(self) -> str:
        return (
            f"false car {self.false_car:,} px   missed car {self.missed_car:,} px   "
            f"Dice {self.dice:.4f}"
        )


def _check(mask: np.ndarray, truth: np.ndarray) -> None:
    if mask.shape != truth.shape:
        raise ValueError(f"mask shapes differ: mask {mask.shape} vs truth {truth.shape}")


def compare(mask: np.ndarray, truth: np.ndarray) -> MaskDifference:
    """Counts of false and missed car pixels, and Kaggle's Dice (``metrics.dice``)."""
    _check(mask, truth)
    m, t = mask != 0, truth != 0
    return MaskDifference(
        false_car=int(np.count_nonzero(m & ~t)),
        missed_car=int(np.count_nonzero(t & ~m)),
        dice=dice(m, t),
    )


def paint_difference(
    mask: np.ndarray, truth: np.ndarray, out: np.ndarray, order: str = "rgba"
) -> np.ndarray:
    """Paint the errors into ``out`` (H, W, 4) uint8: opaque colour where they differ,
    fully transparent elsewhere.

    ``order`` is the channel order of ``out``: "rgba" for images, "bgra" for a
    little-endian ARGB32 buffer (Qt). Works on any equal-shaped slices, so the editor
    repaints only the rectangle a brush dab touched.
    """
    _check(mask, truth)
    if out.shape != (*mask.shape, 4) or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {(*mask.shape, 4)}, got {out.dtype} {out.shape}")
    if order not in ("rgba", "bgra"):
        raise ValueError(f"order must be 'rgba' or 'bgra', got {order!r}")
    m, t = mask != 0, truth != 0
    out[...] = 0
    for where, rgb in ((m & ~t, FALSE_CAR_RGB), (t & ~m, MISSED_CAR_RGB)):
        colour = (*rgb, 255) if order == "rgba" else (rgb[2], rgb[1], rgb[0], 255)
        out[where] = colour
    return out


def difference_rgba(mask: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """A new RGBA picture of the errors (transparent where mask and truth agree)."""
    return paint_difference(mask, truth, np.empty((*mask.shape, 4), np.uint8))


def over_photo(photo: np.ndarray, rgba: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    """``rgba`` laid over an RGB photo (both (H, W, ...)), as a new RGB uint8 image."""
    alpha = (rgba[..., 3:4].astype(np.float32) / 255.0) * opacity
    blended = photo.astype(np.float32) * (1.0 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def error_windows(
    mask: np.ndarray, truth: np.ndarray, size: tuple[int, int], count: int = 2
) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` windows of ``size`` (h, w) holding the most error pixels, as
    (top, left, bottom, right), best first and not overlapping.

    Errors cluster along the car's edge, so one connected error region can run all
    round the car; a densest-window search finds where a reviewer should look instead.
    """
    _check(mask, truth)
    h, w = mask.shape
    wh, ww = min(size[0], h), min(size[1], w)
    errors = ((mask != 0) != (truth != 0)).astype(np.uint8)
    windows: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        total = cv2.integral(errors)  # (h+1, w+1): sums of any window in four look-ups
        sums = total[wh:, ww:] - total[:-wh, ww:] - total[wh:, :-ww] + total[:-wh, :-ww]
        best = int(np.argmax(sums))
        top, left = divmod(best, sums.shape[1])
        if sums.flat[best] == 0:
            break
        windows.append((top, left, top + wh, left + ww))
        errors[top : top + wh, left : left + ww] = 0  # the next window looks elsewhere
    return windows
