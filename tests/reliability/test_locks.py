"""Two writers never collide: an export's CSV and the model store are locked.

Reproduction (before the fix): two ``carvana export DIR -o s.csv`` at once (or the GUI
and the command line) appended to one ``s.csv.partial`` and produced a file with
duplicate rows and a row fragment; two processes adding a model version or moving
``current.json`` at the same moment could interleave. Now the second export stops at
once with a message naming the file and who holds it, and the store waits its turn.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from fakes import install_fake_predictor_module

from model.cli.main import main
from model.data.locks import FileLock, LockedError
from model.kaggle.submission import SubmissionWriter, iter_rle_csv
from model.store.versions import ModelStore, ModelStoreError
from tiny_carvana import make_image_folder


def _holder(code: str) -> subprocess.Popen:
    """A second process running ``code`` that prints 'ready' once it holds its lock and
    then waits for stdin to close (or to be killed)."""
    script = textwrap.dedent(code) + "\nprint('ready', flush=True)\nsys.stdin.read()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys\n" + script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen, kill: bool = False) -> None:
    if kill:
        proc.send_signal(signal.SIGKILL)
    else:
        proc.stdin.close()
    proc.wait(timeout=30)


def test_a_second_export_to_one_csv_is_refused_naming_the_file_and_holder(tmp_path):
    out = tmp_path / "s.csv"
    holder = _holder(
        f"""
        from model.kaggle.submission import SubmissionWriter
        writer = SubmissionWriter({str(out)!r})
        writer.write("a.jpg", "1 1")
        """
    )
    try:
        with pytest.raises(LockedError) as caught:
            SubmissionWriter(out)
        message = str(caught.value)
        assert str(out) in message and f"process {holder.pid}" in message
        assert "s.csv.lock" in message
    finally:
        _stop(holder, kill=True)  # a crash: its lock file stays behind on disk
    assert (tmp_path / "s.csv.lock").exists()
    with SubmissionWriter(out, resume=False) as writer:  # the dead holder's lock is no bar
        writer.write("b.jpg", "2 2")
    assert list(iter_rle_csv(out)) == [("b.jpg", "2 2")]
    assert not (tmp_path / "s.csv.lock").exists()


def test_two_writers_in_one_process_cannot_interleave_rows(tmp_path):
    out = tmp_path / "s.csv"
    first = SubmissionWriter(out)
    with pytest.raises(LockedError, match=r"s\.csv"):
        SubmissionWriter(out)
    first.write("a.jpg", "1 1")
    first.close()
    with SubmissionWriter(out) as second:
        second.write("b.jpg", "1 1")
    rows = [name for name, _ in iter_rle_csv(out)]
    assert rows == ["b.jpg"]


def test_cli_export_while_another_runs_is_one_clear_error(tmp_path, monkeypatch, capsys):
    train, _ = make_image_folder(tmp_path / "data", cars=1, angles=2)
    install_fake_predictor_module(monkeypatch)
    model = tmp_path / "m.keras"
    model.write_bytes(b"fake")
    out = tmp_path / "s.csv"
    holder = _holder(
        f"""
        from model.kaggle.submission import SubmissionWriter
        writer = SubmissionWriter({str(out)!r})
        """
    )
    try:
        assert main(["export", str(train), "-o", str(out), "--model", str(model)]) == 1
        err = capsys.readouterr().err
        assert f"{out} (an export) is in use by process {holder.pid}" in err
        assert not out.exists()
    finally:
        _stop(holder)
    assert main(["export", str(train), "-o", str(out), "--model", str(model)]) == 0
    assert len(list(iter_rle_csv(out))) == 2


def _fake_model(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK-not-really")
    return path


def test_the_model_store_is_locked_while_a_version_is_added_or_made_current(tmp_path, monkeypatch):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    root = tmp_path / "models"
    store = ModelStore(root)
    first = store.add(_fake_model(tmp_path / "a.keras"), {})
    holder = _holder(
        f"""
        from model.store.versions import ModelStore
        lock = ModelStore({str(root)!r}).lock().acquire()
        """
    )
    try:
        monkeypatch.setattr("model.store.versions.LOCK_TIMEOUT_S", 0.3)
        with pytest.raises(ModelStoreError, match=f"model store {root} is in use by process"):
            store.set_current(first.version)
        with pytest.raises(ModelStoreError, match=f"process {holder.pid}"):
            store.add(_fake_model(tmp_path / "b.keras"), {})
        assert [v.version for v in store.versions()] == [first.version]
        assert not list(root.glob(".adding-*"))  # nothing half-added left behind
        assert not (root / "current.json").exists()
    finally:
        _stop(holder)
    monkeypatch.setattr("model.store.versions.LOCK_TIMEOUT_S", 30.0)
    store.set_current(first.version)
    assert store.current().version == first.version


def test_the_store_waits_for_a_short_lock_instead_of_failing(tmp_path, monkeypatch):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    root = tmp_path / "models"
    store = ModelStore(root)
    info = store.add(_fake_model(tmp_path / "a.keras"), {})
    holder = _holder(
        f"""
        import threading, time
        from model.store.versions import ModelStore
        lock = ModelStore({str(root)!r}).lock().acquire()
        threading.Timer(0.4, lock.release).start()
        """
    )
    try:
        started = time.monotonic()
        store.set_current(info.version)  # waits for the holder, then moves the pointer
        assert time.monotonic() - started > 0.2
    finally:
        _stop(holder)
    assert store.current().version == info.version


def test_concurrent_adds_from_two_processes_get_distinct_versions(tmp_path, monkeypatch):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    root = tmp_path / "models"
    source = _fake_model(tmp_path / "a.keras")
    code = textwrap.dedent(
        f"""
        from model.store.versions import ModelStore
        store = ModelStore({str(root)!r})
        for _ in range(4):
            info = store.add({str(source)!r}, {{"pid": __import__("os").getpid()}})
            store.set_current(info.version)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    versions = ModelStore(root).versions()
    assert len(versions) == 8 and len({v.version for v in versions}) == 8
    assert all(v.meta.get("pid") for v in versions)  # every version has its JSON
    assert ModelStore(root).current() is not None
    assert not (root / ".lock").exists()


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path):
    """A stale lock (its process died) never blocks: the kernel dropped the flock."""
    path = tmp_path / "x.lock"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    path.write_text(f'{{"pid": {proc.pid}, "host": "here"}}')
    with FileLock(path, "x"):
        assert f'"pid": {os.getpid()}' in path.read_text()
    assert not path.exists()
