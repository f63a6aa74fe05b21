"""Correction-effort panel: per model version, how often people accept its masks unchanged.

If fine-tuning pays off, newer versions show a higher "accepted unchanged" share and fewer
pixels changed. Figures come from the project store's rows (model.edits.effort), which
the autosaver keeps current; the panel rereads it when asked and every few seconds while
it is visible.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from model.edits.effort import VersionEffort, effort_by_version
from model.edits.project_store import ProjectStore

log = logging.getLogger(__name__)

COLUMNS = ("Model", "n", "As is", "Px chg", "Secs", "New")
COLUMN_TIPS = (
    "Model version that made the auto-masks",
    "Images a person edited or marked reviewed",
    "Share of judged images accepted without changing a pixel",
    "Mean pixels changed per judged image",
    "Mean seconds spent per judged image",
    "Auto-masks nobody has looked at yet",
)
REFRESH_MS = 5000
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def effort_row(e: VersionEffort) -> tuple[str, ...]:
    share = f"{e.accepted_share:.0%}" if e.judged else "–"
    pixels = f"{e.mean_pixels_changed:,.0f}" if e.judged else "–"
    seconds = f"{e.mean_seconds:.1f}" if e.judged else "–"
    return (e.version, str(e.judged), share, pixels, seconds, str(e.pending))


class EffortPanel(QWidget):
    """A small table of model.edits.effort.VersionEffort rows; the current model in bold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: ProjectStore | None = None
        self.current_version: str | None = None
        self.rows: list[VersionEffort] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        # Fit the dock: the model name takes what the figures leave, nothing scrolls sideways.
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def set_project(self, project: ProjectStore | None) -> None:
        self.project = project
        self.refresh()

    def set_current_version(self, version: str | None) -> None:
        self.current_version = version
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._timer.start()
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        if self.project is None:
            self.rows = []
            self.note.setText("Open a folder to see correction effort per model.")
        else:
            self.project.refresh()  # rows other windows or `carvana automask` changed
            self.rows = effort_by_version(self.project.records())
            self.note.setText(
                "Judged = edited or marked reviewed. A rising accepted share and falling "
                "pixel counts mean fine-tuning is paying off."
                if self.rows
                else "No auto-masks judged yet: auto-mask images, then correct or review them."
            )
        self.table.setRowCount(len(self.rows))
        bold = QFont()
        bold.setBold(True)
        for i, e in enumerate(self.rows):
            for j, text in enumerate(effort_row(e)):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if j == 2 and e.judged:
                    item.setToolTip(f"{e.accepted} of {e.judged} accepted without edits")
                if e.version == self.current_version:
                    item.setFont(bold)
                if j == 0:
                    item.setToolTip(e.version)  # elided when the dock is narrow
                self.table.setItem(i, j, item)
