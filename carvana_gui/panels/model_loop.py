"""The model loop in the main window: fine-tune, batch auto-mask, export, effort, versions.

``install_model_loop(window)`` is the one hook the main window calls; it adds the docks,
menu entries and signal wiring, and touches the window only through its extension points
(add_dock, menu, worker, session, automask, table_model, signals).

Importing this module also reserves a CPU core for the GUI (carvana_gui.jobs.runtime_tuning): the
TensorFlow thread caps must be in the environment before the model worker first imports
TensorFlow, which happens after the window exists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QTabBar

from carvana_gui.jobs.runtime_tuning import reserve_gui_core
from carvana_gui.panels.batch import BatchPanel
from carvana_gui.panels.effort import EffortPanel
from carvana_gui.panels.export import ExportDialog
from carvana_gui.panels.finetune import FinetunePanel
from carvana_gui.panels.learn_car import install_learn_car
from carvana_gui.panels.versions_menu import ModelVersionsMenu
from model.store.versions import ModelInfo, ModelStore, user_models_dir

log = logging.getLogger(__name__)

DOCK_WIDTH = 340
TAB_MARGIN = 8  # the tab bar's own frame beside its tabs


reserve_gui_core()


class ModelLoop:
    """Holds the panels and keeps them in step with the window."""

    def __init__(self, window: Any, store: ModelStore | None = None) -> None:
        self.window = window
        self.store = store or ModelStore(user_models_dir())
        self.finetune = FinetunePanel(window.worker, self.store)
        self.batch = BatchPanel(window.worker, self.active_model, car_models=self.car_models)
        self.effort = EffortPanel()
        self.export_dialog: ExportDialog | None = None
        self.docks = {
            "finetune": self._dock("Fine-tune", self.finetune),
            "batch": self._dock("Batch auto-mask", self.batch),
            "effort": self._dock("Correction effort", self.effort),
        }
        window.tabifyDockWidget(self.docks["finetune"], self.docks["batch"])
        window.tabifyDockWidget(self.docks["batch"], self.docks["effort"])
        self.docks["finetune"].raise_()
        width = self._dock_width()
        window.resizeDocks([self.docks["finetune"]], [width], Qt.Orientation.Horizontal)
        self.versions = ModelVersionsMenu(self.store, window.menu("model"), window)
        self.actions = self._add_actions()
        self._refresh_soon = QTimer(window)
        self._refresh_soon.setSingleShot(True)
        self._refresh_soon.setInterval(1000)
        self._refresh_soon.timeout.connect(self._refresh_counts)
        self._wire()

    def _dock(self, title: str, widget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setWidget(widget)
        self.window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
        return dock

    def _dock_width(self) -> int:
        """DOCK_WIDTH, or wider where the tabbed docks' titles need it.

        Qt elides a dock tab's title that does not fit ("Fine-t…", "Batch auto-m…"), which
        leaves the person guessing which tab is which; the width the titles need depends on
        the platform's font and style, so it is measured on the tab bar itself.
        """
        titles = {dock.windowTitle() for dock in self.docks.values()}
        for bar in self.window.findChildren(QTabBar):
            if {bar.tabText(i) for i in range(bar.count())} == titles:
                needed = sum(bar.tabSizeHint(i).width() for i in range(bar.count()))
                return max(DOCK_WIDTH, needed + TAB_MARGIN)
        return DOCK_WIDTH

    def _add_actions(self) -> dict[str, QAction]:
        w = self.window
        export = QAction("&Export…", w)
        export.setShortcut(QKeySequence("Ctrl+E"))
        export.setStatusTip("Export a Kaggle submission CSV or the masks as PNG/GIF files")
        export.triggered.connect(self.show_export)
        file_menu = w.menu("file")
        quit_action = next((a for a in file_menu.actions() if a.objectName() == "quit"), None)
        if quit_action is not None:
            file_menu.insertAction(quit_action, export)
        else:
            file_menu.addAction(export)
        model_menu = w.menu("model")
        model_menu.addSeparator()
        finetune = model_menu.addAction("&Fine-tune on corrected masks…")
        finetune.triggered.connect(lambda: self._show("finetune"))
        batch = model_menu.addAction("&Batch auto-mask…")
        batch.triggered.connect(lambda: self._show("batch"))
        effort = model_menu.addAction("Correction &effort")
        effort.triggered.connect(lambda: self._show("effort"))
        return {"export": export, "finetune": finetune, "batch": batch, "effort": effort}

    def _show(self, name: str) -> None:
        self.docks[name].show()
        self.docks[name].raise_()

    def _wire(self) -> None:
        w = self.window
        w.folder_opened.connect(self._on_folder)
        w.image_changed.connect(self._on_image)
        w.mask_edited.connect(lambda *_: self._refresh_soon.start())
        w.model_changed.connect(self._on_active_model)
        self.finetune.model_changed.connect(self.use_model)
        self.versions.current_changed.connect(self.use_model)
        self.batch.mask_saved.connect(w.table_model.refresh_image)
        self.batch.batch_finished.connect(lambda *_: self.effort.refresh())
        self.batch.batch_finished.connect(self._mask_open_image_too)

    def _mask_open_image_too(self, result) -> None:
        """The batch leaves the open image to the editor; if it is still empty, mask it there.

        Through the editor's own auto-mask: one undoable step on the canvas, never a file
        written under the person's brush.
        """
        w = self.window
        if result is None or w.session.current is None:
            return
        if w.session.current_id in result.protected_ids and not w.document.mask.any():
            w.auto_masking.run()

    def active_model(self) -> tuple[Path, str] | None:
        """(model file, version name) the window predicts with, if any."""
        model = getattr(self.window.automask, "model", None)
        return (Path(model.path), model.name) if model is not None else None

    def car_models(self) -> dict[str, tuple[Path, str]]:
        """Learn this car's models (car id -> (model file, version)): a batch masks those
        cars' images with them, as Ctrl+R does."""
        models = getattr(self.window.automask, "car_models", {})
        return {car: (Path(m.path), m.name) for car, m in models.items()}

    def use_model(self, info: ModelInfo) -> None:
        """A new current model (accepted fine-tune, roll back): predict with it from now on."""
        self.window.automask.set_model_path(info.path, info.version)

    def _on_folder(self, layout) -> None:
        images = list(layout.images)
        project = self.window.session.project
        self.finetune.set_data(project, images)
        self.batch.set_data(project, images)
        self.effort.set_project(project)

    def _on_image(self, image_id: str) -> None:
        self.batch.open_image_id = image_id
        self._refresh_soon.start()

    def _on_active_model(self, model) -> None:
        self.effort.set_current_version(model.name if model is not None else None)
        self._refresh_counts()

    def _refresh_counts(self) -> None:
        if not self.batch.running:
            self.batch.refresh_counts()
        if not self.finetune.running:
            self.finetune.refresh_data()

    def show_export(self) -> ExportDialog:
        w = self.window
        folder, project = w.session.image_folder, w.session.project
        if self.export_dialog is None or self.export_dialog.project is not project:
            self.export_dialog = ExportDialog(
                w.worker, self.active_model, project, folder, w, state=w.state
            )
        self.export_dialog.show()
        return self.export_dialog


def install_model_loop(window: Any, store: ModelStore | None = None) -> ModelLoop:
    """Add the fine-tune / batch / effort docks, File → Export, Model → Versions and
    Model → Learn this car."""
    loop = ModelLoop(window, store)
    window.model_loop = loop
    install_learn_car(window, loop.store)  # Model → Learn this car (issue 22)
    return loop
