"""INT8 post-training quantisation (NNCF) of the default model against OpenVINO f32 and bf16.

Run:  python bench/bench_int8.py [--model M] [--calibration 300] [--dice-images 160]
                                 [--speed-images 8]

Calibrates on images of the model's TRAINING cars (never its validation cars), then prints,
for f32, bf16 (where the CPU has it) and INT8 side by side in one run: network ms per image
at the model size (engines take turns), the whole auto-mask with flip TTA, full-resolution
Dice with flip TTA on the validation cars and each difference to f32. INT8 compiles its
non-quantised layers at the CPU's best precision (bf16 where it has it). Issue 19 ships
INT8 only if it is faster and costs at most 0.0002 Dice.
Needs `pip install nncf` (a measurement tool, not a dependency) and ../shared/data/carvana.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from bench_paths import CARVANA_DATA as DEFAULT_DATA


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the shipped default model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--calibration", type=int, default=300, help="calibration images")
    parser.add_argument("--dice-images", type=int, default=160)
    parser.add_argument("--speed-images", type=int, default=8)
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        print(f"real data not found at {args.data}: nothing to measure")
        return 0
    try:
        import nncf
    except ImportError:
        print("nncf is not installed (pip install nncf): nothing to measure")
        return 0
    import openvino as ov

    from model.data.masks import read_image
    from model.nn.evaluation import score_model, training_car_records, validation_records
    from model.nn.openvino_engine import OpenVinoEngine, best_precision, load_openvino
    from model.nn.predictor import Predictor, load_model_file, to_model_input
    from model.store.versions import resolve_default_model

    model = Path(args.model or resolve_default_model())
    f32 = Predictor.load(model, engine="openvino")
    f32.engine = load_openvino(model, lambda: load_model_file(model), "f32")
    size = f32.input_size
    cars = len({r.car_id for r in validation_records(args.data, f32.meta)}) or 1
    pool = training_car_records(args.data, f32.meta, 10**6)  # every non-validation car
    step = max(1, len(pool) // max(1, args.calibration))
    calib_records = pool[::step][: args.calibration]  # spread over cars and angles
    print(f"model {model}; calibrating INT8 on {len(calib_records)} training-car images")

    def transform(record):
        return to_model_input(read_image(record.path), size)[None]

    core = ov.Core()
    from model.nn.openvino_engine import cache_dir_for

    graph = core.read_model(cache_dir_for(model) / "model.xml")
    start = time.perf_counter()
    quantised = nncf.quantize(
        graph,
        nncf.Dataset(calib_records, transform),
        subset_size=len(calib_records),
        preset=nncf.QuantizationPreset.MIXED,
    )
    print(f"quantised in {time.perf_counter() - start:.0f} s")
    rest = best_precision(core)
    compiled = core.compile_model(
        quantised, "CPU", {"INFERENCE_PRECISION_HINT": rest, "PERFORMANCE_HINT": "LATENCY"}
    )
    int8 = Predictor(OpenVinoEngine(compiled, size, "int8"), "int8", f32.threshold, f32.meta)
    int8.engine.name = f"openvino-int8+{rest}"
    engines = [("f32", f32)]
    if rest == "bf16":
        bf16 = Predictor.load(model, engine="openvino")
        bf16.engine = load_openvino(model, lambda: load_model_file(model), "bf16")
        engines.append(("bf16", bf16))
    engines.append(("int8", int8))

    val = validation_records(args.data, f32.meta)
    images = [read_image(r.path) for r in val[: args.speed_images]]
    batch = np.stack([to_model_input(im, size) for im in images])
    net: dict[str, list[float]] = {label: [] for label, _ in engines}
    whole: dict[str, list[float]] = {label: [] for label, _ in engines}
    for _, p in engines:
        p.predict(images[0], tta=True)  # warm-up
    for x, image in zip(batch, images, strict=True):
        for label, p in engines:  # engines take turns: the same noise for each
            t = time.perf_counter()
            p.engine(x[None])
            net[label].append(time.perf_counter() - t)
            t = time.perf_counter()
            p.predict(image, tta=True)
            whole[label].append(time.perf_counter() - t)
    for name, times in (
        ("network at " + "x".join(map(str, size)), net),
        ("auto-mask, flip TTA", whole),
    ):
        ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
        cells = ", ".join(f"{k} {v:.0f} ms ({ms['f32'] / v:.2f}x)" for k, v in ms.items())
        print(f"{name}: {cells}")
    records = val[: args.dice_images]
    scores = {label: score_model(p, records).mean(True) for label, p in engines}
    cells = ", ".join(f"{k} {v:.5f} ({v - scores['f32']:+.5f})" for k, v in scores.items())
    print(
        f"full-resolution Dice, flip TTA, {len(records)} images of {cars} validation cars: {cells}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
