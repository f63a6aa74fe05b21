"""The editing session: what the window is working on, in one place.

The open folder and its images, the project store of its edits (and the autosaver that
writes into it), the image on the canvas and the active model. Panels and the main window
read these from here instead of each keeping a copy; lifecycle questions go through the
project store's rows and ``model.edits.lifecycle``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from carvana_gui.editing.autosave import Autosaver
from carvana_gui.jobs.automask import ActiveModel
from carvana_gui.jobs.image_cache import LoadedImage
from model.data.dataset import DataLayout, ImageRecord
from model.edits.lifecycle import ActiveModels, MaskRecord, MaskState
from model.edits.project_store import ProjectStore, default_project_dir


def data_home() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def fallback_edits_dir(image_folder: Path) -> Path:
    """A writable place for the edits of a folder whose ``<images>_edits`` cannot be written:
    ``<data home>/carvana-gui/edits/<folder name>-<short hash of the folder path>``."""
    folder = Path(image_folder).resolve()
    digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:8]
    return data_home() / "carvana-gui" / "edits" / f"{folder.name}-{digest}"


def folder_is_writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be created, and takes a new file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def choose_edits_dir(image_folder: Path, override: Path | None = None) -> tuple[Path, str | None]:
    """Where the edits of ``image_folder`` go, and why it is not the usual place (or None).

    An explicit ``override`` (``--project-dir``) is used as given. Otherwise
    ``<images>_edits`` beside the images, unless it cannot be created or written (a
    read-only data folder): then :func:`fallback_edits_dir`, so work can go on.
    """
    if override is not None:
        return Path(override), None
    default = default_project_dir(image_folder)
    if folder_is_writable(default):
        return default, None
    fallback = fallback_edits_dir(image_folder)
    return fallback, f"{default} cannot be written"


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
