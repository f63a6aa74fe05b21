"""float16 shipping files: half the size, float32 compute after loading, same predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.nn.network import build_segnet
from model.nn.shipping import has_float16_weights, save_float16, to_float32


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_float16_file_is_half_size_and_reloads_as_float32(tmp_path):
    keras.utils.set_random_seed(1)
    model = build_segnet(128, 128, width_multiplier=0.25)
    full = tmp_path / "f32.keras"
    half = tmp_path / "f16.keras"
    model.save(full)
    save_float16(model, half)
    assert half.stat().st_size < 0.6 * full.stat().st_size

    loaded = keras.saving.load_model(half, compile=False, safe_mode=True)
    assert has_float16_weights(loaded)
    restored = to_float32(loaded)
    assert not has_float16_weights(restored)
    assert all(str(w.dtype) == "float32" for w in restored.weights)

    x = np.random.default_rng(0).random((1, 128, 128, 3), dtype=np.float32)
    np.testing.assert_allclose(restored.predict_on_batch(x), model.predict_on_batch(x), atol=2e-3)


def test_to_float32_leaves_float32_models_alone():
    model = build_segnet(128, 128, width_multiplier=0.125)
    assert to_float32(model) is model
