"""Overlay buffers: dirty-rectangle rendering matches a full render; outline; confidence band."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from carvana_gui.canvas.overlay import bgra, render_confidence, render_mask_patch
from model.edits.mask_ops import stroke_segment

COLOR = bgra(QColor("#1e90ff"))


def test_dirty_rect_updates_equal_a_full_render():
    mask = np.zeros((120, 160), np.uint8)
    incremental = np.zeros((120, 160, 4), np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(20):
        p0 = tuple(int(v) for v in rng.integers(0, 120, 2))
        p1 = tuple(int(v) for v in rng.integers(0, 120, 2))
        box = stroke_segment(mask, p0, p1, int(rng.integers(1, 30)), int(rng.integers(0, 2)))
        if box is not None:
            render_mask_patch(mask, incremental, box, COLOR, outline=False)
    full = np.zeros_like(incremental)
    full[mask != 0] = COLOR
    assert np.array_equal(incremental, full)


def test_outline_marks_only_the_edge():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    rgba = np.zeros((40, 40, 4), np.uint8)
    render_mask_patch(mask, rgba, (0, 0, 40, 40), COLOR, outline=True)
    shown = rgba[..., 3] > 0
    assert shown[10, 10:30].all() and shown[29, 10:30].all()
    assert not shown[20, 20] and not shown[5, 5]


def test_confidence_band_highlights_uncertain_pixels():
    prob = np.array([[0.05, 0.3, 0.5, 0.79, 0.95]], np.float32)
    rgba = render_confidence(prob, 0.2, 0.8, QColor(255, 140, 0))
    assert (rgba[0, :, 3] > 0).tolist() == [False, True, True, True, False]
