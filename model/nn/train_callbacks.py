"""Keras callbacks of the training loop: progress/cancel, checkpoints, resumable state.

`_Progress` turns Keras events into plain `on_progress(dict)` calls and polls
`should_stop()` after every batch; `_Checkpoints` writes best.keras / last.keras /
train_state.json atomically after each epoch and applies early stopping.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from model.data.masks import atomic_write_bytes

if TYPE_CHECKING:
    from model.nn.train_config import TrainConfig

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]

BEST_NAME = "best.keras"
LAST_NAME = "last.keras"
STATE_NAME = "train_state.json"


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """Save to a temp file in the same folder, then rename: a crash never leaves half a model."""
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.keras")
    model.save(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
            save_model_atomic(self.model, self.out_dir / LAST_NAME)
            write_state(self.out_dir, self.state)
            return
        logs = logs or {}
        val_loss = float(logs.get("val_loss", logs.get("loss", math.inf)))
        val_dice = float(logs.get("val_dice_coef", logs.get("dice_coef", 0.0)))
        for key, value in logs.items():
            self.state["history"].setdefault(key, []).append(float(value))
        if val_loss < self.state["best_val_loss"] - self.config.min_delta:
            self.state.update(best_val_loss=val_loss, best_val_dice=val_dice, wait=0)
            save_model_atomic(self.model, self.out_dir / BEST_NAME)
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch + 1
        save_model_atomic(self.model, self.out_dir / LAST_NAME)
        write_state(self.out_dir, self.state)
        if self.state["wait"] >= self.config.patience:
            log.info(
                "early stopping: no val_loss improvement > %g for %d epochs",
                self.config.min_delta,
                self.config.patience,
            )
            self.stopped_early = True
            self.model.stop_training = True


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
