"""Network builder, presets, loss/metric: shapes, filter counts, custom objects reload."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.nn.losses import bce_dice_loss, dice_coef
from model.nn.network import (
    PRESETS,
    build_segnet,
    check_input_size,
    fits_by_padding,
    preset_size,
    scaled_filters,
)


def _conv_filters(model: keras.Model, prefix: str) -> int:
    return model.get_layer(f"{prefix}_conv").filters


def test_presets_keep_the_carvana_aspect_and_stride():
    for name in ("512x768", "1024x1536", "1280x1920"):
        h, w = PRESETS[name]
        assert h % 128 == 0 and w % 128 == 0
        assert w / h == pytest.approx(1.5)
    assert preset_size("1280x1920") == (1280, 1920)
    assert preset_size("256x256") == (256, 256)  # any HxW multiple of 128 is accepted


@pytest.mark.parametrize("bad", ["300x400", "0x128", "big", "128x128x3"])
def test_bad_presets_give_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"128|preset"):
        preset_size(bad)


def test_check_input_size_rejects_non_multiples():
    with pytest.raises(ValueError, match="multiples of 128"):
        check_input_size(1280, 1918)


def test_full_width_filters_match_the_seed_network():
    model = build_segnet(128, 128, width_multiplier=1.0)
    encoder = [_conv_filters(model, f"enc{i}_a") for i in range(7)]
    assert encoder == [8, 16, 32, 64, 128, 256, 512]
    assert _conv_filters(model, "centre_a") == _conv_filters(model, "centre_b") == 1024
    decoder = [_conv_filters(model, f"dec{i}_c") for i in range(7)]
    assert decoder == encoder
    # 7 encoder blocks x2 convs, 2 centre, 7 decoder blocks x3 convs, 1 classifier.
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 14 + 2 + 21 + 1
    assert model.output_shape == (None, 128, 128, 1)


def test_width_multiplier_scales_parameters():
    small = build_segnet(128, 128, 0.25).count_params()
    half = build_segnet(128, 128, 0.5).count_params()
    assert 3.0 < half / small < 4.5  # convolutions scale with the square of the width
    assert scaled_filters(8, 0.125) == 1


def test_non_square_input_and_probability_output():
    model = build_segnet(128, 256, 0.125)
    out = np.asarray(model(np.random.rand(2, 128, 256, 3).astype("float32"), training=False))
    assert out.shape == (2, 128, 256, 1)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_fits_by_padding_only_for_a_few_pixels():
    assert fits_by_padding((1280, 1918), (1280, 1920))
    assert not fits_by_padding((1280, 1918), (512, 768))
    assert not fits_by_padding((1281, 1918), (1280, 1920))


def test_dice_and_loss_reward_the_truth():
    truth = np.zeros((1, 16, 16, 1), "float32")
    truth[:, 4:12, 4:12] = 1
    perfect = float(dice_coef(truth, truth))
    assert perfect == pytest.approx(1.0)
    wrong = 1.0 - truth
    assert float(dice_coef(truth, wrong)) < 0.05
    assert float(bce_dice_loss(truth, truth * 0.98 + 0.01)) < 0.1
    assert float(bce_dice_loss(truth, wrong * 0.98 + 0.01)) > 1.5


def test_saved_model_with_custom_loss_reloads_in_safe_mode(tmp_path):
    model = build_segnet(128, 128, 0.125)
    model.compile(optimizer="adam", loss=bce_dice_loss, metrics=[dice_coef])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)  # registered: no custom_objects
    x = np.random.default_rng(0).random((1, 128, 128, 3), dtype=np.float32)
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6
    )
    assert loaded.loss is not None
