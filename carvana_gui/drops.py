"""What a drop on the window means: a folder, an image in a folder, or a model file.

Kept apart from the window so the decision is plain code over paths; the window only
turns the drop event's URLs into paths and calls ``open_dropped``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from carvana_gui.session import Session
from model.data.dataset import parse_image_name


class DropTarget(Protocol):
    session: Session

    def open_folder(self, folder: Path, select: str | None = None) -> None: ...

    def show_image(self, image_id: str) -> None: ...

    def import_model(self, path: Path) -> object: ...


def open_dropped(target: DropTarget, paths: Iterable[Path]) -> bool:
    """Act on the first usable path; False when none was (the drop is then refused).

    A folder opens; an image opens its folder at that image (or just shows it when that
    folder is already open); a ``.keras`` file is imported as the current model.
    """
    for path in paths:
        if path.is_dir():
            target.open_folder(path)
        elif path.is_file() and path.suffix.lower() == ".keras":
            target.import_model(path)
        elif path.is_file():
            image_id = parse_image_name(path.name)[0]
            record = target.session.records.get(image_id)
            if record is not None and record.path.resolve() == path.resolve():
                target.show_image(image_id)  # already open: no rescan
            else:
                target.open_folder(path.parent, select=image_id)
        else:
            continue
        return True
    return False
