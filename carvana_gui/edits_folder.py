"""Where a folder's edits go: beside the images, or a writable place when that cannot be.

A read-only data folder must not stop work: when ``<images>_edits`` cannot be created or
written, the edits go to the user's data folder and the window says so.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from model.data.user_dirs import user_data_dir
from model.edits.project_store import ProjectError, ProjectStore, default_project_dir

log = logging.getLogger(__name__)


def fallback_edits_dir(image_folder: Path) -> Path:
    """A writable place for the edits of a folder whose ``<images>_edits`` cannot be written:
    ``<data home>/carvana-gui/edits/<folder name>-<short hash of the folder path>``."""
    folder = Path(image_folder).resolve()
    digest = hashlib.sha1(str(folder).encode("utf-8")).hexdigest()[:8]
    return user_data_dir() / "edits" / f"{folder.name}-{digest}"


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


def open_edits_project(
    image_folder: Path, override: Path | None = None
) -> tuple[ProjectStore, str | None]:
    """The project store for ``image_folder``'s edits, and why it is not beside the images
    (or None). Raises ProjectError when no place can be opened."""
    root, why = choose_edits_dir(image_folder, override)
    try:
        project = ProjectStore(root)
    except ProjectError as exc:
        if override is not None or why is not None:
            raise
        why, project = str(exc), ProjectStore(fallback_edits_dir(image_folder))
    if why:
        log.warning("%s; edits go to %s", why, project.root)
    return project, why
