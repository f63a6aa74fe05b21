"""Benchmark "Learn this car": how much a few reviewed angles improve the rest of the car.

Run:  python bench/learn_car.py DATA_DIR [--cars N] [--k 2,4,8] [--model M] [--car-ids A,B]

For each of N cars (default: the model's validation cars, named in its JSON) and each k,
in a fresh project folder (a temporary directory; the data is only read):
  * the car's 16 angles are auto-masked by the base model (full resolution, flip TTA),
    as a person would have them before the action;
  * k angles spread around the turntable are marked reviewed with their ground truth
    (k=2: 01, 09; k=4: 01, 05, 09, 13; k=8: the odd angles);
  * the action runs exactly as the window runs it: ``learn_car`` in the fine-tune child
    process (model loading included), timed from the request to the last re-masked angle;
  * the car's other angles are scored (Dice at full resolution) before and after.
Prints per k the mean relative error reduction (1 - Dice), the cars that got worse and
the seconds per car; the last line is ``learn-car k=4 error_reduction=X.XX seconds=Y``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ANGLES = {2: (1, 9), 4: (1, 5, 9, 13), 8: (1, 3, 5, 7, 9, 11, 13, 15)}


def reviewed_angles(k: int) -> tuple[int, ...]:
    if k in ANGLES:
        return ANGLES[k]
    return tuple(sorted({1 + round(i * 16 / k) % 16 for i in range(k)}))


def car_records(data: Path, car: str):
    from model.data.dataset import ImageRecord

    records = []
    for angle in range(1, 17):
        image_id = f"{car}_{angle:02d}"
        path, mask = (
            data / "train" / f"{image_id}.jpg",
            data / "train_masks" / f"{image_id}_mask.gif",
        )
        if not path.is_file() or not mask.is_file():
            sys.exit(f"{path}: missing image or mask (expected the Kaggle layout in {data})")
        records.append(ImageRecord(image_id, path, car, angle, mask))
    return records


def _timeline(start: float):
    """Print when each phase of the action begins (seconds since the request), with -v."""

    def on_event(event) -> None:
        if VERBOSE and type(event).__name__ == "Phase":
            print(f"    {time.perf_counter() - start:6.1f} s  {event}", flush=True)

    return on_event


VERBOSE = False


def run_car(data, car, ks, base, base_masks, truths, store_root, settings) -> dict[int, tuple]:
    from model.edits.project_store import ProjectStore
    from model.kaggle.metrics import dice
    from model.workflows.finetune_process import make_learn_car_request, run_finetune_process

    records = car_records(data, car)
    results = {}
    for k in ks:
        chosen = reviewed_angles(k)
        with tempfile.TemporaryDirectory(prefix="learn-car-") as tmp:
            project = ProjectStore(Path(tmp) / "edits")
            for r in records:
                project.save_auto_mask(r.image_id, base_masks[r.image_id], base.version)
                if r.angle in chosen:
                    project.set_reviewed(r.image_id, True, truths[r.image_id])
            others = [r.image_id for r in records if r.angle not in chosen]
            before = float(np.mean([dice(base_masks[i], truths[i]) for i in others]))
            request = make_learn_car_request(project.root, records, car, store_root, base, settings)
            start = time.perf_counter()
            finished = run_finetune_process(request, on_event=_timeline(start))
            seconds = time.perf_counter() - start
            project.refresh()
            after = float(np.mean([dice(project.load_shown_mask(i), truths[i]) for i in others]))
            project.close()
        reduction = (after - before) / (1.0 - before)
        print(
            f"  {car} k={k}: Dice {before:.5f} -> {after:.5f}  error reduction "
            f"{reduction:+.1%}  {seconds:.1f} s  ({finished.message})",
            flush=True,
        )
        results[k] = (reduction, after < before, seconds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="Kaggle-layout folder (train/, train_masks/)")
    parser.add_argument("--cars", type=int, default=None, help="how many cars (default: all)")
    parser.add_argument("--car-ids", default=None, help="these cars instead (comma-separated)")
    parser.add_argument("--k", default="2,4,8", help="reviewed angles per car (default 2,4,8)")
    parser.add_argument("--model", default=None, help="base model (default: the shipped one)")
    parser.add_argument(
        "--settings",
        default="{}",
        help="LearnCarSettings fields to try, as JSON (e.g. '{\"blend\": 0.7}'); "
        "choose them on training cars (--car-ids), never on the validation cars",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each phase's start")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    if not (args.data / "train").is_dir():
        sys.exit(f"{args.data}: no train/ folder (expected the Kaggle layout)")
    from model.data.masks import read_mask
    from model.nn.predictor import Predictor
    from model.store.versions import ModelInfo, model_info_for_file, shipped_model_info

    base: ModelInfo | None = (
        model_info_for_file(Path(args.model)) if args.model else shipped_model_info()
    )
    if base is None:
        sys.exit("no model: pass --model FILE")
    cars = args.car_ids.split(",") if args.car_ids else list(base.meta["data"]["val_cars"])
    cars = cars[: args.cars] if args.cars else cars
    ks = [int(k) for k in args.k.split(",")]
    from model.workflows.learn_car import LearnCarSettings

    settings = LearnCarSettings(**json.loads(args.settings))
    print(f"learn this car: base {base.version}, {len(cars)} cars, k = {ks}, {settings}")
    predictor = Predictor.load(base.path, engine="keras")
    table: dict[int, list[tuple]] = {k: [] for k in ks}
    with tempfile.TemporaryDirectory(prefix="learn-car-models-") as store_root:
        for car in cars:
            records = car_records(args.data, car)
            truths = {r.image_id: read_mask(r.mask_path) for r in records}
            base_masks = {
                Path(path).stem: p.mask
                for path, p in predictor.predict_paths([r.path for r in records], tta=True)
            }
            for k, row in run_car(
                args.data, car, ks, base, base_masks, truths, store_root, settings
            ).items():
                table[k].append(row)
    summary = {}
    for k in ks:
        rows = table[k]
        reduction = float(np.mean([r[0] for r in rows]))
        worse = sum(r[1] for r in rows)
        seconds = float(np.mean([r[2] for r in rows]))
        summary[k] = (reduction, seconds)
        print(
            f"k={k}: mean error reduction {reduction:.1%} on {len(rows)} cars, "
            f"{worse} got worse, {seconds:.1f} s per car (max {max(r[2] for r in rows):.1f} s)"
        )
    print(
        json.dumps({str(k): {"error_reduction": v[0], "seconds": v[1]} for k, v in summary.items()})
    )
    if 4 in summary:
        reduction, seconds = summary[4]
        print(f"learn-car k=4 error_reduction={reduction:.2f} seconds={seconds:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
