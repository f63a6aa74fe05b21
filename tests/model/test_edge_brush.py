"""Edge brush (model/edits/edge_brush.py) on synthetic cars: a rough stroke over a wrong
edge moves the mask onto the photo's edge, whichever way it was off; no Qt, no model."""

from __future__ import annotations

import cv2
import numpy as np

from model.edits.edge_brush import edge_segment
from model.kaggle.metrics import dice


def two_tone_car(h: int = 300, w: int = 400, seed: int = 0):
    """A red car body with dark tyres on a grey wall over a dark floor shadow."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), np.uint8)
    cv2.rectangle(truth, (100, 100), (300, 200), 1, -1)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (150, 150, 155)  # wall
    image[200:] = (60, 60, 60)  # floor in shadow
    image[truth == 1] = (180, 30, 30)  # paint
    image[170:201, 120:160] = (20, 20, 20)  # tyres: darker than the floor
    image[170:201, 240:280] = (20, 20, 20)
    noise = rng.integers(-6, 7, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8), truth


def test_a_rough_stroke_over_a_too_high_edge_snaps_the_mask_down_to_the_roof():
    image, truth = two_tone_car()
    mask = truth.copy()
    mask[92:100, 100:301] = 1  # the mask bleeds 8 px into the wall above the roof
    before = dice(mask, truth)
    reference = mask.copy()
    box = edge_segment(image, reference, mask, (97, 110), (95, 290), 24)
    assert box is not None
    top = (slice(85, 110), slice(115, 285))  # where the stroke went (its ends are round)
    assert (mask[top] == truth[top]).mean() > 0.99
    assert dice(mask, truth) > before
    changed = np.argwhere(mask != reference)
    assert changed[:, 0].min() >= box[0] and changed[:, 0].max() < box[2]
    assert changed[:, 0].min() >= 97 - 13 and changed[:, 0].max() <= 97 + 13  # under the brush


def test_the_same_stroke_adds_car_the_mask_missed():
    image, truth = two_tone_car()
    mask = truth.copy()
    mask[100:108, 100:301] = 0  # the roof's top 8 rows missed
    box = edge_segment(image, mask.copy(), mask, (104, 110), (102, 290), 24)
    assert box is not None
    top = (slice(85, 115), slice(115, 285))
    assert (mask[top] == truth[top]).mean() > 0.99


def test_dark_tyres_keep_their_car_side_against_a_dark_floor():
    """Several colours per side: the tyres (car) and the shadowed floor (not car)."""
    image, truth = two_tone_car()
    mask = truth.copy()
    mask[200:206, 100:301] = 1  # a strip of floor under the car painted as car
    edge_segment(image, mask.copy(), mask, (203, 110), (203, 290), 20)
    rows = (slice(190, 214), slice(115, 285))
    assert (mask[rows] == truth[rows]).mean() > 0.98


def test_a_stroke_away_from_any_edge_changes_nothing():
    image, truth = two_tone_car()
    mask = truth.copy()
    assert edge_segment(image, mask.copy(), mask, (150, 200), (150, 210), 20) is None
    assert edge_segment(image, mask.copy(), mask, (30, 30), (40, 60), 20) is None
    assert np.array_equal(mask, truth)


def test_the_stroke_reads_its_sides_from_the_reference_not_from_its_own_output():
    image, truth = two_tone_car()
    mask = truth.copy()
    mask[92:100, 100:301] = 1
    reference = mask.copy()
    for x in range(110, 290, 10):  # a stroke arriving as many small mouse moves
        edge_segment(image, reference, mask, (97, x), (97, x + 10), 24)
    top = (slice(85, 110), slice(115, 285))
    assert (mask[top] == truth[top]).mean() > 0.99
    assert np.array_equal(reference[92:100, 100:301], np.ones((8, 201), np.uint8))
