"""Model → Versions: every model with its scores; pick one to roll back (or forward).

The list is rebuilt each time the menu opens, from the store's folders and JSON only (no
Keras), so it is always current after fine-tuning or an import. The default shipped with
the package is listed last, so it can always be rolled back to. Picking a version only
moves the store's ``current`` pointer; old versions are never deleted.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from model.store.keep_or_not import override_current, version_label
from model.store.versions import ModelInfo, ModelStore, is_shipped, shipped_label

log = logging.getLogger(__name__)


class ModelVersionsMenu(QObject):
    """Fills a 'Versions' submenu; emits current_changed(ModelInfo) after a switch."""

    current_changed = Signal(object)

    def __init__(self, store: ModelStore, parent_menu: QMenu, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.menu = parent_menu.addMenu("&Versions")
        self.menu.setToolTipsVisible(True)
        self.menu.aboutToShow.connect(self.rebuild)
        self._group = QActionGroup(self.menu)
        self.rebuild()

    def rebuild(self) -> None:
        self.menu.clear()
        self._group = QActionGroup(self.menu)
        choices = self.store.choices()  # the shipped default first, then oldest to newest
        if not choices:
            empty = self.menu.addAction("(no models yet: train or import one)")
            empty.setEnabled(False)
            return
        current = self.store.current()
        for info in reversed(choices):  # newest first, the shipped default last
            label = shipped_label(info) if is_shipped(info) else version_label(info)
            action = QAction(label, self.menu)
            action.setCheckable(True)
            action.setChecked(current is not None and current.version == info.version)
            action.setToolTip(str(info.path))
            action.setData(info.version)
            action.triggered.connect(lambda _=False, v=info.version: self.switch_to(v))
            self._group.addAction(action)
            self.menu.addAction(action)

    def switch_to(self, version: str) -> ModelInfo:
        """Make ``version`` current (a roll back, or the user overriding a rejection)."""
        info = override_current(self.store, version)
        log.info("current model is now %s", version)
        self.rebuild()
        self.current_changed.emit(info)
        return info
