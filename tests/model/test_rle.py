"""Kaggle RLE: the real test vector, corner pixels, malformed input, round trips."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model.data.masks import read_mask
from model.kaggle.rle import CARVANA_SHAPE, RLEError, parse_rle, rle_decode, rle_encode

TEST_VECTOR_PREFIX = "879386 40 881253 141 883140 205 885009 17"


def test_carvana_shape_is_height_by_width():
    assert CARVANA_SHAPE == (1280, 1918)


def test_row_major_one_indexed_pairs():
    mask = np.array([[0, 1, 1], [1, 0, 0]], dtype=np.uint8)
    # flattened row-major: 0 1 1 1 0 0 -> run starts at pixel 2 (1-indexed), length 3
    assert rle_encode(mask) == "2 3"
    np.testing.assert_array_equal(rle_decode("2 3", (2, 3)), mask)


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ([[1, 0, 0], [0, 0, 0]], "1 1"),
        ([[0, 0, 0], [0, 0, 1]], "6 1"),
        ([[1, 0, 0], [0, 0, 1]], "1 1 6 1"),
        ([[1, 1, 1], [1, 1, 1]], "1 6"),
        ([[0, 0, 0], [0, 0, 0]], ""),
        ([[1, 0, 1], [0, 1, 0]], "1 1 3 1 5 1"),
    ],
)
def test_corner_empty_and_full_masks(mask, expected):
    array = np.array(mask, dtype=np.uint8)
    assert rle_encode(array) == expected
    np.testing.assert_array_equal(rle_decode(expected, array.shape), array)


def test_accepts_bool_and_0_255_masks():
    mask = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    assert rle_encode(mask) == "2 2"
    assert rle_encode(mask.astype(bool)) == "2 2"
    assert rle_encode(mask.astype(np.float32)) == "2 2"


def test_non_contiguous_mask_encodes_in_row_major_order():
    mask = np.array([[1, 0], [1, 0]], dtype=np.uint8).T  # Fortran-ordered view
    assert rle_encode(mask) == "1 2"


def test_rejects_non_2d_mask():
    with pytest.raises(ValueError, match="2-D"):
        rle_encode(np.zeros((2, 2, 1), np.uint8))


def test_decode_returns_c_contiguous_uint8():
    mask = rle_decode("1 3", (2, 2))
    assert mask.dtype == np.uint8 and mask.flags.c_contiguous
    assert mask.tolist() == [[1, 1], [1, 0]]


def test_decode_accepts_adjacent_runs_and_extra_whitespace():
    assert rle_decode("  1 2   3 1 \n", (2, 2)).tolist() == [[1, 1], [1, 0]]


@pytest.mark.parametrize(
    ("rle", "reason"),
    [
        ("1 2 3", "odd number"),
        ("1 x", "not an integer"),
        ("1.5 2", "not an integer"),
        ("0 2", "below 1"),
        ("1 0", "at least 1"),
        ("1 -2", "at least 1"),
        ("5 1 2 1", "unsorted or overlaps"),
        ("1 3 2 1", "unsorted or overlaps"),
        ("4 2", "past the image"),
        ("5 1", "past the image"),
    ],
)
def test_decode_rejects_malformed(rle, reason):
    with pytest.raises(RLEError, match=reason):
        rle_decode(rle, (2, 2))


def test_run_ending_on_last_pixel_is_valid():
    assert rle_decode("4 1", (2, 2)).tolist() == [[0, 0], [0, 1]]


def test_parse_returns_zero_indexed_starts():
    starts, lengths = parse_rle("3 2 10 1", (4, 4))
    assert starts.tolist() == [2, 9] and lengths.tolist() == [2, 1]


def test_popular_one_liner_is_wrong_where_ours_is_right():
    """The motivation for our encoder: the one-liner drops a run starting at pixel 1."""
    mask = np.array([[1, 1, 0], [0, 1, 1]], dtype=np.uint8)
    p = mask.flatten()
    runs = np.where(p[1:] != p[:-1])[0] + 2
    runs[1::2] -= runs[:-1:2]
    assert " ".join(map(str, runs)) != "1 2 5 2"
    assert rle_encode(mask) == "1 2 5 2"


masks_2d = arrays(
    dtype=np.uint8,
    shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    elements=st.integers(0, 1),
)


@settings(max_examples=300, deadline=None)
@given(masks_2d)
def test_round_trip(mask):
    rle = rle_encode(mask)
    np.testing.assert_array_equal(rle_decode(rle, mask.shape), mask)


@settings(max_examples=200, deadline=None)
@given(masks_2d)
def test_encoding_is_canonical(mask):
    """Runs are sorted, separated by at least one background pixel, and within the image."""
    rle = rle_encode(mask)
    values = [int(v) for v in rle.split()]
    starts, lengths = values[0::2], values[1::2]
    assert all(length >= 1 for length in lengths)
    ends = [s + n for s, n in zip(starts, lengths, strict=True)]
    assert all(s > e for s, e in zip(starts[1:], ends[:-1], strict=False))
    assert sum(lengths) == int(mask.sum())
    assert not ends or ends[-1] - 1 <= mask.size


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.data())
def test_decode_then_encode_is_identity_on_canonical_rle(height, width, data):
    total = height * width
    cuts = sorted(data.draw(st.sets(st.integers(1, total + 1), max_size=total + 1)))
    pairs = []
    for start, end in zip(cuts[0::2], cuts[1::2], strict=False):
        pairs += [start, end - start]
    rle = " ".join(map(str, pairs))  # distinct cuts: runs sorted with gaps, i.e. canonical
    mask = rle_decode(rle, (height, width))
    assert rle_encode(mask) == rle
    assert int(mask.sum()) == sum(pairs[1::2])


@pytest.mark.slow
def test_real_test_vector_from_train_masks(carvana_data):
    with (carvana_data / "train_masks.csv").open(newline="") as handle:
        rows = {row[0]: row[1] for _, row in zip(range(20), csv.reader(handle), strict=False)}
    expected = rows["00087a6bd4dc_01.jpg"]
    assert expected.startswith(TEST_VECTOR_PREFIX)
    mask = read_mask(carvana_data / "train_masks" / "00087a6bd4dc_01_mask.gif")
    assert mask.shape == CARVANA_SHAPE
    assert rle_encode(mask) == expected
    np.testing.assert_array_equal(rle_decode(expected), mask)
