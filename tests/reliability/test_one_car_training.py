"""With one car there is nothing to validate on: training says so instead of printing
training Dice as "val Dice", and the model's JSON holds no validation figures."""

from __future__ import annotations

import json

import pytest

from model.cli.main import main as carvana
from model.store.versions import ModelStore
from tiny_carvana import make_image_folder


@pytest.mark.slow
def test_training_on_one_car_reports_no_validation_set(tmp_path, capsys):
    make_image_folder(tmp_path / "data", cars=1, angles=2)
    args = ["train", str(tmp_path / "data"), "--preset", "128x128", "--width", "0.125"]
    args += ["--epochs", "1", "--batch-size", "2", "--workers", "1", "--out", str(tmp_path / "m")]
    assert carvana(args) == 0
    out = capsys.readouterr().out
    assert "no validation set" in out and "val Dice" not in out
    (info,) = ModelStore(tmp_path / "m").versions()
    meta = json.loads(info.path.with_suffix(".json").read_text())
    assert meta["val_dice"] is None and meta["val_loss"] is None
