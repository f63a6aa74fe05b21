"""The None-refcount guard against PySide6 6.12's leak in void overrides."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QWidget

from carvana_gui import refcount_guard


class _Painted(QWidget):
    def paintEvent(self, event):  # noqa: N802 (Qt API)
        return None


@pytest.mark.skipif(not refcount_guard.needs_guard(), reason="None is immortal here")
def test_top_up_restores_a_safe_count(qtbot, monkeypatch):
    widget = _Painted()
    qtbot.addWidget(widget)
    widget.show()
    for _ in range(5):
        widget.repaint()
    monkeypatch.setattr(refcount_guard, "LOW_WATER", sys.getrefcount(None) + 10)
    monkeypatch.setattr(refcount_guard, "TOP_UP", sys.getrefcount(None) + 1000)
    added = refcount_guard.top_up()
    assert added > 0
    assert sys.getrefcount(None) >= refcount_guard.TOP_UP - 10
    assert refcount_guard.top_up() == 0  # above the low-water mark now
