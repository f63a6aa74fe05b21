"""Decoding images (and their ground-truth masks) ahead of time.

Decoding a 1918x1280 JPEG plus its GIF mask takes tens of milliseconds; the
neighbours of the current image are decoded on background threads so that
next/previous is instant. A small LRU keeps the last few images.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from model.data.dataset import ImageRecord
from model.data.masks import read_image, read_mask
from model.edits.project_store import ProjectStore
from model.kaggle.metrics import dice

log = logging.getLogger(__name__)


@dataclass
class LoadedImage:
    record: ImageRecord
    image: np.ndarray  # RGB uint8 (H, W, 3)
    truth: np.ndarray | None  # ground-truth mask 0/1, when the folder has one


def load_image(record: ImageRecord) -> LoadedImage:
    image = read_image(record.path)
    truth = None
    if record.mask_path is not None:
        try:
            truth = read_mask(record.mask_path)
        except Exception as exc:  # a broken ground truth must not stop editing
            log.warning("ignoring ground truth %s: %s", record.mask_path, exc)
        if truth is not None and truth.shape != image.shape[:2]:
            log.warning("ignoring ground truth %s: size %s differs", record.mask_path, truth.shape)
            truth = None
    return LoadedImage(record, image, truth)


class ImageCache:
    """LRU of decoded images with background prefetch."""

    def __init__(self, capacity: int = 8, threads: int = 2) -> None:
        self.capacity = capacity
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prefetch")
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Future[LoadedImage]] = OrderedDict()

    def _future(self, record: ImageRecord) -> Future[LoadedImage]:
        key = str(record.path)
        with self._lock:
            future = self._items.pop(key, None)
            if future is None or (future.done() and future.exception() is not None):
                future = self._pool.submit(load_image, record)
            self._items[key] = future
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return future

    def get(self, record: ImageRecord) -> LoadedImage:
        """The decoded image (waits if it is still loading; raises the read error)."""
        return self._future(record).result()

    def prefetch(self, records: Iterable[ImageRecord]) -> None:
        for record in records:
            self._future(record)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def close(self) -> None:
        self.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


def score_against_truth(
    project: ProjectStore, record: ImageRecord, mask: np.ndarray, loaded: LoadedImage | None
) -> None:
    """Store the Dice of ``mask`` against the folder's ground truth, when there is one.

    Uses the already decoded truth of ``loaded`` when it is the same image.
    """
    if record.mask_path is None:
        return
    if (
        loaded is not None
        and loaded.record.image_id == record.image_id
        and loaded.truth is not None
    ):
        truth = loaded.truth
    else:
        truth = read_mask(record.mask_path)
    if truth.shape == mask.shape:
        project.set_dice(record.image_id, dice(mask, truth))
