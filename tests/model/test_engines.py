"""Inference engines: the OpenVINO conversion agrees with Keras, is cached per model file,
and `auto`/`keras`/`openvino` resolve as documented."""

from __future__ import annotations

import numpy as np
import pytest

from model.nn import engines
from model.nn.engines import EngineError, resolve_engine
from model.nn.predictor import ModelLoadError, Predictor
from tiny_carvana import save_tiny_model

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny model, converted once into this module's own cache (conversion takes
    seconds, so the tests share it)."""
    path = save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.keras")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        Predictor.load(path, engine="openvino")
        yield path


@pytest.fixture
def conversions(monkeypatch):
    from model.nn import openvino_engine

    done = []
    real = openvino_engine.convert_to_cache

    def counting(model_file, keras_model):
        done.append(model_file)
        return real(model_file, keras_model)

    monkeypatch.setattr(openvino_engine, "convert_to_cache", counting)
    return done


def _images(n, hw=(128, 128), seed=0):
    return np.random.default_rng(seed).random((n, *hw, 3), dtype=np.float32)


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_openvino_matches_keras_in_both_precisions(tiny_model, monkeypatch):
    keras_p = Predictor.load(tiny_model, engine="keras")
    x = _images(3)
    expected = {tta: keras_p.predict_probabilities(x, tta=tta) for tta in (False, True)}
    for precision, tol in (("f32", 1e-4), ("bf16", 2e-2)):  # bf16 keeps 8 mantissa bits
        monkeypatch.setenv("CARVANA_OPENVINO_PRECISION", precision)
        ov_p = Predictor.load(tiny_model, engine="openvino")
        assert keras_p.engine.name == "keras" and ov_p.engine.name == f"openvino-{precision}"
        assert ov_p.input_size == keras_p.input_size
        for tta in (False, True):
            got = ov_p.predict_probabilities(x, tta=tta)
            np.testing.assert_allclose(got, expected[tta], atol=tol)


def test_a_batch_runs_one_image_per_core_and_matches_the_images_one_by_one(tiny_model, monkeypatch):
    """Several images (flip TTA's two passes, an export's batch) go to the throughput-
    compiled model, one per core at once; the answer is the same as image by image on the
    latency-compiled model, in the batch's order."""
    import os

    monkeypatch.setenv("CARVANA_OPENVINO_PRECISION", "f32")
    engine = Predictor.load(tiny_model, engine="openvino").engine
    x = _images(5, seed=3)
    one_by_one = np.concatenate([engine(x[i : i + 1]) for i in range(len(x))])
    if (os.cpu_count() or 1) > 1:
        assert engine.parallel is not None
    together = engine(x)
    assert together.shape == (5, 128, 128)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert not np.allclose(together[0], together[1])  # distinct images, kept in order


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_conversion_is_cached_per_model_file(tiny_model, conversions):
    import os
    from pathlib import Path

    Predictor.load(tiny_model, engine="openvino")
    assert conversions == []  # the module's first load converted it; this one read the cache
    root = Path(os.environ["XDG_CACHE_HOME"]) / "carvana-gui" / "openvino"
    entries = list(root.iterdir())
    assert len(entries) == 1 and (entries[0] / "model.xml").is_file()
    # a damaged cache entry is converted again, not fatal
    (entries[0] / "model.xml").write_text("not xml")
    p = Predictor.load(tiny_model, engine="openvino")
    assert len(conversions) == 1 and p.predict_probabilities(_images(1)).shape == (1, 128, 128)


def test_a_corrupt_file_fails_before_any_cache_is_consulted(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"bad\.keras"):
        Predictor.load(bad, engine="openvino")


def test_engine_choices(monkeypatch):
    from model.nn import backend

    assert resolve_engine("keras") == "keras"
    monkeypatch.setattr(engines, "may_have_accelerator", lambda: True)
    monkeypatch.setattr(backend, "accelerators", lambda: [])
    assert resolve_engine("auto") == "openvino"
    assert resolve_engine("openvino") == "openvino"
    monkeypatch.setattr(backend, "accelerators", lambda: ["/GPU:0"])
    assert resolve_engine("auto") == "keras"  # a GPU: Keras runs there
    # no device node a GPU could be behind: the framework is not even asked
    monkeypatch.setattr(engines, "may_have_accelerator", lambda: False)
    assert resolve_engine("auto") == "openvino"
    monkeypatch.setenv("CARVANA_ENGINE", "keras")
    monkeypatch.setattr(backend, "accelerators", lambda: [])
    assert resolve_engine(None) == "keras"
    with pytest.raises(EngineError, match="unknown engine"):
        resolve_engine("tensorrt")
    monkeypatch.setattr(engines, "openvino_unavailable", lambda: "not installed")
    assert resolve_engine("auto") == "keras"
    with pytest.raises(EngineError, match="not installed"):
        resolve_engine("openvino")


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_predict_paths_pipelines_and_encodes_in_order(tiny_model, tmp_path):
    import cv2

    from model.kaggle.rle import rle_encode

    paths = []
    for i in range(7):
        path = tmp_path / f"img_{i:02d}.png"
        cv2.imwrite(
            str(path), (np.random.default_rng(i).random((64, 96, 3)) * 255).astype(np.uint8)
        )
        paths.append(path)
    for name in ("keras", "openvino"):
        p = Predictor.load(tiny_model, engine=name, batch_size=2)
        out = list(p.predict_paths(paths, encode=rle_encode))
        assert [q for q, _ in out] == paths
        for path, pred in out:
            assert pred.encoded == rle_encode(pred.mask)
            single = p.predict(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))
            np.testing.assert_array_equal(single.mask, pred.mask)


def test_a_gpu_is_ruled_out_by_device_nodes_without_the_framework(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "null").touch()
    assert not engines.may_have_accelerator(dev, "linux")
    assert engines.may_have_accelerator(dev, "darwin")  # elsewhere: ask the framework
    for node in ("nvidia0", "kfd", "accel0"):
        (dev / node).touch()
        assert engines.may_have_accelerator(dev, "linux"), node
        (dev / node).unlink()
    (dev / "nvidiactl").touch()  # the driver's control node alone is no GPU
    assert not engines.may_have_accelerator(dev, "linux")
