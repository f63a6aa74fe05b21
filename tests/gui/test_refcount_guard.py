"""The refcount guard against PySide6 6.12's None leak in Python overrides."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QWidget

from carvana_gui import refcount_guard


class _Painted(QWidget):
    def paintEvent(self, event):  # noqa: N802 (Qt API)
        return None


@pytest.mark.skipif(not refcount_guard.needs_guard(), reason="None is immortal here")
def test_top_up_raises_low_counts_and_leaves_high_ones(qtbot, monkeypatch):
    widget = _Painted()
    qtbot.addWidget(widget)
    widget.show()
    for _ in range(5):
        widget.repaint()
    before = sys.getrefcount(None)
    monkeypatch.setattr(
        refcount_guard, "LOW_WATER", max(sys.getrefcount(o) for o in (None, True, False)) + 10
    )
    monkeypatch.setattr(refcount_guard, "TOP_UP", refcount_guard.LOW_WATER + 1000)
    assert refcount_guard.top_up() > 0
    assert sys.getrefcount(None) >= refcount_guard.TOP_UP - 10 > before
    assert min(sys.getrefcount(o) for o in (True, False)) >= refcount_guard.TOP_UP - 10
    assert refcount_guard.top_up() == 0  # above the low-water mark now
