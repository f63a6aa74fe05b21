"""Seeing where a mask errs: difference to truth (X), the auto-mask 'before' (V), and
Next worst (W).

``install_compare_views(window)`` wires the three View/Image actions through the window's
extension points (action, canvas, document, session, status, image_changed, show_image).
The difference view stays on from image to image (so W walks the worst images with it);
the 'before' view belongs to one image and holds every edit while it is shown, so the
person's mask and undo history are never touched by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from carvana_gui.canvas.difference_layer import DifferenceLayer
from model.kaggle.difference import FALSE_CAR_RGB, MISSED_CAR_RGB, MaskDifference

BEFORE_HELD = "Showing the auto-mask (before): press V for your mask, then edit."
DIFF_TIP = (
    "Difference to truth (X): magenta = false car (in the mask, not the truth), "
    "cyan = missed car (in the truth, not the mask); Dice of the mask shown"
)
BEFORE_TIP = "Showing the model's auto-mask (V): edits are held until V shows your mask again"


def _rgb(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def difference_text(diff: MaskDifference) -> str:
    """The status-bar read-out: the two counts after squares of their overlay colours,
    and the Dice; short, since it shares the bar with the messages."""
    return (
        f"<span style='color:{_rgb(FALSE_CAR_RGB)}'>■</span> false car {diff.false_car:,} "
        f"<span style='color:{_rgb(MISSED_CAR_RGB)}'>■</span> missed car "
        f"{diff.missed_car:,} px &nbsp;Dice {diff.dice:.4f}"
    )


@dataclass(frozen=True)
class WorstStep:
    image_id: str
    rank: int  # 1 = the worst
    of: int
    dice: float
    wrapped: bool  # past the best image, back to the worst


def next_worst_step(
    dice: dict[str, float | None], after: tuple[float, str] | None
) -> WorstStep | None:
    """The image after ``after`` = (Dice, id) in the order worst first (ties by id, as the
    list's Dice column sorts), wrapping to the worst; None when no image has a Dice.

    ``after``'s own image is never the answer unless it is the only one: its Dice may have
    risen since (it was corrected), which must not send the walk back to it.
    """
    order = sorted((value, image_id) for image_id, value in dice.items() if value is not None)
    if not order:
        return None
    later = [k for k in order if after is None or (k > after and k[1] != after[1])]
    wrapped = not later
    if wrapped:
        later = [k for k in order if after is None or k[1] != after[1]] or order
    value, image_id = later[0]
    return WorstStep(image_id, order.index(later[0]) + 1, len(order), value, wrapped)


class CompareViews:
    def __init__(self, window: Any) -> None:
        self.window = window
        self.canvas = window.canvas
        self.document = window.document
        self.session = window.session
        self.status = window.status
        self.layer = DifferenceLayer(self.canvas)
        self.diff_action = window.action("diff_truth")
        self.before_action = window.action("show_before")
        self._changed = 0  # pixels the person's mask differs from the 'before' on show
        self._walk: tuple[float, str] | None = None  # (Dice, id) where W last went
        self.diff_action.toggled.connect(self._on_diff_toggled)
        self.before_action.toggled.connect(self._on_before_toggled)
        window.action("next_worst").triggered.connect(self.next_worst)
        window.image_changed.connect(self._on_image_changed)
        self.document.edit_finished.connect(lambda _label: self._update_readout())
        self.document.image_loaded.connect(self._on_document_loaded)

    # -- difference to truth (X) --------------------------------------------------
    def _truth(self) -> np.ndarray | None:
        current = self.session.current
        return current.truth if current is not None else None

    def _on_diff_toggled(self, on: bool) -> None:
        if on and self._truth() is None:
            self._set_checked(self.diff_action, False)
            self.status.show_message(self._no_truth_message(), error=True)
            return
        self._show_difference()

    def _no_truth_message(self) -> str:
        image_id = self.session.current_id or "this image"
        return f"Difference to truth: {image_id} has no ground-truth mask to compare with."

    def _show_difference(self) -> None:
        self.layer.show(self._truth() if self.diff_action.isChecked() else None)
        self._update_readout()

    def _update_readout(self) -> None:
        """The status bar's comparison read-out, in the mask area's place while a
        comparison view is on."""
        diff_on, before_on = self.diff_action.isChecked(), self.before_action.isChecked()
        if not (diff_on or before_on):
            self.status.show_comparison(None)
            return
        parts, tips = [], []
        if before_on:
            what = f"{self._changed:,} px changed since" if self._changed else "not changed"
            parts.append("<b>before</b>" if diff_on else f"<b>before</b> (auto-mask; {what})")
            tips.append(BEFORE_TIP)
        if diff_on:
            diff = self.layer.difference()
            parts.append("no ground truth" if diff is None else difference_text(diff))
            tips.append(DIFF_TIP)
        self.status.show_comparison(": ".join(parts), "\n".join(tips))

    # -- the auto-mask 'before' (V) ----------------------------------------------------
    def _on_before_toggled(self, on: bool) -> None:
        if not on:
            self.document.edits_held = None
            self.canvas.show_instead(None)
            self._after_view_change()
            if self.session.current_id is not None:
                self.status.show_message("Your mask (after).")
            return
        image_id = self.session.current_id
        before, problem = self._auto_mask(image_id)
        if before is None:
            self._set_checked(self.before_action, False)
            self.status.show_message(problem, error=True)
            return
        mask = self.document.mask
        self._changed = int(np.count_nonzero((mask != 0) != (before != 0)))
        self.canvas.show_instead(before)
        self.document.edits_held = BEFORE_HELD
        self._after_view_change()
        record = self.session.record_of(image_id)
        by = f" by {record.auto_version}" if record.auto_version else ""
        what = f"you changed {self._changed:,} px" if self._changed else "your mask is the same"
        self.status.show_message(f"Before: {what}; the auto-mask{by}. V: your mask.")

    def _auto_mask(self, image_id: str | None) -> tuple[np.ndarray | None, str]:
        """The stored auto-mask of the image, or None and why not."""
        project = self.session.project
        if image_id is None or project is None or self.document.mask is None:
            return None, "Show auto-mask (before): no image shown."
        try:
            before = project.load_auto_mask(image_id)
        except Exception as exc:  # an unreadable file: say which, keep editing possible
            return None, f"Show auto-mask (before): {project.auto_mask_path(image_id)}: {exc}"
        if before is None:
            return None, (
                f"Show auto-mask (before): {image_id} has no stored auto-mask "
                "(Ctrl+R or a batch auto-mask makes one)."
            )
        if before.shape != self.document.mask.shape:
            return None, (
                f"Show auto-mask (before): {project.auto_mask_path(image_id)} is "
                f"{before.shape[1]}×{before.shape[0]} px, not the image's size."
            )
        return before, ""

    def _after_view_change(self) -> None:
        self.layer.refresh(None)
        self._update_readout()

    # -- image changes ----------------------------------------------------------------
    def _on_document_loaded(self) -> None:
        """A new image (or the same one reloaded): the 'before' view belonged to the old."""
        self._set_checked(self.before_action, False)
        self._update_readout()

    def _on_image_changed(self, _image_id: str) -> None:
        self._show_difference()
        if self.diff_action.isChecked() and self._truth() is None:
            self.status.show_message(self._no_truth_message())

    @staticmethod
    def _set_checked(action, on: bool) -> None:
        was = action.blockSignals(True)
        action.setChecked(on)
        action.blockSignals(was)

    # -- next worst (W) ----------------------------------------------------------------
    def next_worst(self) -> None:
        """The next image by Dice against the truth, worst first, after the current one;
        the Dice is the one the image list shows (stored with each saved mask). An image
        W went to keeps its place in the walk even after its Dice rose (corrected)."""
        s = self.session
        if s.project is None or not s.records:
            self.status.show_message("Next worst: open a folder first.")
            return
        if not any(r.mask_path is not None for r in s.records.values()):
            self.status.show_message(
                "Next worst: this folder has no ground-truth masks to rank by.", error=True
            )
            return
        rows = s.project.records()
        dice = {i: rows[i].dice for i in s.records if i in rows}
        current = s.current_id
        if self._walk is not None and self._walk[1] == current:
            after = self._walk
        elif current is not None and dice.get(current) is not None:
            after = (dice[current], current)
        else:
            after = None
        step = next_worst_step(dice, after)
        if step is None:
            self.status.show_message(
                "Next worst: no image has a Dice yet (Model → Batch auto-mask scores them).",
                error=True,
            )
            return
        self._walk = (step.dice, step.image_id)
        self.window.show_image(step.image_id)
        again = " again" if step.wrapped else ""  # round from the best to the worst
        self.status.show_message(
            f"Worst {step.rank} of {step.of}{again} (Dice {step.dice:.4f}): {step.image_id}"
        )


def install_compare_views(window: Any) -> CompareViews:
    return CompareViews(window)
