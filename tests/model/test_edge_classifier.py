"""The edge classifier of "Learn this car": it learns where a network's edge goes wrong on
one car and re-decides the band along the edge of that car's other angles.

Synthetic cars: a bright body on a dark backdrop; the "network" puts the edge 3 px
outside the body (a soft probability ramp), as a model does on a shadow it takes for
car. Learned on one angle, the classifier must pull the edge back on another.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from model.kaggle.metrics import dice
from model.nn.edge_classifier import (
    EdgeClassifier,
    EdgeClassifierError,
    EdgeSettings,
    fit_edge_classifier,
)
from model.nn.edge_features import FEATURE_COUNT, band_features
from tiny_carvana import offset_edge_view


def test_features_cover_the_band_only():
    image, prob, _ = offset_edge_view(0)
    band, features = band_features(image, prob, band_px=4)
    assert features.shape == (int(band.sum()), FEATURE_COUNT)
    assert np.isfinite(features).all()
    assert not band[0, 0] and band.sum() < band.size / 3
    empty, none = band_features(image, np.zeros_like(prob), band_px=4)
    assert not empty.any() and none.shape == (0, FEATURE_COUNT)
    with pytest.raises(ValueError, match="differ"):
        band_features(image[:10], prob, band_px=4)


def test_learned_on_one_angle_the_edge_of_another_comes_back():
    settings = EdgeSettings(epochs=20)
    image, prob, truth = offset_edge_view(1)
    band, features = band_features(image, prob, settings.band_px)
    classifier = fit_edge_classifier(features, truth[band], settings)
    other, other_prob, other_truth = offset_edge_view(2)
    before = dice(other_prob > 0.5, other_truth)
    after = dice(classifier.refine(other, other_prob) > 0.5, other_truth)
    assert before < 0.95  # the shifted edge is clearly wrong...
    assert after > before + 0.5 * (1 - before)  # ...and the classifier fixes most of it
    refined = classifier.refine(other, other_prob)
    far = ~band_features(other, other_prob, settings.band_px)[0]
    assert np.array_equal(refined[far], other_prob[far])  # outside the band: untouched


def test_fit_refuses_labels_of_one_side():
    with pytest.raises(ValueError, match="all car or all background"):
        fit_edge_classifier(np.zeros((10, FEATURE_COUNT)), np.ones(10))
    with pytest.raises(ValueError, match="do not match"):
        fit_edge_classifier(np.zeros((10, 3)), np.ones(10))


def test_saved_and_loaded_it_predicts_the_same(tmp_path):
    image, prob, truth = offset_edge_view(3)
    band, features = band_features(image, prob, 6.0)
    classifier = fit_edge_classifier(features, truth[band], EdgeSettings(epochs=2))
    path = tmp_path / "edge.npz"
    classifier.save(path)
    loaded = EdgeClassifier.load(path)
    assert np.allclose(loaded.probability(features), classifier.probability(features))
    assert loaded.band_px == classifier.band_px and loaded.blend == classifier.blend
    assert loaded.smooth_sigma == classifier.smooth_sigma == EdgeSettings().smooth_sigma > 0
    data = dict(np.load(path))  # a file saved before the smoothing was added...
    del data["smooth_sigma"]
    np.savez(path, **data)
    assert EdgeClassifier.load(path).smooth_sigma == 0.0  # ...loads as it was learned


def test_a_classifier_on_a_base_refines_after_it_and_is_saved_with_it(tmp_path):
    image, prob, truth = offset_edge_view(4)
    band, features = band_features(image, prob, 6.0)
    base = fit_edge_classifier(features, truth[band], EdgeSettings(band_px=6.0, epochs=3))
    first = base.refine(image, prob)
    band2, features2 = band_features(image, first, 16.0)
    own = fit_edge_classifier(features2, truth[band2], EdgeSettings(epochs=2))
    chained = replace(own, base=base)
    expected = own.refine_band(first, band2, features2)
    assert np.array_equal(chained.refine(image, prob), expected)  # the base's edge first
    assert not np.array_equal(own.refine(image, prob), expected)
    path = tmp_path / "car.npz"
    chained.save(path)
    loaded = EdgeClassifier.load(path)
    assert loaded.base is not None and loaded.base.band_px == 6.0 and loaded.band_px == 16.0
    assert np.allclose(loaded.refine(image, prob), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at most one base"):
        replace(own, base=chained).save(tmp_path / "deep.npz")


def test_a_lone_wrong_pixel_of_the_classifier_is_smoothed_away(monkeypatch):
    """The classifier decides each pixel alone; the band's probability is smoothed so a
    lone pixel it gets wrong does not flip, and nothing outside the band changes."""
    image, prob, truth = offset_edge_view(5)
    settings = EdgeSettings(epochs=1, band_px=6.0)
    band, features = band_features(image, prob, settings.band_px)
    classifier = replace(fit_edge_classifier(features, truth[band], settings), blend=1.0)
    inside = cv2.distanceTransform(truth, cv2.DIST_L2, 5) * band  # the car's band pixels
    lone = np.unravel_index(int(np.argmax(inside)), band.shape)  # the deepest of them
    answer = truth[band].astype(np.float32)  # right everywhere but at the lone pixel
    answer[np.flatnonzero(band) == np.ravel_multi_index(lone, band.shape)] = 0
    monkeypatch.setattr(EdgeClassifier, "probability", lambda self, f: answer)
    raw = replace(classifier, smooth_sigma=0.0).refine(image, prob)
    smooth = classifier.refine(image, prob)
    assert raw[lone] == 0 and smooth[lone] > 0.5  # the lone pixel stays car
    assert np.array_equal(smooth[~band], prob[~band])  # outside the band: untouched
    whole = cv2.GaussianBlur(raw, (0, 0), classifier.smooth_sigma)  # over the whole photo
    assert np.allclose(smooth[band], whole[band], atol=1e-6)  # the band's box is enough


def test_a_bad_file_is_named(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not numpy")
    with pytest.raises(EdgeClassifierError, match=r"junk\.npz: not an edge classifier"):
        EdgeClassifier.load(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, format=np.array(1), mean=np.zeros(FEATURE_COUNT))
    with pytest.raises(EdgeClassifierError, match=r"partial\.npz: no 'scale' array"):
        EdgeClassifier.load(partial)
    image, prob, truth = offset_edge_view(4)
    band, features = band_features(image, prob, 6.0)
    good = fit_edge_classifier(features, truth[band], EdgeSettings(epochs=1))
    wrong = tmp_path / "wrong.npz"
    good.save(wrong)
    data = dict(np.load(wrong))
    data["w1"] = data["w1"][:5]
    np.savez(wrong, **data)
    with pytest.raises(EdgeClassifierError, match=r"wrong\.npz: array shapes"):
        EdgeClassifier.load(wrong)
