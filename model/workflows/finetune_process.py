"""Run the fine-tune workflow in a child process, with typed progress and a prompt cancel.

Why a process: Keras holds the GIL for long pure-Python stretches (tracing, checkpoint
saving), and its import alone takes seconds; in the GUI's interpreter that stalls the
window. A child has its own interpreter, and a child can be killed, so a cancel is prompt
even in the middle of TensorFlow's import.

Protocol (one line each way per message):
- parent -> child: the JSON request, then optionally ``stop`` (cancel, store nothing) or
  ``keep`` (cancel, but judge and store the best finished epoch). EOF means ``stop``.
- child -> parent: one ``finetune_events.to_json`` object per event; the last one is
  ``Finished`` or ``Failed``.
After ``stop`` the parent kills a child that has not exited within ``KILL_AFTER_S``.

Parent: ``run_finetune_process(request, on_event, should_stop, keep_cancelled)``.
Child:  ``python -m model.workflows.finetune_process`` (reads the request from stdin).
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from model.data.dataset import ImageRecord
from model.edits.project_store import ProjectStore
from model.store.versions import ModelInfo, ModelStore, read_model_meta
from model.workflows.finetune import FinetuneSettings, default_run_dir, run_finetune
from model.workflows.finetune_data import Sources
from model.workflows.finetune_events import (
    Epoch,
    EventFn,
    Failed,
    FinetuneEvent,
    Finished,
    Phase,
    from_json,
    to_json,
)
from model.workflows.learn_car import LearnCarSettings, learn_car

log = logging.getLogger(__name__)

CHILD_NICE = 10
POLL_S = 0.05
KILL_AFTER_S = 1.5  # after "stop": the whole cancel stays under 2 s


class FinetuneProcessError(RuntimeError):
    """The child failed; the message is its one-line error (traceback is logged)."""


def _record_json(r: ImageRecord) -> list:
    return [r.image_id, str(r.path), r.car_id, r.angle, str(r.mask_path) if r.mask_path else None]


def _record_from(values: list) -> ImageRecord:
    image_id, path, car, angle, mask = values
    return ImageRecord(image_id, Path(path), car, angle, Path(mask) if mask else None)


def make_request(
    sources: Sources,
    store_root: Path,
    base: ModelInfo | None,
    settings: FinetuneSettings,
    make_current: bool = False,
    run_dir: Path | None = None,
) -> dict:
    """A JSON-able request; ``base`` None trains a fresh network."""
    store_root = Path(store_root)
    return {
        "reviewed": [_record_json(r) for r in sources.reviewed],
        "unreviewed_edits": sources.unreviewed_edits,
        "ground_truth": [_record_json(r) for r in sources.ground_truth],
        "store_root": str(store_root),
        "base": None if base is None else {"version": base.version, "path": str(base.path)},
        "settings": asdict(settings),
        "make_current": make_current,
        "run_dir": str(run_dir or default_run_dir(ModelStore(store_root))),
    }


def make_learn_car_request(
    project_root: Path,
    images: Sequence[ImageRecord],
    car: str,
    store_root: Path,
    base: ModelInfo,
    settings: LearnCarSettings,
    protect: Sequence[str] = (),
) -> dict:
    """A JSON-able request for ``learn_car`` (Learn this car) in the child."""
    return {
        "learn_car": {
            "project_root": str(project_root),
            "images": [_record_json(r) for r in images],
            "car": car,
            "protect": list(protect),
            "settings": asdict(settings),
        },
        "store_root": str(store_root),
        "base": {"version": base.version, "path": str(base.path)},
    }


def _run_learn_car(request: dict, emit: EventFn, should_stop: Callable[[], bool]) -> Finished:
    job = request["learn_car"]
    images = [_record_from(v) for v in job["images"]]
    truth = {r.image_id: r.mask_path for r in images if r.mask_path is not None}
    path = Path(request["base"]["path"])
    base = ModelInfo(request["base"]["version"], path, read_model_meta(path))
    project = ProjectStore(Path(job["project_root"]))
    finished: list[Finished] = []

    def relay(event: FinetuneEvent) -> None:
        if isinstance(event, Finished):
            finished.append(event)
        emit(event)

    try:
        learn_car(
            project,
            images,
            job["car"],
            ModelStore(Path(request["store_root"])),
            base,
            LearnCarSettings(**job["settings"]),
            relay,
            should_stop,
            protect=set(job.get("protect", ())),
            truth_of=truth.get,
        )
    finally:
        project.close()
    return finished[-1]


def run_request(
    request: dict,
    emit: EventFn,
    should_stop: Callable[[], bool],
    keep_cancelled: Callable[[], bool],
) -> Finished:
    """What the child does (also callable in-process, e.g. from tests)."""
    if "learn_car" in request:
        return _run_learn_car(request, emit, should_stop)
    sources = Sources(
        [_record_from(v) for v in request["reviewed"]],
        int(request.get("unreviewed_edits", 0)),
        [_record_from(v) for v in request.get("ground_truth", [])],
    )
    base = None
    if request.get("base"):
        path = Path(request["base"]["path"])
        base = ModelInfo(request["base"]["version"], path, read_model_meta(path))
    outcome = run_finetune(
        sources,
        ModelStore(Path(request["store_root"])),
        base,
        FinetuneSettings(**request["settings"]),
        emit,
        should_stop,
        keep_cancelled,
        bool(request.get("make_current")),
        Path(request["run_dir"]),
    )
    return outcome.finished_event()


def child_main() -> int:
    """Entry point of ``python -m model.workflows.finetune_process``."""
    from model.framework_logs import verbose

    logging.basicConfig(  # the parent's console: warnings only, unless --verbose/--debug
        level=logging.INFO if verbose() else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s finetune-child %(name)s: %(message)s",
    )
    if hasattr(os, "nice"):
        os.nice(CHILD_NICE)  # the GUI process always wins the CPU
    out = sys.stdout
    lock = threading.Lock()

    def emit(event: FinetuneEvent) -> None:
        with lock:
            out.write(json.dumps(to_json(event)) + "\n")
            out.flush()

    stop, keep = threading.Event(), threading.Event()
    request = json.loads(sys.stdin.readline())

    def watch_stdin() -> None:
        for line in sys.stdin:  # "stop" / "keep", or EOF when the parent went away
            if line.strip() == "keep":
                keep.set()
                break
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True, name="stop-watch").start()
    try:
        run_request(request, emit, stop.is_set, keep.is_set)
    except Exception as exc:
        emit(Failed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return 1
    return 0


def child_command() -> list[str]:
    return [sys.executable, "-m", "model.workflows.finetune_process"]


def run_finetune_process(
    request: dict,
    on_event: EventFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_cancelled: Callable[[], bool] | None = None,
    command: Sequence[str] | None = None,
) -> Finished:
    """Start the child, relay its events, forward a cancel; return its ``Finished``.

    On cancel, ``keep_cancelled()`` is asked once (only when an epoch has finished): True
    lets the child judge and store that candidate; otherwise the child is told to stop and
    killed if it has not exited within KILL_AFTER_S, and nothing is stored (unless it had
    already begun storing the version: that short step is let finish).
    Raises FinetuneProcessError when the child reports an error or dies.
    """
    report = on_event or (lambda event: None)
    stop = should_stop or (lambda: False)
    keep = keep_cancelled or (lambda: False)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # so the child finds `model`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        list(command or child_command()),
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
    result: FinetuneEvent | None = None
    epochs = 0
    storing = False
    deadline: float | None = None
    killed = False
    try:
        _send(child, json.dumps(request))
        while True:
            if deadline is None and stop():
                keeping = epochs > 0 and keep()
                _send(child, "keep" if keeping else "stop")
                # Once the child is storing, the version is as good as stored: let it finish.
                waiting = keeping or storing
                deadline = math.inf if waiting else time.monotonic() + KILL_AFTER_S
            if deadline is not None and time.monotonic() > deadline and child.poll() is None:
                log.info("fine-tune child did not stop within %.1f s: killed", KILL_AFTER_S)
                child.kill()
                killed = True
                break
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                event = from_json(json.loads(line))
            except ValueError:
                log.info("finetune child: %s", line.rstrip())
                continue
            if isinstance(event, Finished | Failed):
                result = event
                continue
            if isinstance(event, Epoch):
                epochs += 1
            storing = storing or (isinstance(event, Phase) and event.name == "storing")
            report(event)
    finally:
        _close(child)
    if killed or (result is None and deadline is not None):
        if "run_dir" in request:  # a fine-tune's half-written run (Learn this car has none)
            shutil.rmtree(request["run_dir"], ignore_errors=True)
        result = Finished(None, False, False, True, "cancelled: nothing stored")
    if result is None:
        raise FinetuneProcessError(
            f"fine-tuning process ended unexpectedly (exit {child.returncode})"
        )
    if isinstance(result, Failed):
        log.error("fine-tuning failed in the child process:\n%s", result.traceback)
        raise FinetuneProcessError(result.message)
    report(result)
    return result


def _send(child: subprocess.Popen, line: str) -> None:
    try:
        child.stdin.write(line + "\n")
        child.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child has exited; its last line (or its absence) says how


def _close(child: subprocess.Popen) -> None:
    if child.poll() is None:
        try:
            child.stdin.close()  # EOF = stop
            child.wait(timeout=KILL_AFTER_S)
        except (OSError, subprocess.TimeoutExpired):
            child.kill()
    child.wait()


if __name__ == "__main__":
    started = time.perf_counter()
    code = child_main()
    log.info("finetune child finished in %.1f s", time.perf_counter() - started)
    sys.exit(code)
