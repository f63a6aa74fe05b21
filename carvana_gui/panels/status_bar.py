"""Status bar read-outs: pixel position, zoom, mask area and Dice, model, save state."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar


class StatusPanel:
    """Owns the permanent labels of the window's status bar."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.position = self._label("", 110)
        self.zoom = self._label("", 70)
        self.mask = self._label("", 230)
        self.model = self._label("model: loading…", 170)
        self.busy = self._label("", 120)
        self.saved = self._label("", 110)

    def _label(self, text: str, width: int) -> QLabel:
        label = QLabel(text)
        label.setMinimumWidth(width)
        self.bar.addPermanentWidget(label)
        return label

    def follow_worker(self, worker) -> None:
        """Show the model worker's current job name while it is busy."""
        worker.started.connect(lambda _id, name: self.busy.setText(f"{name}…"))
        for signal in (worker.finished, worker.errored, worker.cancelled):
            signal.connect(lambda *_: worker.busy or self.busy.setText(""))

    def show_position(self, x: int, y: int) -> None:
        self.position.setText(f"x {x}  y {y}" if x >= 0 else "")

    def show_zoom(self, zoom: float) -> None:
        self.zoom.setText(f"{zoom * 100:.0f} %")

    def show_mask(self, area: int, total: int, dice: float | None) -> None:
        text = f"mask {area:,} px ({100 * area / max(total, 1):.1f} %)"
        if dice is not None:
            text += f"   Dice {dice:.4f}"
        self.mask.setText(text)

    def show_model(self, name: str) -> None:
        self.model.setText(f"model: {name}")

    def show_busy(self, text: str) -> None:
        self.busy.setText(text)

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

    def show_message(self, text: str, error: bool = False) -> None:
        self.bar.setStyleSheet("QStatusBar { color: #ff6b6b; }" if error else "")
        self.bar.showMessage(text, 10000)
