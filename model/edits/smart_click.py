"""Click-to-correct: one click re-segments the model's uncertain band around it.

The auto-mask's errors sit where the model hesitated: missed car mostly has probability
0.1-0.5, false car 0.5-0.9, in thin bands along the edge (shadow under the car, rocker
panel, wheel gaps). A click says which side its pixel belongs on; GrabCut then re-decides
the uncertain pixels in a bounded crop around it from the image colours and edges, with
the model's confident pixels as hard labels and the click as a hard seed. Only the
connected piece of the change that contains the click is applied, in the click's
direction, so a click never touches pixels far from it. Pure numpy / OpenCV: the editor's
Smart click tool and bench/correction_effort.py call exactly this function.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.edits.mask_ops import Box, box_slices, clip_box


@dataclass(frozen=True)
class SmartParams:
    """Settings chosen on training cars with bench/correction_effort.py --training-cars."""

    sure: float = 0.1  # probability beyond which (toward either side) a pixel is hard-labelled
    free_scale: float = 3.0  # no hard labels within this many click depths of the click
    radius_min: int = 24  # crop half-size bounds, full-resolution pixels
    radius_max: int = 160
    margin: int = 12  # crop margin around the uncertain piece holding the click
    work_side: int = 240  # crops larger than this are segmented at reduced resolution
    iterations: int = 2
    seed_radius: int = 2


DEFAULT_PARAMS = SmartParams()


def _depth(mask: np.ndarray, y: int, x: int, target: int, reach: int) -> float:
    """Distance from (y, x) to the nearest pixel already labelled ``target`` (capped)."""
    box = clip_box((y - reach, x - reach, y + reach + 1, x + reach + 1), mask.shape)
    assert box is not None
    other = (mask[box_slices(box)] != target).astype(np.uint8)
    dist = cv2.distanceTransform(other, cv2.DIST_L2, 5)
    return float(min(dist[y - box[0], x - box[1]], reach))


def _crop_box(pt: np.ndarray, y: int, x: int, p: SmartParams, free: float) -> Box:
    """Crop around the uncertain piece (sure < pt < 1 - sure) holding the click, bounded."""
    r = p.radius_max
    box = clip_box((y - r, x - r, y + r + 1, x + r + 1), pt.shape)
    assert box is not None
    local = pt[box_slices(box)]
    band = ((local > p.sure) & (local < 1 - p.sure)).astype(np.uint8)
    cy, cx = y - box[0], x - box[1]
    cv2.circle(band, (cx, cy), int(free), 1, -1)
    _, labels = cv2.connectedComponents(band, connectivity=8)
    ys, xs = np.nonzero(labels == labels[cy, cx])
    half_y = max(abs(int(ys.min()) - cy), abs(int(ys.max()) - cy)) + p.margin
    half_x = max(abs(int(xs.min()) - cx), abs(int(xs.max()) - cx)) + p.margin
    hy = int(np.clip(half_y, p.radius_min, r))
    hx = int(np.clip(half_x, p.radius_min, r))
    out = clip_box((y - hy, x - hx, y + hy + 1, x + hx + 1), pt.shape)
    assert out is not None
    return out


def grabcut_labels(
    image: np.ndarray, init: np.ndarray, iterations: int, work_side: int
) -> np.ndarray | None:
    """Run GrabCut on a crop (downscaled when large); boolean foreground at crop size."""
    h, w = init.shape
    scale = min(1.0, work_side / max(h, w))
    img, lab = image, init
    if scale < 1.0:
        size = (max(2, round(w * scale)), max(2, round(h * scale)))
        img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        lab = cv2.resize(init, size, interpolation=cv2.INTER_NEAREST)
    hard_fg = lab == cv2.GC_FGD
    fg = (lab == cv2.GC_FGD) | (lab == cv2.GC_PR_FGD)
    if fg.all() or not fg.any() or hard_fg.all():
        return None  # GrabCut needs samples of both sides
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    work = lab.copy()
    bgr = np.ascontiguousarray(img[..., ::-1])
    try:
        cv2.grabCut(bgr, work, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    out = ((work == cv2.GC_FGD) | (work == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1.0:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_NEAREST)
    return out.astype(bool)


def smart_click(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    y: int,
    x: int,
    positive: bool,
    params: SmartParams = DEFAULT_PARAMS,
) -> Box | None:
    """Correct the mask around a click: positive = the pixel is car, negative = not car.

    Edits ``mask`` (uint8 0/1) in place and returns the box it changed, or None.
    ``prob`` is the model's probability map for this image at full resolution.
    """
    h, w = mask.shape
    if image.shape[:2] != (h, w) or prob.shape != (h, w):
        raise ValueError(
            f"image {image.shape[:2]}, probability {prob.shape} and mask {mask.shape} differ"
        )
    if not (0 <= y < h and 0 <= x < w):
        return None
    target = 1 if positive else 0
    pt_full = prob if positive else 1.0 - prob  # probability of the clicked side
    depth = _depth(mask, y, x, target, params.radius_max) if mask[y, x] != target else 0.0
    free = max(params.seed_radius + 1.0, params.free_scale * depth)
    box = _crop_box(pt_full, y, x, params, free)
    sl = box_slices(box)
    pt = pt_full[sl]
    is_target = mask[sl] == target
    init = np.where(is_target, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    cy, cx = y - box[0], x - box[1]
    yy, xx = np.ogrid[: pt.shape[0], : pt.shape[1]]
    near = (yy - cy) ** 2 + (xx - cx) ** 2 <= free**2
    init[(pt >= 1 - params.sure) & ~near] = cv2.GC_FGD
    init[(pt <= params.sure) & ~near] = cv2.GC_BGD
    seed = (yy - cy) ** 2 + (xx - cx) ** 2 <= params.seed_radius**2
    init[seed] = cv2.GC_FGD
    fg = grabcut_labels(image[sl], init, params.iterations, params.work_side)
    if fg is None:
        fg = seed
    change = (fg | seed) & ~is_target
    _, labels = cv2.connectedComponents(change.view(np.uint8), connectivity=8)
    piece = labels == labels[cy, cx]
    if not piece.any() or labels[cy, cx] == 0:
        return None
    mask[sl][piece] = target
    ys, xs = np.nonzero(piece)
    return (
        box[0] + int(ys.min()),
        box[1] + int(xs.min()),
        box[0] + int(ys.max()) + 1,
        box[1] + int(xs.max()) + 1,
    )
