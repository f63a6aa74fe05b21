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

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
)

from carvana_gui.actions import (
    NEEDS_IMAGE,
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
from carvana_gui.jobs.automask import AutoMaskController, AutoMaskResult
from carvana_gui.jobs.image_cache import ImageCache, score_against_truth
from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.message_box import non_modal_box
from carvana_gui.panels.image_list import FolderScanThread, ImageListDock, ImageTableModel
from carvana_gui.panels.model_loop import install_model_loop
from carvana_gui.panels.status_bar import StatusPanel
from carvana_gui.panels.toolbar import OverlayControls
from carvana_gui.session import Session, choose_edits_dir, fallback_edits_dir
from carvana_gui.settings import Preferences, WindowState
from model.data.dataset import DataLayout
from model.data.masks import write_mask
from model.edits.lifecycle import MaskRecord, MaskState
from model.edits.mask_ops import fill_holes
from model.edits.project_store import ProjectError, ProjectStore
from model.kaggle.metrics import uncertainty_score
from model.workflows.annotation_folder import image_folder_of

log = logging.getLogger(__name__)

APP_TITLE = "Carvana Masks"
PREFS_SAVE_DELAY_MS = 1500  # brush size etc. written this long after the last change
NO_IMAGE_MESSAGE = "No image shown: open a folder first (File → Open Folder…, Ctrl+O)."


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
        self._probs: dict[str, np.ndarray] = {}
        self.clock = EffortClock()
        self.cache = ImageCache()
        self.edits_fallback: str | None = None  # why edits are not beside the images
        self.unsaved_box: QMessageBox | None = None  # the "edits not saved" question, if open
        self._close_confirmed = False
        self._prefs_timer = QTimer(self, singleShot=True, interval=PREFS_SAVE_DELAY_MS)
        self._prefs_timer.timeout.connect(self._save_prefs)

        self.worker = ModelWorker(self)
        self.worker.errored.connect(self.show_error_report)
        self.automask = AutoMaskController(self.worker, self)
        self.automask.model_changed.connect(self._on_model_changed)
        self.automask.result_ready.connect(self._apply_auto_mask)
        self.automask.no_model.connect(self.show_info)

        self.document = MaskDocument(self)
        self.canvas = MaskCanvas(self.document)
        self.setCentralWidget(self.canvas)
        self.table_model = ImageTableModel(self.session.state_of, self.session.record_of)
        self.image_list = ImageListDock(self.table_model, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.image_list)
        self.status = StatusPanel(self.statusBar())
        self.status.follow_worker(self.worker)

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
        self._wire()
        self._actions["show_mask"].setChecked(True)
        self._actions["outline"].setChecked(self.prefs.outline_only)
        self._actions["automask_tta"].setChecked(self.prefs.automask_tta)
        self._actions["tool_brush"].setChecked(True)
        self.canvas.set_brush_size(self.prefs.brush_size)
        self._apply_overlay_style()
        self._no_image_keys = self._no_image_shortcuts()
        self._update_enabled()
        if sort := self.state.sort_order():
            self.image_list.set_sort(*sort)
        self.image_list.sort_changed.connect(self._on_sort_changed)
        install_model_loop(self)  # fine-tune/batch/effort docks, export, versions (issue 5)
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
            "fill_holes": self._fill_holes,
            "clear_mask": self.document.clear,
            "use_ground_truth": self._use_ground_truth,
            "brush_smaller": lambda: c.set_brush_size(round(c.brush_size / 1.25)),
            "brush_larger": lambda: c.set_brush_size(
                max(c.brush_size + 1, round(c.brush_size * 1.25))
            ),
            "fit": c.fit,
            "one_to_one": c.one_to_one,
            "show_mask": c.set_mask_visible,
            "outline": lambda _on: self._apply_overlay_style(),
            "confidence": lambda _on: self._show_confidence(),
            "prev_image": lambda: self.step_image(-1),
            "next_image": lambda: self.step_image(1),
            "next_unreviewed": self.next_unreviewed,
            "mark_reviewed": self._set_reviewed,
            "auto_mask": self.auto_mask,
            "automask_tta": self._set_automask_tta,
            "import_model": self._choose_model_file,
            "shortcuts": lambda: show_shortcuts(self),
            "about": lambda: show_about(self),
            **{
                name: self._tool_slot(name)
                for name in ("tool_brush", "tool_eraser", "tool_bucket", "tool_lasso")
            },
        }

    def _tool_slot(self, name: str):
        return lambda on: on and self.canvas.set_tool(self.tools[name])

    def _no_image_shortcuts(self) -> list[QShortcut]:
        """The keys of image commands, live only while those are disabled (no image): a
        key that does nothing and says nothing is the worst first impression."""
        shortcuts = []
        for name in NEEDS_IMAGE:
            action = self._actions[name]
            for sequence in action.shortcuts():
                shortcut = QShortcut(sequence, self)
                shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
                text = action.text().split("\t")[0].replace("&", "")
                shortcut.activated.connect(
                    lambda t=text: self.status.show_message(f"{t}: {NO_IMAGE_MESSAGE}")
                )
                shortcuts.append(shortcut)
        return shortcuts

    def _wire(self) -> None:
        c = self.canvas
        c.cursor_moved.connect(self.status.show_position)
        c.zoom_changed.connect(self.status.show_zoom)
        c.brush_size_changed.connect(self.overlay.set_brush_size)
        c.brush_size_changed.connect(lambda _size: self._prefs_timer.start())
        c.space_tapped.connect(self._on_space_tapped)
        self.overlay.brush_size_changed.connect(c.set_brush_size)
        self.overlay.style_changed.connect(self._apply_overlay_style)
        self.overlay.editing_done.connect(lambda: c.setFocus(Qt.FocusReason.OtherFocusReason))
        self.document.refused.connect(lambda why: self.status.show_message(why, error=True))
        self.document.edit_finished.connect(self._on_edit_finished)
        self.document.history_changed.connect(self._update_enabled)
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
        if self._has_unsaved_edits():
            self._ask_unsaved("Opening another folder", lambda: self.open_folder(folder, select))
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
        if s.autosaver is not None:
            s.autosaver.close()
        image_folder = image_folder_of(folder, layout)
        project = self._open_project(image_folder)
        if project is None:
            return
        if s.project is not None:
            s.project.close()
        s.folder, s.layout, s.project = folder, layout, project
        s.records = {r.image_id: r for r in layout.images}
        s.autosaver = Autosaver(project, after_save=self._after_save, parent=self)
        s.autosaver.saved.connect(self._on_saved)
        s.autosaver.failed.connect(self._on_save_failed)
        s.autosaver.conflict.connect(self._on_conflict)
        s.current = None
        self.cache.clear()
        self.table_model.set_records(layout.images)
        self.state.add_recent_folder(str(folder))
        self._update_title()
        count = f"{len(layout.images)} images"
        if self.edits_fallback:  # stays until the next message: the person must know
            self.status.show_message(
                f"{count}; {self.edits_fallback}, so edits are saved in {project.root}",
                timeout_ms=0,
            )
        else:
            self.status.show_message(f"{count}; edits are saved in {project.root}")
        self.status.show_edits_folder(project.root, self.edits_fallback)
        if project.recovered:
            self.show_info("The project was repaired on opening:\n" + "\n".join(project.recovered))
        self.folder_opened.emit(layout)
        if select is None:
            select = self.state.last_image(self._folder_key(folder))
        if select in s.records and self.table_model.row_of(select) is not None:
            self.show_image(select)
            return
        first = self.table_model.record_at(0)
        if first is not None:
            self.show_image(first.image_id)
        else:
            self._show_no_image(f"<p>No images found in<br><b>{folder}</b></p>")

    def _open_project(self, image_folder: Path) -> ProjectStore | None:
        """The project store for the folder's edits: beside the images, or, when that
        place cannot be written (read-only data), a writable one in the user's data dir."""
        root, why = choose_edits_dir(image_folder, self.project_dir_override)
        try:
            project = ProjectStore(root)
        except ProjectError as exc:
            if self.project_dir_override is not None or why is not None:
                self.show_error(str(exc))
                return None
            why, root = str(exc), fallback_edits_dir(image_folder)
            try:
                project = ProjectStore(root)
            except ProjectError as exc2:
                self.show_error(str(exc2))
                return None
        self.edits_fallback = why
        if why:
            log.warning("%s; edits go to %s", why, root)
        return project

    @staticmethod
    def _folder_key(folder: Path) -> str:
        return str(Path(folder).resolve())

    def _show_no_image(self, hint: str | None = None) -> None:
        """Nothing on the canvas (a folder without images): say what to do instead."""
        self.session.current = None
        self.document.unload()
        if hint is None:
            self.canvas.clear_image()
        else:
            self.canvas.clear_image(hint)
        self.status.show_image_name(None)
        self._update_enabled()
        self._update_title()

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
        mask, read_only = self._mask_for_editing(image_id, loaded.image.shape[:2])
        s.current = loaded
        self.canvas.set_image(loaded.image)  # fitted: no zoom carried over from the last image
        self.document.load(image_id, mask, read_only=read_only)
        if read_only:
            self.show_error(read_only)
        self._show_confidence()
        self.clock.start()
        self.image_list.select(image_id, emit=False)
        self._actions["mark_reviewed"].blockSignals(True)
        self._actions["mark_reviewed"].setChecked(s.state_of(image_id) is MaskState.REVIEWED)
        self._actions["mark_reviewed"].blockSignals(False)
        self._update_enabled()
        self._update_mask_status()
        self._update_title()
        if s.folder is not None:  # reopen here next time, even after a crash
            self.state.set_last_image(self._folder_key(s.folder), image_id)
        self.image_changed.emit(image_id)
        row = self.table_model.row_of(image_id)
        if row is not None:
            near = [self.table_model.record_at(row + d) for d in (1, -1, 2)]
            self.cache.prefetch(r for r in near if r is not None)

    def _mask_for_editing(
        self, image_id: str, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, str | None]:
        """The mask to edit, and why the image must be read-only (or None).

        A stored mask that cannot be read, or has another size than the image, is never
        replaced by an empty one: the next stroke would overwrite that file. The image is
        shown without a mask instead and every edit is refused.
        """
        s = self.session
        mask = s.autosaver.unsaved_mask(image_id) if s.autosaver else None
        path = s.project.source_path(image_id) if s.project else None
        problem = None
        if mask is None and s.project is not None:
            try:  # the mask the lifecycle says this image shows (a person's, else the auto-mask)
                mask = s.project.load_for_editing(image_id)
            except ProjectError as exc:
                problem = str(exc)
        if mask is not None and mask.shape != tuple(shape):
            problem = (
                f"{path or image_id}: the stored mask is {mask.shape[1]}×{mask.shape[0]} px "
                f"but the image is {shape[1]}×{shape[0]} px"
            )
        if problem is None:
            return (mask if mask is not None else np.zeros(shape, np.uint8)), None
        why = (
            f"{problem}. {image_id} is read-only so that this file is never overwritten: "
            "fix or move the file, then open the folder again."
        )
        log.error("%s", why)
        return np.zeros(shape, np.uint8), why

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
            reviewed = record is not None and self.session.state_of(record.image_id)
            if record is not None and reviewed is not MaskState.REVIEWED:
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
        self._update_mask_status()
        self.mask_edited.emit(image_id)

    def _fill_holes(self) -> None:
        if not self.document.edit("fill holes", fill_holes) and not self.document.read_only:
            self.status.show_message("No holes to fill.")

    def _use_ground_truth(self) -> None:
        current = self.session.current
        if current is None or current.truth is None:
            self.status.show_message("This image has no ground-truth mask.")
            return
        self.document.replace(current.truth, "ground truth")

    def _set_reviewed(self, on: bool) -> None:
        s = self.session
        if s.current is None or s.autosaver is None:
            return
        if self.document.refuse():  # marking writes the mask file: never over a bad one
            self._show_reviewed(s.current.record.image_id)
            return
        s.autosaver.review(s.current.record.image_id, on, self.document.mask)

    def _on_space_tapped(self) -> None:
        action = self._actions["mark_reviewed"]
        if action.isEnabled():
            action.toggle()
        else:
            self.status.show_message(f"Mark reviewed: {NO_IMAGE_MESSAGE}")

    def _after_save(self, image_id: str, mask: np.ndarray) -> None:
        """Writer thread: score the saved mask against ground truth when there is one."""
        s = self.session
        record = s.records.get(image_id)
        if record is not None and s.project is not None:
            score_against_truth(s.project, record, mask, s.current)

    def _on_saved(self, image_id: str) -> None:
        autosaver = self.session.autosaver
        self.table_model.refresh_image(image_id)
        self.status.show_saved(autosaver.has_unsaved if autosaver else False)
        if self.session.current_id == image_id:
            self._update_mask_status()
            self._show_reviewed(image_id)

    def _show_reviewed(self, image_id: str) -> None:
        action = self._actions["mark_reviewed"]
        action.blockSignals(True)
        action.setChecked(self.session.state_of(image_id) is MaskState.REVIEWED)
        action.blockSignals(False)

    def _on_conflict(self, image_id: str, message: str) -> None:
        """Another window or process changed this mask: the person chooses, nothing is lost."""
        autosaver = self.session.autosaver
        if autosaver is None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Mask changed elsewhere")
        box.setText(f"{message}.\n\nKeep your mask, or take the other one?")
        mine = box.addButton("Keep mine", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Take theirs", QMessageBox.ButtonRole.RejectRole)
        box.setModal(True)
        box.finished.connect(
            lambda _code: self.resolve_conflict(image_id, box.clickedButton() is mine)
        )
        box.open()
        self.conflict_box = box

    def resolve_conflict(self, image_id: str, keep_mine: bool) -> None:
        s = self.session
        if s.autosaver is None or s.project is None:
            return
        s.autosaver.resolve_conflict(image_id, keep_mine)
        if not keep_mine and s.current_id == image_id:
            theirs = s.project.load_for_editing(image_id)
            if theirs is None:
                theirs = np.zeros_like(self.document.mask)
            self.document.load(image_id, theirs)  # their mask, without an undo step of ours
        self.table_model.refresh_image(image_id)
        self.status.show_message(
            f"{image_id}: kept your mask" if keep_mine else f"{image_id}: took the other mask"
        )

    def _on_save_failed(self, image_id: str, message: str) -> None:
        self.status.show_saved(False, message)
        log.error("%s", message)

    # -- auto-mask ---------------------------------------------------------
    def auto_mask(self) -> None:
        current = self.session.current
        if current is None:
            self.status.show_message(f"Auto-mask: {NO_IMAGE_MESSAGE}")
            return
        if self.document.refuse():
            return
        self.automask.run(current.record.image_id, current.image, tta=self.prefs.automask_tta)

    def _set_automask_tta(self, on: bool) -> None:
        self.prefs.automask_tta = bool(on)

    def _apply_auto_mask(self, result: AutoMaskResult) -> None:
        self._probs = {result.image_id: result.prob}
        version = result.model_name
        project, autosaver = self.session.project, self.session.autosaver
        if project is None or autosaver is None:
            return
        if self.session.current_id == result.image_id and self.document.refuse():
            return  # storing an auto-mask would delete the stored mask of another size
        uncertainty = uncertainty_score(result.prob)
        # Stored once, as an auto-mask (never as a person's mask), before the editor's own
        # save of the same pixels, which the lifecycle then keeps an auto-mask.
        autosaver.run_in_writer(
            lambda: project.save_auto_mask(
                result.image_id, result.mask, version, by_person=True, uncertainty=uncertainty
            )
        )
        message = f"Auto-mask by {version} in {result.seconds:.2f} s"
        if self.session.current_id == result.image_id:
            if not self.document.replace(result.mask, "auto-mask"):
                message += " (same as the current mask)"
            self._show_confidence()
        self.table_model.refresh_image(result.image_id)
        self.status.show_message(message)

    def _show_confidence(self) -> None:
        current_id = self.session.current_id
        prob = self._probs.get(current_id) if current_id else None
        on = self._actions["confidence"].isChecked()
        self.canvas.set_confidence(
            prob if on else None, self.prefs.uncertain_low, self.prefs.uncertain_high
        )

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

    def _update_enabled(self) -> None:
        history = self.document.history
        shown = self.session.current is not None
        self._actions["undo"].setEnabled(bool(shown and history and history.can_undo))
        self._actions["redo"].setEnabled(bool(shown and history and history.can_redo))
        for name in NEEDS_IMAGE:
            self._actions[name].setEnabled(shown)
        for shortcut in getattr(self, "_no_image_keys", ()):
            shortcut.setEnabled(not shown)

    def _update_title(self) -> None:
        """Title "<image> — <folder> (n images) — Carvana Masks"; the image in the status bar."""
        s = self.session
        parts = []
        image_id = s.current_id
        if image_id is not None:
            parts.append(image_id)
            row = self.table_model.row_of(image_id)
            where = f"{row + 1} / {self.table_model.rowCount()}" if row is not None else ""
            self.status.show_image_name(image_id, where)
        else:
            self.status.show_image_name(None)
        if s.image_folder is not None and s.layout is not None:
            parts.append(f"{s.image_folder.name} ({len(s.layout.images)} images)")
        parts.append(APP_TITLE)
        self.setWindowTitle(" — ".join(parts))

    def _on_sort_changed(self, column: int, descending: bool) -> None:
        self.state.set_sort_order(column, descending)
        if self.session.current_id is not None:  # the sort rebuilt the list: keep the row
            self.image_list.select(self.session.current_id, emit=False)
            self._update_title()

    def _save_prefs(self) -> None:
        self._prefs_timer.stop()
        self.prefs.brush_size = self.canvas.brush_size
        try:
            self.prefs.save()
        except OSError as exc:
            log.warning("could not save preferences: %s", exc)

    def _update_mask_status(self) -> None:
        mask = self.document.mask
        image_id = self.session.current_id
        if mask is None or image_id is None:
            return
        if self.document.read_only:
            self.status.show_read_only(self.document.read_only)
            return
        area = int(np.count_nonzero(mask))
        record: MaskRecord = self.session.record_of(image_id)
        self.status.show_mask(area, mask.size, record.dice)

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

    # -- edits the disk refused --------------------------------------------
    def _has_unsaved_edits(self) -> bool:
        """Write what is pending now; True when some edits still are not on disk."""
        autosaver = self.session.autosaver
        if autosaver is None:
            return False
        try:
            autosaver.flush(wait=True)
        except Exception:
            log.exception("saving before closing failed")
        return autosaver.has_unsaved

    def _ask_unsaved(self, doing: str, proceed: Callable[[], None]) -> None:
        """Ask what to do with edits the disk refused: Save elsewhere…, Discard or Cancel.

        ``proceed`` runs once the edits are saved elsewhere or discarded. The box is
        window-modal but does not block (``self.unsaved_box``), so work and tests go on.
        """
        autosaver = self.session.autosaver
        if autosaver is None:
            proceed()
            return
        masks = autosaver.unsaved_masks()
        where = self.session.project.root if self.session.project else "the edits folder"
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Edits not saved")
        names = ", ".join(sorted(masks)[:5]) + (" …" if len(masks) > 5 else "")
        box.setText(
            f"{len(masks)} edited mask(s) could not be saved in {where}: {names}.\n\n"
            f"{doing} now would lose them."
        )
        box.setInformativeText(
            "Save elsewhere… writes each mask as <image id>_mask.png into a folder you choose."
        )
        save = box.addButton("Save elsewhere…", QMessageBox.ButtonRole.AcceptRole)
        drop = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)
        box.setEscapeButton(cancel)

        def answered(_code: int) -> None:
            self.unsaved_box = None
            clicked = box.clickedButton()
            if clicked is save:
                if self.save_unsaved_elsewhere():
                    proceed()
            elif clicked is drop:
                autosaver.discard_unsaved()
                self.status.show_message(f"Discarded {len(masks)} unsaved mask(s).")
                proceed()

        box.finished.connect(answered)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.unsaved_box = box
        box.open()

    def choose_rescue_folder(self) -> Path | None:
        """Where to save edits the edits folder refused (a folder dialog)."""
        folder = QFileDialog.getExistingDirectory(
            self, "Save the unsaved masks in…", str(Path.home())
        )
        return Path(folder) if folder else None

    def save_unsaved_elsewhere(self) -> bool:
        """Write every unsaved mask into a chosen folder; True when all were written."""
        autosaver = self.session.autosaver
        if autosaver is None:
            return True
        folder = self.choose_rescue_folder()
        if folder is None:
            return False
        masks = autosaver.unsaved_masks()
        try:
            for image_id, mask in masks.items():
                write_mask(folder / f"{image_id}_mask.png", mask)
        except OSError as exc:
            self.show_error(f"Could not save the masks in {folder}: {exc}")
            return False
        autosaver.discard_unsaved()
        self.status.show_message(f"Saved {len(masks)} mask(s) in {folder}.")
        log.info("saved %d unsaved masks in %s", len(masks), folder)
        return True

    def _close_after_answer(self) -> None:
        self._close_confirmed = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.canvas.tool is not None:
            self.canvas.tool.cancel(self.canvas)
        if not self._close_confirmed and self._has_unsaved_edits():
            event.ignore()  # asked first: closing would drop edits the disk refused
            if self.unsaved_box is None:
                self._ask_unsaved("Closing", self._close_after_answer)
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
