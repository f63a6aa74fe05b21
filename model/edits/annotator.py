"""A simulated annotator that knows the true mask: where it clicks and how a brush dab fixes.

Used by bench/correction_effort.py to count interactions per image the same way for every
tool: take the largest wrong region (false car or missed car, by area, 8-connected), click
its deepest point (largest distance to the region's edge). What the click then does is up
to the tool, which never sees the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.edits.mask_ops import MAX_BRUSH, MIN_BRUSH, Box, stamp_disk


@dataclass(frozen=True)
class ErrorClick:
    """Where the annotator clicks: (y, x), positive = add car (the pixel is missed car)."""

    y: int
    x: int
    positive: bool
    depth: float  # distance from the click to the nearest pixel outside the error region
    area: int  # pixels in the error region


def _largest_region(wrong: np.ndarray) -> tuple[int, np.ndarray, Box] | None:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(wrong.view(np.uint8), 8)
    if count <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[best])
    return area, labels[y : y + h, x : x + w] == best, (y, x, y + h, x + w)


def next_click(mask: np.ndarray, truth: np.ndarray) -> ErrorClick | None:
    """The deepest point of the largest error region; None when the mask is already right."""
    mask_b = mask.astype(bool, copy=False)
    truth_b = truth.astype(bool, copy=False)
    best: tuple[int, np.ndarray, Box, bool] | None = None
    for positive, wrong in ((True, truth_b & ~mask_b), (False, mask_b & ~truth_b)):
        found = _largest_region(wrong)
        if found is not None and (best is None or found[0] > best[0]):
            best = (*found, positive)
    if best is None:
        return None
    area, region, box, positive = best
    padded = np.pad(region, 1).astype(np.uint8)  # pixels outside the box count as outside
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    iy, ix = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return ErrorClick(
        y=box[0] + int(iy) - 1,
        x=box[1] + int(ix) - 1,
        positive=positive,
        depth=float(dist[iy, ix]),
        area=area,
    )


def brush_dab(mask: np.ndarray, click: ErrorClick) -> Box | None:
    """One round dab, the largest that stays inside the error region, adding or erasing."""
    diameter = int(np.clip(int(2 * click.depth) - 1, MIN_BRUSH, MAX_BRUSH))
    return stamp_disk(mask, click.y, click.x, diameter, 1 if click.positive else 0)
