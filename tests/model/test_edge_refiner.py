"""Refine edge: the shipped general refiner re-decides the mask's edge band from the photo,
only where the mask still says what the model said; the whole band or around a point.

Synthetic cars as in test_edge_classifier: the "network" puts the edge 3 px outside a
bright body on a dark backdrop; a refiner learned on other views pulls it back.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.kaggle.metrics import dice
from model.nn.edge_classifier import EdgeClassifierError, EdgeSettings, fit_edge_classifier
from model.nn.edge_features import FEATURE_COUNT, band_features
from model.nn.edge_refiner import (
    apply_refined,
    load_refiner,
    refine_edge,
    refined_probability,
    shipped_refiner_path,
)
from tiny_carvana import offset_edge_view


@pytest.fixture(scope="module")
def refiner():
    settings = EdgeSettings(band_px=6.0, epochs=20)
    rows, labels = [], []
    for seed in (1, 2):
        image, prob, truth = offset_edge_view(seed)
        band, features = band_features(image, prob, settings.band_px)
        rows.append(features)
        labels.append(truth[band])
    return fit_edge_classifier(np.concatenate(rows), np.concatenate(labels), settings)


def test_refine_pulls_the_edge_back_to_the_photos_and_only_in_the_band(refiner):
    image, prob, truth = offset_edge_view(5)
    mask = (prob > 0.5).astype(np.uint8)
    before = mask.copy()
    refined, box = refine_edge(image, prob, mask, refiner)
    assert box is not None
    assert dice(before, truth) < 0.95
    assert dice(mask, truth) > dice(before, truth) + 0.5 * (1 - dice(before, truth))
    band = band_features(image, prob, refiner.band_px)[0]
    assert np.array_equal(mask[~band], before[~band])  # nothing outside the edge band
    assert np.array_equal(mask, (refined > 0.5).astype(np.uint8))
    again = mask.copy()
    assert refine_edge(image, prob, again, refiner)[1] is None  # twice: nothing more


def test_what_a_person_changed_stays(refiner):
    image, prob, truth = offset_edge_view(6)
    mask = (prob > 0.5).astype(np.uint8)
    band = band_features(image, prob, refiner.band_px)[0]
    edited = np.zeros_like(mask, dtype=bool)
    ys, xs = np.nonzero(band & (mask == 0))
    edited[ys[:40], xs[:40]] = True  # a person painted these beyond the model's edge
    mask[edited] = 1
    erased = np.zeros_like(edited)
    ys, xs = np.nonzero(band & (mask == 1) & (truth == 1))
    erased[ys[-40:], xs[-40:]] = True  # and erased some true car along the edge by hand
    mask[erased] = 0
    refine_edge(image, prob, mask, refiner)
    assert mask[edited].all() and not mask[erased].any()


def test_refine_under_the_cursor_changes_nothing_beyond_its_radius(refiner):
    image, prob, truth = offset_edge_view(7, h=200, w=400)
    mask = (prob > 0.5).astype(np.uint8)
    before = mask.copy()
    ys, xs = np.nonzero(before & ~truth.astype(bool))
    y, x = int(ys[0]), int(xs[0])  # a wrong pixel at the top of the car
    radius = 30
    refined, box = refine_edge(image, prob, mask, refiner, center=(y, x), radius=radius)
    assert box is not None and mask[y, x] == 0  # fixed there...
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    far = (yy - y) ** 2 + (xx - x) ** 2 > radius**2
    assert np.array_equal(mask[far], before[far])  # ...and nothing beyond the radius
    assert np.array_equal(refined[far], prob[far])
    whole = refined_probability(image, prob, refiner)
    near = ~far & (np.abs(whole - prob) > 0)
    agree = (whole[near] > 0.5) == (refined[near] > 0.5)
    assert agree.mean() > 0.98  # the same decisions as the whole-mask refine there


def test_apply_refined_checks_sizes():
    with pytest.raises(ValueError, match="differ"):
        apply_refined(np.zeros((4, 4), np.uint8), np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="differ"):
        refined_probability(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4)), None)


def test_the_shipped_refiner_loads_and_a_broken_file_is_named(tmp_path):
    path = shipped_refiner_path()
    assert path is not None and path.stat().st_size < 100_000
    refiner = load_refiner()
    assert refiner is not None and refiner.w1.shape[0] == FEATURE_COUNT
    assert refiner.band_px == 6.0 and 0 < refiner.blend < 1
    broken = tmp_path / "edge_refiner.npz"
    broken.write_bytes(b"not an npz")
    with pytest.raises(EdgeClassifierError, match=r"edge_refiner\.npz"):
        load_refiner(broken)


def test_the_shipped_refiner_improves_a_synthetic_offset_edge():
    """The shipped refiner, trained on real cars, still moves a clearly offset edge
    toward the photo's on a synthetic view (it must read the photo, not the logits alone)."""
    refiner = load_refiner()
    image, prob, truth = offset_edge_view(8, h=240, w=360)
    mask = (prob > 0.5).astype(np.uint8)
    before = dice(mask, truth)
    refine_edge(image, prob, mask, refiner)
    assert dice(mask, truth) > before


def test_the_benchmarks_smart_tool_refines_first_then_clicks_on_the_refined_edge(refiner):
    from test_smart_click import _bench  # bench/correction_effort.py, loaded as a module

    bench = _bench()
    image, prob, truth = offset_edge_view(9)
    mask = (prob > 0.5).astype(np.uint8)
    refined_mask = mask.copy()
    refine_edge(image, prob, refined_mask, refiner)
    smart = bench.correct("smart", image, truth, mask, prob, [0.995, 0.997], 20, refiner)
    clicks = bench.correct("clicks", image, truth, mask, prob, [0.995, 0.997], 20, refiner)
    assert smart.dices[1] == pytest.approx(dice(refined_mask, truth))  # interaction 1: P
    assert clicks.dices[1] != smart.dices[1]  # the clicks-only tool set does not refine
    assert np.array_equal(mask, (prob > 0.5).astype(np.uint8))  # the caller's mask is kept
