"""The image list: a table model over (possibly 100k) images, a dock, and the folder scan.

One QAbstractTableModel serves every row; filtering and ordering are done with plain
Python sorts over an index list (fast for 100k rows) instead of a QSortFilterProxyModel
whose per-comparison Python callbacks would take seconds. Group-by-car keeps the 16
angles of a car together and shades alternate cars. The Unsure column (the share of the
image where the model hesitated, stored with each auto-mask) sorts the most unsure first,
as Dice sorts the worst first: where a correction is most likely needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QThread,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from model.data.dataset import ImageRecord, scan_folder
from model.edits import lifecycle
from model.edits.lifecycle import MaskRecord, MaskState

log = logging.getLogger(__name__)

COLUMNS = ("Image", "Status", "Dice", "Model", "Unsure")
DICE_COLUMN, MODEL_COLUMN, UNSURE_COLUMN = 2, 3, 4
UNSURE_TIP = (
    "Unsure: share of the image where the model hesitated (probability 0.1-0.9) when it "
    "made the auto-mask; sorting puts the most unsure first"
)
STALE_COLOR = QColor(235, 120, 60)
STATUS_LABELS = {
    MaskState.NONE: "no mask",
    MaskState.AUTO: "auto",
    MaskState.EDITED: "edited",
    MaskState.REVIEWED: "reviewed",
}
STATUS_COLORS = {
    MaskState.NONE: QColor(140, 140, 140),
    MaskState.AUTO: QColor(90, 160, 255),
    MaskState.EDITED: QColor(255, 170, 60),
    MaskState.REVIEWED: QColor(80, 200, 120),
}
FILTERS = {
    "All images": None,
    "Not reviewed": (MaskState.NONE, MaskState.AUTO, MaskState.EDITED),
    "No mask": (MaskState.NONE,),
    "Auto-masked": (MaskState.AUTO,),
    "Edited": (MaskState.EDITED,),
    "Reviewed": (MaskState.REVIEWED,),
}
_INDEX = QModelIndex | QPersistentModelIndex


class FolderScanThread(QThread):
    """Lists a folder off the GUI thread (a 100k-image folder takes a moment)."""

    scanned = Signal(object)  # DataLayout
    failed = Signal(str)
    warning = Signal(str)  # after scanned: files left out (two files with one id, bad links)

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def run(self) -> None:
        try:
            layout = scan_folder(self.folder)
        except Exception as exc:  # reported in the window's status and a message box
            log.exception("scanning %s failed", self.folder)
            self.failed.emit(str(exc))
        else:
            self.scanned.emit(layout)
            if layout.skipped:
                self.warning.emit(skipped_message(layout.skipped))


def skipped_message(skipped: list) -> str:
    """One status-bar line for the entries a folder scan left out."""
    first = skipped[0]
    more = f" (and {len(skipped) - 1} more; see the log)" if len(skipped) > 1 else ""
    return f"{len(skipped)} file(s) left out: {first.path.name}: {first.reason}{more}"


class ImageTableModel(QAbstractTableModel):
    """Rows = the visible images in display order; entries come from the edits project."""

    def __init__(
        self, status_of: Callable[[str], MaskState], entry_of: Callable[[str], MaskRecord]
    ) -> None:
        super().__init__()
        self._status_of = status_of
        self._entry_of = entry_of
        self.records: list[ImageRecord] = []
        self._visible: list[int] = []
        self._row_of: dict[str, int] = {}
        self._car_shade: list[bool] = []
        self.status_filter: tuple[str, ...] | None = None
        self.group_by_car = True
        self.sort_column = 0
        self.sort_order = Qt.SortOrder.AscendingOrder
        self.current_version: str | None = None  # the active model: other auto-masks are stale
        self.car_versions: dict[str, str] = {}  # Learn this car: car -> its own model's id
        self.model_names: dict[str, str] = {}  # model id -> the name shown (per-car models)

    # -- content -----------------------------------------------------------
    def set_records(self, records: list[ImageRecord]) -> None:
        self.records = list(records)
        self.rebuild()

    def rebuild(self) -> None:
        """Re-apply filter, grouping and sort (after status changes or user choices)."""
        self.beginResetModel()
        statuses = [self._status_of(r.image_id) for r in self.records]
        rows = [
            i
            for i, status in enumerate(statuses)
            if self.status_filter is None or status in self.status_filter
        ]
        rows.sort(
            key=self._sort_key(statuses), reverse=self.sort_order == Qt.SortOrder.DescendingOrder
        )
        if self.group_by_car:  # stable: keeps the chosen order inside each car
            first_pos = {}
            for pos, i in enumerate(rows):
                first_pos.setdefault(self._car(i), pos)
            rows.sort(key=lambda i: first_pos[self._car(i)])
        self._visible = rows
        self._row_of = {self.records[i].image_id: row for row, i in enumerate(rows)}
        shade, last, flag = [], None, False
        for i in rows:
            car = self._car(i)
            if car != last:
                flag, last = not flag, car
            shade.append(flag)
        self._car_shade = shade
        self.endResetModel()

    def _car(self, i: int) -> str:
        record = self.records[i]
        return record.car_id or record.image_id

    def _sort_key(self, statuses: list[MaskState]) -> Callable[[int], object]:
        if self.sort_column == 1:
            order = {s: n for n, s in enumerate(STATUS_LABELS)}
            return lambda i: (order.get(statuses[i], 0), self.records[i].image_id)
        if self.sort_column == UNSURE_COLUMN:

            def unsure_key(i: int) -> tuple:
                unsure = self._entry_of(self.records[i].image_id).uncertainty
                return (unsure is None, -(unsure or 0.0), self.records[i].image_id)

            return unsure_key
        if self.sort_column == DICE_COLUMN:

            def dice_key(i: int) -> tuple:
                dice = self._entry_of(self.records[i].image_id).dice
                return (dice is None, dice or 0.0, self.records[i].image_id)

            return dice_key
        if self.sort_column == MODEL_COLUMN:
            return lambda i: (
                self._entry_of(self.records[i].image_id).auto_version or "",
                self.records[i].image_id,
            )
        return lambda i: self.records[i].image_id

    def set_current_version(self, version: str | None) -> None:
        """Which model is active, so auto-masks made by another one show as stale."""
        if version != self.current_version:
            self.current_version = version
            if self._visible:
                col, last_row = MODEL_COLUMN, len(self._visible) - 1
                self.dataChanged.emit(self.index(0, col), self.index(last_row, col))

    def set_car_models(self, car_versions: dict[str, str], names: dict[str, str]) -> None:
        """Cars with a model of their own (their masks are not stale), and its names."""
        self.car_versions, self.model_names = dict(car_versions), dict(names)
        if self._visible:
            col, last_row = MODEL_COLUMN, len(self._visible) - 1
            self.dataChanged.emit(self.index(0, col), self.index(last_row, col))

    def is_stale(self, image_id: str, entry: MaskRecord) -> bool:
        # Nothing is stale before a model is active (it may still be loading).
        active = lifecycle.ActiveModels(self.current_version, self.car_versions)
        return self.current_version is not None and lifecycle.is_stale(entry, image_id, active)

    def record_at(self, row: int) -> ImageRecord | None:
        return self.records[self._visible[row]] if 0 <= row < len(self._visible) else None

    def row_of(self, image_id: str) -> int | None:
        return self._row_of.get(image_id)

    def refresh_image(self, image_id: str) -> None:
        row = self._row_of.get(image_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # -- Qt model API ------------------------------------------------------
    def rowCount(self, parent: _INDEX = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: _INDEX = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.ToolTipRole
            and section == UNSURE_COLUMN
        ):
            return UNSURE_TIP
        return None

    def data(self, index: _INDEX, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        record = self.records[self._visible[index.row()]]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return record.image_id
            if col == 1:
                status = self._status_of(record.image_id)
                return STATUS_LABELS.get(status, status)
            entry = self._entry_of(record.image_id)
            if col == MODEL_COLUMN:
                version = entry.auto_version or ""
                return self.model_names.get(version, version)
            if col == UNSURE_COLUMN:
                return "" if entry.uncertainty is None else f"{entry.uncertainty * 100:.2f} %"
            return "" if entry.dice is None else f"{entry.dice:.4f}"
        if role == Qt.ItemDataRole.ForegroundRole and col == 1:
            return STATUS_COLORS.get(self._status_of(record.image_id))
        if role == Qt.ItemDataRole.ForegroundRole and col == MODEL_COLUMN:
            stale = self.is_stale(record.image_id, self._entry_of(record.image_id))
            return STALE_COLOR if stale else None
        if (
            role == Qt.ItemDataRole.BackgroundRole
            and self.group_by_car
            and self._car_shade[index.row()]
        ):
            return QColor(255, 255, 255, 10)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == UNSURE_COLUMN:
                return UNSURE_TIP
            if col == MODEL_COLUMN and self.is_stale(
                record.image_id, self._entry_of(record.image_id)
            ):
                return (
                    f"Stale: auto-masked by another model than {self.current_version}; "
                    "the Batch auto-mask panel's 'Stale auto-masks' choice redoes these"
                )
            return str(record.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (DICE_COLUMN, UNSURE_COLUMN):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column, self.sort_order = column, order
        self.rebuild()


class ImageListDock(QDockWidget):
    """Dock with the image table, a status filter and the group-by-car switch."""

    image_selected = Signal(str)
    sort_changed = Signal(int, bool)  # column, descending: the person clicked a header

    def __init__(self, model: ImageTableModel, parent: QWidget | None = None) -> None:
        super().__init__("Images", parent)
        self.setObjectName("images_dock")
        self.model = model
        self.view = QTableView()
        self.view.setModel(model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setShowGrid(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Size those columns from the rows on screen only. Qt's default reads up to 1000
        # rows, on every dataChanged: 75-160 ms per autosave with 1536 images, a visible
        # hitch in the brush stroke being painted meanwhile (bench/bench_gui.py).
        header.setResizeContentsPrecision(0)
        self.filter_box = QComboBox()
        self.filter_box.addItems(list(FILTERS))
        self.filter_box.currentTextChanged.connect(self._on_filter)
        self.group_box = QCheckBox("Group by car")
        self.group_box.setChecked(model.group_by_car)
        self.group_box.toggled.connect(self._on_group)
        self.count_label = QLabel()
        self.count_label.setObjectName("muted")
        top = QHBoxLayout()
        top.addWidget(self.filter_box, 1)
        top.addWidget(self.group_box)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.count_label)
        self.setWidget(body)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("00087a6bd4dc_01") + 370)
        self.view.selectionModel().currentRowChanged.connect(self._on_row)
        model.modelReset.connect(self._update_count)
        header.sortIndicatorChanged.connect(self._on_sort)

    def _on_sort(self, column: int, order: Qt.SortOrder) -> None:
        self.sort_changed.emit(column, order == Qt.SortOrder.DescendingOrder)

    def set_sort(self, column: int, descending: bool) -> None:
        """Sort as a person last chose (restored from the settings)."""
        if 0 <= column < len(COLUMNS):
            order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
            self.view.sortByColumn(column, order)

    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        record = self.model.record_at(current.row())
        if record is not None:
            self.image_selected.emit(record.image_id)

    def _on_filter(self, text: str) -> None:
        self._keep_current(lambda: setattr(self.model, "status_filter", FILTERS[text]))

    def _on_group(self, on: bool) -> None:
        self._keep_current(lambda: setattr(self.model, "group_by_car", on))

    def _keep_current(self, change: Callable[[], None]) -> None:
        current = self.model.record_at(self.view.currentIndex().row())
        change()
        self.model.rebuild()
        if current is not None:
            self.select(current.image_id, emit=False)

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.model.rowCount()} of {len(self.model.records)} images")

    def select(self, image_id: str, emit: bool = True) -> None:
        """Make ``image_id`` the current row (if visible under the filter)."""
        row = self.model.row_of(image_id)
        if row is None:
            return
        selection = self.view.selectionModel()
        was_blocked = selection.blockSignals(not emit)
        index = self.model.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        selection.setCurrentIndex(index, flags | QItemSelectionModel.SelectionFlag.Rows)
        selection.blockSignals(was_blocked)
        self.view.scrollTo(index)
        self.view.viewport().update()

    def current_row(self) -> int:
        return self.view.currentIndex().row()
