"""Kaggle run-length encoding of binary masks (train_masks.csv and submissions).

Format: space-separated ``start length`` pairs, 1-indexed, over the mask flattened
row-major (C order of the (H, W) array). An empty mask is the empty string.

Pure numpy: no keras/tensorflow import, so this loads in milliseconds.
"""

from __future__ import annotations

import numpy as np

CARVANA_SHAPE: tuple[int, int] = (1280, 1918)


class RLEError(ValueError):
    """A run-length string that cannot describe a mask of the requested shape."""


def _as_flat_01(mask: np.ndarray) -> np.ndarray:
    """Flat uint8 view (no copy when possible) holding only 0 and 1."""
    if mask.ndim != 2:
        raise ValueError(f"rle_encode expects a 2-D mask, got shape {mask.shape}")
    flat = np.ascontiguousarray(mask).reshape(-1)
    if flat.dtype == np.bool_:
        return flat.view(np.uint8)
    if flat.dtype == np.uint8 and (flat.size == 0 or flat.max() <= 1):
        return flat
    return (flat != 0).view(np.uint8)


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (nonzero = car) as Kaggle RLE; "" when the mask is empty.

    Comparing the 0/1 buffer with itself shifted by one finds every run boundary
    with a single full-size temporary; the first and last pixel are handled
    explicitly (the popular one-liner gets those wrong).
    """
    flat = _as_flat_01(mask)
    if flat.size == 0:
        return ""
    bounds = np.flatnonzero(flat[1:] != flat[:-1]) + 1  # 0-indexed first pixel after a change
    if flat[0]:
        bounds = np.concatenate((np.zeros(1, dtype=bounds.dtype), bounds))
    if flat[-1]:
        bounds = np.concatenate((bounds, np.full(1, flat.size, dtype=bounds.dtype)))
    bounds += 1  # 1-indexed starts at even positions, exclusive ends at odd positions
    bounds[1::2] -= bounds[::2]
    return " ".join(map(str, bounds.tolist()))


def parse_rle(rle: str, shape: tuple[int, int] = CARVANA_SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Validate an RLE string and return 0-indexed (starts, lengths) as int64 arrays.

    Rejects odd counts, non-integers, zero/negative values, unsorted or overlapping
    runs and runs past the end of an image of ``shape``.
    """
    if not isinstance(rle, str):
        raise RLEError(f"RLE must be a string, got {type(rle).__name__}")
    tokens = rle.split()
    if not tokens:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(tokens) % 2:
        raise RLEError(
            f"RLE has an odd number of values ({len(tokens)}); expected start/length pairs"
        )
    try:
        values = np.array([int(token) for token in tokens], dtype=np.int64)
    except ValueError:
        bad = next(t for t in tokens if not _is_int(t))
        raise RLEError(f"RLE value {bad!r} is not an integer") from None
    except OverflowError:
        raise RLEError("RLE value is too large") from None
    starts, lengths = values[0::2], values[1::2]
    if (starts < 1).any():
        raise RLEError(f"RLE start {int(starts[starts < 1][0])} is below 1 (starts are 1-indexed)")
    if (lengths < 1).any():
        raise RLEError(f"RLE run length {int(lengths[lengths < 1][0])} must be at least 1")
    ends = starts + lengths  # exclusive, 1-indexed
    overlap = np.flatnonzero(starts[1:] < ends[:-1])
    if overlap.size:
        i = int(overlap[0]) + 1
        raise RLEError(
            f"RLE run {i + 1} (start {int(starts[i])}) is unsorted or overlaps the run before it "
            f"(start {int(starts[i - 1])}, length {int(lengths[i - 1])})"
        )
    total = int(shape[0]) * int(shape[1])
    if int(ends[-1]) - 1 > total:
        raise RLEError(
            f"RLE run at start {int(starts[-1])} with length {int(lengths[-1])} ends past the "
            f"image ({shape[0]}x{shape[1]} = {total} pixels)"
        )
    return starts - 1, lengths


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def rle_decode(rle: str, shape: tuple[int, int] = CARVANA_SHAPE) -> np.ndarray:
    """Decode Kaggle RLE into a C-contiguous uint8 {0, 1} mask of ``shape``."""
    starts, lengths = parse_rle(rle, shape)
    flat = np.zeros(int(shape[0]) * int(shape[1]), dtype=np.uint8)
    # A slice fill per run beats cumsum/repeat tricks: masks have ~1e3 runs, 2.4e6 pixels.
    for start, end in zip(starts.tolist(), (starts + lengths).tolist(), strict=True):
        flat[start:end] = 1
    return flat.reshape(shape)
