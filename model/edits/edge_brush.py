"""Edge-snapping brush: a coarse stroke along the car's edge, and the edge decides.

Most of what an auto-mask gets wrong is a thin band along the silhouette (half the wrong
pixels lie within 2 px of the edge), which a plain brush can only fix by tracing the edge
exactly. Here the stroke only says *where*: every pixel under the brush goes to the side
(car or not car) whose colours it resembles, judged from the pixels of each side just
around the stroke. So a stroke drawn roughly over the edge moves the mask's edge onto the
photo's edge, whichever way it was off.

The sides are read from ``reference``, the mask as it was when the stroke began, so a
long stroke does not learn from its own output, and only from pixels at least a brush
radius away from its edge (the wrong band itself lies along that edge). Each side's
colours (CIE Lab) are summarised by a few k-means centres (a car has paint, glass, chrome
and tyres; the backdrop has wall, floor and shadow), and a pixel takes the side of its
nearest centre; the model's probability joins them as a fourth channel when there is one.
Away from the edge (one side missing around the stroke) nothing changes: there is no edge
to snap to. Car and background pieces that the stroke would leave cut off from their
side are dropped, so the result has no speckle. Pure numpy / OpenCV: the editor's Edge
brush calls exactly ``edge_segment``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.edits.mask_ops import Box, box_slices, clip_box, window_box


@dataclass(frozen=True)
class EdgeBrushParams:
    ring_scale: float = 1.0  # the sides are sampled this many brush diameters around the stroke
    min_side: int = 40  # fewer sampled pixels of one side than this: no edge here, no change
    centres: int = 4  # k-means colour centres per side
    max_samples: int = 4000  # per side (a random subset beyond this keeps a dab fast)
    prob_weight: float = 60.0  # the model's probability as a fourth colour channel (Lab units)


DEFAULT_EDGE_PARAMS = EdgeBrushParams()


def _swept(shape: tuple[int, int], p0: tuple[int, int], p1: tuple[int, int], d: int):
    """The pixels a round brush of diameter ``d`` covers along p0 -> p1 (uint8 0/1)."""
    swept = np.zeros(shape, np.uint8)
    r = max(1, d // 2)
    cv2.line(swept, (p0[1], p0[0]), (p1[1], p1[0]), 1, thickness=2 * r + 1)
    cv2.circle(swept, (p0[1], p0[0]), r, 1, -1)
    cv2.circle(swept, (p1[1], p1[0]), r, 1, -1)
    return swept


def _centres(samples: np.ndarray, k: int, rng: np.random.Generator, cap: int) -> np.ndarray:
    if len(samples) > cap:
        samples = samples[rng.choice(len(samples), cap, replace=False)]
    k = min(k, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)  # the same stroke on the same photo gives the same mask
    _, _, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def _nearest_distance(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return d.min(1)


def _keep_connected(labels: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Pixels of ``labels`` (0/1) in components that touch ``anchor``."""
    count, comp = cv2.connectedComponents(labels, connectivity=8)
    if count <= 1:
        return np.zeros_like(labels)
    touching = np.unique(comp[(anchor > 0) & (labels > 0)])
    keep = np.isin(comp, touching[touching > 0])
    return keep.astype(np.uint8)


def edge_segment(
    image: np.ndarray,
    reference: np.ndarray,
    mask: np.ndarray,
    p0: tuple[int, int],
    p1: tuple[int, int],
    diameter: int,
    prob: np.ndarray | None = None,
    params: EdgeBrushParams = DEFAULT_EDGE_PARAMS,
) -> Box | None:
    """Re-decide the pixels under a brush stroke p0 -> p1 ((y, x) points) by colour.

    ``image`` is the RGB photo, ``reference`` the mask when the stroke began (its sides
    are sampled around the stroke), ``mask`` is changed in place. Returns the changed box,
    or None when nothing changed (for instance: no edge near the stroke).
    """
    diameter = max(3, int(diameter))
    ring = round(params.ring_scale * diameter) + 1
    pad = diameter // 2 + ring + 2
    ys, xs = (p0[0], p1[0]), (p0[1], p1[1])
    box = clip_box((min(ys) - pad, min(xs) - pad, max(ys) + pad + 1, max(xs) + pad + 1), mask.shape)
    if box is None:
        return None
    sl = box_slices(box)
    local0 = (p0[0] - box[0], p0[1] - box[1])
    local1 = (p1[0] - box[0], p1[1] - box[1])
    h, w = box[2] - box[0], box[3] - box[1]
    swept = _swept((h, w), local0, local1, diameter)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
    around = cv2.dilate(swept, kernel) & (1 - swept)
    ref = (reference[sl] > 0).astype(np.uint8)
    lab = cv2.cvtColor(np.ascontiguousarray(image[sl]), cv2.COLOR_RGB2LAB).astype(np.float32)
    if prob is not None:
        lab = np.concatenate([lab, params.prob_weight * prob[sl][..., None].astype(np.float32)], -1)
    # The wrong band itself lies along the mask's edge: sample each side only a brush
    # radius or more away from that edge, where the mask is most likely right.
    inside = cv2.distanceTransform(ref, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - ref, cv2.DIST_L2, 3)
    sure = (around > 0) & (np.maximum(inside, outside) >= diameter / 2)
    car_samples = lab[sure & (ref > 0)]
    bg_samples = lab[sure & (ref == 0)]
    if min(len(car_samples), len(bg_samples)) < params.min_side:
        return None  # the stroke is not near the edge: nothing to snap to
    rng = np.random.default_rng(0)
    car_c = _centres(car_samples, params.centres, rng, params.max_samples)
    bg_c = _centres(bg_samples, params.centres, rng, params.max_samples)
    under = swept > 0
    pixels = lab[under]
    is_car = _nearest_distance(pixels, car_c) < _nearest_distance(pixels, bg_c)
    decided = ref.copy()
    decided[under] = is_car
    decided = cv2.medianBlur(decided * 255, 5) // 255  # no single-pixel speckle
    decided[~under] = ref[~under]
    # keep car connected to the car outside the stroke, background to the background
    beyond = ~under
    car = _keep_connected(decided, (ref > 0) & beyond)
    background = _keep_connected(1 - car, (ref == 0) & beyond)
    result = 1 - background
    local = mask[sl]
    new = np.where(under, result, local).astype(local.dtype)
    changed = new != local
    if not changed.any():
        return None
    local[...] = new
    return window_box(changed, box[:2])
