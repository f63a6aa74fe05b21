"""Bounding-box undo history (no Qt)."""

import numpy as np
import pytest

from model.edits.mask_ops import stroke_segment
from model.edits.undo import EditRecorder, UndoHistory


def _stroke(mask, recorder, p0, p1, value=1):
    recorder.begin(mask, "brush")
    recorder.touch(stroke_segment(mask, p0, p1, 7, value))
    return recorder.finish(mask)


def test_undo_redo_restores_exact_pixels():
    mask = np.zeros((60, 80), np.uint8)
    history = UndoHistory()
    rec = EditRecorder(history)
    states = [mask.copy()]
    _stroke(mask, rec, (10, 10), (10, 70))
    states.append(mask.copy())
    _stroke(mask, rec, (5, 40), (55, 40), value=0)
    states.append(mask.copy())
    assert history.undo_count == 2
    assert history.undo(mask) is not None
    assert np.array_equal(mask, states[1])
    history.undo(mask)
    assert np.array_equal(mask, states[0])
    assert history.undo(mask) is None
    history.redo(mask)
    history.redo(mask)
    assert np.array_equal(mask, states[2])
    assert history.redo(mask) is None


def test_new_step_clears_redo_and_noop_is_not_recorded():
    mask = np.zeros((30, 30), np.uint8)
    history = UndoHistory()
    rec = EditRecorder(history)
    _stroke(mask, rec, (5, 5), (5, 20))
    history.undo(mask)
    assert history.can_redo
    _stroke(mask, rec, (20, 5), (20, 20))
    assert not history.can_redo
    before = history.undo_count
    assert _stroke(mask, rec, (20, 5), (20, 20)) is None  # paints already-painted pixels
    assert history.undo_count == before


def test_steps_store_only_the_box_bit_packed():
    mask = np.zeros((1280, 1918), np.uint8)
    history = UndoHistory()
    step = _stroke(mask, EditRecorder(history), (100, 100), (100, 110))
    h, w = step.box[2] - step.box[0], step.box[3] - step.box[1]
    assert (h, w) == (7, 17)
    assert step.nbytes <= 2 * ((h * w + 7) // 8)


def test_memory_cap_keeps_at_least_min_steps():
    mask = np.zeros((100, 100), np.uint8)
    history = UndoHistory(max_bytes=1, min_steps=200)
    zeros, ones = np.zeros_like(mask), np.ones_like(mask)
    for i in range(250):
        before, after = (zeros, ones) if i % 2 == 0 else (ones, zeros)
        history.push((0, 0, 100, 100), before, after, "x")
    assert history.undo_count == 200
    big = UndoHistory(max_bytes=10**9, min_steps=5)
    for _ in range(300):
        big.push((0, 0, 2, 2), np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8), "x")
    assert big.undo_count == 300


def test_push_rejects_mismatched_patch():
    with pytest.raises(ValueError, match="do not match"):
        UndoHistory().push((0, 0, 2, 2), np.zeros((2, 3)), np.zeros((2, 3)), "x")
