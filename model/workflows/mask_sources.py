"""Which mask an export writes for an image, and an honest count of where they came from.

The lifecycle's rule, applied to export: the mask the editor shows is the mask exported
(the person's mask, else the stored auto-mask); images with neither are predicted by the
caller. Unreviewed edits are exported as they are, but counted and named, so an export
never passes a half-done scribble off as a person's finished work.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from model.data.dataset import ImageRecord
from model.edits import lifecycle
from model.edits.lifecycle import ActiveModels, MaskSource, MaskState
from model.edits.project_store import ProjectStore


@dataclass
class SourceTally:
    reviewed: int = 0  # people's masks, accepted
    unreviewed_edits: int = 0  # people's masks nobody marked reviewed
    auto: int = 0  # stored auto-masks of the active model
    stale_auto: int = 0  # stored auto-masks of another model

    @property
    def from_store(self) -> int:
        return self.reviewed + self.unreviewed_edits + self.auto + self.stale_auto

    def describe(self, predicted: int) -> str:
        parts = [
            f"{self.reviewed} reviewed",
            f"{self.unreviewed_edits} edited, not reviewed",
            f"{self.auto + self.stale_auto} stored auto-masks"
            + (f" ({self.stale_auto} stale)" if self.stale_auto else ""),
            f"{predicted} predicted now",
        ]
        return ", ".join(parts)


class ShownMasks:
    """Callable ``record -> mask or None`` for export, counting what it hands out.

    ``include_auto=False`` takes only people's masks (stored auto-masks are predicted
    again); used from the export worker thread while the GUI reads the tally.
    """

    def __init__(
        self,
        store: ProjectStore | None,
        active: ActiveModels | str | None,
        include_auto: bool = True,
    ) -> None:
        self.store = store
        self.active = active
        self.include_auto = include_auto
        self.tally = SourceTally()
        self.unreviewed_ids: list[str] = []
        self._lock = threading.Lock()

    def fingerprint(self, image_ids: Iterable[str]) -> str:
        """Hash of the masks this lookup would hand out for ``image_ids``: each image's
        shown source, state, revision and auto-mask version, read fresh from the store.

        Any edit, review or new auto-mask bumps a row's revision, so a resumed export
        whose fingerprint matches has no row made from an older mask.
        """
        if self.store is None:
            return "no project"
        self.store.refresh()  # another window or process may have saved since
        rows = self.store.records()
        parts = []
        for image_id in sorted(set(image_ids)):
            row = rows.get(image_id)
            if row is None:
                continue
            source = lifecycle.shown_source(row)
            if source is MaskSource.NONE or (source is MaskSource.AUTO and not self.include_auto):
                continue
            parts.append([image_id, str(source), str(row.state), row.revision, row.auto_version])
        payload = json.dumps([self.include_auto, parts], default=str).encode()
        return hashlib.sha256(payload).hexdigest()[:32]

    def __call__(self, record: ImageRecord) -> np.ndarray | None:
        return self.mask_of(record.image_id)

    def mask_of(self, image_id: str) -> np.ndarray | None:
        if self.store is None:
            return None
        row = self.store.record(image_id)
        source = lifecycle.shown_source(row)
        if source is MaskSource.NONE or (source is MaskSource.AUTO and not self.include_auto):
            return None
        mask = self.store.load_shown_mask(image_id)
        if mask is None:
            return None
        with self._lock:
            if source is MaskSource.AUTO:
                if lifecycle.is_stale(row, image_id, self.active):
                    self.tally.stale_auto += 1
                else:
                    self.tally.auto += 1
            elif row.state is MaskState.REVIEWED:
                self.tally.reviewed += 1
            else:
                self.tally.unreviewed_edits += 1
                self.unreviewed_ids.append(image_id)
        return mask
