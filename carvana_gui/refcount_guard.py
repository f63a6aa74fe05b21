"""Keep ``None``/``True``/``False`` alive despite reference leaks in PySide6 6.12 on Python 3.11.

With PySide6 6.12.0, a Python override that returns ``None`` to C++ (every
``paintEvent``/``QGraphicsItem.paint``, pyqtgraph's own overrides, ``data()`` returning
None...) drops one reference to ``None`` too many; a bool leak was seen at exit too.
On Python >= 3.12 these objects are immortal and this is harmless; on 3.11 a few
minutes of painting bring the count to zero and the process aborts ("Fatal Python
error: none_dealloc"). PySide6 6.11 does not leak. This guard raises the reference
counts of the three singletons from a timer whenever they run low. The raise is made
directly on the count (not by holding references), so interpreter shutdown, which
releases every held reference, cannot drive the count below zero either.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

LOW_WATER = 1 << 20
TOP_UP = 1 << 24
CHECK_MS = 1000
GUARDED = (None, True, False)

_installed = False


def needs_guard() -> bool:
    return sys.version_info < (3, 12) and sys.implementation.name == "cpython"


def top_up() -> int:
    """Raise the counts of the guarded singletons that run low; returns how much was added."""
    added = 0
    for obj in GUARDED:
        count = sys.getrefcount(obj)
        if count < LOW_WATER:
            # CPython 3.11 object header: ob_refcnt is the first field, a Py_ssize_t.
            ctypes.c_ssize_t.from_address(id(obj)).value += TOP_UP - count
            added += TOP_UP - count
            log.debug("refcount of %r was %d, raised to %d", obj, count, TOP_UP)
    return added


def install(parent: QObject) -> None:
    """Start the periodic top-up once per process (no-op where the singletons are immortal)."""
    global _installed
    if not needs_guard() or _installed:
        return
    _installed = True
    top_up()
    timer = QTimer(parent)  # owned by parent: no module-level Qt object to outlive the app
    timer.setInterval(CHECK_MS)
    timer.timeout.connect(top_up)
    timer.start()
