"""What the window shows about the open image: title, image name and position, the mask's
area and Dice, the Mark-reviewed check, and which commands are enabled.

Commands that need an image are disabled while none is shown; their keys then say so in
the status bar instead of doing nothing (a silent key is the worst first impression).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QShortcut
from PySide6.QtWidgets import QMainWindow

from carvana_gui.actions import NEEDS_IMAGE, NO_IMAGE_MESSAGE
from carvana_gui.editing.document import MaskDocument
from carvana_gui.panels.image_list import ImageTableModel
from carvana_gui.panels.status_bar import StatusPanel
from carvana_gui.session import Session
from model.edits.lifecycle import MaskState

APP_TITLE = "Carvana Masks"


class WindowIndicators:
    def __init__(
        self,
        window: QMainWindow,
        actions: dict[str, QAction],
        session: Session,
        document: MaskDocument,
        status: StatusPanel,
        table_model: ImageTableModel,
    ) -> None:
        self.window = window
        self.actions = actions
        self.session = session
        self.document = document
        self.status = status
        self.table_model = table_model
        self._no_image_keys = self._no_image_shortcuts()

    def _no_image_shortcuts(self) -> list[QShortcut]:
        """The keys of image commands, live only while those are disabled (no image)."""
        shortcuts = []
        for name in NEEDS_IMAGE:
            action = self.actions[name]
            for sequence in action.shortcuts():
                shortcut = QShortcut(sequence, self.window)
                shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
                text = action.text().split("\t")[0].replace("&", "")
                shortcut.activated.connect(
                    lambda t=text: self.status.show_message(f"{t}: {NO_IMAGE_MESSAGE}")
                )
                shortcuts.append(shortcut)
        return shortcuts

    def show_image(self, image_id: str) -> None:
        """Everything at once, for a newly shown image."""
        self.show_reviewed(image_id)
        self.update_enabled()
        self.update_mask_status()
        self.update_title()

    def update_enabled(self) -> None:
        history = self.document.history
        shown = self.session.current is not None
        self.actions["undo"].setEnabled(bool(shown and history and history.can_undo))
        self.actions["redo"].setEnabled(bool(shown and history and history.can_redo))
        for name in NEEDS_IMAGE:
            self.actions[name].setEnabled(shown)
        for shortcut in self._no_image_keys:
            shortcut.setEnabled(not shown)

    def update_title(self) -> None:
        """Title "<image> — <folder> (n images) — Carvana Masks"; the image in the status bar."""
        s = self.session
        parts = []
        image_id = s.current_id
        if image_id is not None:
            parts.append(image_id)
            row = self.table_model.row_of(image_id)
            where = f"{row + 1} / {self.table_model.rowCount()}" if row is not None else ""
            self.status.show_image_name(image_id, where)
        else:
            self.status.show_image_name(None)
        if s.image_folder is not None and s.layout is not None:
            parts.append(f"{s.image_folder.name} ({len(s.layout.images)} images)")
        parts.append(APP_TITLE)
        self.window.setWindowTitle(" — ".join(parts))

    def update_mask_status(self) -> None:
        mask = self.document.mask
        image_id = self.session.current_id
        if mask is None or image_id is None:
            self.status.show_no_mask()
            return
        if self.document.read_only:
            self.status.show_read_only(self.document.read_only)
            return
        area = int(np.count_nonzero(mask))
        self.status.show_mask(area, mask.size, self.session.record_of(image_id).dice)

    def show_reviewed(self, image_id: str) -> None:
        """The Mark-reviewed check follows the stored state (without toggling it again)."""
        action = self.actions["mark_reviewed"]
        action.blockSignals(True)
        action.setChecked(self.session.state_of(image_id) is MaskState.REVIEWED)
        action.blockSignals(False)
