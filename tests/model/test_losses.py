"""The Lovasz hinge against a NumPy transcription of Berman et al.'s reference, and the
`--loss` choice end to end: training, resuming with a new loss, reloading in safe mode."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from model.cli.main import main
from model.cli.train import LOSS_CHOICES
from model.nn.losses import LOSSES, bce_dice_lovasz, lovasz_hinge
from model.nn.train_config import TrainConfig
from model.nn.training import LAST_NAME, compile_model, load_keras_model, train
from tiny_carvana import make_image_folder, records


def _reference_lovasz(probs: np.ndarray, truth: np.ndarray) -> float:
    """lovasz_hinge(per_image=True) of the authors' PyTorch code, one image at a time."""
    losses = []
    for p, t in zip(probs, truth, strict=True):
        p = np.clip(p.ravel().astype(np.float64), 1e-6, 1 - 1e-6)
        logits = np.log(p / (1 - p))
        labels = (t.ravel() > 0.5).astype(np.float64)
        errors = 1.0 - logits * (2 * labels - 1)
        order = np.argsort(-errors, kind="stable")
        gt_sorted = labels[order]
        gts = gt_sorted.sum()
        intersection = gts - np.cumsum(gt_sorted)
        union = gts + np.cumsum(1 - gt_sorted)
        jaccard = 1.0 - intersection / union
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
        losses.append(np.dot(np.maximum(errors[order], 0), jaccard))
    return float(np.mean(losses))


def test_lovasz_matches_the_reference_on_random_images():
    rng = np.random.default_rng(3)
    probs = rng.random((3, 9, 11, 1)).astype("float32")
    truth = rng.random((3, 9, 11, 1)).astype("float32")  # soft targets: thresholded at 0.5
    ours = float(lovasz_hinge(truth, probs))
    assert ours == pytest.approx(_reference_lovasz(probs, truth), rel=1e-4)


def test_lovasz_is_zero_for_confident_truth_and_large_for_its_opposite():
    truth = np.zeros((2, 16, 16, 1), "float32")
    truth[:, 4:12, 4:12] = 1
    confident = np.where(truth > 0.5, 0.999, 0.001).astype("float32")  # |logit| ~ 6.9 > 1
    assert float(lovasz_hinge(truth, confident)) == pytest.approx(0.0, abs=1e-6)
    assert float(lovasz_hinge(truth, 1.0 - confident)) > 5.0
    unsure = np.full_like(truth, 0.5)  # logit 0: every pixel sits on the hinge
    assert float(lovasz_hinge(truth, unsure)) == pytest.approx(1.0, abs=1e-5)
    assert float(bce_dice_lovasz(truth, confident)) < 0.02


def test_cli_choices_are_the_registered_losses():
    assert set(LOSS_CHOICES) == set(LOSSES)
    with pytest.raises(ValueError, match="unknown loss 'dice'"):
        compile_model(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), 1e-3, "dice")


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory):
    train_dir, masks_dir = make_image_folder(tmp_path_factory.mktemp("data"), cars=3, angles=2)
    return [(r.path, r.mask_path) for r in records(train_dir, masks_dir)]


@pytest.mark.slow
def test_a_resumed_run_switches_loss_and_keeps_its_adam_state(tiny_pairs, tmp_path):
    keras.utils.set_random_seed(0)
    config = TrainConfig(
        train_pairs=tiny_pairs[:4],
        val_pairs=tiny_pairs[4:],
        out_dir=tmp_path,
        preset="128x128",
        width_multiplier=0.125,
        batch_size=2,
        epochs=1,
        learning_rate=1e-2,
        augment=None,
        workers=1,
        tensorboard=False,
    )
    train(config)
    first = load_keras_model(tmp_path / LAST_NAME)
    assert first.loss is LOSSES["bce-dice"]
    steps = int(first.optimizer.iterations)
    config.epochs, config.loss = 2, "bce-dice-lovasz"
    result = train(config)
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"]).all()
    resumed = load_keras_model(tmp_path / LAST_NAME)  # reloads in safe mode: registered
    assert resumed.loss is bce_dice_lovasz
    assert int(resumed.optimizer.iterations) == 2 * steps  # Adam went on, not restarted
    # The new loss is on another scale, so its first epoch is the new best, whatever it is.
    assert result.best_val_loss == pytest.approx(result.history["val_loss"][-1])
    config.epochs, config.loss = 3, "lovasz"  # then the hinge alone, the paper's fine-tune
    result = train(config)
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"]).all()
    hinge_only = load_keras_model(tmp_path / LAST_NAME)
    assert hinge_only.loss is lovasz_hinge
    assert int(hinge_only.optimizer.iterations) == 3 * steps
    # train_state.json says what runs now, and keeps each earlier setting with its epochs.
    state = json.loads((tmp_path / "train_state.json").read_text())
    assert state["config"]["loss"] == "lovasz" and state["config"]["epochs"] == 3
    earlier = state["earlier_configs"]
    assert [(c["loss"], c["until_epoch"]) for c in earlier] == [
        ("bce-dice", 1),
        ("bce-dice-lovasz", 2),
    ]


@pytest.mark.slow
def test_train_command_takes_the_lovasz_loss(tiny_pairs, tmp_path):
    data = tiny_pairs[0][0].parent.parent
    args = ["train", str(data), "--preset", "128x128", "--width", "0.125", "--epochs", "1"]
    args += ["--batch-size", "2", "--workers", "1", "--out", str(tmp_path), "--run-name", "lv"]
    assert main([*args, "--loss", "bce-dice-lovasz"]) == 0
    model = load_keras_model(tmp_path / "runs" / "lv" / LAST_NAME)
    assert model.loss is bce_dice_lovasz
    (stored,) = tmp_path.glob("v*/model.json")  # the model store records the loss used
    assert json.loads(stored.read_text())["loss"] == "bce-dice-lovasz"
