"""Benchmark: our rle_encode against the widely used numpy one-liner.

Run:  python bench/bench_rle.py [--repeat N] [--mask PATH]

Uses a real Carvana mask when ../shared/data/carvana is present, otherwise a
synthetic car-like ellipse of the same 1280x1918 size. Prints the best and median
time per call of each encoder and checks that ours gives the correct answer
where the one-liner does not (a mask whose first pixel is set).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_paths import CARVANA_DATA

from model.data.masks import read_mask
from model.kaggle.rle import CARVANA_SHAPE, rle_decode, rle_encode

REAL_MASK = CARVANA_DATA / "train_masks" / "00087a6bd4dc_01_mask.gif"


def one_liner(mask: np.ndarray) -> str:
    """The popular Kaggle kernel encoder (wrong when a corner pixel is set)."""
    p = mask.flatten()
    r = np.where(p[1:] != p[:-1])[0] + 2
    r[1::2] -= r[:-1:2]
    return " ".join(str(x) for x in r)


def synthetic_mask() -> np.ndarray:
    h, w = CARVANA_SHAPE
    yy, xx = np.mgrid[:h, :w]
    return (((yy - 700) / 400) ** 2 + ((xx - 960) / 800) ** 2 < 1).astype(np.uint8)


def time_per_call(fn: Callable[[np.ndarray], str], mask: np.ndarray, repeat: int) -> list[float]:
    fn(mask)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(mask)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--mask", type=Path, default=REAL_MASK)
    args = parser.parse_args()
    if args.mask.is_file():
        mask, source = read_mask(args.mask), args.mask.name
    else:
        mask, source = synthetic_mask(), "synthetic ellipse"
    print(f"mask: {source}, shape {mask.shape}, {int(mask.sum())} car pixels")
    assert one_liner(mask) == rle_encode(mask), "encoders disagree on an interior mask"
    np.testing.assert_array_equal(rle_decode(rle_encode(mask), mask.shape), mask)

    results = {}
    # interleave rounds so background load affects both encoders alike
    for _ in range(5):
        for name, fn in (("ours (rle_encode)", rle_encode), ("numpy one-liner", one_liner)):
            results.setdefault(name, []).extend(time_per_call(fn, mask, args.repeat // 5))
    print(f"{'encoder':<20}{'best ms':>10}{'median ms':>12}")
    for name, times in results.items():
        print(f"{name:<20}{min(times) * 1e3:>10.3f}{statistics.median(times) * 1e3:>12.3f}")
    ours, theirs = (statistics.median(t) for t in results.values())
    print(f"speed-up (median): {theirs / ours:.2f}x  (target >= 1x: not slower than the one-liner)")
    print(f"ours, median: {ours * 1e3:.3f} ms  (target < 1 ms)")

    corner = mask.copy()
    corner[0, 0] = 1
    print(f"first pixel set -> ours starts {rle_encode(corner)[:12]!r}, "
          f"one-liner starts {one_liner(corner)[:12]!r}")  # fmt: skip


if __name__ == "__main__":
    main()
