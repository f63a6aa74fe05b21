"""Toolbar controls: brush size, overlay colour and opacity."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
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

    def __init__(self, prefs: Preferences) -> None:
        super().__init__()
        self.prefs = prefs
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setValue(prefs.brush_size)
        self.brush_spin.setToolTip("Brush diameter in image pixels  [ [ ] or Ctrl+wheel ]")
        self.brush_spin.valueChanged.connect(self.brush_size_changed)
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
