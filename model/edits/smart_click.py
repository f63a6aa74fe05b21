"""Click-to-correct: one click fixes the mask around it, on the side the click says.

The auto-mask's errors sit where the model hesitated: on unseen cars 87 % of the wrong
pixels have probability 0.1-0.9 and half lie within 2 px of the mask's edge (thin bands
along the shadow under the car, the rocker panel, wheel gaps). There the model's 0.5
contour is a little off, so a click (positive = "this is car") moves the threshold,
locally: around the click the clicked side takes every pixel whose probability of being
that side is at least ``shift`` times the clicked pixel's, connected to the click, within
``reach_min`` px or ``reach_scale`` click depths (the distance from the click to the mask's
side it asks for); the shift fades out toward that reach, so the new edge joins the old
one without a seam. The new edge is a contour of the model's own probabilities, which
follows the car's edge as the model saw it. Where the model is sure and wrong (a thin
sliver along the edge: no probability to shift), the click also fills its disc out to
the nearest pixel of the side it asks for, as a brush dab of exactly that size would
(measured on 64 images of 4 non-validation cars: 17 % instead of 11 % reach Dice 0.997).
Along the mask's edge the click reaches twice as far (``edge_reach``), but only within a
band as thick as half the click's depth: the wrong regions left are mostly long slivers
along the edge, of which a round reach fixed a third per click. Beyond the click's round
reach that band keeps only the pixels that look like the clicked spot rather than the
strip of the wrong side just beyond the band (``edge_colour_ratio``): by the
probabilities alone the click ran on past a sliver's end into shadow or backdrop the
model hesitated over (592 images of 37 added cars, none a validation car: NoC@0.995
4.50 -> 4.49, reach 0.995 93.1 -> 93.6 %, reach 0.997 36.5 -> 37.8 %). Where the model is sure
the clicked pixel is the other side, its shifted contour spills over what lies around the
error (a wheel's spokes around the gap between them, the roof under a roof-rack gap), so
there the click keeps only what looks like the clicked spot (``_like_the_click``), and
a "not car" click checks sooner, as backdrop seen through the car is where it spills.
With these and the disc filled out to 24 px deep instead of 16, NoC@0.995 / reach 0.995 /
reach 0.997 went from 7.21 / 76 % / 35 % to 6.03 / 86 % / 38 % on 96 images of 6
non-validation cars, and from 6.58 / 77 % / 34 % to 5.39 / 83 % / 39 % on 64 images of 4
others (bench/correction_effort.py --cars).
Only pixels of the connected piece holding the click change, in the click's direction, so
a click never touches pixels far from it.
Pure numpy / OpenCV. The editor's Smart click tool and bench/correction_effort.py call it
through ``model.edits.click_session.ClickSession``, which keeps a later click from taking
back an earlier click of the other side.

``grabcut_click`` is the alternative that re-decides the uncertain pixels from the image
(GrabCut with the model's confident pixels as hard labels, the click as a seed). Measured
on non-validation cars (bench/correction_effort.py --tools brush,smart,grabcut) it needed
more clicks than the threshold shift and about 100 ms per click instead of 1 ms, so the
model's probabilities drive the click; GrabCut does when there are none: an image masked by
a batch, or edited from scratch, whose mask itself is then the prior, softened around its
edge (``mask_prior``) so the click re-decides only pixels near the mask's edge and the click.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.edits.mask_ops import Box, box_slices, clip_box, window_box


@dataclass(frozen=True)
class SmartParams:
    """Settings chosen on non-validation cars with bench/correction_effort.py --cars."""

    # with the model's probabilities: the local threshold shift
    shift: float = 0.65  # new threshold = shift x the clicked pixel's probability of its side
    reach_min: int = 30  # a click changes pixels at most this far (px) from it...
    reach_scale: float = 3.0  # ...or this many click depths (up to radius_max)
    taper: float = 6.0  # the shift fades to none at the reach, as (distance / reach) ** taper
    # ...and the click's disc up to the clicked side's nearest pixel, when that is this close
    # (px): a thin sliver the model is sure of (no probability to shift) still moves
    fill_depth_max: float = 24.0
    # Along the mask's edge the click reaches farther: pixels within edge_band_scale click
    # depths + edge_band_min px of the clicked side, up to edge_reach px from the click, so
    # a long thin sliver is fixed by one click instead of one reach's worth of it
    edge_reach: int = 60
    edge_band_scale: float = 0.5
    edge_band_min: float = 1.0
    # ...where it looks like the clicked spot: beyond the click's round reach, a band pixel
    # whose Lab distance to the click's colour, times this, is at most its distance to
    # the colour of the wrong side's strip just beyond the band (0: no colour gate)
    edge_colour_ratio: float = 0.5
    # Where the model is sure the clicked pixel is the other side (the clicked side's
    # probability below these), its contour is no guide: the click keeps only the pixels
    # whose colour is nearer the click's own (within colour_core px) than colour_ratio
    # times nearer the colour of the unchanged pixels around (colour_ring px). Negative
    # clicks check sooner: backdrop seen through the car (wheel and roof-rack gaps) is
    # where a "not car" click's contour spills over what holds it.
    colour_check_below_positive: float = 0.1
    colour_check_below_negative: float = 0.25
    colour_ratio: float = 0.5
    colour_core: float = 2.0
    colour_ring: int = 6
    # GrabCut (without them, or grabcut_click)
    sure: float = 0.1  # probability beyond which (toward either side) a pixel is hard-labelled
    free_scale: float = 3.0  # no hard labels within this many click depths of the click
    radius_min: int = 24  # crop half-size bounds, full-resolution pixels
    radius_max: int = 160
    margin: int = 12  # crop margin around the uncertain piece holding the click
    work_side: int = 240  # crops larger than this are segmented at reduced resolution
    iterations: int = 2
    seed_radius: int = 2
    prior_sigma: float = 3.0  # without model probabilities: blur of the mask used instead
    # A click's own disc, which later clicks of the other side leave alone (ClickSession):
    # this many click depths, at least protect_min px
    protect_scale: float = 1.0
    protect_min: int = 3


DEFAULT_PARAMS = SmartParams()
COLOUR_MIN_PIECE = 30  # px: smaller pieces are kept whole
COLOUR_MIN_KEPT = 20  # px of unchanged pixels needed to know their colour


def click_depth(mask: np.ndarray, y: int, x: int, target: int, reach: int) -> float:
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


def click_reach(params: SmartParams) -> int:
    """How far (px) from the click a smart click may change pixels, whichever way it works:
    the threshold shift reaches ``radius_max``, GrabCut on the mask prior that plus the
    prior's blur."""
    return params.radius_max + 4 * int(np.ceil(params.prior_sigma))


