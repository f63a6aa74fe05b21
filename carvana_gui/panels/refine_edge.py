"""Refine edge (P, or Shift+P for the region under the cursor), wired into the window.

The work is ``model.nn.edge_refiner``: the shipped edge refiner re-decides the edge band
of the mask at full resolution from the photo, on the model worker (a whole car takes a
few tenths of a second; the window stays live), and the result is applied as one undo
step, only where the mask still says what the model said, so strokes and clicks stay.
The refined probabilities then guide the image's smart clicks (``SmartCorrection.source``)
as they do in bench/correction_effort.py. Without the model's probabilities for the image
yet, they are asked for and the refine runs as soon as they come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.nn.edge_classifier import EdgeClassifier, EdgeClassifierError
from model.nn.edge_refiner import (
    LOCAL_RADIUS,
    MISSING,
    apply_refined,
    load_refiner,
    refined_probability,
)
from model.store.versions import ModelStoreError, meta_path_for, meta_threshold, read_model_meta

NO_REFINER = f"Refine edge: {MISSING}"
CAR_MODEL = (
    "Refine edge: this car's own model (Learn this car) already re-decides the edge of "
    "every mask it makes; nothing to refine."
)
NO_MODEL = "Refine edge needs the model's probabilities, and no model is loaded."
WAITING = "Refine edge: asking the model for this image's probabilities first…"
REFINED = "Refine edge: the mask's edge follows the photo now (Ctrl+Z undoes it)."
UNCHANGED = "Refine edge: the edge already agrees with the photo; nothing changed."
NO_CURSOR = "Refine edge under the cursor: point at the car's edge on the image, then Shift+P."


@dataclass(frozen=True)
class Refined:
    """What one refine job returns: the refined probabilities, or why there are none."""

    image_id: str
    base: np.ndarray  # the model's probabilities it refined
    prob: np.ndarray | None
    threshold: float
    message: str = ""


def refine_job(
    refiner_of: Callable[[], EdgeClassifier | None],
    model_path: Path,
    image_id: str,
    image: np.ndarray,
    prob: np.ndarray,
    center: tuple[int, int] | None,
) -> Callable[[Any], Refined]:
    """A model-worker job: the refined probabilities of ``image`` (the mask is not touched)."""

    def job(_ctx) -> Refined:
        try:  # the threshold the model's masks are cut at (its JSON; 0.5 without one)
            meta = read_model_meta(model_path)
            threshold = meta_threshold(meta, meta_path_for(model_path))
            refiner = refiner_of()
        except (EdgeClassifierError, ModelStoreError) as exc:
            return Refined(image_id, prob, None, 0.5, f"Refine edge: {exc}")
        if meta.get("edge_classifier"):  # its probabilities were refined as they were made
            return Refined(image_id, prob, None, threshold, CAR_MODEL)
        if refiner is None:
            return Refined(image_id, prob, None, threshold, NO_REFINER)
        refined = refined_probability(image, prob, refiner, threshold, center, LOCAL_RADIUS)
        return Refined(image_id, prob, refined, threshold)

    return job


class RefineEdge:
    """The window's Refine edge actions; ``correction`` is its SmartCorrection."""

    def __init__(self, window: Any, correction: Any) -> None:
        self.window = window
        self.correction = correction
        self.cursor: tuple[int, int] | None = None  # (y, x) on the image, None off it
        self.pending: tuple[str, tuple[int, int] | None] | None = None
        self._refiner: EdgeClassifier | None = None
        window.canvas.cursor_moved.connect(self._on_cursor)
        window.action("refine_edge").triggered.connect(lambda: self.refine())
        window.action("refine_edge_here").triggered.connect(lambda: self.refine(here=True))

    def _on_cursor(self, x: int, y: int) -> None:
        self.cursor = None if x < 0 else (y, x)

    def refiner(self) -> EdgeClassifier | None:
        """The shipped refiner, read once (on the worker thread)."""
        if self._refiner is None:
            self._refiner = load_refiner()
        return self._refiner

    def refine(self, here: bool = False) -> int | None:
        """Queue a refine of the shown mask's edge (``here``: within LOCAL_RADIUS px of
        the cursor); the job id, or None when it waits for probabilities or cannot run."""
        if here and self.cursor is None:
            self.window.status.show_message(NO_CURSOR)
            return None
        return self._refine_around(self.cursor if here else None)

    def _refine_around(self, center: tuple[int, int] | None) -> int | None:
        w = self.window
        current, model = self.correction.shown()
        if current is None:
            return None
        image_id = current.record.image_id
        prob = w.auto_masking.probs.get(image_id)
        if model is None:
            w.status.show_message(NO_MODEL, error=True)
            return None
        if prob is None or prob.shape != current.image.shape[:2]:
            self.pending = (image_id, center)
            self.correction.fetch_probabilities()
            w.status.show_message(WAITING)
            return None
        self.pending = None
        job = refine_job(self.refiner, Path(model.path), image_id, current.image, prob, center)
        return w.worker.submit(job, "refine edge", on_result=self._apply)

    def probabilities_arrived(self, image_id: str) -> None:
        """Run a refine that waited for this image's probabilities."""
        if self.pending is not None and self.pending[0] == image_id:
            _, center = self.pending
            self.pending = None
            self._refine_around(center)

    def _apply(self, result: Refined) -> None:
        w = self.window
        if result.prob is None:
            w.status.show_message(result.message, error=result.message != CAR_MODEL)
            return
        if w.session.current_id != result.image_id:
            return  # another image now: the refine was for the one left
        if w.auto_masking.probs.get(result.image_id) is not result.base:
            w.status.show_message("Refine edge: the model's probabilities changed; press P again.")
            return
        document = w.document
        changed = document.edit(
            "refine edge", apply_refined, result.base, result.prob, result.threshold
        )
        if document.refusal is not None:
            return  # the document said why
        self.correction.keep_refined(result.image_id, result.base, result.prob)
        w.status.show_message(REFINED if changed else UNCHANGED)
