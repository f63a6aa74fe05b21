"""Training data pipeline: a backend-agnostic keras.utils.PyDataset (no tf.data, no tf ops).

OpenCV decodes and resizes; augmentation (random shift, scale, small rotation and
horizontal flip) is one affine warp applied identically to image and mask. Images are
resized to the model size once and kept in an in-memory cache (uint8), so after the first
epoch a batch costs only the warp, which keeps data loading far below the step time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.data.masks import read_image, read_mask
from model.nn.frameworks import keras
from model.nn.network import fits_by_padding


@dataclass(frozen=True)
class Augment:
    """Ranges of the random affine warp (fractions of the image size / degrees), and of
    the colour jitter applied to the image alone (0 turns each off)."""

    shift: float = 0.0625
    scale: float = 0.1
    rotate_deg: float = 5.0
    hflip: bool = True
    brightness: float = 0.0  # multiply by 1 +- this
    contrast: float = 0.0  # stretch about the image's mean by 1 +- this
    saturation: float = 0.0  # scale the HSV saturation by 1 +- this
    hue_deg: float = 0.0  # rotate the hue by up to +- this many degrees

    @classmethod
    def none(cls) -> Augment:
        return cls(shift=0.0, scale=0.0, rotate_deg=0.0, hflip=False)

    @classmethod
    def flips_only(cls) -> Augment:
        """Horizontal flips without the warp: the turntable's own framing (final epochs)."""
        return cls(shift=0.0, scale=0.0, rotate_deg=0.0, hflip=True)

    @classmethod
    def flips_and_colour(cls) -> Augment:
        """Flips plus colour jitter: the turntable's framing, but paint and light vary.

        Car colour is what the hard cases turn on (white cars on the white backdrop, dark
        sills in their own shadow), and 86 training cars cover few colours.
        """
        return cls(
            shift=0.0,
            scale=0.0,
            rotate_deg=0.0,
            hflip=True,
            brightness=0.1,
            contrast=0.1,
            saturation=0.25,
            hue_deg=15.0,
        )

    @property
    def has_colour(self) -> bool:
        return bool(self.brightness or self.contrast or self.saturation or self.hue_deg)


def load_resized_pair(
    image_path: Path, mask: Path | np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize (INTER_AREA) an image and its mask to size=(H, W).

    Images less than one stride short of the size are padded instead (see
    network.fits_by_padding), exactly as the predictor does.

    The mask is area-resized as a float and stored as uint8 0..255, so boundary pixels keep
    their sub-pixel coverage: soft targets teach the net where the true edge is, which is
    what the bilinear upsampling at inference time needs.
    """
    h, w = size
    image = read_image(image_path)
    truth = read_mask(mask) if not isinstance(mask, np.ndarray) else mask
    if truth.shape != image.shape[:2]:
        raise ValueError(
            f"mask {mask if not isinstance(mask, np.ndarray) else '(array)'} has size "
            f"{truth.shape[1]}x{truth.shape[0]} but image {image_path} is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    if fits_by_padding(image.shape[:2], size):  # e.g. 1918 -> 1920: pad, as at inference
        pad = (0, h - image.shape[0], 0, w - image.shape[1])
        small = cv2.copyMakeBorder(image, *pad, cv2.BORDER_REFLECT_101)
        return small, cv2.copyMakeBorder(truth * np.uint8(255), *pad, cv2.BORDER_REFLECT_101)
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    soft = cv2.resize(truth.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return small, np.round(soft * 255).astype(np.uint8)


def random_affine(rng: np.random.Generator, size: tuple[int, int], aug: Augment) -> np.ndarray:
    """A 2x3 matrix: rotate+scale about the centre, then shift, then optional h-flip."""
    h, w = size
    angle = rng.uniform(-aug.rotate_deg, aug.rotate_deg) if aug.rotate_deg else 0.0
    scale = rng.uniform(1 - aug.scale, 1 + aug.scale) if aug.scale else 1.0
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    if aug.shift:
        m[0, 2] += rng.uniform(-aug.shift, aug.shift) * w
        m[1, 2] += rng.uniform(-aug.shift, aug.shift) * h
    if aug.hflip and rng.random() < 0.5:
        m = np.array([[-1, 0, w - 1], [0, 1, 0]], dtype=np.float64) @ np.vstack([m, [0, 0, 1]])
    return m


def jitter_colour(image: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """uint8 RGB -> uint8 RGB with random hue, saturation, contrast and brightness."""
    x = image.astype(np.float32) * (1.0 / 255.0)
    if aug.hue_deg or aug.saturation:
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)  # float input: H in [0, 360), S and V in [0, 1]
        if aug.hue_deg:
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-aug.hue_deg, aug.hue_deg)) % 360.0
        if aug.saturation:
            hsv[..., 1] = np.clip(
                hsv[..., 1] * rng.uniform(1 - aug.saturation, 1 + aug.saturation), 0, 1
            )
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if aug.contrast:
        mean = float(x.mean())
        x = (x - mean) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + mean
    if aug.brightness:
        x = x * rng.uniform(1 - aug.brightness, 1 + aug.brightness)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def augment_pair(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, aug: Augment
) -> tuple[np.ndarray, np.ndarray]:
    if aug.has_colour:
        image = jitter_colour(image, rng, aug)
    if not (aug.shift or aug.scale or aug.rotate_deg):
        # Flips only: mirror the arrays rather than resample them (exact and much cheaper).
        if aug.hflip and rng.random() < 0.5:
            return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
        return image, mask
    size = image.shape[:2]
    m = random_affine(rng, size, aug)
    dsize = (size[1], size[0])
    image = cv2.warpAffine(
        image, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    mask = cv2.warpAffine(mask, m, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return image, mask


class MaskSequence(keras.utils.PyDataset):
    """Batches of (image float32 [0,1] (B,H,W,3), mask float32 [0,1] (B,H,W,1)).

    pairs: (image path, mask path or in-memory mask array). With `augment`, every epoch
    sees a new random warp of each pair; without it the order and content are fixed.
    """

    def __init__(
        self,
        pairs: list[tuple[Path, Path | np.ndarray]],
        size: tuple[int, int],
        batch_size: int = 4,
        augment: Augment | None = None,
        shuffle: bool = True,
        seed: int = 0,
        cache: bool = True,
        workers: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        if not pairs:
            raise ValueError("no training images: the list of (image, mask) pairs is empty")
        self.pairs = list(pairs)
        self.size = size
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._seed = seed
        self._epoch = 0
        self._order = np.arange(len(self.pairs))
        self._reshuffle()

    def _reshuffle(self) -> None:
        if self.shuffle:
            n = len(self.pairs)
            self._order = np.random.default_rng((self._seed, self._epoch)).permutation(n)

    def __len__(self) -> int:
        return -(-len(self.pairs) // self.batch_size)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        image_path, mask = self.pairs[index]
        pair = load_resized_pair(Path(image_path), mask, self.size)
        if self.cache:
            with self._lock:
                self._cache[index] = pair
        return pair

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        rng = np.random.default_rng((self._seed, self._epoch, batch))
        images, masks = [], []
        for i in ids:
            image, mask = self.load(int(i))
            if self.augment is not None:
                image, mask = augment_pair(image, mask, rng, self.augment)
            images.append(image)
            masks.append(mask)
        x = np.stack(images).astype(np.float32) / 255.0
        y = np.stack(masks).astype(np.float32)[..., None] / 255.0
        return x, y

    def on_epoch_end(self) -> None:
        self._epoch += 1
        self._reshuffle()
