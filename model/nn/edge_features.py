"""What a pixel near the mask's edge looks like: the features of "Learn this car"'s edge
classifier (``model.nn.edge_classifier``).

Half the wrong pixels of an auto-mask lie within 1-2 px of its edge and nearly all within
6 px (measured on 9 images of 3 cars v005 never saw): the network sees the photo at 0.6 of
its size, and its probabilities, upsampled, put the edge a little off where the car's own
paint, shadow or rocker panel confuse it. A car photographed on one turntable looks alike
at every angle, so a small classifier trained on the pixels of the edge band of a few
reviewed angles (their corrected masks as labels) can re-decide the band of the others.

Per band pixel (``|signed distance to the mask's edge| <= band_px``), at full resolution:
the network's logit and the signed distance; the colour (CIELAB) at the pixel, blurred at
2 and 6 px and its difference from the latter; the brightness gradient; the position in
the car's bounding box; how far the colour is from the mask's inside and outside around
it (3 and 8 px); the local brightness texture; and the colour profile across the edge,
sampled 1, 2 and 4 px either side along the probability's gradient. Pure numpy / OpenCV;
computed in a crop around the band, so the background far from the car costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from model.edits.mask_ops import Box, box_slices, clip_box, window_box

PROFILE_STEPS = (-4, -2, -1, 1, 2, 4)  # px along the normal to the edge (positive: inward)
CONTEXT_SIGMAS = (3.0, 8.0)
MARGIN = 28  # px of context around the band (3 x the widest blur, plus the profile)
BandValues = Callable[[np.ndarray], np.ndarray]  # a crop-sized array -> its band pixels' values
FEATURE_COUNT = 2 + 12 + 3 + 2 + 3 * len(CONTEXT_SIGMAS) + 3 + 2 * len(PROFILE_STEPS)


def edge_band(mask: np.ndarray, band_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(band, signed distance): pixels within ``band_px`` of the mask's edge, and every
    pixel's distance to it (positive inside the mask)."""
    m = mask.astype(np.uint8, copy=False)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    signed = np.where(m > 0, inside, -outside)
    return np.abs(signed) <= band_px, signed


