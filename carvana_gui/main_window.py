"""The main window: composes the canvas, image list, toolbar and workers, and wires them.

Logic lives in the parts (document, tools, autosave, model worker, image list); what the
window works on lives in ``session`` (folder, images, project store, current image, active
model). This class only connects them. Extension points for other panels: ``add_dock``,
``menu(name)``, ``action(name)``, ``worker`` (the one ModelWorker), ``session`` and the
signals ``image_changed``, ``mask_edited`` and ``model_changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
)

from carvana_gui.actions import (
    build_actions,
    build_menus,
    build_toolbar,
    show_about,
    show_shortcuts,
)
from carvana_gui.canvas.tools import BrushTool, BucketTool, LassoTool, Tool
from carvana_gui.canvas.view import MaskCanvas
from carvana_gui.drops import open_dropped
from carvana_gui.editing.autosave import Autosaver
from carvana_gui.editing.document import MaskDocument
from carvana_gui.editing.effort_clock import EffortClock
from carvana_gui.edits_folder import open_edits_project
from carvana_gui.jobs.automask import AutoMaskController
from carvana_gui.jobs.image_cache import ImageCache
from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.message_box import non_modal_box
from carvana_gui.panels.auto_mask import AutoMaskFlow
from carvana_gui.panels.compare_views import install_compare_views
from carvana_gui.panels.image_list import FolderScanThread, ImageListDock, ImageTableModel
from carvana_gui.panels.mask_commands import MaskCommands
from carvana_gui.panels.model_loop import install_model_loop
from carvana_gui.panels.save_questions import SaveQuestions
from carvana_gui.panels.smart_correction import install_smart_correction
from carvana_gui.panels.status_bar import StatusPanel
from carvana_gui.panels.toolbar import OverlayControls
from carvana_gui.panels.window_indicators import APP_TITLE, WindowIndicators
from carvana_gui.session import Session
from carvana_gui.settings import Preferences, WindowState
from model.data.dataset import DataLayout
from model.edits.lifecycle import MaskState
from model.edits.project_store import ProjectError, ProjectStore
from model.workflows.annotation_folder import image_folder_of

log = logging.getLogger(__name__)

PREFS_SAVE_DELAY_MS = 1500  # brush size etc. written this long after the last change


class MainWindow(QMainWindow):
    image_changed = Signal(str)  # image id now shown
    mask_edited = Signal(str)  # image id whose mask changed (one per undo step)
    model_changed = Signal(object)  # automask.ActiveModel | None
    folder_opened = Signal(object)  # DataLayout

    def __init__(
        self,
        prefs: Preferences | None = None,
        state: WindowState | None = None,
        project_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.prefs = prefs or Preferences.load()
        self.state = state or WindowState()
        self.project_dir_override = project_dir
        self.session = Session()
        self._scan: FolderScanThread | None = None
        self.clock = EffortClock()
        self.cache = ImageCache()
        self.edits_fallback: str | None = None  # why edits are not beside the images
        self._close_confirmed = False
        self._prefs_timer = QTimer(self, singleShot=True, interval=PREFS_SAVE_DELAY_MS)
        self._prefs_timer.timeout.connect(self._save_prefs)

        self.worker = ModelWorker(self)
        self.worker.errored.connect(self.show_error_report)
        self.automask = AutoMaskController(self.worker, self)
        self.automask.model_changed.connect(self._on_model_changed)
        self.automask.no_model.connect(self.show_info)

        self.document = MaskDocument(self)
        self.canvas = MaskCanvas(self.document)
        self.setCentralWidget(self.canvas)
        self.table_model = ImageTableModel(self.session.state_of, self.session.record_of)
        self.image_list = ImageListDock(self.table_model, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.image_list)
        self.status = StatusPanel(self.statusBar())
        self.status.follow_worker(self.worker)
        self.auto_masking = AutoMaskFlow(
            self.automask,
            self.session,
            self.canvas,
            self.prefs,
            lambda: self._actions["confidence"].isChecked(),
            self.status.show_message,
            self.table_model.refresh_image,
        )
        self.save_questions = SaveQuestions(
            self,
            self.session,
            self.document,
            self.status.show_message,
            self.table_model.refresh_image,
            self.show_error,
        )

        self._actions = build_actions(self, self._slots(), self.prefs.shortcuts)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._menus = build_menus(self.menuBar(), self._actions, self.recent_menu)
        self._menus["view"].addAction(self.image_list.toggleViewAction())
        self.tools: dict[str, Tool] = {
            "tool_brush": BrushTool(),
            "tool_eraser": BrushTool(erase=True),
            "tool_bucket": BucketTool(),
            "tool_lasso": LassoTool(),
        }
        group = QActionGroup(self)
        for name in self.tools:
            group.addAction(self._actions[name])
        self.overlay = OverlayControls(self.prefs)
        self.toolbar = build_toolbar(self, self._actions, self.overlay)
        self.indicators = WindowIndicators(
            self, self._actions, self.session, self.document, self.status, self.table_model
        )
        self.commands = MaskCommands(
            self.session,
            self.document,
            self.status,
            self.indicators,
            self.table_model,
            self._actions["mark_reviewed"],
        )
        self._wire()
        self._actions["show_mask"].setChecked(True)
        self._actions["outline"].setChecked(self.prefs.outline_only)
        self._actions["automask_tta"].setChecked(self.prefs.automask_tta)
        self._actions["tool_brush"].setChecked(True)
        self.canvas.set_brush_size(self.prefs.brush_size)
        self._apply_overlay_style()
        self.indicators.update_enabled()
        if sort := self.state.sort_order():
            self.image_list.set_sort(*sort)
        self.image_list.sort_changed.connect(self._on_sort_changed)
        install_model_loop(self)  # fine-tune/batch/effort docks, export, versions (issue 5)
        self.compare_views = install_compare_views(self)  # X, V, W: where masks err
        install_smart_correction(self)  # Smart click (S, Shift+click), Accept and next (R)
        self.resize(1500, 950)
        if geometry := self.state.geometry():
            self.restoreGeometry(geometry)
        if window_state := self.state.window_state():
            self.restoreState(window_state)
        self.canvas.watch_space_key(self)

    # -- extension points --------------------------------------------------
    def add_dock(
        self, dock: QDockWidget, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea
    ) -> None:
        """Add a panel; it gets an entry in View so it can be shown again after closing."""
        if not dock.objectName():
            dock.setObjectName(dock.windowTitle().lower().replace(" ", "_") + "_dock")
        self.addDockWidget(area, dock)
        self._menus["view"].addAction(dock.toggleViewAction())

    def menu(self, name: str) -> QMenu:
        """A top-level menu by name: file, edit, view, image, model, help."""
        return self._menus[name]

    def action(self, name: str) -> QAction:
        return self._actions[name]

    # -- construction ------------------------------------------------------
    def _slots(self) -> dict[str, Callable[..., object]]:
        c = self.canvas
        return {
            "open_folder": self._choose_folder,
            "quit": self.close,
            "undo": self.document.undo,
            "redo": self.document.redo,
            "fill_holes": lambda: self.commands.fill_holes(),  # commands come after actions
            "clear_mask": self.document.clear,
            "use_ground_truth": lambda: self.commands.use_ground_truth(),
            "brush_smaller": lambda: c.set_brush_size(round(c.brush_size / 1.25)),
            "brush_larger": lambda: c.set_brush_size(
                max(c.brush_size + 1, round(c.brush_size * 1.25))
            ),
            "fit": c.fit,
            "one_to_one": c.one_to_one,
            "show_mask": c.set_mask_visible,
            "outline": lambda _on: self._apply_overlay_style(),
            "confidence": lambda _on: self.auto_masking.show_confidence(),
            "prev_image": lambda: self.step_image(-1),
            "next_image": lambda: self.step_image(1),
            "next_unreviewed": self.next_unreviewed,
            "mark_reviewed": lambda on: self.commands.set_reviewed(on),
            "auto_mask": lambda: self.auto_masking.run(),
            "automask_tta": lambda on: setattr(self.prefs, "automask_tta", bool(on)),
            "import_model": self._choose_model_file,
            "shortcuts": lambda: show_shortcuts(self),
            "about": lambda: show_about(self, self.automask.last_engine),
            **{
                name: self._tool_slot(name)
                for name in ("tool_brush", "tool_eraser", "tool_bucket", "tool_lasso")
            },
        }

    def _tool_slot(self, name: str):
        return lambda on: on and self.canvas.set_tool(self.tools[name])

    def _wire(self) -> None:
        c = self.canvas
        c.cursor_moved.connect(self.status.show_position)
        c.zoom_changed.connect(self.status.show_zoom)
        c.brush_size_changed.connect(self.overlay.set_brush_size)
        c.brush_size_changed.connect(lambda _size: self._prefs_timer.start())
        c.space_tapped.connect(self.commands.space_tapped)
        self.overlay.brush_size_changed.connect(c.set_brush_size)
        self.overlay.style_changed.connect(self._apply_overlay_style)
        self.overlay.editing_done.connect(lambda: c.setFocus(Qt.FocusReason.OtherFocusReason))
        self.document.refused.connect(lambda why: self.status.show_message(why, error=True))
        self.document.edit_finished.connect(self._on_edit_finished)
        self.document.history_changed.connect(self.indicators.update_enabled)
        self.image_list.image_selected.connect(self.show_image)

    # -- folders -----------------------------------------------------------
    def _choose_folder(self) -> None:
        start = self.state.last_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open image folder", start)
        if folder:
            self.open_folder(Path(folder))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.state.recent_folders():
            self.recent_menu.addAction(folder, lambda f=folder: self.open_folder(Path(f)))

    def open_folder(self, folder: Path, select: str | None = None) -> None:
        """Scan ``folder`` in a thread; the list fills when the scan is done.

        ``select``: the image id to show once scanned (default: the image last shown in
        that folder, else the first). Edits the disk refused are asked about first.
        """
        if self.save_questions.has_unsaved_edits():
            ask = self.save_questions.ask_unsaved
            ask("Opening another folder", lambda: self.open_folder(folder, select))
            return
        self.status.show_message(f"Scanning {folder}…")
        self._scan = FolderScanThread(Path(folder))
        self._scan.scanned.connect(
            lambda layout, f=folder: self._on_scanned(Path(f), layout, select)
        )
        self._scan.failed.connect(lambda msg: self.show_error(f"Cannot open folder: {msg}"))
        self._scan.warning.connect(lambda msg: self.status.show_message(msg, error=True))
        self._scan.start()

    def _on_scanned(self, folder: Path, layout: DataLayout, select: str | None = None) -> None:
        self._leave_image()
        s = self.session
        project = self._open_project(image_folder_of(folder, layout))
        if project is None:
            return
        autosaver = Autosaver(project, after_save=self.commands.after_save, parent=self)
        autosaver.saved.connect(self.commands.on_saved)
        autosaver.failed.connect(self.commands.on_save_failed)
        autosaver.conflict.connect(self.save_questions.ask_conflict)
        s.switch_folder(folder, layout, project, autosaver)
        self.cache.clear()
        self.table_model.set_records(layout.images)
        self.state.add_recent_folder(str(folder))
        self.indicators.update_title()
        self.status.show_folder_opened(len(layout.images), project.root, self.edits_fallback)
        if project.recovered:
            self.show_info("The project was repaired on opening:\n" + "\n".join(project.recovered))
        self.folder_opened.emit(layout)
        if select is None:
            select = self.state.last_image(folder)
        if select in s.records and self.table_model.row_of(select) is not None:
            self.show_image(select)
            return
        first = self.table_model.record_at(0)
        if first is not None:
            self.show_image(first.image_id)
        else:
            self._show_no_image(f"<p>No images found in<br><b>{folder}</b></p>")

    def _open_project(self, image_folder: Path) -> ProjectStore | None:
        """The folder's project store (beside the images, or a writable fallback)."""
        try:
            project, self.edits_fallback = open_edits_project(
                image_folder, self.project_dir_override
            )
        except ProjectError as exc:
            self.show_error(str(exc))
            return None
        return project

    def _show_no_image(self, hint: str) -> None:
        """Nothing on the canvas (a folder without images): say what to do instead."""
        self.session.current = None
        self.document.unload()
        self.canvas.clear_image(hint)
        self.indicators.update_enabled()
        self.indicators.update_title()  # no image name in the status bar either
        self.indicators.update_mask_status()  # nor the last image's mask area

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls()]
        if open_dropped(self, paths):
            event.acceptProposedAction()

    def import_model(self, path: Path) -> None:
        self.automask.import_model(path)

    # -- images ------------------------------------------------------------
    def show_image(self, image_id: str) -> None:
        s = self.session
        if s.current_id == image_id:
            return
        record = s.records.get(image_id)
        if record is None or s.project is None:
            return
        try:
            loaded = self.cache.get(record)
        except Exception as exc:
            self.show_error(str(exc))
            return
        self._leave_image()
        mask, read_only = s.mask_for_editing(image_id, loaded.image.shape[:2])
        s.current = loaded
        self.canvas.set_image(loaded.image)  # fitted: no zoom carried over from the last image
        self.document.load(image_id, mask, read_only=read_only)
        if read_only:
            self.show_error(read_only)
        self.auto_masking.show_confidence()
        self.clock.start()
        self.image_list.select(image_id, emit=False)
        self.indicators.show_image(image_id)
        if s.folder is not None:  # reopen here next time, even after a crash
            self.state.set_last_image(s.folder, image_id)
        self.image_changed.emit(image_id)
        row = self.table_model.row_of(image_id)
        if row is not None:
            near = [self.table_model.record_at(row + d) for d in (1, -1, 2)]
            self.cache.prefetch(r for r in near if r is not None)

    def _leave_image(self) -> None:
        """Finish any gesture, bank the effort time and start saving the image being left."""
        s = self.session
        if s.current is None or s.project is None:
            return
        if self.canvas.tool is not None:
            self.canvas.tool.cancel(self.canvas)
        seconds = self.clock.take()
        if s.autosaver is not None:
            project, image_id = s.project, s.current.record.image_id
            s.autosaver.flush()
            s.autosaver.run_in_writer(lambda: project.add_seconds(image_id, seconds))

    def step_image(self, delta: int) -> None:
        row = self.image_list.current_row() if self.session.current else -1
        record = self.table_model.record_at(
            min(max(row + delta, 0), self.table_model.rowCount() - 1)
        )
        if record is not None:
            self.show_image(record.image_id)

    def next_unreviewed(self) -> None:
        n = self.table_model.rowCount()
        start = self.image_list.current_row()
        for k in range(1, n + 1):
            record = self.table_model.record_at((start + k) % n)
            state = self.session.state_of(record.image_id) if record is not None else None
            if record is not None and state is not MaskState.REVIEWED:
                self.show_image(record.image_id)
                return
        self.status.show_message("Every image in the list is reviewed.")

    # -- editing -----------------------------------------------------------
    def _on_edit_finished(self, label: str) -> None:
        s = self.session
        if s.current is None or s.autosaver is None:
            return
        image_id = s.current.record.image_id
        self.clock.touch()
        s.autosaver.schedule(image_id, self.document.mask)
        self.indicators.update_mask_status()
        self.mask_edited.emit(image_id)

    # -- auto-mask ---------------------------------------------------------
    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import model", str(Path.home()), "Keras model (*.keras)"
        )
        if path:
            self.import_model(Path(path))

    def _on_model_changed(self, model) -> None:
        self.session.active_model = model
        self.status.show_model(model.name if model else "no model")
        self.table_model.set_current_version(model.name if model else None)
        self.model_changed.emit(model)

    # -- view state --------------------------------------------------------
    def _apply_overlay_style(self) -> None:
        self.prefs.outline_only = self._actions["outline"].isChecked()
        self.canvas.set_overlay_style(
            QColor(self.prefs.overlay_color), self.prefs.overlay_opacity, self.prefs.outline_only
        )

    def _on_sort_changed(self, column: int, descending: bool) -> None:
        self.state.set_sort_order(column, descending)
        if self.session.current_id is not None:  # the sort rebuilt the list: keep the row
            self.image_list.select(self.session.current_id, emit=False)
            self.indicators.update_title()

    def _save_prefs(self) -> None:
        self._prefs_timer.stop()
        self.prefs.brush_size = self.canvas.brush_size
        try:
            self.prefs.save()
        except OSError as exc:
            log.warning("could not save preferences: %s", exc)

    # -- errors --------------------------------------------------------------
    def show_error_report(self, _job_id: int, message: str, details: str) -> None:
        """The one handler for worker errors: log the traceback, tell the person."""
        log.error("%s\n%s", message, details)
        self.show_error(message)

    def show_error(self, message: str) -> None:
        self.status.show_message(message, error=True)
        non_modal_box(self, QMessageBox.Icon.Warning, message)

    def show_info(self, message: str) -> None:
        non_modal_box(self, QMessageBox.Icon.Information, message)

    # -- events ------------------------------------------------------------
    def start(self, folder: Path | None = None) -> None:
        """After the window is shown: open a folder and warm up the model worker."""
        target = folder or (Path(self.state.last_folder()) if self.state.last_folder() else None)
        if target is not None and target.exists():
            self.open_folder(target)
        QTimer.singleShot(200, self.automask.discover)

    def _close_after_answer(self) -> None:
        self._close_confirmed = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.canvas.tool is not None:
            self.canvas.tool.cancel(self.canvas)
        questions = self.save_questions
        if not self._close_confirmed and questions.has_unsaved_edits():
            event.ignore()  # asked first: closing would drop edits the disk refused
            if questions.unsaved_box is None:
                questions.ask_unsaved("Closing", self._close_after_answer)
            return
        self.canvas.unwatch_space_key()
        self._leave_image()
        if self.session.autosaver is not None:
            try:
                self.session.autosaver.close()
            except Exception:
                log.exception("final save failed")
        if self.session.project is not None:
            self.session.project.close()
        self.state.save_window(self.saveGeometry(), self.saveState())
        self._save_prefs()
        self.worker.shutdown(timeout_ms=10000)
        if self._scan is not None:
            self._scan.wait(5000)
        self.cache.close()
        super().closeEvent(event)
