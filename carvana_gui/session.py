"""The editing session: what the window is working on, in one place.

The open folder and its images, the project store of its edits (and the autosaver that
writes into it), the image on the canvas and the active model. Panels and the main window
read these from here instead of each keeping a copy; lifecycle questions go through the
project store's rows and ``model.edits.lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from carvana_gui.editing.autosave import Autosaver
from carvana_gui.jobs.automask import ActiveModel
from carvana_gui.jobs.image_cache import LoadedImage
from model.data.dataset import DataLayout, ImageRecord
from model.edits.lifecycle import ActiveModels, MaskRecord, MaskState
from model.edits.project_store import ProjectStore


@dataclass
class Session:
    folder: Path | None = None
    layout: DataLayout | None = None
    records: dict[str, ImageRecord] = field(default_factory=dict)
    project: ProjectStore | None = None
    autosaver: Autosaver | None = None
    current: LoadedImage | None = None
    active_model: ActiveModel | None = None

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

    def active_models(self) -> ActiveModels:
        """The active model of every image (one general model for now)."""
        return ActiveModels(self.active_model.name if self.active_model is not None else None)
