"""Benchmark the network on this machine: parameters, inference and training speed, data wait.

Per preset and width: parameter count; inference ms/image on a full 1918x1280 image
(decode excluded, resize/upsample included) without and with flip TTA; training
ms/image (one optimiser step on an in-memory batch); and the share of a `fit` step
spent waiting for data, measured as 1 - compute_step / fit_step, where fit_step runs
Keras' fit on the real PyDataset (cold: every batch decodes full-size JPEG + GIF,
resizes and augments; no cache) and compute_step is the same step on a ready batch.

    python bench/bench_model.py                      # short default run
    python bench/bench_model.py --widths 0.25,0.5,1 --iters 5 --presets 512x768
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from bench_paths import CARVANA_DATA as DATA

from model.data.dataset import list_images
from model.data.masks import write_mask
from model.nn.network import build_segnet, preset_size
from model.nn.pipeline import Augment, MaskSequence
from model.nn.predictor import Predictor
from model.nn.training import compile_model


def _pairs(data: Path, count: int, scratch: Path) -> list[tuple[Path, Path]]:
    """Real Carvana pairs when present, else synthetic full-size JPEG/GIF files."""
    if (data / "train").is_dir():
        recs = list_images(data / "train", data / "train_masks")[:count]
        return [(r.path, r.mask_path) for r in recs]
    import cv2

    rng = np.random.default_rng(0)
    pairs = []
    for i in range(count):
        image = rng.integers(0, 255, (1280, 1918, 3), dtype=np.uint8)
        mask = np.zeros((1280, 1918), np.uint8)
        cv2.ellipse(mask, (959, 640), (700, 350), 0, 0, 360, 1, -1)
        cv2.imwrite(str(scratch / f"{i:012x}_01.jpg"), image)
        write_mask(scratch / f"{i:012x}_01_mask.gif", mask)
        pairs.append((scratch / f"{i:012x}_01.jpg", scratch / f"{i:012x}_01_mask.gif"))
    return pairs


def _ms(fn, iters: int) -> float:
    fn()  # warm-up: tracing / compilation
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters * 1000


class _StepTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._t = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch > 0:  # the first step includes tracing
            self.times.append(now - self._t)
        self._t = now


def bench_one(preset: str, width: float, args, pairs) -> dict:
    h, w = preset_size(preset)
    model = build_segnet(h, w, width)
    row = {"preset": preset, "width": width, "params": model.count_params()}
    predictor = Predictor.from_keras(model, name=f"{preset}-w{width:g}", batch_size=1)
    image = np.random.default_rng(0).integers(0, 256, (1280, 1918, 3), dtype=np.uint8)
    row["infer_ms"] = _ms(lambda: predictor.predict(image), args.iters)
    row["infer_tta_ms"] = _ms(lambda: predictor.predict(image, tta=True), args.iters)
    if args.no_train:
        return row
    compile_model(model, 1e-4)
    bs = args.batch_size
    seq = MaskSequence(pairs, (h, w), bs, Augment(), cache=False, workers=args.workers)
    x, y = seq[0]
    row["train_ms"] = _ms(lambda: model.train_on_batch(x, y), args.iters) / bs
    timer = _StepTimer()
    steps = min(len(seq), args.iters + 1)
    model.fit(seq, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    fit_ms = float(np.mean(timer.times)) * 1000 / bs
    row["fit_ms"] = fit_ms
    row["data_wait"] = max(0.0, 1.0 - row["train_ms"] / fit_ms)
    start = time.perf_counter()
    for i in range(min(len(seq), 2)):
        seq[i]
    row["load_ms"] = (time.perf_counter() - start) / min(len(seq), 2) * 1000 / bs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="512x768,1024x1536,1280x1920")
    parser.add_argument("--widths", default="0.5")
    parser.add_argument("--iters", type=int, default=2, help="timed repetitions (default 2)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="PyDataset loading threads")
    parser.add_argument("--no-train", action="store_true", help="inference only")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    kind = "real" if (args.data / "train").is_dir() else "synthetic"
    print(f"backend {keras.backend.backend()}, {kind} data, batch {args.batch_size}")
    header = (
        f"{'preset':>10} {'width':>5} {'params':>10} {'infer ms':>9} {'+TTA ms':>9} "
        f"{'train ms/img':>12} {'fit ms/img':>10} {'load ms/img':>11} {'data wait':>9}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as scratch:
        need = (args.iters + 2) * args.batch_size
        pairs = _pairs(args.data, need, Path(scratch))
        for preset in args.presets.split(","):
            for width in (float(v) for v in args.widths.split(",")):
                r = bench_one(preset, width, args, pairs)
                train = (
                    f"{r['train_ms']:12.0f} {r['fit_ms']:10.0f} {r['load_ms']:11.0f} "
                    f"{r['data_wait']:9.1%}"
                    if "train_ms" in r
                    else ""
                )
                print(
                    f"{preset:>10} {width:5g} {r['params']:10,d} {r['infer_ms']:9.0f} "
                    f"{r['infer_tta_ms']:9.0f} {train}",
                    flush=True,
                )
                keras.backend.clear_session()


if __name__ == "__main__":
    main()
