"""Ctrl+R in the editor: run the active model on the open image, store the result as an
auto-mask (once, never as a person's mask), put it on the canvas as one undoable step,
and keep its probabilities for the confidence band."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject

from carvana_gui.actions import NO_IMAGE_MESSAGE
from carvana_gui.canvas.view import MaskCanvas
from carvana_gui.jobs.automask import AutoMaskController, AutoMaskResult
from carvana_gui.session import Session
from carvana_gui.settings import Preferences
from model.kaggle.metrics import uncertainty_score


class AutoMaskFlow(QObject):
    def __init__(
        self,
        controller: AutoMaskController,
        session: Session,
        canvas: MaskCanvas,
        prefs: Preferences,
        confidence_on: Callable[[], bool],
        tell: Callable[[str], None],
        refresh_row: Callable[[str], None],
    ) -> None:
        super().__init__(canvas)
        self.controller = controller
        self.session = session
        self.canvas = canvas
        self.document = canvas.document
        self.prefs = prefs
        self.confidence_on = confidence_on
        self.tell = tell
        self.refresh_row = refresh_row
        self.probs: dict[str, np.ndarray] = {}  # the last result's probabilities
        controller.result_ready.connect(self.apply)

    def run(self) -> None:
        current = self.session.current
        if current is None:
            self.tell(f"Auto-mask: {NO_IMAGE_MESSAGE}")
            return
        if self.document.refuse():
            return
        self.controller.run(current.record.image_id, current.image, tta=self.prefs.automask_tta)

    def apply(self, result: AutoMaskResult) -> None:
        self.probs = {result.image_id: result.prob}
        version = result.model_name
        project, autosaver = self.session.project, self.session.autosaver
        if project is None or autosaver is None:
            return
        if self.session.current_id == result.image_id and self.document.refuse():
            return  # storing an auto-mask would delete the stored mask of another size
        uncertainty = uncertainty_score(result.prob)
        # Stored once, as an auto-mask (never as a person's mask), before the editor's own
        # save of the same pixels, which the lifecycle then keeps an auto-mask.
        autosaver.run_in_writer(
            lambda: project.save_auto_mask(
                result.image_id, result.mask, version, by_person=True, uncertainty=uncertainty
            )
        )
        message = f"Auto-mask by {version} in {result.seconds:.2f} s"
        if self.session.current_id == result.image_id:
            if not self.document.replace(result.mask, "auto-mask"):
                message += " (same as the current mask)"
            self.show_confidence()
        self.refresh_row(result.image_id)
        self.tell(message)

    def show_confidence(self) -> None:
        current_id = self.session.current_id
        prob = self.probs.get(current_id) if current_id else None
        self.canvas.set_confidence(
            prob if self.confidence_on() else None,
            self.prefs.uncertain_low,
            self.prefs.uncertain_high,
        )
