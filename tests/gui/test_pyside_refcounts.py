"""PySide6 6.12.0 drops a reference to None on every Python override returning None.

On Python 3.11 (None is not immortal) minutes of painting then abort the process with
"Fatal Python error: none_dealloc". pyproject pins PySide6 below 6.12; this test fails
if an installed PySide6 leaks again, before a user's session crashes.
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget


class _Painted(QWidget):
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.drawLine(0, 0, 10, 10)
        painter.end()


def test_repainting_does_not_leak_references_to_none(qtbot):
    widget = _Painted()
    qtbot.addWidget(widget)
    widget.resize(40, 40)
    widget.show()
    widget.repaint()
    before = sys.getrefcount(None)
    for _ in range(500):
        widget.repaint()
    # A leaking binding loses one reference per paint (-500); allow small noise.
    assert sys.getrefcount(None) - before > -50
