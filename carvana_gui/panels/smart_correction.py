"""Correcting by clicks and reviewing by uncertainty, wired into the window.

``install_smart_correction(window)`` adds the Smart click tool (S, and Shift+click from
the brush and eraser), the Edge brush (T) and Accept and next (R: mark reviewed, go to
the next unreviewed image) and Refine edge (P, Shift+P: ``refine_edge``), through the
window's extension points (action, tools, canvas, session,
auto_masking, status, next_unreviewed, worker, automask). The image list's Unsure
column, which orders images by the model's own uncertainty, lives in the list itself.

A click uses the model's probabilities for the shown image: those of its last Ctrl+R, or,
for an image masked by a batch (which keeps none), probabilities the model worker computes
in the background as soon as Smart click is chosen or a click asks for them (the mask is
never touched by that). Until they are there the mask itself is the prior. After a
Refine edge the clicks use the refined probabilities, as bench/correction_effort.py does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from carvana_gui.canvas.tools import BrushTool, EdgeBrushTool, SmartClickTool, SmartSource
from carvana_gui.panels.refine_edge import RefineEdge

PROBABILITIES_READY = "Smart click: the model's probabilities for this image are ready."


def probabilities_job(model_path: Path, image: np.ndarray, tta: bool):
    """A model-worker job: the model's probability map for ``image`` (nothing is saved)."""

    def job(ctx) -> np.ndarray:
        return ctx.predictor(model_path).predict(image, tta=tta).prob

    return job


class SmartCorrection:
    def __init__(self, window: Any) -> None:
        self.window = window
        self.tool = SmartClickTool(self.source, window.status.show_message)
        self.edge_brush = EdgeBrushTool(self.source, window.status.show_message)
        self._asked: set[str] = set()  # images whose probabilities were asked of the model
        # image id -> (the model's probabilities, the same refined by Refine edge)
        self._refined: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        group = window.action("tool_brush").actionGroup()
        for name, tool in (("tool_smart", self.tool), ("tool_edge_brush", self.edge_brush)):
            window.tools[name] = tool
            action = window.action(name)
            group.addAction(action)
            action.toggled.connect(lambda on, tool=tool: self._on_toggled(on, tool))
        window.image_changed.connect(self._on_image_changed)
        for tool in window.tools.values():
            if isinstance(tool, BrushTool):
                tool.shift_tool = self.tool
        window.action("accept_next").triggered.connect(self.accept_and_next)
        self.refine_edge = RefineEdge(window, self)

    def _on_toggled(self, on: bool, tool) -> None:
        if on:
            self.window.canvas.set_tool(tool)
            self.fetch_probabilities()

    def _on_image_changed(self, _image_id: str) -> None:
        if any(self.window.action(n).isChecked() for n in ("tool_smart", "tool_edge_brush")):
            self.fetch_probabilities()

    def source(self) -> SmartSource | None:
        """The shown photo and the model's probabilities for it (None when there are none)."""
        current = self.window.session.current
        if current is None:
            return None
        image_id = current.record.image_id
        prob = self.window.auto_masking.probs.get(image_id)
        if prob is None:
            self.fetch_probabilities()
        refined = self._refined.get(image_id)
        if prob is not None and refined is not None and refined[0] is prob:
            prob = refined[1]
        return SmartSource(current.image, prob)

    def keep_refined(self, image_id: str, base: np.ndarray, refined: np.ndarray) -> None:
        """Remember Refine edge's probabilities for the clicks on this image (one image, as
        the model's own are kept); a refine under the cursor adds to a whole one."""
        before = self._refined.get(image_id)
        if before is not None and before[0] is base:
            merged = before[1].copy()
            moved = refined != base
            merged[moved] = refined[moved]
            refined = merged
        self._refined = {image_id: (base, refined)}

    def shown(self) -> tuple[Any, Any]:
        """(the shown image, its active model): either None when there is none."""
        current = self.window.session.current
        if current is None:
            return None, None
        return current, self.window.automask.model_for(current.record.image_id)

    def fetch_probabilities(self) -> int | None:
        """Ask the model worker for the shown image's probabilities, once per image; the
        job id, or None (there are some already, no model, or asked before)."""
        w = self.window
        current, model = self.shown()
        if current is None:
            return None
        image_id = current.record.image_id
        if model is None or image_id in self._asked or image_id in w.auto_masking.probs:
            return None
        self._asked.add(image_id)
        job = probabilities_job(Path(model.path), current.image, w.prefs.automask_tta)
        return w.worker.submit(
            job, "probabilities", on_result=lambda prob: self._got(image_id, prob)
        )

    def _got(self, image_id: str, prob: np.ndarray) -> None:
        self._asked.discard(image_id)
        w = self.window
        if w.session.current_id != image_id or image_id in w.auto_masking.probs:
            return  # another image now, or a Ctrl+R was quicker: keep what is there
        w.auto_masking.probs = {image_id: prob}  # kept as a Ctrl+R's are: one image
        w.auto_masking.show_confidence()
        w.status.show_message(PROBABILITIES_READY)
        self.refine_edge.probabilities_arrived(image_id)

    def accept_and_next(self) -> None:
        """R: this mask is right (reviewed, edited or not); on to the next unreviewed one."""
        review = self.window.action("mark_reviewed")
        if not review.isEnabled():
            return
        if not review.isChecked():
            review.setChecked(True)  # its toggled slot marks the image reviewed
        if self.window.document.refusal is None:
            self.window.next_unreviewed()


def install_smart_correction(window: Any) -> SmartCorrection:
    """Add the Smart click tool and Accept and next to ``window``."""
    correction = SmartCorrection(window)
    window.smart_correction = correction
    return correction
