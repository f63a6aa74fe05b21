"""Precise BN: population statistics re-estimated from batches, weights untouched."""

from __future__ import annotations

import keras
import numpy as np

from model.nn.bn_calibration import RecalibrateBatchNorm, recalibrate_batchnorm


def _bn_model() -> keras.Model:
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs)


def _batches(n: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (rng.normal(3.0 + i, 1.0 + 0.1 * i, (4, 4, 4, 2)).astype("float32"), np.zeros(1))
        for i in range(n)
    ]


def test_moving_statistics_become_the_average_over_batches():
    model = _bn_model()
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.full(2, 100.0, "float32"))  # stale, far-off statistics
    conv_before = [np.asarray(w).copy() for w in model.get_layer("conv").weights]
    batches = _batches()

    assert recalibrate_batchnorm(model, batches, batches=len(batches)) == len(batches)

    conv = model.get_layer("conv")
    features = [np.asarray(conv(x)) for x, _ in batches]
    expected_mean = np.mean([f.mean(axis=(0, 1, 2)) for f in features], axis=0)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), expected_mean, rtol=1e-4)
    assert bn.momentum == 0.99  # restored
    for before, after in zip(conv_before, conv.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_callback_recalibrates_once_per_epoch():
    model = _bn_model()
    calls = []
    callback = RecalibrateBatchNorm(_batches(2), batches=2)
    callback.set_model(model)
    import model.nn.bn_calibration as module

    original = module.recalibrate_batchnorm
    module.recalibrate_batchnorm = lambda *a, **k: calls.append(1) or 2
    try:
        callback.on_epoch_begin(0)
        callback.on_test_begin()
        callback.on_epoch_end(0)  # already done before validation
        callback.on_epoch_begin(1)
        callback.on_epoch_end(1)  # no validation this epoch: runs here
    finally:
        module.recalibrate_batchnorm = original
    assert len(calls) == 2
