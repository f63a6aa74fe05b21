"""Benchmark the default model as a user meets it, on this machine.

Run:  python bench/bench_default_model.py [--model M] [--data DIR] [--dice-images N] [--images N]

Prints, each beside its target from the issues:
  * full-resolution Dice on the held-out validation cars (named in the model's JSON), with
    and without horizontal-flip TTA (target >= 0.994);
  * inference images/s at full resolution (1918x1280 in, full-size mask out), with and
    without TTA (target: about 1 s per image on this CPU);
  * `carvana export` throughput on a folder of images and its peak memory (RSS of the
    export process, which must stay flat for 100,064 images).
Needs ../shared/data/carvana (the real data); exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_paths import CARVANA_DATA as DEFAULT_DATA


def row(label: str, value: str, target: str) -> None:
    print(f"  {label:<44} {value:>16}   target: {target}")


def bench_dice(predictor, data: Path, limit: int | None) -> None:
    from model.nn.evaluation import score_model, validation_records

    records = validation_records(data, predictor.meta)
    if limit:
        records = records[:limit]
    score = score_model(predictor, records)
    cars = len({r.car_id for r in records})
    print(f"full-resolution Dice on {score.count} images of {cars} held-out cars:")
    for tta in (False, True):
        label = "mean Dice, flip TTA" if tta else "mean Dice, no TTA"
        row(label, f"{score.mean(tta):.5f}", ">= 0.994 (issue 6)")
        worst = ", ".join(f"{n} {v:.4f}" for n, v in score.worst(tta, 3))
        print(f"    worst 3: {worst}")


def bench_inference(predictor, paths: list[Path]) -> None:
    print(f"full-resolution inference on {len(paths)} images (decode + predict + upsample):")
    for tta in (False, True):
        list(predictor.predict_paths(paths[:2], tta=tta))  # warm-up: compile
        start = time.perf_counter()
        count = sum(1 for _ in predictor.predict_paths(paths, tta=tta))
        seconds = time.perf_counter() - start
        label = "images/s, flip TTA" if tta else "images/s, no TTA"
        row(
            label,
            f"{count / seconds:.2f} ({seconds / count * 1000:.0f} ms/img)",
            "about 1 s per image (issue 6)",
        )


def bench_export(model: Path | None, paths: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for p in paths:
            os.symlink(p, folder / p.name)
        out = Path(tmp) / "sub.csv"
        cmd = [sys.executable, "-m", "model", "export", str(folder), "-o", str(out)]
        if model:
            cmd += ["--model", str(model)]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout, done.stderr, sep="\n")
            raise SystemExit(f"export failed with exit code {done.returncode}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"`carvana export` of a folder of {len(paths)} images (process start included):")
    row("images/s", f"{len(paths) / seconds:.2f}", "streaming, resumable (issue 3)")
    row("peak memory of the export process", f"{peak_mb:.0f} MB", "flat in the image count")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the current / shipped model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--dice-images",
        type=int,
        default=None,
        help="score only N held-out images (default: all of them)",
    )
    parser.add_argument("--images", type=int, default=16, help="images for the speed figures")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"real data not found at {args.data}: nothing to measure")
        return 0
    from model.nn.predictor import Predictor
    from model.store.versions import resolve_default_model

    model = args.model or resolve_default_model()
    if model is None:
        raise SystemExit("no model: pass --model or install the default model")
    predictor = Predictor.load(model)
    print(
        f"model: {model} ({predictor.name}, input {predictor.input_size[0]}x"
        f"{predictor.input_size[1]}, threshold {predictor.threshold})"
    )
    bench_dice(predictor, args.data, args.dice_images)
    paths = sorted((args.data / "train").glob("*.jpg"))[: args.images]
    bench_inference(predictor, paths)
    bench_export(args.model, paths)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
