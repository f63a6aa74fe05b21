"""One car's edge classifier: what "Learn this car" learns from a few reviewed angles.

A small network (standardised ``edge_features``, one hidden layer of ReLUs, a sigmoid)
is trained on the edge band of the car's reviewed angles, their corrected masks as
labels, and re-decides the band of the car's other angles: there its probability is
averaged with the network's (``blend``) and thresholded; outside the band the network's
mask stands. Chosen on cars v005 never saw (10 of ``added_cars.txt``; MODEL_CARD.md,
"Learn this car"): with k = 4 reviewed angles and a 6 px band it took 14 % of the error
off the car's 12 other angles on 6 of them, none worse (a 16 px band: 17 %), against
6.5 % for 24 image-steps of fine-tuning the whole network, in a tenth of the time. A
gradient-boosted tree ensemble scored the same (14.1 %), a logistic regression less
(10.8 %); the classifier alone, without the average with the network, made 2 of 6 cars
worse. The band's averaged probability is then smoothed (a Gaussian of ``smooth_sigma``
px, inside the band only): the classifier decides each pixel alone, and its lone wrong
pixels and ragged runs cost Dice; on the 10 tuning cars (16 px band, k = 4) sigma 0.7 / 1
/ 1.5 / 2.5 px took 15.4 / 15.3 / 15.0 / 14.2 % of the error off, against 14.6 % without.

Pure numpy (trained with Adam in a few seconds); stored as an ``.npz`` of arrays, loaded
without pickle, beside the model file of the car's version in the model store.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from model.edits.mask_ops import box_slices, clip_box, window_box
from model.nn.edge_features import FEATURE_COUNT, band_features

FILE_NAME = "edge_classifier.npz"
FORMAT = 1
BASE = "base_"  # the names of a base classifier's arrays in the same file


class EdgeClassifierError(ValueError):
    """An edge classifier file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class EdgeSettings:
    """How the classifier learns (chosen on training cars, see the module's docstring)."""

    # the band re-decided: pixels this close to the mask's edge. Most wrong pixels lie
    # within 6 px, but 16 also takes in shadow blobs (k = 4 on 10 training cars: 14.6 %
    # less error against 12.6 % with 6; 24 and 32 px no better)
    band_px: float = 16.0
    hidden: int = 32
    epochs: int = 8
    batch: int = 512
    learning_rate: float = 1e-3
    l2: float = 1e-3
    blend: float = 0.5  # weight of the classifier against the network's probability
    smooth_sigma: float = 1.0  # px: the band's averaged probability is smoothed this much
    seed: int = 0


