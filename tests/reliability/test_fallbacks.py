"""No silent fallbacks: a broken current.json, a bad threshold, a full disk all say which file.

Reproduction (before the fix): a truncated ``current.json`` in the model store made
``carvana predict``/``export`` use the shipped default with only a warning and exit 0;
``"threshold": "abc"`` in a model's JSON failed with "could not convert string to float"
and no file name; "No space left on device" while writing a mask named no file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from fakes import install_fake_predictor_module

from model.cli.main import main
from model.data.masks import atomic_write_bytes, write_mask
from model.kaggle.submission import SubmissionWriter
from model.store.versions import ModelInfo, ModelStore, ModelStoreError, write_model_meta
from tiny_carvana import make_image_folder


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A user store with one version and a (fake) shipped default; no Keras needed."""
    shipped = tmp_path / "pkg" / "weights" / "default.keras"
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(b"shipped")
    write_model_meta(shipped, {"version": "default-v005"})
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: shipped)
    models = tmp_path / "models"
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(models))
    source = tmp_path / "mine.keras"
    source.write_bytes(b"mine")
    store = ModelStore(models)
    mine = store.add(source, {"threshold": 0.5})
    store.set_current(mine.version)
    loaded = install_fake_predictor_module(monkeypatch)
    train, _ = make_image_folder(tmp_path / "data", cars=1, angles=2)
    return store, shipped, mine, loaded, train


@pytest.mark.parametrize("garbage", ['{"vers', "", "[1, 2]", '{"version": "v042"}', "\x00\x00\x00"])
@pytest.mark.parametrize("command", ["predict", "export", "score-model", "automask"])
def test_a_broken_current_json_stops_the_cli_naming_it(world, tmp_path, capsys, command, garbage):
    store, _, _, loaded, train = world
    (store.root / "current.json").write_text(garbage)
    args = {
        "predict": ["predict", str(train), "-o", str(tmp_path / "out")],
        "export": ["export", str(train), "-o", str(tmp_path / "s.csv")],
        "score-model": ["score-model", str(tmp_path / "data")],
        "automask": ["automask", str(train)],
    }[command]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{store.root / 'current.json'} cannot be used" in err
    assert "carvana models --use VERSION" in err and "--model" in err
    assert loaded == []  # no model was loaded behind the user's back
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "out").exists()


def test_model_default_is_the_explicit_fallback(world, tmp_path, capsys):
    store, shipped, _, loaded, train = world
    (store.root / "current.json").write_text('{"vers')
    out = tmp_path / "out"
    assert main(["predict", str(train), "-o", str(out), "--model", "default"]) == 0
    assert loaded == [shipped]
    assert len(list(out.glob("*_mask.png"))) == 2


def test_a_good_pointer_still_works_and_no_pointer_means_the_shipped_default(world, tmp_path):
    store, shipped, mine, loaded, train = world
    assert main(["predict", str(train), "-o", str(tmp_path / "a")]) == 0
    assert loaded == [mine.path]
    (store.root / "current.json").unlink()  # never chosen: the shipped default, by design
    assert main(["predict", str(train), "-o", str(tmp_path / "b")]) == 0
    assert loaded[-1] == shipped


def test_the_gui_keeps_working_and_says_which_model_and_why(world, qtbot, monkeypatch):
    from carvana_gui.jobs import automask

    store, _, _, _, _ = world
    (store.root / "current.json").write_text('{"vers')
    monkeypatch.setattr(automask, "import_model_stack", lambda: None)
    active = automask._discover(None)
    assert active is not None and active.name == "default-v005"
    assert "current.json cannot be used" in active.note and "Model → Versions" in active.note
    controller = automask.AutoMaskController(worker=None)
    with qtbot.waitSignal(controller.no_model, timeout=1000) as shown:
        controller._set_model(active)
    assert shown.args[0] == active.note  # shown once as an information message
    store.set_current(store.versions()[0].version)
    assert automask._discover(None).note == ""


@pytest.mark.parametrize("value", ["abc", [0.5], True, 1.5, 0])
def test_a_bad_threshold_names_the_json(tmp_path, value):
    model = tmp_path / "v001" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"x")
    write_model_meta(model, {"threshold": value})
    info = ModelStore(tmp_path).get("v001")
    with pytest.raises(ModelStoreError, match=r"v001/model\.json: threshold"):
        _ = info.threshold
    assert ModelInfo("v", model, {}).threshold == 0.5  # absent: the default


def test_the_predictor_names_the_json_of_a_bad_threshold(tmp_path):
    from model.nn.predictor import ModelLoadError, Predictor  # imports Keras (a few seconds)

    model = tmp_path / "v001" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"not even a model")
    write_model_meta(model, {"threshold": "abc"})
    with pytest.raises(ModelLoadError, match=r"model\.json: threshold 'abc' is not a number"):
        Predictor.load(model)


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_names_the_file_being_written(tmp_path, monkeypatch):
    target = tmp_path / "masks" / "a_mask.png"
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError) as caught:
        write_mask(target, np.ones((4, 4), np.uint8))
    assert caught.value.errno == errno.ENOSPC
    assert str(target) in str(caught.value) and "No space left on device" in str(caught.value)
    assert not target.exists() and list(target.parent.iterdir()) == []  # no temp file left
    with pytest.raises(OSError, match=r"current\.json: No space left"):
        atomic_write_bytes(tmp_path / "current.json", b"{}")


def test_a_full_disk_during_an_export_names_the_partial_file(tmp_path, monkeypatch):
    writer = SubmissionWriter(tmp_path / "s.csv")
    writer.write("a.jpg", "1 1")
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError, match=r"s\.csv\.partial: No space left on device"):
        writer.close()
    monkeypatch.undo()
    assert not Path(tmp_path / "s.csv").exists()
    assert not (tmp_path / "s.csv.lock").exists()  # the lock is released all the same