def mask_prior(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A stand-in for the model's probabilities: the mask, blurred across its edge."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _click_without_model(
    image: np.ndarray, mask: np.ndarray, y: int, x: int, positive: bool, params: SmartParams
) -> Box | None:
    """``grabcut_click`` with the mask as the prior, worked out in the window it can reach."""
    reach = click_reach(params)
    window = clip_box((y - reach, x - reach, y + reach + 1, x + reach + 1), mask.shape)
    assert window is not None
    sl = box_slices(window)
    local = mask[sl]  # a view: the click edits the mask itself
    prior = mask_prior(local, params.prior_sigma)
    box = grabcut_click(image[sl], prior, local, y - window[0], x - window[1], positive, params)
    if box is None:
        return None
    return (box[0] + window[0], box[1] + window[1], box[2] + window[0], box[3] + window[1])


def smart_click(
    image: np.ndarray,
    prob: np.ndarray | None,
    mask: np.ndarray,
    y: int,
    x: int,
    positive: bool,
    params: SmartParams = DEFAULT_PARAMS,
) -> Box | None:
    """Correct the mask around a click: positive = the pixel is car, negative = not car.

    Edits ``mask`` (uint8 0/1) in place and returns the box it changed, or None.
    ``prob`` is the model's probability map for this image at full resolution; None uses
    the mask itself as the prior (``mask_prior``) and GrabCut on the image.
    """
    h, w = mask.shape
    if image.shape[:2] != (h, w) or (prob is not None and prob.shape != (h, w)):
        shapes = f"image {image.shape[:2]}, mask {mask.shape}"
        raise ValueError(shapes + ("" if prob is None else f", probability {prob.shape}"))
    if not (0 <= y < h and 0 <= x < w) or mask[y, x] == (1 if positive else 0):
        return None
    if prob is None:
        return _click_without_model(image, mask, y, x, positive, params)
    return _shift_threshold(image, prob, mask, y, x, positive, params)