def band_features(
    image: np.ndarray,
    prob: np.ndarray,
    band_px: float,
    threshold: float = 0.5,
    within: Box | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(band, features): the boolean band of the mask ``prob > threshold`` at full size
    (only its part inside the box ``within``, when given), and a (band pixels,
    FEATURE_COUNT) float32 array in row-major order of the band."""
    if image.shape[:2] != prob.shape or image.ndim != 3:
        raise ValueError(f"image {image.shape} and probabilities {prob.shape} differ")
    full_band = np.zeros(prob.shape, bool)
    none = full_band, np.zeros((0, FEATURE_COUNT), np.float32)
    mask = prob > threshold
    if not mask.any() or mask.all():
        return none
    band, signed = edge_band(mask, band_px)
    if within is not None:
        inside = np.zeros_like(band)
        inside[box_slices(within)] = True
        band &= inside
        if not band.any():
            return none
    y0, x0, y1, x1 = window_box(band, (0, 0))  # the band is not empty: the mask has an edge
    box = clip_box((y0 - MARGIN, x0 - MARGIN, y1 + MARGIN, x1 + MARGIN), band.shape)
    assert box is not None
    crop = box_slices(box)
    car = window_box(mask, (-box[0], -box[1]))  # the whole car's box, in crop coordinates
    features = _crop_features(image[crop], prob[crop], mask[crop], signed[crop], band[crop], car)
    full_band[crop] = band[crop]
    return full_band, features


def _crop_features(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    signed: np.ndarray,
    band: np.ndarray,
    car: Box,
) -> np.ndarray:
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    prob = prob.astype(np.float32, copy=False)
    blur2 = cv2.GaussianBlur(lab, (0, 0), 2)
    blur6 = cv2.GaussianBlur(lab, (0, 0), 6)
    bright = cv2.GaussianBlur(lab[..., 0], (0, 0), 1)
    gx = cv2.Sobel(bright, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(bright, cv2.CV_32F, 0, 1)
    top, left, bottom, right = car[0], car[1], car[2] - 1, car[3] - 1
    by, bx = np.nonzero(band)
    flat = by * band.shape[1] + bx  # the band's pixels: indexing by these beats a mask

    def at(values: np.ndarray) -> np.ndarray:
        return values.reshape(-1, *values.shape[2:])[flat]

    lab_b, blur6_b, gx_b, gy_b = at(lab), at(blur6), at(gx), at(gy)
    p = np.clip(at(prob), 1e-4, 1 - 1e-4)
    columns = [
        np.log(p / (1 - p)),
        at(signed),
        *_channels(lab_b),
        *_channels(at(blur2)),
        *_channels(blur6_b),
        *_channels(lab_b - blur6_b),
        gx_b,
        gy_b,
        np.hypot(gx_b, gy_b),
        (by - top) / (bottom - top + 1),
        (bx - left) / (right - left + 1),
    ]
    columns += _context(lab, lab_b, mask, at)
    columns += _texture(lab[..., 0], prob, at)
    columns += _profile(lab, lab_b, prob, at, by, bx)
    return np.column_stack(columns).astype(np.float32)


def _channels(values: np.ndarray) -> list[np.ndarray]:
    return [values[:, 0], values[:, 1], values[:, 2]]


def _context(
    lab: np.ndarray, lab_b: np.ndarray, mask: np.ndarray, at: BandValues
) -> list[np.ndarray]:
    """How far each band pixel's colour (``lab_b``) is from the mask's inside and outside
    around it (the means are blurs of the whole crop; the distances only where used)."""
    inside = mask.astype(np.float32)
    out: list[np.ndarray] = []
    for sigma in CONTEXT_SIGMAS:
        share = at(cv2.GaussianBlur(inside, (0, 0), sigma))[..., None]
        mean_in = at(cv2.GaussianBlur(lab * inside[..., None], (0, 0), sigma))
        mean_out = at(cv2.GaussianBlur(lab * (1 - inside[..., None]), (0, 0), sigma))
        to_in = np.linalg.norm(lab_b - mean_in / np.maximum(share, 1e-3), axis=-1)
        to_out = np.linalg.norm(lab_b - mean_out / np.maximum(1 - share, 1e-3), axis=-1)
        out += [to_in, to_out, to_in - to_out]
    return out


def _texture(bright: np.ndarray, prob: np.ndarray, at: BandValues) -> list[np.ndarray]:
    out = []
    for sigma in (2, 6):
        mean = at(cv2.GaussianBlur(bright, (0, 0), sigma))
        square = at(cv2.GaussianBlur(bright * bright, (0, 0), sigma))
        out.append(np.sqrt(np.maximum(square - mean * mean, 0)))
    out.append(at(cv2.GaussianBlur(prob, (0, 0), 4)))
    return out


def _profile(
    lab: np.ndarray,
    here: np.ndarray,
    prob: np.ndarray,
    at: BandValues,
    by: np.ndarray,
    bx: np.ndarray,
) -> list[np.ndarray]:
    """The colour across the edge: samples along the probability's gradient (inward),
    against the band pixels' own colours (``here``)."""
    smooth = cv2.GaussianBlur(prob, (0, 0), 2)
    nx = at(cv2.Sobel(smooth, cv2.CV_32F, 1, 0))
    ny = at(cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    norm = np.hypot(nx, ny) + 1e-6
    nx, ny = nx / norm, ny / norm
    fy, fx = by.astype(np.float32), bx.astype(np.float32)
    out: list[np.ndarray] = []
    for step in PROFILE_STEPS:
        sample = _bilinear(lab, fy + step * ny, fx + step * nx)
        out += [sample[:, 0] - here[:, 0], np.linalg.norm(sample - here, axis=-1)]
    return out


def _bilinear(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) sampled at float points, clamped at the border (cv2.remap takes
    at most 32,767 points a row, a band holds more)."""
    h, w = image.shape[:2]
    y = np.clip(y, 0, h - 1)
    x = np.clip(x, 0, w - 1)
    y0 = np.minimum(y.astype(np.int32), h - 2 if h > 1 else 0)
    x0 = np.minimum(x.astype(np.int32), w - 2 if w > 1 else 0)
    y1 = np.minimum(y0 + 1, h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    fy = (y - y0)[:, None]
    fx = (x - x0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
