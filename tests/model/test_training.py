"""Training loop: loss drops, checkpoints and resume, cancel within one batch, fine-tuning."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from model.data.dataset import list_images
from model.data.masks import read_mask
from model.kaggle.metrics import dice
from model.nn.network import build_segnet
from model.nn.predictor import Predictor
from model.nn.shipping import save_float16
from model.nn.train_config import TrainConfig
from model.nn.training import (
    BEST_NAME,
    LAST_NAME,
    STATE_NAME,
    run_meta,
    train,
)
from tiny_carvana import make_image_folder, records, save_tiny_model


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    train_dir, masks_dir = make_image_folder(tmp_path_factory.mktemp("data"), cars=3, angles=2)
    return [(r.path, r.mask_path) for r in records(train_dir, masks_dir)]


def _config(pairs, out, **kw):
    defaults = dict(
        preset="128x128",
        width_multiplier=0.125,
        batch_size=2,
        learning_rate=1e-2,
        workers=1,
        tensorboard=True,
    )
    defaults.update(kw)
    return TrainConfig(train_pairs=pairs[:4], val_pairs=pairs[4:], out_dir=out, **defaults)


@pytest.mark.slow
def test_loss_drops_and_checkpoints_state_and_logs_are_written(tiny_data, tmp_path):
    keras.utils.set_random_seed(0)
    events = []
    result = train(_config(tiny_data, tmp_path, epochs=3, augment=None), events.append)
    losses = result.history["loss"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert result.epochs_run == 3 and not result.cancelled and not result.stopped_early
    for name in (BEST_NAME, LAST_NAME, STATE_NAME):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "logs").is_dir()  # TensorBoard
    state = json.loads((tmp_path / STATE_NAME).read_text())
    best = min(result.history["val_loss"])
    assert state["epoch"] == 3 and state["best_val_loss"] == pytest.approx(best)
    batches = [e for e in events if e["event"] == "batch"]
    assert len(batches) == 6 and batches[-1]["eta_s"] == 0.0
    assert [e["event"] for e in events].count("epoch") == 3 and events[-1]["event"] == "done"
    meta = run_meta(_config(tiny_data, tmp_path), result, {"images": 6})
    assert meta["input_size"] == [128, 128] and meta["backend"] == "tensorflow"
    assert json.loads(json.dumps(meta))["val_loss"] == pytest.approx(best)


@pytest.mark.slow
def test_cancel_within_one_batch_keeps_weights_and_a_rerun_resumes(tiny_data, tmp_path):
    seen = []
    config = _config(tiny_data, tmp_path, epochs=2, batch_size=1)
    result = train(
        config, seen.append, should_stop=lambda: any(e["event"] == "batch" for e in seen)
    )
    assert result.cancelled and result.epochs_run == 0
    assert [e["event"] for e in seen] == ["batch", "done"]  # stopped after the first batch
    assert result.model_path == tmp_path / BEST_NAME and result.model_path.is_file()
    assert Predictor.load(result.model_path).input_size == (128, 128)
    # The cancelled epoch is not counted: its weights are kept and a re-run redoes it.
    assert json.loads((tmp_path / STATE_NAME).read_text())["epoch"] == 0
    assert (tmp_path / LAST_NAME).is_file()
    resumed = train(_config(tiny_data, tmp_path, epochs=2, batch_size=1))
    assert not resumed.cancelled and resumed.epochs_run == 2
    assert len(resumed.history["loss"]) == 2


@pytest.mark.slow
def test_continuing_a_model_on_in_memory_masks_stops_early(tiny_data, tmp_path):
    base = save_tiny_model(tmp_path / "base.keras")
    pairs = [(image, read_mask(mask)) for image, mask in tiny_data]  # edited arrays
    val_car = pairs[0][0].name.split("_")[0]
    config = TrainConfig(
        train_pairs=[p for p in pairs if not p[0].name.startswith(val_car)],
        val_pairs=[p for p in pairs if p[0].name.startswith(val_car)],
        out_dir=tmp_path / "ft",
        preset="128x128",
        epochs=4,
        batch_size=2,
        patience=1,
        min_delta=100.0,
        base_model=base,
        resume=False,
        workers=1,
        tensorboard=False,
    )
    result = train(config)
    # Nothing improves val_loss by 100: epoch 1 sets the best (from inf), epoch 2 stops.
    assert result.stopped_early and result.epochs_run == 2
    assert "val_loss" in result.history  # two of three cars trained, one validated
    assert len(result.history["val_loss"]) == 2
    tuned = Predictor.load(result.model_path).predict(np.full((96, 144, 3), 128, np.uint8))
    assert tuned.mask.shape == (96, 144)


@pytest.mark.slow
def test_overfitting_eight_real_images_reaches_high_dice(carvana_data, tmp_path):
    recs = list_images(carvana_data / "train", carvana_data / "train_masks")[:8]
    keras.utils.set_random_seed(0)
    # A fresh network with a fast BatchNorm average, so a short run's inference matches training.
    build_segnet(128, 128, 0.5, bn_momentum=0.8).save(tmp_path / "init.keras")
    config = TrainConfig(
        train_pairs=[(r.path, r.mask_path) for r in recs],
        val_pairs=[],
        out_dir=tmp_path / "run",
        preset="128x128",
        epochs=30,
        batch_size=4,
        learning_rate=1e-2,
        augment=None,
        base_model=tmp_path / "init.keras",
        patience=100,
        tensorboard=False,
    )
    result = train(config)
    predictor = Predictor.load(result.model_path)
    scores = [
        dice(pred.mask, read_mask(r.mask_path))
        for r, (_, pred) in zip(recs, predictor.predict_paths([r.path for r in recs]), strict=True)
    ]
    assert np.mean(scores) > 0.95


@pytest.mark.slow
def test_fine_tuning_a_float16_shipped_model_trains_in_float32(tiny_data, tmp_path):
    # The shipped default is stored with float16 weights (model.nn.shipping). Fine-tuned as
    # float16, Adam's tiny updates underflow and the very first loss is NaN, so no best
    # checkpoint is ever written and the GUI reports "nothing to keep".
    keras.utils.set_random_seed(0)
    half = save_float16(build_segnet(128, 128, width_multiplier=0.125), tmp_path / "f16.keras")
    result = train(
        _config(
            tiny_data, tmp_path / "run", epochs=1, augment=None, base_model=half, learning_rate=1e-4
        )
    )
    assert np.isfinite(result.history["loss"]).all(), result.history
    assert np.isfinite(result.history["val_loss"]).all(), result.history
    assert result.model_path is not None
    tuned = keras.saving.load_model(result.model_path, compile=False)
    assert all(str(w.dtype) == "float32" for w in tuned.weights)


@pytest.mark.slow
def test_fine_tuning_the_float16_shipped_model_in_bfloat16_trains_and_saves(tiny_data, tmp_path):
    # --precision bfloat16: bf16 compute, float32 variables, so the losses stay finite and
    # the checkpoint loads like any other model.
    keras.utils.set_random_seed(0)
    half = save_float16(build_segnet(128, 128, width_multiplier=0.125), tmp_path / "f16.keras")
    config = _config(
        tiny_data,
        tmp_path / "run",
        epochs=1,
        augment=None,
        base_model=half,
        learning_rate=1e-4,
        precision="bfloat16",
    )
    result = train(config)
    assert np.isfinite(result.history["loss"]).all(), result.history
    assert result.model_path is not None
    tuned = keras.saving.load_model(result.model_path, compile=False)
    assert tuned.get_layer("enc0_a_conv").compute_dtype == "bfloat16"
    assert all(str(w.dtype) == "float32" for w in tuned.weights)
    assert keras.mixed_precision.global_policy().name == "float32"  # only while building
