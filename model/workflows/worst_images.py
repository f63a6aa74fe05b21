"""The N worst images of an evaluation, each kept as a small picture of where it errs.

Scoring streams hundreds of full-resolution images; only the current worst N survive
here, each as a thumbnail plus crops around its densest error windows (a few hundred KB),
so memory stays flat however many images are scored. Pictures use the same two-colour
difference painter as the editor's overlay.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from model.kaggle.difference import (
    FALSE_CAR_RGB,
    MISSED_CAR_RGB,
    MaskDifference,
    compare,
    difference_rgba,
    error_windows,
    over_photo,
)

CROP_HW = (200, 300)  # image pixels per crop, 2:3 like a Carvana photo
CROPS = 2
GAP_PX = 6
GAP_RGB = (40, 42, 46)
WINDOW_RGB = (255, 255, 255)  # the crop windows' outline: white with a dark edge, seen
WINDOW_EDGE_RGB = (20, 20, 20)  # on the white studio wall and on dark tyres alike
NO_PHOTO_TRUTH_GREY = 110  # without the photo, the true car is drawn as a grey silhouette


@dataclass
class WorstImage:
    image_id: str
    dice: float
    difference: MaskDifference
    picture: np.ndarray  # RGB: the thumbnail with the crop windows, then the crops
    # the crops' windows in image pixels: (top, left, bottom, right)
    windows: list[tuple[int, int, int, int]] = field(default_factory=list)


def _thumbnail(
    photo: np.ndarray, mask: np.ndarray, truth: np.ndarray, height: int, windows: list
) -> np.ndarray:
    """The whole image at ``height`` px, errors shown even where they are thinner than a
    thumbnail pixel (any error in a pixel's block paints it), crop windows outlined."""
    h, w = mask.shape
    scale = height / h
    size = (max(1, round(w * scale)), height)
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    m, t = mask != 0, truth != 0
    blocks = [
        cv2.resize(e.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
        for e in (m & ~t, t & ~m)
    ]
    small[blocks[1]] = MISSED_CAR_RGB
    small[blocks[0]] = FALSE_CAR_RGB
    for top, left, bottom, right in windows:
        p0 = (int(left * scale), int(top * scale))
        p1 = (int(right * scale) - 1, int(bottom * scale) - 1)
        cv2.rectangle(small, p0, p1, WINDOW_EDGE_RGB, 3)
        cv2.rectangle(small, p0, p1, WINDOW_RGB, 1)
    return small


def _backdrop(photo: np.ndarray | None, truth: np.ndarray) -> np.ndarray:
    if photo is not None and photo.shape[:2] == truth.shape:
        return photo
    grey = np.where(truth != 0, NO_PHOTO_TRUTH_GREY, 30).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def render(
    photo: np.ndarray | None,
    mask: np.ndarray,
    truth: np.ndarray,
    crop_hw: tuple[int, int] = CROP_HW,
    crops: int = CROPS,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One picture of an image's errors: thumbnail with windows, then up to ``crops``
    crops at 1:1 around the densest errors. Returns the picture and the windows."""
    backdrop = _backdrop(photo, truth)
    windows = error_windows(mask, truth, crop_hw, crops)
    height = min(crop_hw[0], mask.shape[0])
    panels = [_thumbnail(backdrop.copy(), mask, truth, height, windows)]
    for top, left, bottom, right in windows:
        cut = np.s_[top:bottom, left:right]
        panels.append(over_photo(backdrop[cut], difference_rgba(mask[cut], truth[cut])))
    gap = np.empty((height, GAP_PX, 3), np.uint8)
    gap[...] = GAP_RGB
    pieces: list[np.ndarray] = []
    for panel in panels:
        pieces += [gap, panel] if pieces else [panel]
    return np.concatenate(pieces, axis=1), windows


class WorstImages:
    """Keeps the ``n`` lowest-Dice images (ties by id, as ``ModelScore.worst`` orders them)."""

    def __init__(self, n: int = 10, crop_hw: tuple[int, int] = CROP_HW) -> None:
        if n < 0:
            raise ValueError(f"the number of worst images must be >= 0, got {n}")
        self.n = n
        self.crop_hw = crop_hw
        self._kept: list[tuple[float, str, WorstImage]] = []

    def wants(self, image_id: str, dice: float) -> bool:
        """Would this image be among the worst kept so far (cheap: decide before drawing)?"""
        if self.n == 0:
            return False
        return len(self._kept) < self.n or (dice, image_id) < self._kept[-1][:2]

    def offer(
        self,
        image_id: str,
        dice: float,
        mask: np.ndarray,
        truth: np.ndarray,
        photo: np.ndarray | Callable[[], np.ndarray | None] | None = None,
    ) -> bool:
        """Keep the image when it is among the worst; ``photo`` may be a loader, called
        only then. True when kept."""
        if not self.wants(image_id, dice):
            return False
        if callable(photo):
            photo = photo()
        picture, windows = render(photo, mask, truth, self.crop_hw)
        item = WorstImage(image_id, dice, compare(mask, truth), picture, windows)
        keys = [k[:2] for k in self._kept]
        self._kept.insert(bisect.bisect(keys, (dice, image_id)), (dice, image_id, item))
        del self._kept[self.n :]
        return True

    def worst(self) -> list[WorstImage]:
        """Worst first."""
        return [item for _, _, item in self._kept]
