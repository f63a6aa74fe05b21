"""Brush, fill and lasso operations on small arrays (no Qt)."""

import numpy as np
import pytest

from model.edits.mask_ops import (
    disk_footprint,
    fill_holes,
    fill_polygon,
    flood_fill,
    replace_mask,
    stamp_disk,
    stroke_segment,
    union_box,
)


def test_disk_footprint_is_round_and_symmetric():
    disk = disk_footprint(9)
    assert disk.shape == (9, 9)
    assert disk[4, 4] and disk[0, 4] and disk[4, 0]
    assert not disk[0, 0] and not disk[8, 8]
    assert np.array_equal(disk, disk.T) and np.array_equal(disk, disk[::-1])
    assert disk_footprint(1).sum() == 1
    with pytest.raises(ValueError):
        disk_footprint(0)


def test_stamp_paints_disk_and_returns_its_box():
    mask = np.zeros((50, 60), np.uint8)
    box = stamp_disk(mask, 20, 30, 11, 1)
    assert box == (15, 25, 26, 36)
    assert mask.sum() == disk_footprint(11).sum()
    assert mask[20, 30] == 1 and mask[20, 36] == 0


def test_stamp_is_clipped_at_the_border():
    mask = np.zeros((20, 20), np.uint8)
    box = stamp_disk(mask, 0, 0, 9, 1)
    assert box == (0, 0, 5, 5)
    assert mask[0, 0] == 1
    assert stamp_disk(mask, -50, -50, 9, 1) is None


def test_fast_stroke_has_no_gaps():
    mask = np.zeros((100, 400), np.uint8)
    stroke_segment(mask, (50, 10), (50, 390), 3, 1)
    assert mask[50, 10:391].all()
    diag = np.zeros((200, 200), np.uint8)
    stroke_segment(diag, (5, 5), (190, 150), 1, 1)
    # every row between the ends has at least one painted pixel: 8-connected line
    assert all(diag[y].any() for y in range(5, 191))


def test_erase_clears_only_the_footprint():
    mask = np.ones((40, 40), np.uint8)
    stroke_segment(mask, (20, 5), (20, 35), 5, 0)
    assert mask[20, 5:36].max() == 0
    assert mask[10].all() and mask[30].all()


def test_large_brush_stroke_box_covers_both_ends():
    mask = np.zeros((1280, 1918), np.uint8)
    box = stroke_segment(mask, (600, 100), (700, 1800), 300, 1)
    assert box == (451, 0, 851, 1918)
    assert mask[600, 100] == 1 and mask[700, 1800] == 1 and mask[0, 0] == 0


def test_flood_fill_fills_only_the_clicked_region():
    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 5:25] = 1
    mask[10:15, 10:15] = 0  # a hole
    box = flood_fill(mask, 12, 12, 1)
    assert box == (10, 10, 15, 15)
    assert mask[5:25, 5:25].all() and mask[0].sum() == 0
    assert flood_fill(mask, 12, 12, 1) is None  # already filled
    assert flood_fill(mask, 99, 0, 1) is None  # outside


def test_flood_erase_removes_a_blob():
    mask = np.zeros((30, 30), np.uint8)
    mask[2:6, 2:6] = 1
    mask[20:28, 20:28] = 1
    flood_fill(mask, 3, 3, 0)
    assert mask[2:6, 2:6].sum() == 0 and mask[20:28, 20:28].all()


def test_fill_holes_keeps_border_background():
    mask = np.zeros((40, 40), np.uint8)
    mask[5:35, 5:35] = 1
    mask[10:12, 10:12] = 0
    mask[20:25, 30:33] = 0
    box = fill_holes(mask)
    assert box == (10, 10, 25, 33)
    assert mask[5:35, 5:35].all() and mask[0:5].sum() == 0
    assert fill_holes(mask) is None


def test_lasso_adds_and_removes_enclosed_area():
    mask = np.zeros((50, 50), np.uint8)
    box = fill_polygon(mask, [(10, 10), (10, 40), (40, 40), (40, 10)], 1)
    assert box == (10, 10, 41, 41)
    assert mask[10:41, 10:41].all() and mask.sum() == 31 * 31
    fill_polygon(mask, [(20, 20), (20, 30), (30, 30), (30, 20)], 0)
    assert mask[21:30, 21:30].sum() == 0 and mask[12, 12] == 1
    assert fill_polygon(mask, [(1, 1), (2, 2)], 1) is None


def test_replace_mask_checks_shape():
    mask = np.zeros((4, 5), np.uint8)
    assert replace_mask(mask, np.full((4, 5), 7, np.uint8)) == (0, 0, 4, 5)
    assert mask.max() == 1
    with pytest.raises(ValueError, match="does not match"):
        replace_mask(mask, np.zeros((5, 4), np.uint8))


def test_union_box():
    assert union_box(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union_box((0, 5, 2, 6), (1, 2, 3, 4)) == (0, 2, 3, 6)