@dataclass(frozen=True)
class EdgeClassifier:
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    w1: np.ndarray  # (F, H)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H,)
    b2: float
    band_px: float
    blend: float
    smooth_sigma: float = 0.0  # files saved before the smoothing was added load with none
    # a classifier that re-decides the edge first (a car's classifier learns on top of
    # the general edge refiner, model.nn.edge_refiner); saved in the same file
    base: EdgeClassifier | None = None

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(car) for each row of ``features`` (n, FEATURE_COUNT)."""
        hidden = np.maximum((features - self.mean) / self.scale @ self.w1 + self.b1, 0)
        return _sigmoid(hidden @ self.w2 + self.b2)

    def refine(self, image: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """The network's full-resolution ``prob`` with its edge band re-decided (by the
        ``base`` first, when there is one)."""
        if self.base is not None:
            prob = self.base.refine(image, prob, threshold)
        band, features = band_features(image, prob, self.band_px, threshold)
        return self.refine_band(prob, band, features)

    def refine_band(self, prob: np.ndarray, band: np.ndarray, features: np.ndarray) -> np.ndarray:
        """``refine`` given the band and its features (``band_features``) already worked
        out, this classifier's own step only (not its ``base``)."""
        out = np.array(prob, dtype=np.float32, copy=True)
        if len(features):
            mine = self.probability(features)
            out[band] = self.blend * mine + (1 - self.blend) * out[band]
            if self.smooth_sigma > 0:
                _smooth_band(out, band, self.smooth_sigma)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``save`` writes, its ``base``'s under ``base_`` names."""
        out = {
            "mean": self.mean,
            "scale": self.scale,
            "w1": self.w1,
            "b1": self.b1,
            "w2": self.w2,
            "b2": np.array(self.b2),
            "band_px": np.array(self.band_px),
            "blend": np.array(self.blend),
            "smooth_sigma": np.array(self.smooth_sigma),
        }
        if self.base is not None:
            if self.base.base is not None:
                raise ValueError("an edge classifier is saved with at most one base")
            out.update({f"{BASE}{key}": value for key, value in self.base.arrays().items()})
        return out

    def digest(self) -> str:
        """A hash of the weights (its base's too): what an export's fingerprint records, so
        a submission made with one edge refiner never resumes with another."""
        sha = hashlib.sha256()
        for key, value in sorted(self.arrays().items()):
            sha.update(key.encode())
            sha.update(np.ascontiguousarray(value).tobytes())
        return sha.hexdigest()[:16]

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(FORMAT), **self.arrays())
        Path(path).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> EdgeClassifier:
        """Read a saved classifier; EdgeClassifierError naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise EdgeClassifierError(f"{path}: not an edge classifier file ({exc})") from None
        try:
            if int(arrays["format"]) != FORMAT:
                raise EdgeClassifierError(f"{path}: format {int(arrays['format'])}, not {FORMAT}")
            own = {k: v for k, v in arrays.items() if not k.startswith(BASE)}
            below = {k[len(BASE) :]: v for k, v in arrays.items() if k.startswith(BASE)}
            base = _from_arrays(below, path) if below else None
            return replace(_from_arrays(own, path), base=base)
        except KeyError as exc:
            raise EdgeClassifierError(f"{path}: no {exc.args[0]!r} array") from None


def _from_arrays(arrays: dict[str, np.ndarray], path: Path) -> EdgeClassifier:
    made = EdgeClassifier(
        mean=arrays["mean"].astype(np.float32),
        scale=arrays["scale"].astype(np.float32),
        w1=arrays["w1"].astype(np.float32),
        b1=arrays["b1"].astype(np.float32),
        w2=arrays["w2"].astype(np.float32),
        b2=float(arrays["b2"]),
        band_px=float(arrays["band_px"]),
        blend=float(arrays["blend"]),
        smooth_sigma=float(arrays.get("smooth_sigma", 0.0)),
    )
    hidden = made.w1.shape[-1]
    shapes = [a.shape for a in (made.mean, made.scale, made.w1, made.b1, made.w2)]
    f = FEATURE_COUNT
    expected = [(f,), (f,), (f, hidden), (hidden,), (hidden,)]
    if shapes != expected:
        raise EdgeClassifierError(f"{path}: array shapes {shapes}, expected {expected}")
    return made


def _smooth_band(prob: np.ndarray, band: np.ndarray, sigma: float) -> None:
    """Replace ``prob`` inside ``band`` by its Gaussian blur, worked out in the band's box
    (plus the blur's reach) rather than the whole photo. In place."""
    reach = int(np.ceil(4 * sigma))
    y0, x0, y1, x1 = window_box(band, (0, 0))
    box = clip_box((y0 - reach, x0 - reach, y1 + reach, x1 + reach), prob.shape)
    assert box is not None
    sl = box_slices(box)
    local = prob[sl]  # a view
    blurred = cv2.GaussianBlur(local, (0, 0), sigma)
    local[band[sl]] = blurred[band[sl]]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def fit_edge_classifier(
    features: np.ndarray, labels: np.ndarray, settings: EdgeSettings = EdgeSettings()
) -> EdgeClassifier:
    """Train on band pixels (rows of ``features``) and their true side (``labels``)."""
    x = np.asarray(features, np.float32)
    y = np.asarray(labels, np.float32).reshape(-1)
    if x.ndim != 2 or x.shape[1] != FEATURE_COUNT or len(x) != len(y):
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
    if len(y) == 0 or y.min() == y.max():
        raise ValueError(
            "nothing to learn: along the model's edge the reviewed masks are all car or all "
            "background (were empty masks marked reviewed?)"
        )
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0
    x = (x - mean) / scale
    rng = np.random.default_rng(settings.seed)
    f, h = x.shape[1], settings.hidden
    # He initialisation for the ReLU layer, Glorot for the output, as Keras/sklearn do
    params = [
        rng.normal(0, np.sqrt(2 / f), (f, h)).astype(np.float32),
        np.zeros(h, np.float32),
        rng.normal(0, np.sqrt(2 / (h + 1)), h).astype(np.float32),
        np.zeros(1, np.float32),
    ]
    _adam(params, x, y, settings, rng)
    w1, b1, w2, b2 = params
    return EdgeClassifier(
        mean,
        scale,
        w1,
        b1,
        w2,
        float(b2[0]),
        float(settings.band_px),
        float(settings.blend),
        float(settings.smooth_sigma),
    )


def _adam(
    params: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    settings: EdgeSettings,
    rng: np.random.Generator,
) -> None:
    """Minimise the mean binary cross-entropy + l2/2 ||W||^2 / batch (sklearn's
    ``alpha``) over shuffled mini-batches, in place."""
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    n = len(y)
    for _ in range(settings.epochs):
        order = rng.permutation(n)
        for start in range(0, n, settings.batch):
            rows = order[start : start + settings.batch]
            grads = _gradients(params, x[rows], y[rows], settings.l2)
            step += 1
            lr = settings.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            for p, g, m, v in zip(params, grads, moments, squares, strict=True):
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                p -= lr * m / (np.sqrt(v) + eps)


def _gradients(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray, l2: float
) -> list[np.ndarray]:
    w1, b1, w2, b2 = params
    pre = x @ w1 + b1
    hidden = np.maximum(pre, 0)
    out = _sigmoid(hidden @ w2 + b2[0])
    d_out = (out - y) / len(y)  # d(mean BCE)/d(logit)
    d_hidden = np.outer(d_out, w2) * (pre > 0)
    return [
        x.T @ d_hidden + l2 * w1 / len(y),
        d_hidden.sum(0),
        hidden.T @ d_out + l2 * w2 / len(y),
        np.array([d_out.sum()], np.float32),
    ]
