"""The questions the window asks when edits cannot simply be saved.

- A mask changed elsewhere (another window, ``carvana automask``) since this window
  loaded it: *Keep mine* or *Take theirs*; nothing is overwritten silently.
- Edits the disk refused (read-only folder, full disk) when the person closes the window
  or opens another folder: *Save elsewhere…*, *Discard* or *Cancel*.

Both boxes are window-modal but do not block (``conflict_box``, ``unsaved_box``), so work
and tests go on while they are open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from carvana_gui.editing.document import MaskDocument
from carvana_gui.session import Session
from model.data.masks import write_mask

log = logging.getLogger(__name__)


class SaveQuestions(QObject):
    def __init__(
        self,
        window: QWidget,
        session: Session,
        document: MaskDocument,
        tell: Callable[[str], None],
        refresh_row: Callable[[str], None],
        show_error: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.document = document
        self.tell = tell
        self.refresh_row = refresh_row
        self.show_error = show_error
        self.conflict_box: QMessageBox | None = None
        self.unsaved_box: QMessageBox | None = None

    # -- a mask changed elsewhere ----------------------------------------------
    def ask_conflict(self, image_id: str, message: str) -> None:
        """Another window or process changed this mask: the person chooses, nothing is lost."""
        if self.session.autosaver is None:
            return
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Mask changed elsewhere")
        box.setText(f"{message}.\n\nKeep your mask, or take the other one?")
        mine = box.addButton("Keep mine", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Take theirs", QMessageBox.ButtonRole.RejectRole)
        box.setModal(True)
        box.finished.connect(
            lambda _code: self.resolve_conflict(image_id, box.clickedButton() is mine)
        )
        box.open()
        self.conflict_box = box

    def resolve_conflict(self, image_id: str, keep_mine: bool) -> None:
        s = self.session
        if s.autosaver is None or s.project is None:
            return
        s.autosaver.resolve_conflict(image_id, keep_mine)
        if not keep_mine and s.current_id == image_id:
            theirs = s.project.load_for_editing(image_id)
            if theirs is None:
                theirs = np.zeros_like(self.document.mask)
            self.document.load(image_id, theirs)  # their mask, without an undo step of ours
        self.refresh_row(image_id)
        self.tell(
            f"{image_id}: kept your mask" if keep_mine else f"{image_id}: took the other mask"
        )

    # -- edits the disk refused --------------------------------------------------
    def has_unsaved_edits(self) -> bool:
        """Write what is pending now; True when some edits still are not on disk."""
        autosaver = self.session.autosaver
        if autosaver is None:
            return False
        try:
            autosaver.flush(wait=True)
        except Exception:
            log.exception("saving before closing failed")
        return autosaver.has_unsaved

    def ask_unsaved(self, doing: str, proceed: Callable[[], None]) -> None:
        """Ask what to do with edits the disk refused: Save elsewhere…, Discard or Cancel.

        ``proceed`` runs once the edits are saved elsewhere or discarded.
        """
        autosaver = self.session.autosaver
        if autosaver is None:
            proceed()
            return
        masks = autosaver.unsaved_masks()
        where = self.session.project.root if self.session.project else "the edits folder"
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Edits not saved")
        names = ", ".join(sorted(masks)[:5]) + (" …" if len(masks) > 5 else "")
        box.setText(
            f"{len(masks)} edited mask(s) could not be saved in {where}: {names}.\n\n"
            f"{doing} now would lose them."
        )
        box.setInformativeText(
            "Save elsewhere… writes each mask as <image id>_mask.png into a folder you choose."
        )
        save = box.addButton("Save elsewhere…", QMessageBox.ButtonRole.AcceptRole)
        drop = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)
        box.setEscapeButton(cancel)

        def answered(_code: int) -> None:
            self.unsaved_box = None
            clicked = box.clickedButton()
            if clicked is save:
                if self.save_unsaved_elsewhere():
                    proceed()
            elif clicked is drop:
                autosaver.discard_unsaved()
                self.tell(f"Discarded {len(masks)} unsaved mask(s).")
                proceed()

        box.finished.connect(answered)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.unsaved_box = box
        box.open()

    def choose_rescue_folder(self) -> Path | None:
        """Where to save edits the edits folder refused (a folder dialog)."""
        folder = QFileDialog.getExistingDirectory(
            self.window, "Save the unsaved masks in…", str(Path.home())
        )
        return Path(folder) if folder else None

    def save_unsaved_elsewhere(self) -> bool:
        """Write every unsaved mask into a chosen folder; True when all were written."""
        autosaver = self.session.autosaver
        if autosaver is None:
            return True
        folder = self.choose_rescue_folder()
        if folder is None:
            return False
        masks = autosaver.unsaved_masks()
        try:
            for image_id, mask in masks.items():
                write_mask(folder / f"{image_id}_mask.png", mask)
        except OSError as exc:
            self.show_error(f"Could not save the masks in {folder}: {exc}")
            return False
        autosaver.discard_unsaved()
        self.tell(f"Saved {len(masks)} mask(s) in {folder}.")
        log.info("saved %d unsaved masks in %s", len(masks), folder)
        return True
