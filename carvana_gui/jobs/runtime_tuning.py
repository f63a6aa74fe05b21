"""Keep the GUI thread responsive while the model trains on a small CPU.

Three measures, all measured with bench/bench_latency.py:
- TensorFlow's thread pools are capped (TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS,
  read once when TensorFlow starts in the model worker) so one core stays free for Qt.
- Every thread except the GUI thread gets a lower OS priority (Linux: a per-thread nice
  value). Keras does plenty of pure-Python work per epoch (checkpoint saving, tracing),
  and the GUI thread must win the CPU, and with it the GIL, whenever it has an event.
- No garbage collection while the worker imports TensorFlow or loads a model. A full
  collection runs in whichever thread happens to allocate and holds the GIL throughout;
  during TensorFlow's import the heap grows by millions of objects and each full pass took
  50-220 ms (logged with gc.callbacks on the 2-core box), so the window froze that long.
  What the import creates lives as long as the process, so it is then frozen out of the
  collector's view (gc.freeze) and later full collections stay short.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10
SWITCH_INTERVAL_S = 0.002  # hand the GIL over more often than CPython's default 5 ms


def reserve_gui_core(cpu_count: int | None = None) -> dict[str, str]:
    """Cap TensorFlow's thread pools to leave one core to the GUI (user env vars win)."""
    cores = cpu_count or os.cpu_count() or 2
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, cores - 1)))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    return {k: os.environ[k] for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}


def lower_background_priority(nice: int = BACKGROUND_NICE) -> int:
    """Renice every thread of this process except the main (GUI) thread; returns how many.

    Threads created later by a reniced thread inherit its priority, so calling this at the
    start of each background job also covers TensorFlow's and the data loader's pools.
    A no-op where per-thread priorities do not exist (not Linux).
    """
    tasks = Path("/proc/self/task")
    if not tasks.is_dir() or not hasattr(os, "setpriority"):
        return 0
    main_tid = threading.main_thread().native_id
    changed = 0
    for task in tasks.iterdir():
        tid = int(task.name)
        if tid == main_tid:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:  # the thread ended meanwhile, or not permitted
            continue
    log.debug("lowered the priority of %d background threads", changed)
    return changed


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (a big import or a model load).

    Objects are still freed by reference counting; only the full passes that would hold
    the GIL for a long time wait until the block ends. Nesting is safe.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache  # runs once per process
def import_model_stack() -> None:
    """Import Keras/TensorFlow with the collector paused, then freeze what the import made.

    Frozen objects are never scanned again, so later full collections skip the whole
    import-time heap (modules, functions, classes: nothing there ever becomes garbage).
    Only the first call freezes: models loaded later must stay collectable when replaced.
    """
    with collector_paused():
        import model.nn.frameworks  # noqa: F401  (Keras, quietly: the slow import, off the GUI thread)

        gc.freeze()
