"""Inference: load a model once, then predict one image or a stream of image files.

Per image: resize (INTER_AREA) to the model size, or pad when the image is only a few
pixels short of it (1918 -> 1920), predict probabilities, optionally average with the
horizontally flipped prediction (TTA), crop the padding back, upsample the probabilities
bilinearly to the original size and threshold them. A stream decodes files on background
threads while the model runs, and keeps only a bounded number of images in flight, so
memory stays flat over any number of images.
"""

from __future__ import annotations

import logging
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from model.data.masks import read_image
from model.nn.edge_classifier import EdgeClassifier, EdgeClassifierError
from model.nn.engines import Engine, EngineError, KerasEngine, load_engine
from model.nn.network import fits_by_padding
from model.store.versions import (
    DEFAULT_THRESHOLD,
    ModelStoreError,
    meta_path_for,
    meta_threshold,
    read_model_meta,
)

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

ErrorFn = Callable[[Path, Exception], None]


class ModelLoadError(RuntimeError):
    """A model file that is missing, corrupt, truncated or not a Carvana mask network."""


@dataclass
class Prediction:
    mask: np.ndarray  # uint8 0/1, (H, W) of the input image
    prob: np.ndarray  # float32 0..1, (H, W)
    encoded: object = None  # what predict_paths' `encode` made of the mask (an RLE...)


def load_model_file(path: Path, compile: bool = False) -> keras.Model:
    """Load a .keras file with safe_mode=True, turning every failure into ModelLoadError."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ModelLoadError(f"{path}: expected a Keras 3 '.keras' model file")
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: not a .keras archive (corrupt or truncated file)")
    # Keras only here: the OpenVINO engine's cached model runs without it.
    from model.nn.frameworks import keras
    from model.nn.losses import CUSTOM_OBJECTS
    from model.nn.shipping import to_float32

    try:
        model = keras.saving.load_model(
            path, custom_objects=CUSTOM_OBJECTS, compile=compile, safe_mode=True
        )
    except Exception as exc:  # Keras raises many types for broken archives
        raise ModelLoadError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc})"
        ) from exc
    check_mask_network(model, path)
    # Shipped models store float16 weights (half the size); CPUs want float32 layers.
    return to_float32(model)


def check_mask_network(model: keras.Model, path: Path) -> None:
    """Reject models that do not map (H, W, 3) images to (H, W, 1) masks."""
    in_shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    if (
        in_shape is None
        or out_shape is None
        or len(in_shape) != 4
        or in_shape[3] != 3
        or in_shape[1] is None
        or out_shape[1:] != (in_shape[1], in_shape[2], 1)
    ):
        raise ModelLoadError(
            f"{path}: not a mask network (input {model.input_shape}, output "
            f"{model.output_shape}; expected (None, H, W, 3) -> (None, H, W, 1))"
        )


def to_model_input(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB image -> float32 (H, W, 3) in [0, 1] at the model size."""
    mh, mw = size
    h, w = image.shape[:2]
    if (h, w) == (mh, mw):
        fitted = image
    elif fits_by_padding((h, w), size):
        fitted = cv2.copyMakeBorder(image, 0, mh - h, 0, mw - w, cv2.BORDER_REFLECT_101)
    else:
        fitted = cv2.resize(image, (mw, mh), interpolation=cv2.INTER_AREA)
    return fitted.astype(np.float32) * (1.0 / 255.0)


