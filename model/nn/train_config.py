"""What a training run needs: the one configuration both training and its callbacks read.

Kept apart from ``training`` so the callbacks can type against it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.choices import AUTO_PRECISION
from model.nn.network import preset_size
from model.nn.pipeline import Augment

Pair = tuple[Path, Path | np.ndarray]


@dataclass
class TrainConfig:
    """Everything a run needs. `train_pairs`/`val_pairs` hold (image, mask) pairs."""

    train_pairs: list[Pair]
    val_pairs: list[Pair]
    out_dir: Path
    preset: str = "512x768"
    width_multiplier: float = 0.5
    epochs: int = 10
    batch_size: int = 4
    learning_rate: float = 1e-4
    patience: int = 5
    min_delta: float = 1e-4
    augment: Augment | None = field(default_factory=Augment)
    base_model: Path | None = None  # fine-tune from here instead of a fresh network
    # Start from these weights, rebuilt at this run's preset: the network is fully
    # convolutional, so weights learnt at 256x384 fit 512x768 (progressive resizing).
    init_weights: Path | None = None
    resume: bool = True
    seed: int = 0
    workers: int = 2
    cache: bool = True
    precision: str = AUTO_PRECISION  # a key of model.choices.PRECISIONS (bfloat16 on AMX CPUs)
    loss: str = "bce-dice"  # a key of model.nn.losses.LOSSES
    tensorboard: bool = True
    distribute: bool = False  # data parallel over all devices (MirroredStrategy/DataParallel)

    @property
    def input_size(self) -> tuple[int, int]:
        return preset_size(self.preset)
