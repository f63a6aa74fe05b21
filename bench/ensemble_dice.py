"""Would averaging two models' probabilities beat either one? Measure it, full resolution.

Run:  python bench/ensemble_dice.py MODEL_A.keras,MODEL_B.keras [--data DIR] [--limit N]

Each model predicts every held-out image (the validation cars named in the first model's
JSON) at its own input size with flip TTA; the probabilities are upsampled to 1918x1280
and averaged. Prints the mean Dice of each model alone and of the average at a few
thresholds. Used to decide whether a two-model default is worth its inference time
(MODEL_CARD.md, "Tried after v003").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from bench_paths import CARVANA_DATA, REPO

sys.path.insert(0, str(REPO))

from model.data.masks import read_image, read_mask
from model.kaggle.metrics import dice
from model.nn.evaluation import validation_records
from model.nn.predictor import Predictor

THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", help="comma-separated model files")
    parser.add_argument("--data", type=Path, default=CARVANA_DATA)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data}: no data here; pass --data", file=sys.stderr)
        return 2
    predictors = [Predictor.load(Path(p)) for p in args.models.split(",")]
    records = validation_records(args.data, predictors[0].meta)[: args.limit]
    alone: list[list[float]] = [[] for _ in predictors]
    averaged: dict[float, list[float]] = {t: [] for t in THRESHOLDS}
    start = time.perf_counter()
    for record in records:
        image, truth = read_image(record.path), read_mask(record.mask_path)
        probs = []
        for k, predictor in enumerate(predictors):
            prob = predictor.predict(image, tta=True).prob
            alone[k].append(dice(prob > predictor.threshold, truth))
            probs.append(prob)
        mean_prob = sum(probs) / len(probs)
        for t in THRESHOLDS:
            averaged[t].append(dice(mean_prob > t, truth))
    seconds = (time.perf_counter() - start) / max(1, len(records))
    print(f"{len(records)} held-out images, {seconds:.2f} s/image for all models (flip TTA)")
    for predictor, scores in zip(predictors, alone, strict=True):
        print(f"  {predictor.name}: {np.mean(scores):.5f} at threshold {predictor.threshold:g}")
    for t, scores in averaged.items():
        print(f"  average at threshold {t:g}: {np.mean(scores):.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
