"""Losses and metric: the seed recipe's binary cross-entropy + (1 - Dice), Dice, and the
Lovasz hinge (Berman et al., CVPR 2018) for late epochs that optimise the IoU itself.

Registered as Keras serializables so saved `.keras` files reload with safe_mode=True.
Written with keras.ops only, so they run on every Keras backend.
"""

from __future__ import annotations

from model.nn.frameworks import keras, ops

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


@keras.saving.register_keras_serializable(package="carvana")
def lovasz_hinge(y_true, y_pred):
    """Per-image Lovasz hinge: a convex surrogate of 1 - IoU, computed on the logits.

    The network ends in a sigmoid, so the logits are recovered from the probabilities
    (clipped: beyond +-14 a pixel is certain either way). Soft targets (masks area-resized
    to the input) are thresholded at 0.5, because the surrogate needs hard labels.
    Each pixel's hinge error is weighted by how much it changes the Jaccard index when the
    errors are taken in descending order; that weight is a constant of the sort, so only
    the errors carry gradient.
    """
    p = ops.clip(ops.cast(y_pred, "float32"), 1e-6, 1.0 - 1e-6)
    logits = ops.log(p) - ops.log1p(-p)
    labels = ops.cast(ops.cast(y_true, "float32") > 0.5, "float32")
    batch = ops.shape(logits)[0]
    logits = ops.reshape(logits, (batch, -1))
    labels = ops.reshape(labels, (batch, -1))
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    errors_sorted, order = ops.top_k(errors, k=ops.shape(errors)[1], sorted=True)
    labels_sorted = ops.take_along_axis(labels, order, axis=1)
    positives = ops.sum(labels_sorted, axis=1, keepdims=True)
    intersection = positives - ops.cumsum(labels_sorted, axis=1)
    union = positives + ops.cumsum(1.0 - labels_sorted, axis=1)
    jaccard = 1.0 - intersection / union
    weights = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)
    per_image = ops.sum(ops.relu(errors_sorted) * ops.stop_gradient(weights), axis=1)
    return ops.mean(per_image)


@keras.saving.register_keras_serializable(package="carvana")
def bce_dice_lovasz(y_true, y_pred):
    """The seed loss plus the Lovasz hinge (`carvana train --loss bce-dice-lovasz`)."""
    return bce_dice_loss(y_true, y_pred) + lovasz_hinge(y_true, y_pred)


# The names `carvana train --loss` accepts.
# "lovasz" alone is the paper's own recipe: train with cross-entropy first, then fine-tune
# on the hinge only, so nothing but the IoU surrogate moves the boundary.
LOSSES = {"bce-dice": bce_dice_loss, "bce-dice-lovasz": bce_dice_lovasz, "lovasz": lovasz_hinge}

# Keyed by function name, the name a saved .keras file refers to them by.
CUSTOM_OBJECTS = {f.__name__: f for f in (dice_coef, bce_dice_loss, lovasz_hinge, bce_dice_lovasz)}
