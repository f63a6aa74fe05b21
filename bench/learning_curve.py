"""Learning curve: validation Dice against the number of training cars, at one small preset.

Run:  python bench/learning_curve.py DATA_DIR --out RUNS_DIR [--cars 43,86,146]
          [--preset 256x384] [--width 0.5] [--steps 2752] [--model M]

For each N, trains a fresh network (the project's own ``model.nn.training.train``, seed
recipe: affine warp + flips, BCE + Dice, Adam lr 1e-3, batch 4) on N cars drawn from every
car that is not one of M's validation cars (default: the shipped model's). The sets are
nested (the 43 cars are among the 86, the 86 among the 146) and every N gets the same
number of optimiser steps (``--steps``), so the curve shows what more cars give for the
same compute. It then scores the LAST epoch (nothing is selected on the validation cars)
at full resolution on M's validation cars, without and with flip TTA, and prints a table;
the last line is ``learning-curve preset=P cars=N1,N2,... dice=D1,D2,...`` (flip TTA).
Runs resume: re-running the same command continues each run from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from bench_paths import REPO

sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="Kaggle-layout folder (train/, train_masks/)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--cars", default="43,86,146", help="training-set sizes, in cars")
    parser.add_argument("--preset", default="256x384")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=2752, help="optimiser steps per run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model", type=Path, help="whose validation cars score the curve")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        sys.exit(f"{args.data}: no train/ folder (expected the Kaggle layout)")

    from model.choices import AUTO_PRECISION
    from model.data.dataset import scan_folder
    from model.nn.evaluation import score_model, validation_records
    from model.nn.pipeline import Augment
    from model.nn.predictor import Predictor
    from model.nn.train_callbacks import LAST_NAME
    from model.nn.train_config import TrainConfig
    from model.nn.training import train
    from model.store.versions import model_info_for_file, shipped_model_info

    info = model_info_for_file(args.model) if args.model else shipped_model_info()
    if info is None:
        sys.exit("no model to take the validation cars from: pass --model FILE")
    val = validation_records(args.data, info.meta)
    val_cars = {r.car_id for r in val}
    records = [r for r in scan_folder(args.data).images if r.mask_path is not None]
    pool = sorted({r.car_id for r in records if r.car_id not in val_cars})
    random.Random(args.seed).shuffle(pool)  # nested sets: a prefix of one shuffled order
    sizes = [int(n) for n in args.cars.split(",")]
    if max(sizes) > len(pool):
        sys.exit(f"{args.data}: only {len(pool)} cars besides the validation cars")
    print(
        f"learning curve at {args.preset}, width {args.width}: {sizes} cars, "
        f"{args.steps} steps each; scored on {len(val)} images of {len(val_cars)} cars"
    )
    rows = []
    for n in sizes:
        cars = set(pool[:n])
        pairs = [(r.path, r.mask_path) for r in records if r.car_id in cars]
        epochs = max(1, round(args.steps * args.batch_size / len(pairs)))
        out = args.out / f"{args.preset}-w{args.width:g}-{n}cars"
        config = TrainConfig(
            train_pairs=pairs,
            val_pairs=[],  # nothing chosen on held-out cars: the last epoch is scored
            out_dir=out,
            preset=args.preset,
            width_multiplier=args.width,
            epochs=epochs,
            batch_size=args.batch_size,
            learning_rate=1e-3,
            patience=epochs,
            augment=Augment(),
            seed=args.seed,
            precision=AUTO_PRECISION,
        )
        start = time.perf_counter()
        result = train(config)
        if result.cancelled:
            return 1
        minutes = (time.perf_counter() - start) / 60
        predictor = Predictor.load(out / LAST_NAME, engine="keras")
        score = score_model(predictor, val)
        row = {
            "cars": n,
            "images": len(pairs),
            "epochs": epochs,
            "steps": epochs * -(-len(pairs) // args.batch_size),
            "dice": score.mean(False),
            "dice_tta": score.mean(True),
            "minutes": minutes,
        }
        rows.append(row)
        (out / "learning_curve.json").write_text(json.dumps(row, indent=1))
        print(
            f"  {n:4d} cars ({len(pairs)} images, {epochs} epochs, {row['steps']} steps): "
            f"Dice {row['dice']:.5f}, flip TTA {row['dice_tta']:.5f}  ({minutes:.0f} min)",
            flush=True,
        )
    cars = ",".join(str(r["cars"]) for r in rows)
    dices = ",".join(f"{r['dice_tta']:.5f}" for r in rows)
    print(f"learning-curve preset={args.preset} cars={cars} dice={dices}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
