"""Refine edge (P, Shift+P under the cursor) through real key and mouse events: the work
runs on the model worker, lands as one undo step, equals ``model.nn.edge_refiner``'s
(the benchmark's) result, and the later smart clicks use the refined probabilities."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

import carvana_gui.panels.smart_correction as smart_panel
from carvana_gui.actions import ACTIONS
from carvana_gui.jobs.automask import ActiveModel
from carvana_gui.panels import refine_edge as refine_panel
from model.kaggle.metrics import dice
from model.nn.edge_classifier import EdgeSettings, fit_edge_classifier
from model.nn.edge_features import band_features
from model.nn.edge_refiner import LOCAL_RADIUS, refine_edge
from tests.gui.test_smart_correction import _vp, start_with

SHIFT = Qt.KeyboardModifier.ShiftModifier


def offset_prob(truth: np.ndarray, px: float = 3.0) -> np.ndarray:
    """A model that puts the car's edge ``px`` outside the photo's (a soft ramp)."""
    t = truth.astype(np.uint8)
    inside = cv2.distanceTransform(t, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - t, cv2.DIST_L2, 5)
    signed = np.where(t > 0, -inside, outside)  # px outside the true edge
    return (1 / (1 + np.exp((signed - px) / 1.5))).astype(np.float32)


@pytest.fixture
def refiner_for(window, monkeypatch):
    """A refiner learned on the shown image's own edge (the wiring is under test here, the
    shipped refiner's quality in bench/correction_effort.py), used by the window."""
    truth = window.session.current.truth.astype(np.uint8)
    prob = offset_prob(truth)
    image = window.session.current.image
    band, features = band_features(image, prob, 6.0)
    refiner = fit_edge_classifier(features, truth[band], EdgeSettings(band_px=6.0, epochs=30))
    monkeypatch.setattr(window.smart_correction.refine_edge, "refiner", lambda: refiner)
    monkeypatch.setattr(
        window.automask, "model_for", lambda _id: ActiveModel(Path("m.keras"), "v009")
    )
    return refiner, prob, truth


def test_p_refines_the_whole_edge_as_one_undo_step_like_the_benchmark(qtbot, window, refiner_for):
    refiner, prob, truth = refiner_for
    mask = (prob > 0.5).astype(np.uint8)
    start_with(window, mask, prob)
    expected = mask.copy()
    refined, _box = refine_edge(window.session.current.image, prob, expected, refiner)
    assert dice(expected, truth) > dice(mask, truth)
    steps = window.document.history.undo_count
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: window.document.history.undo_count == steps + 1)
    assert np.array_equal(window.document.mask, expected)
    assert window.statusBar().currentMessage() == refine_panel.REFINED
    source = window.smart_correction.source()
    assert np.array_equal(source.prob, refined)  # the next clicks use the refined edge
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)  # again: nothing more to do
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == refine_panel.UNCHANGED)
    assert window.document.history.undo_count == steps + 1
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, mask)


def test_shift_p_refines_only_around_the_mouse_pointer(qtbot, window, refiner_for, monkeypatch):
    refiner, prob, truth = refiner_for
    radius = 15  # the tiny test image lies within the real LOCAL_RADIUS of any pixel
    monkeypatch.setattr(refine_panel, "LOCAL_RADIUS", radius)
    mask = (prob > 0.5).astype(np.uint8)
    start_with(window, mask, prob)
    ys, xs = np.nonzero(mask & (truth == 0))
    y, x = int(ys[len(ys) // 3]), int(xs[len(xs) // 3])  # a wrong pixel along the edge
    qtbot.mouseMove(window.canvas.viewport(), pos=_vp(window, x, y))
    qtbot.waitUntil(lambda: window.smart_correction.refine_edge.cursor is not None)
    centre = window.smart_correction.refine_edge.cursor  # where the window says it is
    steps = window.document.history.undo_count
    qtbot.keyClick(window.canvas, Qt.Key.Key_P, SHIFT)
    qtbot.waitUntil(lambda: window.document.history.undo_count == steps + 1)
    image = window.session.current.image
    expected = mask.copy()
    refine_edge(image, prob, expected, refiner, center=centre, radius=radius)
    assert np.array_equal(window.document.mask, expected)
    changed = np.argwhere(window.document.mask != mask)
    cy, cx = centre
    assert len(changed) and (np.hypot(changed[:, 0] - cy, changed[:, 1] - cx) <= radius).all()
    whole = mask.copy()
    refine_edge(image, prob, whole, refiner)
    assert (whole != mask).sum() > 2 * len(changed)  # the whole refine does far more


def test_p_without_probabilities_asks_the_model_then_refines(
    qtbot, window, refiner_for, monkeypatch
):
    refiner, prob, _truth = refiner_for
    mask = (prob > 0.5).astype(np.uint8)
    start_with(window, mask, None)
    monkeypatch.setattr(smart_panel, "probabilities_job", lambda *_a: lambda ctx: prob)
    steps = window.document.history.undo_count
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    assert window.statusBar().currentMessage() == refine_panel.WAITING
    qtbot.waitUntil(lambda: window.document.history.undo_count == steps + 1)
    expected = mask.copy()
    refine_edge(window.session.current.image, prob, expected, refiner)
    assert np.array_equal(window.document.mask, expected)


def test_without_a_refiner_installed_p_says_so_and_changes_nothing(
    qtbot, window, refiner_for, monkeypatch
):
    _refiner, prob, _truth = refiner_for
    monkeypatch.setattr(window.smart_correction.refine_edge, "refiner", lambda: None)
    mask = (prob > 0.5).astype(np.uint8)
    start_with(window, mask, prob)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == refine_panel.NO_REFINER)
    assert np.array_equal(window.document.mask, mask)


def test_a_cars_own_model_already_refines_so_p_leaves_its_mask(
    qtbot, window, refiner_for, monkeypatch, tmp_path
):
    """A car's Learn-this-car model refines its edge as it masks: P on top would refine
    twice, so it says so and changes nothing."""
    from model.store.versions import write_model_meta

    _refiner, prob, _truth = refiner_for
    car_model = tmp_path / "car" / "model.keras"
    car_model.parent.mkdir()
    write_model_meta(car_model, {"kind": "car", "edge_classifier": "edge_classifier.npz"})
    monkeypatch.setattr(
        window.automask, "model_for", lambda _id: ActiveModel(car_model, "v002+car")
    )
    mask = (prob > 0.5).astype(np.uint8)
    start_with(window, mask, prob)
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == refine_panel.CAR_MODEL)
    assert np.array_equal(window.document.mask, mask)


def test_the_tooltip_names_the_local_radius():
    spec = next(s for s in ACTIONS if s.name == "refine_edge_here")
    assert f"({LOCAL_RADIUS} px)" in spec.tip
