"""The OpenVINO engine: the Keras network converted once per model file, cached, and
compiled for this CPU (bf16 where the CPU has it, which is where most of the speed is).

Conversion takes a few seconds and needs the Keras model; the converted graph is kept in
``$XDG_CACHE_HOME/carvana-gui/openvino/<hash of the model file>-<openvino version>/``, so
later loads skip Keras entirely. The cache is written to a temporary folder and renamed
into place, so two processes converting at once never see half a model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.choices import AUTO_PRECISION
from model.data.file_hash import file_sha256
from model.data.user_dirs import user_cache_dir

log = logging.getLogger(__name__)

PRECISIONS = (AUTO_PRECISION, "bf16", "f32")  # auto: the CPU's best (best_precision)
# Tests and benchmarks pin the precision; users get the CPU's best.
PRECISION_ENV = "CARVANA_OPENVINO_PRECISION"
CACHE_ENTRIES = 8  # about 35 MB each for the default network


def cpu_device_missing() -> str | None:
    import openvino as ov

    if "CPU" not in ov.Core().available_devices:
        return "OpenVINO sees no CPU device"
    return None


def cache_root() -> Path:
    return user_cache_dir() / "openvino"


def cache_dir_for(model_file: Path) -> Path:
    import openvino as ov

    version = ov.__version__.split("-")[0]
    return cache_root() / f"{file_sha256(model_file)[:24]}-ov{version}"


def best_precision(core) -> str:
    """bf16 where the CPU computes it natively (AVX-512 BF16 / AMX), else f32."""
    return "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


@dataclass
class OpenVinoEngine:
    """One image: the latency-compiled model on every core. Several (flip TTA's two
    passes, an export's batches): one image per core at once on the throughput-compiled
    model, which measured 142 against 179 ms for a pair on 2 cores (one image alone takes
    145 ms there, 103 ms on the latency model, hence both)."""

    compiled: object  # openvino.CompiledModel, PERFORMANCE_HINT LATENCY
    input_size: tuple[int, int]
    precision: str
    parallel: object | None = None  # openvino.CompiledModel, THROUGHPUT, one stream a core
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"openvino-{self.precision}"
        self._request = self.compiled.create_infer_request()
        self._queue = None
        if self.parallel is not None:
            import openvino as ov

            streams = int(self.parallel.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._queue = ov.AsyncInferQueue(self.parallel, max(1, streams))
            self._queue.set_callback(self._collect)
            self._results: dict[int, np.ndarray] = {}

    def _collect(self, request, index: int) -> None:
        self._results[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._queue is None or len(batch) < 2:
            # infer() releases the GIL: decoding and upsampling threads run meanwhile.
            result = self._request.infer([batch])
            return np.array(result[0], dtype=np.float32, copy=True)[..., 0]
        self._results = {}
        for i in range(len(batch)):
            self._queue.start_async([batch[i : i + 1]], i)
        self._queue.wait_all()  # releases the GIL too
        return np.concatenate([self._results[i] for i in range(len(batch))])[..., 0]


@contextlib.contextmanager
def _argv_without_verbose():
    """OpenVINO's converter prints its arguments to stdout whenever ``--verbose`` is in
    sys.argv, which `carvana --verbose export -o -` would mix into its output."""
    saved = sys.argv
    sys.argv = [a for a in saved if a != "--verbose"]
    try:
        yield
    finally:
        sys.argv = saved


def convert_to_cache(model_file: Path, keras_model) -> Path:
    """Convert `keras_model` (loaded from `model_file`) and store it; returns the .xml."""
    import openvino as ov

    target = cache_dir_for(model_file)
    h, w = int(keras_model.input_shape[1]), int(keras_model.input_shape[2])
    with warnings.catch_warnings(), _argv_without_verbose():
        warnings.simplefilter("ignore")  # Keras notes the input's name while tracing
        converted = ov.convert_model(keras_model, input=[(-1, h, w, 3)])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        # Weights stay float32 on disk: the CPU plugin picks bf16 at compile time.
        ov.save_model(converted, staging / "model.xml", compress_to_fp16=False)
        try:
            os.replace(staging, target)
        except OSError:  # another process stored the same model first: use theirs
            if not (target / "model.xml").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    prune_cache(keep=CACHE_ENTRIES, spare=target)
    return target / "model.xml"


def prune_cache(keep: int, spare: Path | None = None) -> None:
    """Keep the `keep` most recently converted models (each fine-tune makes a new one)."""
    entries = [p for p in cache_root().glob("*-ov*") if p.is_dir() and p != spare]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[max(0, keep - 1) :]:
        shutil.rmtree(old, ignore_errors=True)


def load_openvino(
    model_file: Path, load_keras: Callable[[], object], precision: str | None = None
) -> OpenVinoEngine:
    """Compile the cached conversion of `model_file` (converting it first if needed)."""
    import openvino as ov

    precision = (precision or os.environ.get(PRECISION_ENV) or AUTO_PRECISION).lower()
    if precision not in PRECISIONS:
        raise ValueError(f"unknown OpenVINO precision {precision!r}: one of {PRECISIONS}")
    xml = cache_dir_for(model_file) / "model.xml"
    core = ov.Core()
    graph = None
    if xml.is_file():
        try:
            graph = core.read_model(xml)
        except Exception as exc:  # a damaged cache entry is made again, never fatal
            log.warning("%s: unreadable cached model (%s); converting again", xml, exc)
            shutil.rmtree(xml.parent, ignore_errors=True)
    if graph is None:
        log.info("converting %s for OpenVINO (once per model file)", model_file)
        xml = convert_to_cache(model_file, load_keras())
        graph = core.read_model(xml)
    if precision == AUTO_PRECISION:
        precision = best_precision(core)
    shape = graph.input(0).get_partial_shape()
    size = (int(shape[1].get_length()), int(shape[2].get_length()))
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    compiled = core.compile_model(graph, "CPU", config)
    parallel = None
    if (os.cpu_count() or 1) > 1:
        parallel = core.compile_model(graph, "CPU", {**config, "PERFORMANCE_HINT": "THROUGHPUT"})
    return OpenVinoEngine(compiled, size, precision, parallel)
