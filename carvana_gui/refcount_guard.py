"""Keep ``None`` alive despite a reference leak in PySide6 6.12 on Python 3.11.

With PySide6 6.12.0, every call of a Python override of a void C++ virtual
(``paintEvent``, ``QGraphicsItem.paint``, pyqtgraph's own overrides...) drops one
reference to ``None`` too many. On Python >= 3.12 ``None`` is immortal and this is
harmless; on 3.11 a few minutes of painting bring its count to zero and the process
aborts ("Fatal Python error: none_dealloc"). This guard holds extra references to
``None`` and tops them up from a timer, so the count never gets near zero. It costs
8 bytes per leaked reference (about 10 MB per hour of continuous painting).
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

LOW_WATER = 200_000
TOP_UP = 1_000_000
CHECK_MS = 1000

_held: list[None] = []
_installed = False


def needs_guard() -> bool:
    return sys.version_info < (3, 12)


def top_up() -> int:
    """Add references to None when its count is low; returns how many were added."""
    count = sys.getrefcount(None)
    if count >= LOW_WATER:
        return 0
    added = TOP_UP - count
    _held.extend([None] * added)
    log.debug("None refcount %d: holding %d more references", count, added)
    return added


def install(parent: QObject) -> None:
    """Start the periodic top-up once per process (no-op where None is immortal)."""
    global _installed
    if not needs_guard() or _installed:
        return
    _installed = True
    top_up()
    timer = QTimer(parent)  # owned by parent: no module-level Qt object to outlive the app
    timer.setInterval(CHECK_MS)
    timer.timeout.connect(top_up)
    timer.start()
