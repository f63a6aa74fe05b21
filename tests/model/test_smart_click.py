"""Smart click (model/edits/smart_click.py), the simulated annotator and the correction
benchmark's bookkeeping, on synthetic cars: no Qt, no model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from model.edits.annotator import brush_dab, next_click
from model.edits.smart_click import DEFAULT_PARAMS, SmartParams, mask_prior, smart_click
from model.kaggle.metrics import dice

BENCH = Path(__file__).resolve().parents[2] / "bench"


def synthetic_car(h: int = 400, w: int = 600, seed: int = 0):
    """A bright ellipse ("car") on dark noise, its true mask and a model-like probability."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), np.uint8)
    cv2.ellipse(truth, (w // 2, h // 2), (w // 3, h // 4), 0, 0, 360, 1, -1)
    image = rng.integers(0, 50, (h, w, 3), dtype=np.uint8)
    image[truth == 1] = rng.integers(170, 220, (int(truth.sum()), 3), dtype=np.uint8)
    prob = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 2.0)
    return image, truth, prob


def test_positive_click_fills_a_missed_piece_and_nothing_else():
    image, truth, prob = synthetic_car()
    mask = truth.copy()
    mask[170:230, 120:170] = 0  # missed car at the left end (the model hesitated there)
    mask[170:230, 430:480] = 0  # and another at the right end, far from the first
    prob[170:230, 120:170] = 0.35
    prob[170:230, 430:480] = 0.35
    before = mask.copy()
    box = smart_click(image, prob, mask, 200, 145, positive=True)
    assert box is not None
    left, right = (slice(170, 230), slice(120, 170)), (slice(170, 230), slice(430, 480))
    assert (mask[left] == truth[left]).mean() > 0.98
    assert np.array_equal(mask[right], before[right])  # the other error is left alone
    changed = np.argwhere(mask != before)
    y0, x0, y1, x1 = box
    assert (changed[:, 0] >= y0).all() and (changed[:, 0] < y1).all()
    assert (changed[:, 1] >= x0).all() and (changed[:, 1] < x1).all()


def test_negative_click_removes_false_car_like_a_shadow():
    image, truth, prob = synthetic_car()
    mask = truth.copy()
    shadow = np.zeros_like(mask, dtype=bool)
    shadow[290:320, 220:380] = True
    shadow &= truth == 0  # a dark strip under the car, wrongly in the mask
    rng = np.random.default_rng(1)
    image[shadow] = rng.integers(20, 60, (int(shadow.sum()), 3), dtype=np.uint8)
    mask[shadow] = 1
    prob[shadow] = 0.6
    before = dice(mask, truth)
    smart_click(image, prob, mask, 310, 300, positive=False)
    near, far = np.zeros_like(shadow), np.ones_like(shadow)
    near[285:336, 275:326] = True  # within the click's least reach (25 px)
    far[:, 240:361] = False  # beyond 3 click depths (about 11 px here) and more
    assert not (mask.astype(bool) & shadow & near).any()  # gone around the click
    assert (mask.astype(bool) & shadow & far).sum() == (shadow & far).sum()  # next clicks
    assert dice(mask, truth) > before
    smart_click(image, prob, mask, 310, 240, positive=False)
    smart_click(image, prob, mask, 310, 360, positive=False)
    assert dice(mask, truth) > 0.995  # three clicks along a 160 px strip


def test_a_click_never_changes_pixels_beyond_its_reach():
    """Whatever the image and probabilities say, pixels farther from the click than the
    crop's largest half-size (radius_max) stay as they were."""
    rng = np.random.default_rng(3)
    h, w = 700, 900
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    prob = rng.uniform(0.2, 0.8, (h, w)).astype(np.float32)  # unsure everywhere
    for positive in (True, False):
        mask = (rng.uniform(size=(h, w)) > 0.5).astype(np.uint8)
        before = mask.copy()
        y, x = 350, 450
        smart_click(image, prob, mask, y, x, positive)
        changed = np.argwhere(mask != before)
        if len(changed):
            r = DEFAULT_PARAMS.radius_max
            assert np.abs(changed - [y, x]).max() <= r
        # a click only moves pixels toward the clicked side
        assert (mask[mask != before] == (1 if positive else 0)).all()


def test_without_probabilities_the_mask_is_the_prior():
    image, truth, _ = synthetic_car()
    mask = truth.copy()
    mask[180:220, 130:160] = 0
    before = mask.copy()
    box = smart_click(image, None, mask, 200, 145, positive=True)
    assert box is not None
    piece = (slice(180, 220), slice(130, 160))
    assert (mask[piece] == 1).mean() > 0.95
    far = np.ones_like(mask, bool)
    far[200 - 200 : 200 + 200, max(0, 145 - 200) : 145 + 200] = False
    assert np.array_equal(mask[far], before[far])
    prior = mask_prior(truth, 3.0)
    assert prior.dtype == np.float32 and prior[200, 300] > 0.99 and prior[5, 5] < 0.01


def test_clicks_outside_the_image_or_on_the_right_side_change_nothing():
    image, truth, prob = synthetic_car(120, 180)
    mask = truth.copy()
    assert smart_click(image, prob, mask, -1, 5, True) is None
    assert smart_click(image, prob, mask, 60, 90, True) is None  # already car
    assert np.array_equal(mask, truth)
    with pytest.raises(ValueError):
        smart_click(image, prob[:10], mask, 60, 90, True)


def test_annotator_clicks_the_deepest_point_of_the_largest_error():
    truth = np.zeros((100, 100), np.uint8)
    truth[20:80, 20:80] = 1
    mask = truth.copy()
    mask[40:60, 20:50] = 0  # missed: 600 px
    mask[90:95, 0:10] = 1  # false: 50 px
    click = next_click(mask, truth)
    assert click is not None and click.positive and click.area == 600
    assert 45 <= click.y <= 54 and 25 <= click.x <= 45
    box = brush_dab(mask, click)
    assert box is not None and dice(mask, truth) > dice(truth & 0 | mask, truth) - 1e-9
    assert next_click(truth, truth) is None


def _bench():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(
        "correction_effort", BENCH / "correction_effort.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["correction_effort"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_benchmark_counts_clicks_and_prints_the_issue_summary_line():
    bench = _bench()
    image, truth, prob = synthetic_car()
    mask = truth.copy()
    mask[170:230, 120:170] = 0
    prob[170:230, 120:170] = 0.35
    runs = {
        tool: [bench.correct(tool, image, truth, mask, prob, [0.995, 0.997], 20)]
        for tool in ("brush", "smart")
    }
    smart = runs["smart"][0]
    assert smart.dices[0] < 0.995 and smart.noc(0.995, 20) <= runs["brush"][0].noc(0.995, 20)
    assert len(smart.ms) == len(smart.dices) - 1
    line = bench.summary_line(runs, [0.995, 0.997], 20)
    s, b = smart.noc(0.995, 20), runs["brush"][0].noc(0.995, 20)
    reach = float(smart.noc(0.997, 21) <= 20)
    assert line.startswith(f"NoC@0.995 smart={s:.2f} brush={b:.2f} reach0.997={reach:.2f} ")
    assert line.split()[-1].startswith("ms_per_click=")


def test_a_click_in_a_sliver_the_model_is_sure_of_still_clears_its_disc():
    """A 6 px strip of backdrop along the car's top that the model calls car, surer toward
    the car (probability of not-car 0.3 at its outer row down to 0.0003 at its inner one):
    the shifted threshold stops at the strip's outer rows, the click's disc out to the
    nearest backdrop pixel clears it to the car's edge around the click (the click in the
    strip's middle, as a person makes it); nothing of the car, nothing beyond its reach."""
    image, truth, prob = synthetic_car()
    prob[truth == 1] = 1.0  # the model is sure of the car itself
    mask = truth.copy()
    ys, _ = np.nonzero(truth)
    top = int(ys.min())
    strip = np.zeros_like(mask, dtype=bool)
    strip[top - 6 : top, 250:350] = True
    mask[strip] = 1
    for i, row in enumerate(range(top - 6, top)):  # outer row first
        prob[row, 250:350] = 1.0 - 0.3 * 0.25**i
    before = mask.copy()
    box = smart_click(image, prob, mask, top - 4, 300, positive=False)
    assert box is not None
    cleared = before.astype(bool) & ~mask.astype(bool)
    assert cleared[top - 2, 299:302].all() and cleared[top - 1, 300]  # inner rows, at the click
    assert not cleared[truth == 1].any()  # nothing of the car
    reach = DEFAULT_PARAMS.edge_reach  # along the edge, the click reaches this far
    assert np.array_equal(mask[:, : 300 - reach], before[:, : 300 - reach])
    without = before.copy()
    smart_click(image, prob, without, top - 4, 300, False, SmartParams(fill_depth_max=0))
    assert without[top - 1, 300] == 1  # the threshold shift alone leaves the inner rows


def test_one_click_fixes_a_long_thin_sliver_along_the_edge():
    """A 3 px strip of missed car, 90 px long, along the car's top (probability 0.3):
    one click in its middle fixes nearly all of it, along the edge beyond the click's
    least reach (30 px), and takes nothing of the backdrop, which the model is sure of."""
    image, truth, prob = synthetic_car()
    prob[truth == 0] = np.minimum(prob[truth == 0], 0.05)
    ys, _ = np.nonzero(truth)
    top = int(ys.min())
    strip = np.zeros_like(truth, dtype=bool)
    strip[top + 8 : top + 11, 255:345] = True
    strip &= truth == 1
    mask = truth.copy()
    mask[strip] = 0
    prob[strip] = 0.3
    before = mask.copy()
    smart_click(image, prob, mask, top + 9, 300, positive=True)
    assert (mask[strip] == 1).mean() > 0.95
    assert not (mask.astype(bool) & ~before.astype(bool) & ~strip).any()
    without = before.copy()
    smart_click(image, prob, without, top + 9, 300, True, SmartParams(edge_reach=0))
    assert (without[strip] == 1).mean() < 0.7  # a disc of reach 30 px covers about 55 of 90


def test_a_sure_negative_click_in_a_wheel_gap_keeps_the_spokes_around_it():
    """The backdrop seen through a wheel (a dark disc inside the car) that the model calls
    car almost as surely as the grey spokes around it (0.97 against 0.99): the shifted
    threshold would take the whole blurred square; the colour check keeps only what looks
    like the clicked spot."""
    image, truth, prob = synthetic_car()
    cy, cx = 200, 300
    yy, xx = np.ogrid[: truth.shape[0], : truth.shape[1]]
    gap = (yy - cy) ** 2 + (xx - cx) ** 2 <= 10**2
    truth[gap] = 0
    rng = np.random.default_rng(2)
    image[gap] = rng.integers(0, 50, (int(gap.sum()), 3), dtype=np.uint8)
    prob[:] = np.where(truth == 1, 0.99, prob)
    square = np.zeros_like(gap)
    square[cy - 20 : cy + 21, cx - 20 : cx + 21] = True
    prob[square] = 0.97
    mask = (truth | gap).astype(np.uint8)  # the auto-mask fills the gap
    before = mask.copy()
    smart_click(image, prob, mask, cy, cx, positive=False)
    assert (mask[gap] == 0).mean() > 0.95
    spokes = square & ~gap
    assert (mask[spokes] == 1).mean() > 0.98
    without = before.copy()
    smart_click(image, prob, without, cy, cx, False, SmartParams(colour_check_below_negative=0.0))
    assert (without[spokes] == 1).mean() < 0.5  # the contour alone eats the spokes


def test_along_the_edge_a_click_stops_where_the_photo_leaves_the_clicked_colour():
    """A 3 px sliver of missed car, 40 px long, on the car's top edge; beyond its ends the
    model hesitates over the backdrop just above the edge (probability 0.3, a shadow):
    by the probabilities alone the click's reach along the edge takes that backdrop too;
    the colour gate (``edge_colour_ratio``) keeps the edge band to what looks like the
    clicked car, so nothing beyond the click's least reach changes."""
    image, truth, prob = synthetic_car()
    prob[truth == 0] = np.minimum(prob[truth == 0], 0.05)
    ys, _ = np.nonzero(truth)
    top = int(ys.min())
    rows = np.arange(truth.shape[0])[:, None]
    cols = np.arange(truth.shape[1])[None, :]
    sliver = (truth == 1) & (rows < top + 3) & (cols >= 280) & (cols <= 320)
    hesitant = (truth == 0) & (rows >= top - 3) & (rows < top + 6) & (cols >= 200) & (cols <= 400)
    prob[sliver | hesitant] = 0.3
    mask = truth.copy()
    mask[sliver] = 0
    y, x = np.argwhere(sliver & (cols == 300))[1]
    least = DEFAULT_PARAMS.reach_min + 1
    far = (cols < x - least) | (cols > x + least)
    wrong_far = {}
    for ratio in (0.0, DEFAULT_PARAMS.edge_colour_ratio):
        clicked = mask.copy()
        params = SmartParams(edge_colour_ratio=ratio)
        smart_click(image, prob, clicked, int(y), int(x), True, params)
        assert (clicked[sliver] == 1).mean() > 0.9
        wrong_far[ratio] = int((clicked.astype(bool) & (truth == 0) & far).sum())
    assert DEFAULT_PARAMS.edge_colour_ratio > 0
    assert wrong_far[0.0] > 20  # by the probabilities alone: backdrop along the edge
    assert wrong_far[DEFAULT_PARAMS.edge_colour_ratio] == 0