def _shift_threshold(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    y: int,
    x: int,
    positive: bool,
    params: SmartParams,
) -> Box | None:
    """The clicked side takes the pixels near the click it is nearly as likely as there."""
    target = 1 if positive else 0
    depth = click_depth(mask, y, x, target, params.radius_max)
    r = int(min(params.radius_max, max(params.reach_min, params.reach_scale * depth)))
    reach = int(min(params.radius_max, max(r, params.edge_reach)))
    box = clip_box((y - reach, x - reach, y + reach + 1, x + reach + 1), mask.shape)
    assert box is not None
    sl = box_slices(box)
    local = prob[sl]
    pt = local if positive else 1.0 - local  # probability of the clicked side
    cy, cx = y - box[0], x - box[1]
    clicked = float(pt[cy, cx])
    base = params.shift * min(0.5, clicked)
    yy, xx = np.ogrid[: pt.shape[0], : pt.shape[1]]
    dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    take = (dist <= r) & (pt >= _tapered(base, dist, r, params.taper))
    if reach > r:  # and out to ``reach``, the band along the clicked side's edge
        other = (mask[sl] != target).astype(np.uint8)
        band = cv2.distanceTransform(other, cv2.DIST_L2, 5)
        width = params.edge_band_scale * depth + params.edge_band_min
        inband = band <= width
        far = inband & (pt >= _tapered(base, dist, reach, params.taper))
        if params.edge_colour_ratio > 0:
            far &= (dist <= r) | _band_alike(image[sl], band, width, other > 0, cy, cx, params)
        take |= far
    take = take.astype(np.uint8)
    take[cy, cx] = 1
    _, labels = cv2.connectedComponents(take, connectivity=4)
    piece = labels == labels[cy, cx]
    if depth <= params.fill_depth_max:
        # The click's disc reaching the clicked side: where the model is sure and wrong
        # (a sliver along the edge), the shifted contour barely moves, the disc does.
        piece |= dist <= depth
    piece &= mask[sl] != target
    sure = params.colour_check_below_positive if positive else params.colour_check_below_negative
    if clicked < sure:
        piece = _like_the_click(image[sl], piece, mask[sl] != target, cy, cx, params)
    return _set_piece(mask, sl, box, piece, target)


def _band_alike(
    image: np.ndarray,
    band: np.ndarray,
    width: float,
    wrong_side: np.ndarray,
    cy: int,
    cx: int,
    p: SmartParams,
) -> np.ndarray:
    """Where the edge band (``band``: distance to the clicked side, ``width`` thick) looks
    like the clicked spot rather than the strip of the wrong side just beyond it. Along
    the edge the model's probability alone let the click run on past the end of a sliver
    into backdrop or shadow it hesitated over; the photo tells the sliver (paint, the
    dark rocker panel) from what lies beyond it."""
    core = _click_core(band.shape, cy, cx, wrong_side, p)
    strip = (band > width) & (band <= width + p.colour_ring) & wrong_side
    if strip.sum() <= COLOUR_MIN_KEPT or not core.any():
        return np.ones(band.shape, bool)
    to_click, to_strip = _colour_distances(image, core, strip)
    return to_click * p.edge_colour_ratio <= to_strip


