"""The edits project: where hand-corrected masks live and what state each image is in.

Edited masks are lossless PNGs in a folder beside the images (``<folder>/../<name>_edits``
by default) so the original Kaggle GIFs are never overwritten. A small JSON file keeps,
per image, the review status, the model version that produced its auto-mask, the Dice
against ground truth (when known) and the correction effort (pixels changed versus the
auto-mask, seconds spent). Every write is atomic, so a crash leaves either the old or
the new file, never a torn one. Safe to call from the autosave thread and the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model.data.masks import atomic_write_bytes, read_mask, write_mask

log = logging.getLogger(__name__)

STATUSES = ("no-mask", "auto", "edited", "reviewed")
STATUS_FILE = "project.json"
FORMAT_VERSION = 1


class ProjectError(RuntimeError):
    """The project folder or its status file cannot be used; the message names the path."""


@dataclass
class ImageEntry:
    """What the project knows about one image."""

    status: str = "no-mask"
    model_version: str | None = None
    dice: float | None = None
    pixels_changed: int | None = None
    seconds: float = 0.0
    updated: str | None = None


def default_project_dir(image_folder: Path) -> Path:
    """``train/`` -> ``train_edits/`` beside it."""
    folder = Path(image_folder).resolve()
    return folder.parent / f"{folder.name}_edits"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class EditsProject:
    """Edited masks, auto-masks and per-image status of one image folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        self._entries: dict[str, ImageEntry] = {}
        self._load()

    @classmethod
    def for_folder(cls, image_folder: Path, project_dir: Path | None = None) -> EditsProject:
        return cls(project_dir if project_dir is not None else default_project_dir(image_folder))

    # -- paths -------------------------------------------------------------
    @property
    def status_path(self) -> Path:
        return self.root / STATUS_FILE

    def mask_path(self, image_id: str) -> Path:
        return self.root / "masks" / f"{image_id}_mask.png"

    def auto_mask_path(self, image_id: str) -> Path:
        return self.root / "auto" / f"{image_id}_auto.png"

    # -- status file -------------------------------------------------------
    def _load(self) -> None:
        path = self.status_path
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            raw = data["images"]
            known = {f.name for f in fields(ImageEntry)}
            self._entries = {
                k: ImageEntry(**{f: v for f, v in e.items() if f in known}) for k, e in raw.items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProjectError(f"{path}: unreadable project status file ({exc})") from exc

    def save(self) -> None:
        """Write the status JSON atomically (raises OSError on a read-only or full disk)."""
        with self._lock:
            payload = {
                "format": FORMAT_VERSION,
                "images": {k: asdict(e) for k, e in sorted(self._entries.items())},
            }
            data = json.dumps(payload, indent=1).encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.status_path, data)

    # -- entries -----------------------------------------------------------
    def entry(self, image_id: str) -> ImageEntry:
        """A copy of the image's entry (a default one if never touched)."""
        with self._lock:
            e = self._entries.get(image_id)
            return ImageEntry(**asdict(e)) if e else ImageEntry()

    def status(self, image_id: str) -> str:
        with self._lock:
            e = self._entries.get(image_id)
            return e.status if e else "no-mask"

    def _update(self, image_id: str, **changes: object) -> ImageEntry:
        with self._lock:
            e = self._entries.setdefault(image_id, ImageEntry())
            for key, value in changes.items():
                setattr(e, key, value)
            e.updated = _now()
            return ImageEntry(**asdict(e))

    def set_status(self, image_id: str, status: str) -> ImageEntry:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        return self._update(image_id, status=status)

    def set_dice(self, image_id: str, dice: float | None) -> ImageEntry:
        return self._update(image_id, dice=None if dice is None else float(dice))

    def add_seconds(self, image_id: str, seconds: float) -> ImageEntry:
        with self._lock:
            current = self._entries.get(image_id, ImageEntry()).seconds
        return self._update(image_id, seconds=round(current + max(0.0, seconds), 2))

    # -- masks -------------------------------------------------------------
    def has_edited_mask(self, image_id: str) -> bool:
        return self.mask_path(image_id).exists()

    def edited_mask_ids(self) -> set[str]:
        """Ids with an edited mask file: one directory listing instead of a stat per image."""
        return _ids_in(self.root / "masks", "_mask.png")

    def auto_mask_ids(self) -> set[str]:
        """Ids with an auto-mask file, listed the same way."""
        return _ids_in(self.root / "auto", "_auto.png")

    def status_snapshot(self) -> dict[str, tuple[str, str | None]]:
        """image id -> (status, model version) of every touched image, read in one lock."""
        with self._lock:
            return {k: (e.status, e.model_version) for k, e in self._entries.items()}

    def load_mask(self, image_id: str) -> np.ndarray | None:
        """The saved edited mask, or None when the image was never edited."""
        path = self.mask_path(image_id)
        return read_mask(path) if path.exists() else None

    def load_auto_mask(self, image_id: str) -> np.ndarray | None:
        path = self.auto_mask_path(image_id)
        return read_mask(path) if path.exists() else None

    def save_mask(self, image_id: str, mask: np.ndarray) -> ImageEntry:
        """Store an edited mask and its effort figure; the PNG write is atomic."""
        path = self.mask_path(image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mask(path, mask)
        auto = self.load_auto_mask(image_id)
        changed = int(np.count_nonzero((mask != 0) != (auto != 0))) if auto is not None else None
        status = self.status(image_id)
        if status == "reviewed":
            new_status = status
        elif changed == 0:
            new_status = "auto"  # the saved mask is still exactly the model's
        else:
            new_status = "edited"
        return self._update(image_id, status=new_status, pixels_changed=changed)

    def save_auto_mask(self, image_id: str, mask: np.ndarray, model_version: str | None) -> None:
        """Keep the model's mask so the correction effort can be measured against it."""
        path = self.auto_mask_path(image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mask(path, mask)
        self._update(image_id, status="auto", model_version=model_version, pixels_changed=0)

    def edited_ids(self) -> list[str]:
        folder = self.root / "masks"
        if not folder.is_dir():
            return []
        return sorted(p.name[: -len("_mask.png")] for p in folder.glob("*_mask.png"))


def _ids_in(folder: Path, suffix: str) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {e.name[: -len(suffix)] for e in entries if e.name.endswith(suffix)}
    except FileNotFoundError:
        return set()
