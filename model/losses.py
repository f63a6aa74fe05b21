"""Loss and metric from the seed recipe: binary cross-entropy + (1 - Dice), and Dice.

Registered as Keras serializables so saved `.keras` files reload with safe_mode=True.
Written with keras.ops only, so they run on every Keras backend.
"""

from __future__ import annotations

import keras
from keras import ops

SMOOTH = 1.0


@keras.saving.register_keras_serializable(package="carvana")
def dice_coef(y_true, y_pred):
    """Soft Dice over the whole batch (smoothed so empty masks do not divide by zero)."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    intersection = ops.sum(y_true * y_pred)
    return (2.0 * intersection + SMOOTH) / (ops.sum(y_true) + ops.sum(y_pred) + SMOOTH)


@keras.saving.register_keras_serializable(package="carvana")
def bce_dice_loss(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
    return bce + (1.0 - dice_coef(y_true, y_pred))


CUSTOM_OBJECTS = {"dice_coef": dice_coef, "bce_dice_loss": bce_dice_loss}
