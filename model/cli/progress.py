"""Progress bars for long CLI loops: tqdm on stderr, so stdout stays parseable."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(
    iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "img"
) -> Iterator[T]:
    """Wrap ``iterable`` in a bar showing rate (e.g. img/s) and ETA.

    Only drawn when stderr is a terminal, so logs and pipes stay clean.
    """
    return iter(
        tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            disable=None,  # tqdm: None = off when not a tty
            dynamic_ncols=True,
            smoothing=0.1,
        )
    )


@contextmanager
def progress_counter(
    desc: str = "", unit: str = "row", total: int | None = None
) -> Iterator[Callable[[int], None]]:
    """A bar driven by an ``on_progress(done)`` callback, for loops inside library code."""
    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True)

    def update(done: int) -> None:
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
