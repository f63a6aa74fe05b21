"""Compact model files for shipping: float16 weights on disk, float32 compute on load.

A width-0.5 network has 8.7 M parameters: 35 MB as float32, 17 MB as float16. Halving the
weights' precision costs no measurable Dice (checked when the default model is built: see
MODEL_CARD.md), but CPUs run float16 convolutions slowly, so a float16 file is converted
back to float32 layers as soon as it is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.nn.frameworks import keras


def _with_dtype(model: keras.Model, dtype: str) -> keras.Model:
    """Clone the architecture with every layer's dtype policy set to `dtype`, same weights."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        # The classifier stays float32 in mixed precision; here all layers share one dtype.
        config["dtype"] = dtype
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    return twin


def for_training(model: keras.Model, policy: str) -> keras.Model:
    """A twin of a loaded model whose layers train under the dtype ``policy`` (float32,
    mixed_bfloat16, ...), weights as float32 variables, the classifier kept float32."""
    if policy == "float32":
        return to_float32(model)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name == "mask" else policy
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights([np.asarray(w).astype("float32") for w in model.get_weights()])
    return twin


def has_float16_weights(model: keras.Model) -> bool:
    return any(str(w.dtype) == "float16" for w in model.weights)


def to_float32(model: keras.Model) -> keras.Model:
    """A float32 twin of a float16-stored model (or the model itself when already float32)."""
    return _with_dtype(model, "float32") if has_float16_weights(model) else model


def save_float16(model: keras.Model, path: Path) -> Path:
    """Save `model` with float16 weights (inference only: no optimizer state)."""
    path = Path(path)
    _with_dtype(model, "float16").save(path, include_optimizer=False)
    return path
