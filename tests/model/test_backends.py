"""Keras multi-backend: data parallel on split CPUs (TF, JAX) and TF-trained weights under JAX.

Each case runs in a subprocess: the backend and the device split must be set before
TensorFlow or JAX initialise, which pytest's own process has long done.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tiny_carvana import make_image_folder, save_tiny_model

REPO = Path(__file__).resolve().parents[2]

TRAIN_SNIPPET = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from tiny_carvana import records
from model.nn.backend import backend_name, data_parallel
from model.nn.predictor import Predictor
from model.nn.train_config import TrainConfig
from model.nn.training import train

pairs = [(r.path, r.mask_path) for r in records(Path({train!r}), Path({masks!r}))]
with data_parallel(True) as replicas:
    pass
config = TrainConfig(pairs[:4], pairs[4:], Path({out!r}), preset="128x128",
                     width_multiplier=0.125, epochs=1, batch_size=2, workers=1,
                     distribute=True, tensorboard=False)
result = train(config)
prob = Predictor.load(result.model_path).predict(
    __import__("numpy").full((96, 144, 3), 100, "uint8")).prob
report = {{"backend": backend_name(), "replicas": replicas, "epochs": result.epochs_run,
          "loss": result.history["loss"][-1], "shape": list(prob.shape)}}
"""


def _run(script: str, env_extra: dict[str, str]) -> dict:
    env = {**os.environ, **env_extra, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    train, masks = make_image_folder(root, cars=3, angles=2)
    return root, train, masks


@pytest.mark.slow
def test_tensorflow_mirrored_strategy_on_two_logical_cpus(data):
    root, train, masks = data
    body = TRAIN_SNIPPET.format(
        tests=str(REPO / "tests"), train=str(train), masks=str(masks), out=str(root / "tf")
    )
    script = "from model.nn.backend import split_cpu_for_tests\nsplit_cpu_for_tests(2)\n"
    script += body + "print(json.dumps(report))\n"
    report = _run(script, {"KERAS_BACKEND": "tensorflow"})
    assert report["backend"] == "tensorflow" and report["replicas"] == 2
    assert report["epochs"] == 1 and np.isfinite(report["loss"])
    assert report["shape"] == [96, 144]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_jax_trains_in_data_parallel_and_loads_tensorflow_weights(data, tmp_path):
    root, train, masks = data
    # A model made and run under TensorFlow (this process) ...
    from model.nn.predictor import Predictor

    tf_model = save_tiny_model(tmp_path / "tf_made.keras", seed=3)
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    tf_prob = Predictor.load(tf_model).predict(image).prob
    # ... must load and give the same probabilities under JAX.
    script = TRAIN_SNIPPET.format(
        tests=str(REPO / "tests"), train=str(train), masks=str(masks), out=str(root / "jax")
    )
    script += textwrap.dedent(
        f"""
        import numpy as np
        image = np.load({str(tmp_path / "image.npy")!r})
        np.save({str(tmp_path / "jax_prob.npy")!r},
                Predictor.load(Path({str(tf_model)!r})).predict(image).prob)
        print(json.dumps(report))
        """
    )
    flags = "--xla_force_host_platform_device_count=2"
    report = _run(script, {"KERAS_BACKEND": "jax", "XLA_FLAGS": flags})
    assert report["backend"] == "jax" and report["replicas"] == 2
    assert report["epochs"] == 1 and np.isfinite(report["loss"])
    assert report["shape"] == [96, 144]
    np.testing.assert_allclose(np.load(tmp_path / "jax_prob.npy"), tf_prob, atol=2e-4)


@pytest.mark.parametrize(
    ("precision", "compute"), [("float16", "float16"), ("bfloat16", "bfloat16")]
)
def test_precision_switch_builds_mixed_layers_with_a_float32_output(precision, compute):
    import keras

    from model.nn.backend import set_precision
    from model.nn.network import build_segnet

    previous = keras.mixed_precision.global_policy().name
    try:
        assert set_precision(precision) == f"mixed_{precision}"
        model = build_segnet(128, 128, 0.125)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("enc0_a_conv").compute_dtype == compute
    assert model.get_layer("enc0_a_conv").variable_dtype == "float32"
    assert model.get_layer("mask").compute_dtype == "float32"  # loss stays numerically safe
    assert keras.mixed_precision.global_policy().name == previous
    with pytest.raises(ValueError, match="unknown precision"):
        set_precision("int8")


AMX_FLAGS = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
AVX2_FLAGS = "flags\t\t: fpu sse2 avx2 fma\n"
ZEN4_FLAGS = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"


@pytest.mark.parametrize(
    ("cpuinfo", "gpus", "expected"),
    [
        (AMX_FLAGS, [], "bfloat16"),  # AMX tiles: 1.34x faster training steps
        (ZEN4_FLAGS, [], "float32"),  # AVX-512 BF16 without tiles: about as fast as float32
        (AVX2_FLAGS, [], "float32"),  # emulated bf16 is slower than float32
        (None, [], "float32"),  # no /proc/cpuinfo (not Linux): the safe choice
        (AMX_FLAGS, ["/device:GPU:0"], "float32"),  # a GPU trains in float32 unless asked
    ],
)
def test_auto_precision_is_bfloat16_only_on_a_cpu_with_amx(
    cpuinfo, gpus, expected, tmp_path, monkeypatch
):
    import keras

    from model.nn import backend

    info = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        info.write_text("processor\t: 0\n" + cpuinfo)
    read_flags = backend.cpu_has_amx
    monkeypatch.setattr(backend, "cpu_has_amx", lambda: read_flags(info))
    monkeypatch.setattr(backend, "accelerators", lambda: gpus)
    assert backend.resolve_precision("auto") == expected
    assert backend.resolve_precision("float16") == "float16"  # an explicit choice stays
    previous = keras.mixed_precision.global_policy().name
    try:
        assert backend.set_precision("auto") == {"bfloat16": "mixed_bfloat16"}.get(
            expected, "float32"
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_a_float16_stored_base_trains_in_bfloat16_with_float32_variables():
    import keras

    from model.nn.network import build_segnet
    from model.nn.shipping import _with_dtype, for_training

    stored = _with_dtype(build_segnet(128, 128, 0.125), "float16")
    twin = for_training(stored, "mixed_bfloat16")
    assert twin.get_layer("enc0_a_conv").compute_dtype == "bfloat16"
    assert all(str(w.dtype) == "float32" for w in twin.weights)
    assert twin.get_layer("mask").compute_dtype == "float32"
    x = np.random.default_rng(0).random((1, 128, 128, 3), dtype=np.float32)
    np.testing.assert_allclose(
        np.asarray(twin(x)), np.asarray(keras.ops.cast(stored(x), "float32")), atol=0.05
    )