def from_model_output(prob: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Model-size probabilities -> probabilities at the image size (crop or bilinear)."""
    h, w = image_hw
    if prob.shape == (h, w):
        return prob
    if fits_by_padding((h, w), prob.shape):
        return np.ascontiguousarray(prob[:h, :w])
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


class Predictor:
    """A loaded mask network. Not thread-safe: use one Predictor from one thread."""

    def __init__(
        self,
        engine: Engine,
        name: str = "model",
        threshold: float = DEFAULT_THRESHOLD,
        meta: dict | None = None,
        batch_size: int = 2,
        edges: EdgeClassifier | None = None,
    ) -> None:
        self.engine = engine
        # A car's own model ("Learn this car"), or any model run with --refine-edge,
        # re-decides the band along the mask's edge at full resolution from the photo
        # (model.nn.edge_classifier)
        self.edges = edges
        self.name = name
        self.threshold = float(threshold)
        self.meta = dict(meta or {})
        self.batch_size = max(1, int(batch_size))
        self.input_size: tuple[int, int] = tuple(engine.input_size)

    @property
    def edges_digest(self) -> str | None:
        """The edge classifier's hash when one re-decides the edges, else None."""
        return None if self.edges is None else self.edges.digest()

    @classmethod
    def from_keras(cls, model: keras.Model, **kwargs) -> Predictor:
        """A Predictor for a model already in memory (training, benchmarks): Keras engine."""
        return cls(KerasEngine(model), **kwargs)

    @classmethod
    def load(cls, path: Path, batch_size: int = 2, engine: str | None = None) -> Predictor:
        """Load a model file and the JSON beside it (threshold, name); never half-loads.

        `engine`: auto, keras or openvino (see model.nn.engines); the OpenVINO engine
        converts the file once and caches the result.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: model file not found")
        try:  # the JSON first: a bad threshold fails before seconds of loading
            meta = read_model_meta(path)
            threshold = meta_threshold(meta, meta_path_for(path))
        except ModelStoreError as exc:
            raise ModelLoadError(str(exc)) from None
        if path.suffix != ".keras":
            raise ModelLoadError(f"{path}: expected a Keras 3 '.keras' model file")
        if not zipfile.is_zipfile(path):  # before any engine: a cache never hides a bad file
            raise ModelLoadError(f"{path}: not a .keras archive (corrupt or truncated file)")
        edges = load_edge_classifier(path, meta)
        try:
            runner = load_engine(path, engine, lambda: load_model_file(path))
        except EngineError as exc:
            raise ModelLoadError(f"{path}: {exc}") from None
        name = str(meta.get("name") or meta.get("version") or path.stem)
        if path.name == "model.keras" and "name" not in meta:
            name = path.parent.name
        return cls(
            runner, name=name, threshold=threshold, meta=meta, batch_size=batch_size, edges=edges
        )

    def predict_probabilities(self, batch: np.ndarray, tta: bool = False) -> np.ndarray:
        """(B, H, W, 3) float32 at the model size -> (B, H, W) float32 probabilities."""
        if tta:
            both = np.concatenate([batch, batch[:, :, ::-1]], axis=0)
            out = self._run(both)
            n = len(batch)
            return 0.5 * (out[:n] + out[n:, :, ::-1])
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.engine(batch)

    def _finish(
        self, prob_small: np.ndarray, image_hw: tuple[int, int], image: np.ndarray | None
    ) -> Prediction:
        prob = np.clip(from_model_output(prob_small, image_hw), 0.0, 1.0)
        if self.edges is not None and image is not None:
            prob = self.edges.refine(image, prob, self.threshold)
        return Prediction(mask=(prob > self.threshold).view(np.uint8), prob=prob)

    def predict(self, image: np.ndarray, tta: bool = False) -> Prediction:
        """Predict one RGB uint8 (H, W, 3) image; mask and prob have shape (H, W)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
        x = to_model_input(image, self.input_size)[None]
        return self._finish(self.predict_probabilities(x, tta)[0], image.shape[:2], image)

    def predict_paths(
        self,
        paths: Iterable[Path],
        tta: bool = False,
        on_error: ErrorFn | None = None,
        workers: int = 2,
        prefetch: int | None = None,
        encode: Callable[[np.ndarray], object] | None = None,
    ) -> Iterator[tuple[Path, Prediction]]:
        """Predict image files in order as a pipeline: decoding and resizing run ahead on
        `workers` threads, the network on this thread, and upsampling, thresholding and
        `encode(mask)` (stored as ``Prediction.encoded``; an RLE encoder for an export) on
        a finishing thread while the network runs on the next batch.

        At most `prefetch` decoded images (default 2 batches) and two batches of results
        are in flight, so memory does not grow with the number of paths. Unreadable files
        are passed to `on_error(path, exc)` (default: log a warning) and skipped.
        """
        prefetch = prefetch or 2 * self.batch_size
        report = on_error or (lambda p, e: log.warning("skipping %s: %s", p, e))
        size = self.input_size

        keep = self.edges is not None  # the edge classifier reads the full-size photo
        # refining an edge costs about as much as the network: two images are refined at
        # once, and the network may run that much further ahead
        finishers = 2 if keep else 1
        ahead = finishers * self.batch_size

        def decode(path: Path) -> tuple[np.ndarray, tuple[int, int], np.ndarray | None]:
            image = read_image(path)
            return to_model_input(image, size), image.shape[:2], image if keep else None

        def finish(prob: np.ndarray, hw: tuple[int, int], image: np.ndarray | None) -> Prediction:
            prediction = self._finish(prob, hw, image)
            if encode is not None:
                prediction.encoded = encode(prediction.mask)
            return prediction

        path_iter = iter(paths)
        pending: deque[tuple[Path, Future]] = deque()
        finishing: deque[tuple[Path, Future]] = deque()
        with (
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool,
            ThreadPoolExecutor(max_workers=finishers, thread_name_prefix="finish") as finisher,
        ):

            def fill() -> None:
                while len(pending) < prefetch:
                    path = next(path_iter, None)
                    if path is None:
                        return
                    pending.append((Path(path), pool.submit(decode, Path(path))))

            fill()
            while pending or finishing:
                # Hand out finished results in order; wait only for an older batch (the
                # newest one finishes while the network runs) or when nothing is left.
                while finishing and (
                    finishing[0][1].done() or len(finishing) > ahead or not pending
                ):
                    path, done = finishing.popleft()
                    yield path, done.result()
                batch: list[tuple[Path, np.ndarray, tuple[int, int], np.ndarray | None]] = []
                while pending and len(batch) < self.batch_size:
                    path, future = pending.popleft()
                    try:
                        x, hw, image = future.result()
                    except Exception as exc:
                        report(path, exc)
                        continue
                    batch.append((path, x, hw, image))
                fill()  # decode the next images while the model runs on this batch
                if not batch:
                    continue
                probs = self.predict_probabilities(np.stack([b[1] for b in batch]), tta)
                for (path, _, hw, image), prob in zip(batch, probs, strict=True):
                    finishing.append((path, finisher.submit(finish, prob, hw, image)))


def load_edge_classifier(model_path: Path, meta: dict) -> EdgeClassifier | None:
    """The edge classifier a car's version names in its JSON (``edge_classifier``: a file
    beside the model file), or None; ModelLoadError naming the file when it is unusable."""
    name = meta.get("edge_classifier")
    if not name:
        return None
    file = model_path.parent / str(name)
    described = meta_path_for(model_path)
    if Path(str(name)).name != str(name):
        raise ModelLoadError(f"{described}: edge_classifier {name!r} is not a file name")
    if not file.is_file():
        raise ModelLoadError(f"{file}: edge classifier named by {described} not found")
    try:
        return EdgeClassifier.load(file)
    except EdgeClassifierError as exc:
        raise ModelLoadError(str(exc)) from None
