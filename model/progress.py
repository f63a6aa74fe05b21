"""Progress bars for long CLI loops: tqdm on stderr, so stdout stays parseable."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
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
