"""Seeing where a mask errs: difference to truth (X), the auto-mask 'before' (V), and
Next worst (W).

``install_compare_views(window)`` wires the three View/Image actions through the window's
extension points (action, canvas, document, session, status, image_changed, show_image).
The difference view stays on from image to image (so W walks the worst images with it);
the 'before' view belongs to one image and holds every edit while it is shown, so the
person's mask and undo history are never touched by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QLabel

from carvana_gui.canvas.difference_layer import DifferenceLayer
from model.kaggle.difference import FALSE_CAR_RGB, MISSED_CAR_RGB, MaskDifference

BEFORE_HELD = (
    "Showing the auto-mask (before): edits are held so your mask stays as it is. "
    "Press V to go back to your mask, then edit."
)


def _rgb(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def difference_text(diff: MaskDifference, before: bool = False) -> str:
    """The status-bar read-out: the two counts in their overlay colours, and the Dice."""
    which = "auto-mask vs truth: " if before else ""
    return (
        f"{which}<span style='color:{_rgb(FALSE_CAR_RGB)}'>■</span> false car "
        f"{diff.false_car:,} px &nbsp; <span style='color:{_rgb(MISSED_CAR_RGB)}'>■</span> "
        f"missed car {diff.missed_car:,} px &nbsp; Dice {diff.dice:.4f}"
    )


def worst_order(dice: dict[str, float | None]) -> list[str]:
    """Image ids with a Dice, worst first (ties by id, as the list's Dice column sorts)."""
    scored = [(value, image_id) for image_id, value in dice.items() if value is not None]
    return [image_id for _, image_id in sorted(scored)]


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
        self.label = QLabel()
        self.label.setObjectName("difference")
        self.label.setToolTip(
            "Difference to truth (X): magenta = false car (in the mask, not the truth), "
            "cyan = missed car (in the truth, not the mask)"
        )
        self.label.hide()
        self.status.bar.addPermanentWidget(self.label)
        self.diff_action.toggled.connect(self._on_diff_toggled)
        self.before_action.toggled.connect(self._on_before_toggled)
        window.action("next_worst").triggered.connect(self.next_worst)
        window.image_changed.connect(self._on_image_changed)
        self.document.edit_finished.connect(lambda _label: self._update_counts())
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
        return (
            f"Difference to truth: {image_id} has no ground-truth mask (the folder's "
            f"train_masks/{image_id}_mask.gif), so there is nothing to compare with."
        )

    def _show_difference(self) -> None:
        self.layer.show(self._truth() if self.diff_action.isChecked() else None)
        self._update_counts()

    def _update_counts(self) -> None:
        if not self.diff_action.isChecked():
            self.label.hide()
            return
        diff = self.layer.difference()
        if diff is None:
            self.label.setText("difference: no ground truth for this image")
        else:
            self.label.setText(difference_text(diff, self.before_action.isChecked()))
        self.label.show()

    # -- the auto-mask 'before' (V) ----------------------------------------------------
    def _on_before_toggled(self, on: bool) -> None:
        image_id = self.session.current_id
        if not on:
            self.document.edits_held = None
            self.canvas.show_instead(None)
            self._after_view_change()
            if image_id is not None:
                self.status.show_message(f"{image_id}: your mask (after).")
            return
        before, problem = self._auto_mask(image_id)
        if before is None:
            self._set_checked(self.before_action, False)
            self.status.show_message(problem, error=True)
            return
        self.canvas.show_instead(before)
        self.document.edits_held = BEFORE_HELD
        self._after_view_change()
        record = self.session.record_of(image_id)
        mask = self.document.mask
        changed = int(np.count_nonzero((mask != 0) != (before != 0))) if mask is not None else 0
        by = f" by {record.auto_version}" if record.auto_version else ""
        what = f"you changed {changed:,} px" if changed else "your mask is the same"
        self.status.show_message(
            f"{image_id}: the auto-mask{by} (before); {what}. V shows your mask again.",
            timeout_ms=0,
        )

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
        self._update_counts()

    # -- image changes ----------------------------------------------------------------
    def _on_document_loaded(self) -> None:
        """A new image: the 'before' view belonged to the old one."""
        self._set_checked(self.before_action, False)

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
        """The next image by Dice against the truth, worst first, after the current one's
        rank; the Dice is the one the image list shows (stored with each saved mask)."""
        s = self.session
        if s.project is None or not s.records:
            self.status.show_message("Next worst: open a folder first.")
            return
        if not any(r.mask_path is not None for r in s.records.values()):
            self.status.show_message(
                "Next worst: this folder has no ground-truth masks, so no image has a Dice "
                "to rank by.",
                error=True,
            )
            return
        rows = s.project.records()
        order = worst_order({i: rows[i].dice for i in s.records if i in rows})
        if not order:
            self.status.show_message(
                "Next worst: no image has a Dice yet. Masks are scored against the truth "
                "when saved or auto-masked (Model → Batch auto-mask scores the folder).",
                error=True,
            )
            return
        current = s.current_id
        rank = order.index(current) + 1 if current in order else 0
        wrapped = rank >= len(order)
        target = order[0 if wrapped else rank]
        self.window.show_image(target)
        where = "back to the worst: " if wrapped else ""
        self.status.show_message(
            f"Next worst: {where}{target}, rank {order.index(target) + 1} of {len(order)} "
            f"by Dice ({rows[target].dice:.4f})"
        )


def install_compare_views(window: Any) -> CompareViews:
    return CompareViews(window)
