"""Keras backend helpers: which backend runs, CPU threads, mixed precision, data parallelism.

Everything multi-device goes through the framework's own machinery (tf.distribute's
MirroredStrategy under TensorFlow, keras.distribution.DataParallel under JAX); nothing
here splits batches by hand. Call these before building or loading a model.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from model.choices import AUTO_PRECISION, POLICIES, PRECISIONS
from model.nn.frameworks import keras

log = logging.getLogger(__name__)


def backend_name() -> str:
    """'tensorflow', 'jax' or 'torch' (set with KERAS_BACKEND before Keras is imported)."""
    return keras.backend.backend()


def make_repeatable(seed: int) -> None:
    """Seed Python, NumPy and the backend, and ask for deterministic kernels where the
    backend offers them (TensorFlow's op determinism), so a seeded run repeats on one
    machine. Not promised across machines, thread counts or library versions."""
    keras.utils.set_random_seed(seed)
    if backend_name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def accelerators() -> list[str]:
    """Names of the GPUs/TPUs the current backend sees (empty on a CPU-only machine)."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices() if d.device_type in ("GPU", "TPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    return []


def set_cpu_threads(threads: int | None) -> None:
    """Cap the threads TensorFlow uses for one op and across ops (no-op on other backends).

    Must run before the first TensorFlow op; later calls are ignored with a warning.
    """
    if not threads or backend_name() != "tensorflow":
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, threads // 2))
    except RuntimeError as exc:
        log.warning("cannot change TensorFlow threads now (%s)", exc)


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has AMX bfloat16 tiles (Intel Xeon Sapphire Rapids and later).

    Measured with a width-0.5 768x1152 training step: mixed_bfloat16 is 1.34x faster than
    float32 on an AMX Xeon, but only about 1.07x on an AMD EPYC (Zen 4) whose AVX-512 BF16
    has no tiles (680 vs 710 ms per image, within this machine's noise), and several
    times slower where bf16 is emulated (AVX2 only). So only AMX makes bfloat16 the default.
    """
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:  # not Linux: no cheap way to ask, and float32 is always safe
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return "amx_bf16" in flags.split()


def resolve_precision(precision: str) -> str:
    """``auto`` as the precision it stands for here; other choices as they are.

    auto: bfloat16 on a CPU-only machine with AMX (a short fine-tune in bfloat16 scores as
    well as one in float32: MODEL_CARD.md), float32 otherwise. GPUs get float32 too:
    float16 is a choice to make knowingly.
    """
    if precision != AUTO_PRECISION:
        return precision
    if accelerators():
        return "float32"
    return "bfloat16" if cpu_has_amx() else "float32"


def set_precision(precision: str) -> str:
    """Switch the global dtype policy for the layers built next; returns the policy name.

    ``bfloat16`` (mixed_bfloat16) pays off on CPUs with AVX-512 BF16 / AMX: a width-0.5
    768×1152 training step went from 749 to 558 ms per image here. ``float16``
    (mixed_float16) pays off on GPUs only; on a CPU it is slower than float32. Variables
    stay float32 under both, and the network's output layer is float32, so the loss
    stays stable.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    precision = resolve_precision(precision)
    policy = POLICIES[precision]
    if precision == "float16" and not accelerators():
        log.warning("float16 on a CPU is slower than float32 (bfloat16 is the CPU choice)")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def distribution_devices() -> list[str]:
    """Devices a data-parallel run would use: all accelerators, else all logical CPUs."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        return gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    if backend == "jax":
        return list(keras.distribution.list_devices())
    return []


@contextlib.contextmanager
def data_parallel(enabled: bool = True) -> Iterator[int]:
    """Build, compile and fit inside this block to replicate the model on every device.

    Yields the number of replicas (1 when disabled or only one device exists). Under
    TensorFlow this is a MirroredStrategy scope; under JAX a DataParallel distribution
    that is set for the block and restored afterwards.
    """
    devices = distribution_devices() if enabled else []
    if len(devices) < 2:
        if enabled:
            log.info("data parallel asked for, but only %d device: running on one", len(devices))
        yield 1
        return
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=devices)
        log.info("MirroredStrategy over %s", ", ".join(devices))
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        log.info("keras DataParallel over %s", ", ".join(map(str, devices)))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        log.info("data parallel is not supported on the %s backend: one device", backend)
        yield 1


def split_cpu_for_tests(count: int) -> None:
    """Expose `count` logical CPU devices (TF) or host devices (JAX) to test data parallelism.

    TF: must run before TensorFlow initialises its devices. JAX: must run before jax is
    first imported (it sets XLA_FLAGS).
    """
    if backend_name() == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )
