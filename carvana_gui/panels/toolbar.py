"""Toolbar controls: brush size, overlay colour and opacity.

The brush Size box must not keep the keyboard: Enter commits the typed size and Escape
drops it, and both emit ``editing_done`` so the window hands focus back to the canvas
(single-key shortcuts such as B, E and ] would otherwise go into the box).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from carvana_gui.settings import Preferences
from model.edits.mask_ops import MAX_BRUSH, MIN_BRUSH


class OverlayControls(QObject):
    """Brush-size spin box and overlay colour/opacity, kept in sync with the preferences."""

    brush_size_changed = Signal(int)
    style_changed = Signal()
    editing_done = Signal()  # Enter or Escape in the Size box: give the canvas the keys back

    def __init__(self, prefs: Preferences) -> None:
        super().__init__()
        self.prefs = prefs
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setValue(prefs.brush_size)
        self.brush_spin.setToolTip(
            "Brush diameter in image pixels; type a size and press Enter  [ [ ] or Ctrl+wheel ]"
        )
        self.brush_spin.setKeyboardTracking(False)  # typing "25" is 25, not 2 then 25
        self.brush_spin.valueChanged.connect(self.brush_size_changed)
        self.brush_spin.editingFinished.connect(self._on_editing_finished)
        self.brush_spin.installEventFilter(self)
        self.brush_widget = self._row(QLabel("Size"), self.brush_spin)

        self.color_button = QToolButton()
        self.color_button.setToolTip("Mask colour")
        self.color_button.clicked.connect(self._choose_color)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(prefs.overlay_opacity * 100))
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Mask opacity")
        self.opacity.valueChanged.connect(self._on_opacity)
        self.style_widget = self._row(self.color_button, QLabel("Opacity"), self.opacity)
        self._paint_color_button()

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        box = QWidget()
        box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(box)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        for widget in widgets:
            layout.addWidget(widget)
        return box

    def _on_editing_finished(self) -> None:
        # Also emitted when the box merely loses focus: only Enter (focus still here) hands back.
        if self.brush_spin.hasFocus():
            self.editing_done.emit()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if (
            obj is self.brush_spin
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            spin = self.brush_spin  # drop what was typed: show the size in use again
            spin.lineEdit().setText(spin.textFromValue(spin.value()) + spin.suffix())
            self.editing_done.emit()
            return True
        return False

    def set_brush_size(self, size: int) -> None:
        self.prefs.brush_size = size
        if self.brush_spin.value() != size:
            self.brush_spin.setValue(size)

    def _on_opacity(self, value: int) -> None:
        self.prefs.overlay_opacity = value / 100.0
        self.style_changed.emit()

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(QColor(self.prefs.overlay_color), None, "Mask colour")
        if color.isValid():
            self.prefs.overlay_color = color.name()
            self._paint_color_button()
            self.style_changed.emit()

    def _paint_color_button(self) -> None:
        self.color_button.setStyleSheet(
            f"QToolButton {{ background: {self.prefs.overlay_color}; border: 1px solid #888;"
            " border-radius: 3px; min-width: 18px; min-height: 18px; }"
        )
