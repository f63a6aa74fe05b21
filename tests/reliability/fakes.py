"""Fakes shared by the reliability tests: a predictor that needs no Keras, its module."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.masks import read_image


@dataclass
class FakePrediction:
    mask: np.ndarray
    prob: np.ndarray | None = None


class ThresholdPredictor:
    """Stands in for Predictor: mask = pixels brighter than ``level`` in the red channel."""

    def __init__(self, level: int = 150, name: str = "fake"):
        self.level = level
        self.name = name
        self.threshold = 0.5
        self.meta: dict = {}
        self.input_size = (128, 128)
        self.engine = types.SimpleNamespace(name="fake")  # what ran the network
        self.asked: list[str] = []

    def predict_paths(self, paths, tta=False, on_error=None, encode=None):
        for path in paths:
            self.asked.append(Path(path).name)
            try:
                image = read_image(path)
            except Exception as exc:
                on_error(Path(path), exc)
                continue
            mask = (image[..., 0] > self.level).astype(np.uint8)
            yield Path(path), FakePrediction(mask, mask.astype(np.float32))


def install_fake_predictor_module(monkeypatch, level: int = 150) -> list[Path]:
    """Make the CLI's ``Predictor.load(path)`` return a ThresholdPredictor (no Keras).

    Returns the list of model paths the CLI loaded, in order.
    """
    loaded: list[Path] = []

    class ModelLoadError(RuntimeError):
        pass

    class Predictor:
        @staticmethod
        def load(path, batch_size=2, engine=None):
            path = Path(path)
            if not path.is_file():
                raise ModelLoadError(f"{path}: model file not found")
            loaded.append(path)
            return ThresholdPredictor(level, name=path.stem)

    module = types.ModuleType("model.nn.predictor")
    module.Predictor = Predictor
    module.ModelLoadError = ModelLoadError
    monkeypatch.setitem(sys.modules, "model.nn.predictor", module)
    return loaded
