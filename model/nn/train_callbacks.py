"""Keras callbacks of the training loop: progress/cancel, checkpoints, resumable state.

`_Progress` turns Keras events into plain `on_progress(dict)` calls and polls
`should_stop()` after every batch; `_Checkpoints` writes best.keras / last.keras /
train_state.json after each epoch and applies early stopping.

The three files move together. Each epoch's checkpoints are first written as
``.best.pending-e<N>.keras`` / ``.last.pending-e<N>.keras``; train_state.json (written
atomically) is the commit point; only then are the pending files renamed into place. A run
killed in between is repaired at its next start by ``recover_checkpoints``: pending files
of a committed epoch are renamed, others deleted, so best.keras and the state never
disagree. Temporary files of dead runs are removed too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from model.data.masks import atomic_write_bytes
from model.nn.frameworks import keras

if TYPE_CHECKING:
    from model.nn.train_config import TrainConfig

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]

BEST_NAME = "best.keras"
LAST_NAME = "last.keras"
STATE_NAME = "train_state.json"


_TEMP = re.compile(r"^\.(?P<stem>[\w-]+)\.tmp(?P<pid>\d+)\.keras$")
_PENDING = re.compile(r"^\.(?P<stem>best|last)\.pending-e(?P<epoch>\d+)\.keras$")


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """Save to a temp file in the same folder, then rename: a crash never leaves half a
    model, and a failed write (disk full) leaves no temporary file behind."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    try:
        model.save(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pending(out_dir: Path, stem: str, epoch: int) -> Path:
    return out_dir / f".{stem}.pending-e{epoch}.keras"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_checkpoints(out_dir: Path) -> list[str]:
    """Make best/last.keras agree with train_state.json after a kill; remove dead temp files.

    Returns what was done, for the log.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    done = []
    state = read_state(out_dir)
    committed = int(state.get("epoch", 0)) if state else 0
    for entry in sorted(out_dir.iterdir()):
        temp = _TEMP.match(entry.name)
        if temp and int(temp["pid"]) != os.getpid() and not _pid_alive(int(temp["pid"])):
            entry.unlink(missing_ok=True)
            done.append(f"removed {entry.name} (left by a dead run)")
            continue
        pending = _PENDING.match(entry.name)
        if pending:
            if int(pending["epoch"]) == committed:  # the state said so: finish the rename
                os.replace(entry, out_dir / f"{pending['stem']}.keras")
                done.append(f"completed {pending['stem']}.keras of epoch {committed}")
            else:  # killed before the state was written: that epoch never happened
                entry.unlink(missing_ok=True)
                done.append(f"dropped {entry.name} (epoch not committed)")
    for line in done:
        log.warning("%s: %s", out_dir, line)
    return done


class ProgressCallback(keras.callbacks.Callback):
    """Turns Keras events into on_progress dicts and polls should_stop every batch."""

    def __init__(
        self,
        config: TrainConfig,
        batches: int,
        on_progress: ProgressFn | None,
        should_stop: StopFn | None,
    ) -> None:
        super().__init__()
        self.config = config
        self.batches = batches
        self.on_progress = on_progress or (lambda info: None)
        self.should_stop = should_stop or (lambda: False)
        self.cancelled = False
        self._t_epoch = time.perf_counter()
        self._t_run = time.perf_counter()
        self._done_batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        self._t_epoch = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._done_batches += 1
        per_batch = (time.perf_counter() - self._t_run) / self._done_batches
        remaining = (self.config.epochs - self._epoch) * self.batches - (batch + 1)
        self.on_progress(
            {
                "event": "batch",
                "epoch": self._epoch + 1,
                "epochs": self.config.epochs,
                "batch": batch + 1,
                "batches": self.batches,
                "loss": float(logs.get("loss", math.nan)),
                "images_per_s": self.config.batch_size / per_batch if per_batch else 0.0,
                "eta_s": max(0.0, remaining * per_batch),
            }
        )
        if self.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Keras validates even after a cancel; one batch is enough to get out quickly.
        if self.cancelled:
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.cancelled:
            return
        logs = logs or {}
        self.on_progress(
            {
                "event": "epoch",
                "epoch": epoch + 1,
                "epochs": self.config.epochs,
                "loss": float(logs.get("loss", math.nan)),
                "val_loss": float(logs.get("val_loss", math.nan)),
                "val_dice": float(logs.get("val_dice_coef", math.nan)),
                "seconds": time.perf_counter() - self._t_epoch,
            }
        )


class CheckpointCallback(keras.callbacks.Callback):
    """Best/last checkpoints, resumable state and early stopping (min_delta on val_loss)."""

    def __init__(self, out_dir: Path, config: TrainConfig, state: dict, progress: ProgressCallback):
        super().__init__()
        self.out_dir = out_dir
        self.config = config
        self.state = state
        self.progress = progress
        self.stopped_early = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.progress.cancelled:
            # A partial epoch: keep its weights for a resume, but do not score or count it.
            self._commit(last_only=True)
            return
        logs = logs or {}
        val_loss = float(logs.get("val_loss", logs.get("loss", math.inf)))
        val_dice = float(logs.get("val_dice_coef", logs.get("dice_coef", 0.0)))
        for key, value in logs.items():
            self.state["history"].setdefault(key, []).append(float(value))
        improved = val_loss < self.state["best_val_loss"] - self.config.min_delta
        if improved:
            self.state.update(best_val_loss=val_loss, best_val_dice=val_dice, wait=0)
            self.state["best_epoch"] = epoch + 1
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch + 1
        self._commit(best=improved)
        if self.state["wait"] >= self.config.patience:
            log.info(
                "early stopping: no val_loss improvement > %g for %d epochs",
                self.config.min_delta,
                self.config.patience,
            )
            self.stopped_early = True
            self.model.stop_training = True

    def _commit(self, best: bool = False, last_only: bool = False) -> None:
        """Pending checkpoints, then the state (the commit point), then the renames."""
        epoch = int(self.state["epoch"])
        stems = ["last"] if last_only or not best else ["best", "last"]
        for stem in stems:
            save_model_atomic(self.model, _pending(self.out_dir, stem, epoch))
        write_state(self.out_dir, self.state)
        for stem in stems:
            os.replace(_pending(self.out_dir, stem, epoch), self.out_dir / f"{stem}.keras")


def read_state(out_dir: Path) -> dict | None:
    path = out_dir / STATE_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: unreadable training state ({exc}); delete it to restart"
        ) from None


def write_state(out_dir: Path, state: dict) -> None:
    atomic_write_bytes(out_dir / STATE_NAME, json.dumps(state, indent=2).encode())
