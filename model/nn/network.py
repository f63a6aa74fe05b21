"""The seed project's SegNet-variant U-shaped network (see DESIGN.md, "The network").

7 encoder blocks ((conv3x3-BN-ReLU)x2, skip, 2x2 max-pool), 2 centre conv blocks,
7 decoder blocks (2x upsample, concatenate the skip, (conv3x3-BN-ReLU)x3) and a 1x1
sigmoid classifier. Seven pools need H and W divisible by 128, so the presets keep the
1918x1280 aspect ratio at sizes that satisfy that (1918 is padded to 1920 and cropped back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

ENCODER_FILTERS = (8, 16, 32, 64, 128, 256, 512)
CENTRE_FILTERS = 1024
DIVISOR = 2 ** len(ENCODER_FILTERS)  # 128

# name -> (height, width); all multiples of 128 with the Carvana 2:3 aspect ratio.
PRESETS: dict[str, tuple[int, int]] = {
    "256x384": (256, 384),
    "512x768": (512, 768),
    "768x1152": (768, 1152),
    "1024x1536": (1024, 1536),
    "1280x1920": (1280, 1920),
}


def preset_size(preset: str) -> tuple[int, int]:
    """Look a preset up by name, or parse 'HxW' with both sides multiples of 128."""
    if preset in PRESETS:
        return PRESETS[preset]
    try:
        h, w = (int(v) for v in preset.lower().split("x"))
    except ValueError:
        raise ValueError(
            f"unknown preset {preset!r}: use one of {', '.join(PRESETS)} or HxW"
        ) from None
    check_input_size(h, w)
    return h, w


def check_input_size(height: int, width: int) -> None:
    if height % DIVISOR or width % DIVISOR or height <= 0 or width <= 0:
        raise ValueError(
            f"input size {height}x{width} must be positive multiples of {DIVISOR} (seven 2x2 pools)"
        )


def fits_by_padding(image_hw: tuple[int, int], model_hw: tuple[int, int]) -> bool:
    """True when an image is less than one stride short of the model size on both sides.

    Such images (1918 wide for a 1920 model) are padded and cropped back instead of
    being resized, so no pixel is resampled.
    """
    (h, w), (mh, mw) = image_hw, model_hw
    return h <= mh and w <= mw and mh - h < DIVISOR and mw - w < DIVISOR


def scaled_filters(base: int, width_multiplier: float) -> int:
    return max(1, round(base * width_multiplier))


def _conv_bn_relu(x, filters: int, name: str, bn_momentum: float = 0.99):
    from model.nn.frameworks import layers  # the geometry above loads without Keras

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def build_segnet(
    height: int,
    width: int,
    width_multiplier: float = 1.0,
    name: str = "segnet",
    bn_momentum: float = 0.99,
) -> keras.Model:
    """The network for (height, width, 3) inputs in [0, 1]; outputs (H, W, 1) probabilities.

    bn_momentum: BatchNormalization's moving-average momentum. Keras' 0.99 suits long runs;
    very short runs (a few dozen steps) need a lower one for inference to match training.
    """
    from model.nn.frameworks import keras, layers

    check_input_size(height, width)
    if width_multiplier <= 0:
        raise ValueError(f"width multiplier must be > 0, got {width_multiplier}")
    inputs = keras.Input((height, width, 3), name="image")
    x = inputs
    skips = []
    for level, base in enumerate(ENCODER_FILTERS):
        f = scaled_filters(base, width_multiplier)
        x = _conv_bn_relu(x, f, f"enc{level}_a", bn_momentum)
        x = _conv_bn_relu(x, f, f"enc{level}_b", bn_momentum)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    centre = scaled_filters(CENTRE_FILTERS, width_multiplier)
    x = _conv_bn_relu(x, centre, "centre_a", bn_momentum)
    x = _conv_bn_relu(x, centre, "centre_b", bn_momentum)
    for level in reversed(range(len(ENCODER_FILTERS))):
        f = scaled_filters(ENCODER_FILTERS[level], width_multiplier)
        x = layers.UpSampling2D(2, name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        for step in "abc":
            x = _conv_bn_relu(x, f, f"dec{level}_{step}", bn_momentum)
    # float32 output keeps the loss numerically safe under mixed precision.
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inputs, outputs, name=name)
