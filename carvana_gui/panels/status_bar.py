"""Status bar read-outs: image name, pixel position, zoom, mask area and Dice (or, while
a comparison view is on, its read-out in the same place), model, save state.

The messages (what an action did, why it did nothing) share the bar with these labels and
get what the labels leave; in a 1,300 px window with a comparison read-out they were
squeezed to about 100 px. So a label with nothing to say (the cursor's position off the
canvas, the worker's job while idle) takes no room, and the whole of a message a person
could not read in the bar is its tooltip until the next one. The image name, mask area
and save state likewise show only once there is something to say (no framed empty boxes
before an image is open)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

NO_ZOOM = "–"  # shown while no image is


class StatusPanel:
    """Owns the permanent labels of the window's status bar."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.image = self._label("", 150)
        self.image.setObjectName("image_name")
        self.image.hide()  # until an image is shown
        self.position = self._label("", 110)
        self.position.hide()  # until the cursor is over the image
        self.zoom = self._label(NO_ZOOM, 70)
        self.zoom.setToolTip("Zoom: screen pixels per image pixel (F fits, 1 = actual pixels)")
        self.mask = self._label("", 230)
        self.mask.hide()  # until an image's mask is
        # a comparison view's read-out (difference to truth, the auto-mask 'before') takes
        # the mask label's place: beside it, the message area would be squeezed to nothing
        self.compare = self._label("", 230)
        self.compare.setObjectName("comparison")
        self.compare.hide()
        self.model = self._label("model: loading…", 170)
        self.busy = self._label("", 120)
        self.busy.hide()  # until the worker runs a job
        self.edits = self._label("", 0)  # only when edits are not beside the images
        self.edits.setObjectName("edits_folder")
        self.edits.hide()
        self.saved = self._label("", 110)
        self.saved.hide()  # until there is a save state to tell
        bar.messageChanged.connect(self._tip_message)

    def _label(self, text: str, width: int) -> QLabel:
        label = QLabel(text)
        label.setMinimumWidth(width)
        self.bar.addPermanentWidget(label)
        return label

    def _tip_message(self, text: str) -> None:
        # a cleared message (timed out) leaves the last one readable on hover
        if text:
            self.bar.setToolTip(text)

    def follow_worker(self, worker) -> None:
        """Show the model worker's current job name while it is busy."""
        worker.started.connect(lambda _id, name: self.show_busy(f"{name}…"))
        for signal in (worker.finished, worker.errored, worker.cancelled):
            signal.connect(lambda *_: worker.busy or self.show_busy(""))

    def show_position(self, x: int, y: int) -> None:
        """The image pixel under the cursor; x < 0: the cursor is off the image."""
        self.position.setText(f"x {x}  y {y}" if x >= 0 else "")
        self.position.setVisible(x >= 0)

    def show_zoom(self, zoom: float | None) -> None:
        """The zoom in percent; None or 0: no image shown ("–")."""
        self.zoom.setText(f"{zoom * 100:.0f} %" if zoom else NO_ZOOM)

    def show_image_name(self, name: str | None, position: str = "") -> None:
        """The shown image's name (and e.g. "3 / 96"), or nothing."""
        self.image.setText(f"{name}  {position}".strip() if name else "")
        self.image.setToolTip(f"The image on the canvas: {name}" if name else "")
        self.image.setVisible(bool(name))

    def show_folder_opened(self, images: int, root, why: str | None) -> None:
        """Where this folder's edits go; when it is not the usual ``<images>_edits``
        (``why``), the message stays until the next one and a label names the folder."""
        if why:
            self.show_message(f"{images} images; {why}, so edits are saved in {root}", timeout_ms=0)
        else:
            self.show_message(f"{images} images; edits are saved in {root}")
        self.edits.setVisible(bool(why))
        self.edits.setText(f"edits → {root}" if why else "")
        self.edits.setToolTip(f"{why}, so edits are saved in {root}" if why else "")

    def show_read_only(self, reason: str) -> None:
        """The shown image may not be edited: say so where the mask area would be."""
        self.mask.setText("⚠ read-only: mask not editable")
        self.mask.setStyleSheet("color: #ff6b6b; font-weight: bold;")
        self.mask.setToolTip(reason)
        self.mask.setVisible(not self.compare.isVisibleTo(self.bar))

    def show_mask(self, area: int, total: int, dice: float | None) -> None:
        text = f"mask {area:,} px ({100 * area / max(total, 1):.1f} %)"
        if dice is not None:
            text += f"   Dice {dice:.4f}"
        self.mask.setText(text)
        self.mask.setStyleSheet("")
        self.mask.setToolTip("")
        self.mask.setVisible(not self.compare.isVisibleTo(self.bar))

    def show_no_mask(self) -> None:
        """No image open: the mask area has nothing to say (not the last image's area)."""
        self.mask.setText("")
        self.mask.setStyleSheet("")
        self.mask.setToolTip("")
        self.mask.hide()

    def show_comparison(self, text: str | None, tip: str = "") -> None:
        """A comparison view's read-out (rich text) instead of the mask area; None: the
        mask area again."""
        self.compare.setText(text or "")
        self.compare.setToolTip(tip)
        self.compare.setVisible(text is not None)
        self.mask.setVisible(text is None and bool(self.mask.text()))

    def show_model(self, name: str) -> None:
        self.model.setText(f"model: {name}")

    def show_busy(self, text: str) -> None:
        """The worker's current job; "" while it is idle (the label then takes no room)."""
        self.busy.setText(text)
        self.busy.setVisible(bool(text))

    def show_saved(self, pending: bool, error: str | None = None) -> None:
        if error:
            self.saved.setText("⚠ NOT SAVED")
            self.saved.setStyleSheet("color: #ff6b6b; font-weight: bold;")
            self.saved.setToolTip(error + "\nThe edits are kept in memory and saving is retried.")
            self.bar.showMessage(error, 15000)
        else:
            self.saved.setText("saving…" if pending else "✓ saved")
            self.saved.setStyleSheet("color: #7fd18b;" if not pending else "")
            self.saved.setToolTip("")
        self.saved.show()

    def show_message(self, text: str, error: bool = False, timeout_ms: int = 10000) -> None:
        """A message on the left of the bar (0 ms: until the next message)."""
        self.bar.setStyleSheet("QStatusBar { color: #ff6b6b; }" if error else "")
        self.bar.showMessage(text, timeout_ms)
