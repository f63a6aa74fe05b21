"""Commands on the open image's mask, and what the window says when a save lands.

Fill holes, use the ground truth, mark reviewed (Space); the autosaver's hooks score a
saved mask against the ground truth (writer thread) and refresh the list row, the status
bar and the Mark-reviewed check (GUI thread).
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtGui import QAction

from carvana_gui.actions import NO_IMAGE_MESSAGE
from carvana_gui.editing.document import MaskDocument
from carvana_gui.jobs.image_cache import score_against_truth
from carvana_gui.panels.image_list import ImageTableModel
from carvana_gui.panels.status_bar import StatusPanel
from carvana_gui.panels.window_indicators import WindowIndicators
from carvana_gui.session import Session
from model.edits.mask_ops import fill_holes

log = logging.getLogger(__name__)


class MaskCommands:
    def __init__(
        self,
        session: Session,
        document: MaskDocument,
        status: StatusPanel,
        indicators: WindowIndicators,
        table_model: ImageTableModel,
        review_action: QAction,
    ) -> None:
        self.session = session
        self.document = document
        self.status = status
        self.indicators = indicators
        self.table_model = table_model
        self.review_action = review_action

    def fill_holes(self) -> None:
        if not self.document.edit("fill holes", fill_holes) and not self.document.refusal:
            self.status.show_message("No holes to fill.")

    def use_ground_truth(self) -> None:
        current = self.session.current
        if current is None or current.truth is None:
            self.status.show_message("This image has no ground-truth mask.")
            return
        self.document.replace(current.truth, "ground truth")

    def set_reviewed(self, on: bool) -> None:
        s = self.session
        if s.current is None or s.autosaver is None:
            return
        if self.document.refuse():  # marking writes the mask file: never over a bad one
            self.indicators.show_reviewed(s.current.record.image_id)
            return
        s.autosaver.review(s.current.record.image_id, on, self.document.mask)

    def space_tapped(self) -> None:
        if self.review_action.isEnabled():
            self.review_action.toggle()
        else:
            self.status.show_message(f"Mark reviewed: {NO_IMAGE_MESSAGE}")

    # -- autosave hooks -------------------------------------------------------------
    def after_save(self, image_id: str, mask: np.ndarray) -> None:
        """Writer thread: score the saved mask against ground truth when there is one."""
        s = self.session
        record = s.records.get(image_id)
        if record is not None and s.project is not None:
            score_against_truth(s.project, record, mask, s.current)

    def on_saved(self, image_id: str) -> None:
        autosaver = self.session.autosaver
        self.table_model.refresh_image(image_id)
        self.status.show_saved(autosaver.has_unsaved if autosaver else False)
        if self.session.current_id == image_id:
            self.indicators.update_mask_status()
            self.indicators.show_reviewed(image_id)

    def on_save_failed(self, image_id: str, message: str) -> None:
        self.status.show_saved(False, message)
        log.error("%s", message)
