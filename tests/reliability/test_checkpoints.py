"""Training checkpoints after a kill or a failed write: best.keras and train_state.json
never disagree, and no temporary file of a dead run is left to fill the disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from model.nn.train_callbacks import recover_checkpoints, save_model_atomic


def _state(run, epoch):
    (run / "train_state.json").write_text(json.dumps({"epoch": epoch, "best_epoch": epoch}))


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


def test_a_kill_between_the_checkpoint_and_the_state_drops_that_epoch(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _state(run, 1)
    (run / "best.keras").write_bytes(b"epoch 1")
    (run / ".best.pending-e2.keras").write_bytes(b"epoch 2")  # saved, state not written
    done = recover_checkpoints(run)
    assert (run / "best.keras").read_bytes() == b"epoch 1"  # agrees with the state
    assert not (run / ".best.pending-e2.keras").exists()
    assert any("not committed" in line for line in done)


def test_a_kill_after_the_state_finishes_the_rename(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _state(run, 2)
    (run / "best.keras").write_bytes(b"epoch 1")
    (run / ".best.pending-e2.keras").write_bytes(b"epoch 2")
    (run / ".last.pending-e2.keras").write_bytes(b"epoch 2")
    recover_checkpoints(run)
    assert (run / "best.keras").read_bytes() == b"epoch 2"
    assert (run / "last.keras").read_bytes() == b"epoch 2"


def test_temp_files_of_dead_runs_are_removed_live_ones_kept(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dead = run / f".best.tmp{_dead_pid()}.keras"
    live = run / f".best.tmp{os.getppid()}.keras"  # pytest's parent shell: alive
    dead.write_bytes(b"x" * 1000)
    live.write_bytes(b"x")
    recover_checkpoints(run)
    assert not dead.exists() and live.exists()


class _FullDiskModel:
    def save(self, path):
        with open(path, "wb") as fh:
            fh.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    with pytest.raises(OSError, match="No space"):
        save_model_atomic(_FullDiskModel(), tmp_path / "best.keras")
    assert list(tmp_path.iterdir()) == []
