"""Tiny synthetic Carvana-style data and a tiny saved network for fast model-loop tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from model.data.dataset import list_images
from model.data.masks import write_mask

IMAGE_HW = (96, 144)  # small, 2:3 like Carvana, and not the model size (exercises resizing)


def car_id(n: int) -> str:
    return f"{n:012x}"


def make_image_folder(root: Path, cars: int = 3, angles: int = 2) -> tuple[Path, Path]:
    """``root/train`` with bright ellipses ("cars") on noise, ``root/train_masks`` with GIFs."""
    train, masks = root / "train", root / "train_masks"
    train.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    h, w = IMAGE_HW
    for c in range(1, cars + 1):
        for a in range(1, angles + 1):
            mask = np.zeros((h, w), np.uint8)
            centre = (w // 2 + int(rng.integers(-20, 20)), h // 2 + int(rng.integers(-10, 10)))
            cv2.ellipse(mask, centre, (40 + 3 * a, 22 + c), 0, 0, 360, 1, -1)
            image = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            image[mask == 1] = (200, 60 + 40 * c, 40)
            name = f"{car_id(c)}_{a:02d}"
            cv2.imwrite(str(train / f"{name}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            write_mask(masks / f"{name}_mask.gif", mask)
    return train, masks


def records(train: Path, masks: Path | None = None):
    return list_images(train, masks)


def save_tiny_model(path: Path, seed: int = 0) -> Path:
    """A 128x128 SegNet at 1/8 width, compiled-free, saved as .keras."""
    import keras

    from model.nn.network import build_segnet

    keras.utils.set_random_seed(seed)
    model = build_segnet(128, 128, width_multiplier=0.125)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


class DiscEngine:
    """An inference engine that sees a soft disc in every image: a network output with an
    edge, which the untrained tiny network (a constant output) does not have."""

    name = "disc"
    input_size = (64, 96)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        yy, xx = np.mgrid[:64, :96]
        disc = 1 / (1 + np.exp(np.hypot(yy - 32, xx - 48) - 20))
        return np.repeat(disc[None].astype(np.float32), len(batch), axis=0)


def save_red_detector(path: Path) -> Path:
    """A 128x128 "network" that finds make_image_folder's red cars: one 1x1 convolution on
    the red channel, so its masks have an edge the way a trained network's do (the tiny
    untrained SegNet outputs a constant). Saved as .keras, a valid mask network."""
    import keras

    inputs = keras.Input((128, 128, 3))
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights(
        [np.array([20.0, 0.0, 0.0]).reshape(1, 1, 3, 1), np.array([-10.0])]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def offset_edge_view(
    seed: int, h: int = 96, w: int = 144
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, network probability, truth) of one synthetic view: a bright body on a dark
    backdrop whose "network" edge lies 3 px outside the body (a soft probability ramp), as
    a model's does on a shadow it takes for car."""
    rng = np.random.default_rng(seed)
    cy, cx = h / 2 + rng.uniform(-5, 5), w / 2 + rng.uniform(-8, 8)
    ry, rx = rng.uniform(22, 30), rng.uniform(40, 55)
    yy, xx = np.mgrid[:h, :w]
    radius = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    truth = (radius <= 1).astype(np.uint8)
    image = np.where(truth[..., None] > 0, [200, 60, 50], [40, 40, 45]).astype(np.float32)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    offset = (radius - 1) * min(ry, rx)  # ~ px outside the true edge
    prob = 1 / (1 + np.exp((offset - 3.0) / 1.5))  # the network's edge: 3 px too far out
    return image, prob.astype(np.float32), truth
