"""Run fine-tune-and-select in a child process, with progress and cancel over pipes.

Why a process and not just a thread: Keras does a lot of pure-Python work (tracing,
checkpoint serialisation at every epoch end) that holds the GIL for hundreds of
milliseconds, and a GUI thread in the same interpreter then stalls. A child process
has its own interpreter; the parent thread only blocks on a pipe. Protocol: the parent
writes one JSON request line, then optionally "stop"; the child writes one JSON line per
progress dict and finally {"event": "result", ...} or {"event": "error", ...}.

Parent: ``run_finetune_process(request, on_progress, should_stop)``.
Child:  ``python -m model.workflows.finetune_process`` (reads the request from stdin).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from model.data.dataset import ImageRecord
from model.project import EditsProject
from model.store.versions import ModelStore
from model.workflows.finetune import FinetuneSettings, build_training_set, finetune_and_select

log = logging.getLogger(__name__)

CHILD_NICE = 10
POLL_S = 0.1


class FinetuneProcessError(RuntimeError):
    """The child failed; the message is its one-line error (traceback is logged)."""


def make_request(
    project_root: Path,
    images: list[ImageRecord],
    store_root: Path,
    base: str | Path | None,
    settings: FinetuneSettings,
) -> dict:
    """A JSON-able request. ``base``: a store version name, a .keras path, or None (fresh)."""
    return {
        "project_root": str(project_root),
        "images": [
            [r.image_id, str(r.path), r.car_id, r.angle, str(r.mask_path) if r.mask_path else None]
            for r in images
        ],
        "store_root": str(store_root),
        "base": str(base) if base is not None else None,
        "settings": asdict(settings),
    }


def _resolve_base(store: ModelStore, base: str | None):
    if base is None:
        return None
    if Path(base).suffix == ".keras":
        return Path(base)
    return store.get(base)


def run_request(request: dict, emit: Callable[[dict], None], should_stop: Callable[[], bool]):
    """What the child does (also callable in-process, e.g. from tests)."""
    project = EditsProject(Path(request["project_root"]))
    images = [
        ImageRecord(i, Path(p), c, a, Path(m) if m else None) for i, p, c, a, m in request["images"]
    ]
    settings = FinetuneSettings(**request["settings"])
    store = ModelStore(Path(request["store_root"]))
    training_set = build_training_set(
        project, images, settings.include_ground_truth, seed=settings.seed
    )
    emit({"event": "data", **training_set.summary()})
    outcome = finetune_and_select(
        training_set, store, _resolve_base(store, request["base"]), settings, emit, should_stop
    )
    return None if outcome is None else outcome.version.version


def child_main() -> int:
    """Entry point of ``python -m model.workflows.finetune_process``."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s finetune-child %(name)s: %(message)s",
    )
    if hasattr(os, "nice"):
        os.nice(CHILD_NICE)  # the GUI process always wins the CPU
    out = sys.stdout
    lock = threading.Lock()

    def emit(info: dict) -> None:
        with lock:
            out.write(json.dumps(info) + "\n")
            out.flush()

    stop = threading.Event()
    request = json.loads(sys.stdin.readline())

    def watch_stdin() -> None:
        for line in sys.stdin:  # "stop", or EOF when the parent went away
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True, name="stop-watch").start()
    try:
        version = run_request(request, emit, stop.is_set)
    except Exception as exc:
        emit(
            {
                "event": "error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
        return 1
    emit({"event": "result", "version": version})
    return 0


def run_finetune_process(
    request: dict,
    on_progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str | None:
    """Start the child, relay its progress, forward a cancel; return the new version name.

    Raises FinetuneProcessError when the child reports an error or dies.
    """
    report = on_progress or (lambda info: None)
    stop = should_stop or (lambda: False)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])  # so the child finds `model`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        [sys.executable, "-m", "model.workflows.finetune_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True, name="finetune-pipe").start()
    child.stdin.write(json.dumps(request) + "\n")
    child.stdin.flush()
    stop_sent = False
    result: dict | None = None
    try:
        while True:
            if not stop_sent and stop():
                child.stdin.write("stop\n")
                child.stdin.flush()
                stop_sent = True
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                info = json.loads(line)
            except ValueError:
                log.info("finetune child: %s", line.rstrip())
                continue
            if info.get("event") in ("result", "error"):
                result = info
            else:
                report(info)
    finally:
        if child.poll() is None:
            try:
                child.stdin.close()
                child.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                child.kill()
                child.wait()
    if result is None:
        raise FinetuneProcessError(
            f"fine-tuning process ended unexpectedly (exit {child.returncode})"
        )
    if result["event"] == "error":
        log.error("fine-tuning failed in the child process:\n%s", result.get("traceback", ""))
        raise FinetuneProcessError(result["message"])
    return result["version"]


if __name__ == "__main__":
    started = time.perf_counter()
    code = child_main()
    log.info("finetune child finished in %.1f s", time.perf_counter() - started)
    sys.exit(code)
