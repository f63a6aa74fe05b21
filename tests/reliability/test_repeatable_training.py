"""A seeded training run repeats on one machine: same command, same --seed, same losses."""

from __future__ import annotations

import json

import pytest

from model.cli.main import main as carvana
from tiny_carvana import make_image_folder


@pytest.mark.slow
def test_the_same_seeded_command_gives_the_same_first_epoch(tmp_path):
    make_image_folder(tmp_path / "data", cars=3, angles=2)
    losses = []
    for run in ("a", "b"):
        args = ["train", str(tmp_path / "data"), "--preset", "128x128", "--width", "0.125"]
        args += ["--epochs", "1", "--batch-size", "2", "--workers", "2", "--seed", "0"]
        args += ["--out", str(tmp_path / run)]
        assert carvana(args) == 0
        (state_file,) = (tmp_path / run / "runs").glob("*/train_state.json")
        losses.append(json.loads(state_file.read_text())["history"]["loss"])
    assert losses[0] == losses[1]