def _click_core(shape, cy: int, cx: int, wrong_side: np.ndarray, p: SmartParams) -> np.ndarray:
    """The clicked spot: the wrong-side pixels within ``colour_core`` px of the click."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= p.colour_core**2) & wrong_side


def _colour_distances(
    image: np.ndarray, core: np.ndarray, other: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's Lab distance to the mean colour of ``core`` and of ``other``."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).astype(np.float32)
    to_core = np.linalg.norm(lab - lab[core].mean(0), axis=-1)
    return to_core, np.linalg.norm(lab - lab[other].mean(0), axis=-1)


def _tapered(base: float, dist: np.ndarray, reach: int, taper: float) -> np.ndarray | float:
    """The shifted threshold: ``base`` at the click, back to 0.5 at ``reach`` (no seam)."""
    if taper <= 0:
        return base
    return base + (0.5 - base) * np.minimum(dist / (reach + 1), 1.0) ** taper


def _like_the_click(
    image: np.ndarray, piece: np.ndarray, wrong_side: np.ndarray, cy: int, cx: int, p: SmartParams
) -> np.ndarray:
    """The part of ``piece`` that looks like the clicked spot rather than the pixels left
    around it, connected to the click. Used where the model is sure and wrong: its
    shifted contour then spills over a wheel's spokes or the roof under a roof-rack gap
    (measured on 96 images of 6 training cars with the edge reach on: NoC@0.995 6.88 ->
    6.31 checking both sides below 0.15), while the photo tells the gap's backdrop from
    the paint around it."""
    if piece.sum() <= COLOUR_MIN_PIECE:
        return piece
    core = _click_core(piece.shape, cy, cx, wrong_side, p)
    side = 2 * p.colour_ring + 1
    ring = cv2.dilate(piece.astype(np.uint8), np.ones((side, side), np.uint8)) > 0
    kept = ring & ~piece & wrong_side
    if kept.sum() <= COLOUR_MIN_KEPT or not core.any():
        return piece
    to_click, to_kept = _colour_distances(image, core, kept)
    alike = piece & ((to_click * p.colour_ratio <= to_kept) | core)
    _, labels = cv2.connectedComponents(alike.astype(np.uint8), connectivity=4)
    return alike & (labels == labels[cy, cx]) if labels[cy, cx] else alike


def grabcut_click(
    image: np.ndarray,
    prob: np.ndarray,
    mask: np.ndarray,
    y: int,
    x: int,
    positive: bool,
    params: SmartParams = DEFAULT_PARAMS,
) -> Box | None:
    """The GrabCut alternative of ``smart_click`` (``prob`` required): re-decide the
    uncertain pixels in a crop around the click from the image, the model's confident
    pixels as hard labels and the click as a seed. Edits ``mask`` in place."""
    h, w = mask.shape
    if image.shape[:2] != (h, w) or prob.shape != (h, w):
        raise ValueError(
            f"image {image.shape[:2]}, probability {prob.shape} and mask {mask.shape} differ"
        )
    if not (0 <= y < h and 0 <= x < w):
        return None
    target = 1 if positive else 0
    r = params.radius_max
    reach = clip_box((y - r, x - r, y + r + 1, x + r + 1), (h, w))
    assert reach is not None
    local = prob[box_slices(reach)]
    pt_reach = local if positive else 1.0 - local  # probability of the clicked side
    ry, rx = y - reach[0], x - reach[1]
    depth = click_depth(mask, y, x, target, params.radius_max) if mask[y, x] != target else 0.0
    free = max(params.seed_radius + 1.0, params.free_scale * depth)
    inner = _crop_box(pt_reach, ry, rx, params, free)
    box = (inner[0] + reach[0], inner[1] + reach[1], inner[2] + reach[0], inner[3] + reach[1])
    sl = box_slices(box)
    pt = pt_reach[box_slices(inner)]
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
    return _set_piece(mask, sl, box, piece, target)


def _set_piece(mask: np.ndarray, sl, box, piece: np.ndarray, target: int):
    """Write ``target`` on ``piece`` (a boolean map of the window ``sl`` at ``box``'s
    corner) and return the changed pixels' box in full-image coordinates."""
    mask[sl][piece] = target
    return window_box(piece, box[:2])
