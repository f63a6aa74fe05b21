"""Progressive resizing: a run can start from another model's weights at a new input size."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.cli.main import main
from model.nn.train_config import TrainConfig
from model.nn.training import load_keras_model, train
from tiny_carvana import make_image_folder, records, save_tiny_model


def _conv_kernels(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.weights if w.path.endswith("kernel")]


@pytest.mark.slow
def test_init_weights_are_copied_into_a_larger_network(tmp_path):
    train_dir, masks_dir = make_image_folder(tmp_path / "data", cars=2, angles=2)
    pairs = [(r.path, r.mask_path) for r in records(train_dir, masks_dir)]
    donor_path = save_tiny_model(tmp_path / "donor.keras", seed=3)  # 128x128, width 1/8
    config = TrainConfig(
        train_pairs=pairs,
        val_pairs=[],
        out_dir=tmp_path / "run",
        preset="128x256",
        width_multiplier=0.125,
        epochs=1,
        batch_size=4,
        learning_rate=0.0,
        augment=None,
        workers=1,
        tensorboard=False,
        init_weights=donor_path,
    )
    result = train(config)
    trained = load_keras_model(result.model_path)
    assert tuple(trained.input_shape) == (None, 128, 256, 3)
    donor = load_keras_model(donor_path)
    for got, want in zip(_conv_kernels(trained), _conv_kernels(donor), strict=True):
        np.testing.assert_array_equal(got, want)  # lr 0: the copied kernels are unchanged


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_init_weights_of_another_width_is_a_clear_error(tmp_path):
    train_dir, masks_dir = make_image_folder(tmp_path / "data", cars=2, angles=1)
    pairs = [(r.path, r.mask_path) for r in records(train_dir, masks_dir)]
    donor_path = save_tiny_model(tmp_path / "donor.keras")
    config = TrainConfig(
        train_pairs=pairs,
        val_pairs=[],
        out_dir=tmp_path / "run",
        preset="128x128",
        width_multiplier=0.25,
        epochs=1,
        workers=1,
        tensorboard=False,
        init_weights=donor_path,
    )
    with pytest.raises(ValueError, match=r"donor\.keras.*width"):
        train(config)


@pytest.mark.slow
def test_cli_names_the_run_after_its_starting_model(tmp_path, capsys):
    make_image_folder(tmp_path / "data", cars=3, angles=1)
    donor = save_tiny_model(tmp_path / "m" / "first" / "best.keras")
    args = [
        "train",
        str(tmp_path / "data"),
        "--preset",
        "128x128",
        "--width",
        "0.125",
        "--epochs",
        "1",
        "--workers",
        "1",
        "--init-from",
        str(donor),
        "--out",
        str(tmp_path / "models"),
    ]
    assert main(args) == 0
    assert (tmp_path / "models" / "runs" / "128x128-w0.125-s0-from-first" / "best.keras").is_file()
    assert "now the current model" in capsys.readouterr().out
    from model.store.versions import ModelStore

    assert ModelStore(tmp_path / "models").current().meta["parent"] == str(donor.resolve())
