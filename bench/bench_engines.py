"""Inference engines side by side, in one run: Keras (TensorFlow), OpenVINO f32, OpenVINO bf16.

Run:  python bench/bench_engines.py [--model M] [--images 12] [--export-images 64]
                                    [--dice-images N] [--engines keras,openvino-f32,openvino-bf16]

Prints per engine, and its ratio to Keras (the machine is noisy: engines take turns image by
image, and the ratios are what the targets of issue 19 name):
  * auto-mask as in the window: a decoded 1918x1280 image in, the full-size mask out
    (resize, network, upsample, threshold), plain and with flip TTA (target: TTA at least
    2.7x faster than Keras);
  * `carvana export --engine ...` of a folder of full-resolution images, without TTA, as a
    fresh process (model loading included; target: at least 2.1x Keras's images/s), and that
    process's peak memory;
  * with --dice-images N: full-resolution Dice on N validation images (flip TTA) per engine
    and the difference to Keras (target: within 0.0002).
Needs ../shared/data/carvana; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_paths import CARVANA_DATA as DEFAULT_DATA

# engine label -> (engine choice, OpenVINO inference precision)
ENGINES = {
    "keras": ("keras", None),
    "openvino-f32": ("openvino", "f32"),
    "openvino-bf16": ("openvino", "bf16"),
}


def _load(model: Path, label: str):
    from model.nn.openvino_engine import load_openvino
    from model.nn.predictor import Predictor

    choice, precision = ENGINES[label]
    predictor = Predictor.load(model, engine=choice)
    if precision is not None:  # the same converted model, compiled at this precision
        from model.nn.predictor import load_model_file

        predictor.engine = load_openvino(model, lambda: load_model_file(model), precision)
    return predictor


def bench_automask(predictors: dict, images: list) -> dict[str, dict[bool, float]]:
    print(f"auto-mask in the window: decoded 1918x1280 image -> mask, {len(images)} images")
    times: dict[str, dict[bool, list[float]]] = {k: {False: [], True: []} for k in predictors}
    for tta in (False, True):
        for predictor in predictors.values():  # warm-up
            predictor.predict(images[0], tta=tta)
        for image in images:
            for label, predictor in predictors.items():  # engines take turns: same noise
                start = time.perf_counter()
                predictor.predict(image, tta=tta)
                times[label][tta].append(time.perf_counter() - start)
    medians = {k: {t: statistics.median(v[t]) * 1000 for t in v} for k, v in times.items()}
    base = medians.get("keras")
    for label, by_tta in medians.items():
        cells = []
        for tta in (False, True):
            ratio = f" ({base[tta] / by_tta[tta]:.2f}x)" if base else ""
            cells.append(f"{'TTA' if tta else 'plain'} {by_tta[tta]:6.0f} ms{ratio}")
        print(f"  {label:<15} " + "   ".join(cells))
    print("  target: flip TTA at least 2.7x faster than keras")
    return medians


def _export_once(model: Path, label: str, folder: Path, out: Path) -> tuple[float, float]:
    choice, precision = ENGINES[label]
    env = dict(os.environ)
    if precision is not None:
        env["CARVANA_OPENVINO_PRECISION"] = precision
    cmd = [sys.executable, "-m", "model", "export", str(folder), "-o", str(out)]
    cmd += ["--model", str(model), "--engine", choice]  # each run writes its own file
    start = time.perf_counter()
    # a wrapper process per run: ru_maxrss of RUSAGE_CHILDREN is the largest child so far,
    # so each export's peak is read inside its own wrapper
    wrapper = (
        "import resource,subprocess,sys;"
        "c=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "sys.stderr.write(c.stderr[-2000:]) if c.returncode else None;"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.exit(c.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"export with {label} failed: {done.stderr.decode()[-2000:]}")
    return seconds, int(done.stdout.split()[-1]) / 1024


def bench_export(model: Path, labels: list[str], paths: list[Path], rounds: int) -> dict:
    print(f"`carvana export` of {len(paths)} full-resolution images, no TTA (fresh process):")
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in labels}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for p in paths:
            os.symlink(p, folder / p.name)
        outputs = {}
        for r in range(rounds):
            for label in labels if r % 2 == 0 else labels[::-1]:
                out = Path(tmp) / f"{label}-{r}.csv"
                results[label].append(_export_once(model, label, folder, out))
                outputs[label] = out.read_text()
        same = {k: v == outputs.get("keras") for k, v in outputs.items()}
    rates = {k: len(paths) / statistics.median(s for s, _ in v) for k, v in results.items()}
    base = rates.get("keras")
    for label in labels:
        peak = max(m for _, m in results[label])
        ratio = f" ({rates[label] / base:.2f}x)" if base else ""
        rows_same = "same rows as keras" if same[label] else "rows differ from keras"
        print(
            f"  {label:<15} {rates[label]:6.2f} images/s{ratio}   peak {peak:5.0f} MB   {rows_same}"
        )
    print("  target: at least 2.1x keras's images/s")
    return rates


def bench_dice(predictors: dict, data: Path, limit: int) -> None:
    from model.nn.evaluation import score_model, validation_records

    first = next(iter(predictors.values()))
    records = validation_records(data, first.meta)[:limit]
    print(f"full-resolution Dice, flip TTA, on {len(records)} validation images:")
    scores = {label: score_model(p, records).mean(True) for label, p in predictors.items()}
    for label, dice in scores.items():
        delta = f"  ({dice - scores['keras']:+.5f} vs keras)" if "keras" in scores else ""
        print(f"  {label:<15} {dice:.5f}{delta}")
    print("  target: within 0.0002 of keras")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the shipped default model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=12, help="images for auto-mask timing")
    parser.add_argument("--export-images", type=int, default=64)
    parser.add_argument("--export-rounds", type=int, default=1, help="exports per engine")
    parser.add_argument("--dice-images", type=int, default=0, help="0: no Dice comparison")
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"real data not found at {args.data}: nothing to measure")
        return 0
    labels = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(labels) - set(ENGINES)
    if unknown:
        raise SystemExit(f"unknown engines {sorted(unknown)}: choose from {list(ENGINES)}")
    from model.data.masks import read_image
    from model.store.versions import resolve_default_model

    model = args.model or resolve_default_model()
    if model is None:
        raise SystemExit("no model: pass --model or install the default model")
    print(f"model: {model}; {os.cpu_count()} CPUs")
    predictors = {label: _load(Path(model), label) for label in labels}
    paths = sorted((args.data / "train").glob("*.jpg"))
    images = [read_image(p) for p in paths[: args.images]]
    bench_automask(predictors, images)
    del images
    bench_export(Path(model), labels, paths[: args.export_images], args.export_rounds)
    if args.dice_images:
        bench_dice(predictors, args.data, args.dice_images)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this benchmark process peaked at {peak:.0f} MB with all engines loaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
