"""Re-estimate BatchNorm population statistics before a model is validated or saved.

With batch 4 and a 4x6 bottleneck, the moving averages Keras keeps during training lag far
behind the fast-changing weights: on the first default-model run a checkpoint scored Dice
0.96 in training mode but 0.09 in inference mode on the same images. Running a few
batches forward in training mode with a cumulative average (momentum k/(k+1)) replaces the
lagging averages with the statistics of the current weights ("precise BN"); on that
checkpoint it restored inference-mode Dice to 0.97 after one batch. It never changes a
trainable weight.
"""

from __future__ import annotations

import logging

import numpy as np

from model.nn.frameworks import keras

log = logging.getLogger(__name__)


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def recalibrate_batchnorm(model: keras.Model, sequence, batches: int = 20) -> int:
    """Forward `batches` batches of `sequence` (x, y) in training mode; return how many ran."""
    layers = batchnorm_layers(model)
    if not layers or len(sequence) == 0:
        return 0
    saved = [layer.momentum for layer in layers]
    picks = np.unique(np.linspace(0, len(sequence) - 1, min(batches, len(sequence))).astype(int))
    try:
        for k, index in enumerate(picks):
            for layer in layers:
                layer.momentum = k / (k + 1)  # k = 0 replaces, then a running mean
            x = sequence[int(index)][0]
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    log.debug("recalibrated %d BatchNorm layers on %d batches", len(layers), len(picks))
    return len(picks)


class RecalibrateBatchNorm(keras.callbacks.Callback):
    """Precise BN once per epoch: before validation, or at epoch end when there is none.

    Must come before the checkpoint callback, so saved models carry the fresh statistics.
    """

    def __init__(self, sequence, batches: int = 20) -> None:
        super().__init__()
        self.sequence = sequence
        self.batches = batches
        self._done_this_epoch = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._done_this_epoch = False

    def _run(self) -> None:
        if not self._done_this_epoch:
            recalibrate_batchnorm(self.model, self.sequence, self.batches)
            self._done_this_epoch = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._run()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._run()
