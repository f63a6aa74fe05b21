"""The window's message boxes: non-modal, so background work and tests go on while one is open."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def non_modal_box(parent: QWidget, icon: QMessageBox.Icon, message: str) -> QMessageBox:
    box = QMessageBox(icon, "Carvana Masks", message, parent=parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.show()
    return box
