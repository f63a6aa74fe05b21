"""Inference engines: what turns a batch of model-size images into probabilities.

The network is trained and stored as Keras; for inference it can run either in Keras
(TensorFlow) or, on CPUs, through OpenVINO, which runs the same converted graph two to
three times faster (bf16 on CPUs with AMX / AVX-512 BF16). Every caller names an engine
choice (``auto``, ``keras``, ``openvino``); ``auto`` takes OpenVINO where it is installed
and the backend has no accelerator, and Keras otherwise.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from model.choices import ENGINE_CHOICES, ENGINE_ENV

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


class EngineError(RuntimeError):
    """An engine that was asked for by name but cannot run here."""


class Engine(Protocol):
    """(B, H, W, 3) float32 in [0, 1] at ``input_size`` -> (B, H, W) float32 probabilities."""

    name: str
    input_size: tuple[int, int]

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


@dataclass
class KerasEngine:
    model: keras.Model
    name: str = "keras"

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.model.input_shape[1]), int(self.model.input_shape[2])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        # predict_on_batch reuses one compiled function: far less overhead than predict().
        out = self.model.predict_on_batch(np.ascontiguousarray(batch))
        return np.asarray(out, dtype=np.float32)[..., 0]


def openvino_unavailable() -> str | None:
    """Why OpenVINO cannot run here, or None when it can."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "the openvino package is not installed (pip install openvino)"
    from model.nn.openvino_engine import cpu_device_missing

    return cpu_device_missing()


def resolve_engine(choice: str | None = "auto") -> str:
    """'keras' or 'openvino' for a choice of auto/keras/openvino (None: auto, or the
    CARVANA_ENGINE environment variable). Asking for openvino where it cannot run raises
    EngineError with the reason; auto quietly falls back to Keras."""
    choice = (choice or os.environ.get(ENGINE_ENV) or "auto").strip().lower()
    if choice not in ENGINE_CHOICES:
        raise EngineError(f"unknown engine {choice!r}: choose one of {', '.join(ENGINE_CHOICES)}")
    if choice == "keras":
        return "keras"
    reason = openvino_unavailable()
    if choice == "openvino":
        if reason:
            raise EngineError(f"the OpenVINO engine cannot run here: {reason}")
        return "openvino"
    if reason:
        log.info("engine auto: Keras (%s)", reason)
        return "keras"
    if may_have_accelerator():
        from model.nn.backend import accelerators  # imports the framework to ask it

        if accelerators():  # a GPU/TPU: Keras runs there, OpenVINO here would use the CPU
            return "keras"
    return "openvino"


def may_have_accelerator(dev: Path = Path("/dev"), platform: str = sys.platform) -> bool:
    """False when this machine certainly has no GPU or TPU the framework could use, told
    without importing it (Linux with no /dev/nvidia*, /dev/kfd or /dev/accel* device), so
    ``auto`` picks OpenVINO without TensorFlow's import; elsewhere the framework is asked."""
    if not platform.startswith("linux"):
        return True
    return any(dev.glob("nvidia[0-9]*")) or (dev / "kfd").exists() or any(dev.glob("accel*"))


def load_engine(path: Path, choice: str | None, load_keras) -> Engine:
    """The engine for the model file at `path`. `load_keras()` loads the Keras model; it is
    called only when needed (always for Keras; for OpenVINO only to convert a model whose
    converted form is not cached yet)."""
    if resolve_engine(choice) == "keras":
        return KerasEngine(load_keras())
    from model.nn.openvino_engine import load_openvino

    return load_openvino(Path(path), load_keras)
