"""The editing session: what the window is working on, in one place.

The open folder and its images, the project store of its edits (and the autosaver that
writes into it), the image on the canvas and the active model. Panels and the main window
read these from here instead of each keeping a copy; lifecycle questions go through the
project store's rows and ``model.edits.lifecycle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carvana_gui.editing.autosave import Autosaver
from carvana_gui.jobs.automask import ActiveModel
from carvana_gui.jobs.image_cache import LoadedImage
from model.data.dataset import DataLayout, ImageRecord
from model.edits.lifecycle import MaskRecord, MaskState
from model.edits.project_store import ProjectError, ProjectStore

log = logging.getLogger(__name__)


@dataclass
class Session:
    folder: Path | None = None
    layout: DataLayout | None = None
    records: dict[str, ImageRecord] = field(default_factory=dict)
    project: ProjectStore | None = None
    autosaver: Autosaver | None = None
    current: LoadedImage | None = None
    active_model: ActiveModel | None = None

    def switch_folder(
        self, folder: Path, layout: DataLayout, project: ProjectStore, autosaver: Autosaver
    ) -> None:
        """Work on another folder: the old folder's pending saves are written first."""
        if self.autosaver is not None:
            self.autosaver.close()
        if self.project is not None:
            self.project.close()
        self.folder, self.layout, self.project, self.autosaver = folder, layout, project, autosaver
        self.records = {r.image_id: r for r in layout.images}
        self.current = None

    @property
    def current_id(self) -> str | None:
        return self.current.record.image_id if self.current is not None else None

    @property
    def image_folder(self) -> Path | None:
        if self.records:
            return next(iter(self.records.values())).path.parent
        return self.folder

    def record_of(self, image_id: str) -> MaskRecord:
        return self.project.record(image_id) if self.project is not None else MaskRecord()

    def state_of(self, image_id: str) -> MaskState:
        return self.record_of(image_id).state

    def mask_for_editing(
        self, image_id: str, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, str | None]:
        """The mask to edit, and why the image must be read-only (or None).

        A stored mask that cannot be read, or has another size than the image, is never
        replaced by an empty one: the next stroke would overwrite that file. The image is
        shown without a mask instead and every edit is refused.
        """
        mask = self.autosaver.unsaved_mask(image_id) if self.autosaver else None
        path = self.project.source_path(image_id) if self.project else None
        problem = None
        if mask is None and self.project is not None:
            try:  # the mask the lifecycle says this image shows (a person's, else the auto-mask)
                mask = self.project.load_for_editing(image_id)
            except ProjectError as exc:
                problem = str(exc)
        if mask is not None and mask.shape != tuple(shape):
            problem = (
                f"{path or image_id}: the stored mask is {mask.shape[1]}×{mask.shape[0]} px "
                f"but the image is {shape[1]}×{shape[0]} px"
            )
        if problem is None:
            return (mask if mask is not None else np.zeros(shape, np.uint8)), None
        why = (
            f"{problem}. {image_id} is read-only so that this file is never overwritten: "
            "fix or move the file, then open the folder again."
        )
        log.error("%s", why)
        return np.zeros(shape, np.uint8), why
