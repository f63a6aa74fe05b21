"""`carvana score-model` and `carvana pack-model`: measure a model and package it for shipping.

score-model gives the full-resolution Dice a model card reports; pack-model writes the
compact float16 copy (with its JSON) that is installed with the package.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from model.cli.main import CliError
from model.cli.network import add_engine_arg, add_refine_edge_arg

_EPILOG = """\
examples:
  carvana score-model ../shared/data/carvana                 # the default model
  carvana score-model DATA --model models/v3/model.keras --json score.json
  carvana score-model DATA --training-cars 10     # pick a threshold on training cars
  carvana score-model DATA --report report/       # and a visual report: report/index.html

Scores on the validation cars named in the model's JSON (so the cars it never saw in
training), or on a by-car split when the JSON names none. Prints mean and worst-10 Dice
at 1918x1280 with and without horizontal-flip TTA, and the best threshold of a sweep.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score-model",
        help="full-resolution Dice of a model on held-out cars, with and without TTA",
        description="Measure a model the way Kaggle does: masks at full resolution vs truth.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data_dir", type=Path, help="Kaggle-layout folder with train/ and train_masks/")
    p.add_argument("--model", type=Path, help="a .keras model (default: the current/shipped one)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="by-car split when needed")
    p.add_argument("--seed", type=int, default=0, help="seed of that split (default 0)")
    p.add_argument("--limit", type=int, help="score only the first N held-out images")
    p.add_argument(
        "--training-cars",
        type=int,
        metavar="N",
        help="score N of the cars the model trained on instead (to choose a threshold "
        "without looking at the validation cars)",
    )
    p.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    add_report_args(p)
    add_engine_arg(p)
    add_refine_edge_arg(p)
    p.set_defaults(func=cmd_score_model)

    p = subparsers.add_parser(
        "pack-model",
        help="write a compact float16 copy of a model (and its JSON) for shipping",
        description="Store a model's weights as float16 (half the size); it loads as float32.",
        epilog="example:\n  carvana pack-model MODELS/v003/model.keras "
        "-o model/weights/default.keras --threshold 0.5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, help="the .keras model to pack")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .keras file to write")
    p.add_argument("--threshold", type=float, help="store this threshold in the JSON")
    p.set_defaults(func=cmd_pack_model)


def add_report_args(p: argparse.ArgumentParser) -> None:
    """--report DIR and --report-worst N, shared by score-model and evaluate."""
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="also write a visual report: DIR/index.html with its PNG figures beside it",
    )
    p.add_argument(
        "--report-worst",
        type=int,
        default=10,
        metavar="N",
        help="worst images shown in the report, with crops of their errors (default 10)",
    )


def worst_collector(args: argparse.Namespace):
    """The report's keeper of the worst images, or None without --report."""
    if args.report is None:
        return None
    if args.report_worst < 0:
        raise CliError(f"--report-worst must be 0 or more, got {args.report_worst}")
    from model.workflows.worst_images import WorstImages

    return WorstImages(args.report_worst)


def cmd_score_model(args: argparse.Namespace) -> int:
    from model.cli.network import load_predictor, resolve_model

    # the current model, or an error naming a broken current.json (never a silent default),
    # before the seconds of importing Keras
    path = resolve_model(str(args.model) if args.model else None).path

    from model.cli.progress import progress_counter
    from model.nn.evaluation import score_model, training_car_records, validation_records

    predictor = load_predictor(path, engine=args.engine, refine_edge=args.refine_edge)
    if args.training_cars:
        try:
            records = training_car_records(args.data_dir, predictor.meta, args.training_cars)
        except ValueError as exc:
            raise CliError(f"{path}: {exc}") from None
        kind = "training"
    else:
        records = validation_records(args.data_dir, predictor.meta, args.val_fraction, args.seed)
        kind = "held-out"
    if args.limit:
        records = records[: args.limit]
    keeper = worst_collector(args)
    on_image = None
    if keeper is not None:

        def on_image(s) -> None:  # a ScoredImage; the report is about flip TTA
            keeper.offer(s.record.image_id, s.dice[True], s.masks[True], s.truth, s.image)

    start = time.perf_counter()
    with progress_counter(desc="scoring", unit="img", total=len(records)) as on_progress:
        score = score_model(predictor, records, on_progress=on_progress, on_image=on_image)
    seconds = time.perf_counter() - start
    cars = sorted({r.car_id or r.image_id for r in records})
    edges = "" if predictor.edges is None else f", edges refined ({predictor.edges_digest})"
    print(f"model {path} ({predictor.name}), threshold {score.model_threshold}{edges}")
    print(f"{score.count} images of {len(cars)} {kind} cars, {seconds / score.count:.2f} s/image")
    report: dict = {
        "model": str(path),
        "images": score.count,
        "cars": cars,
        "car_set": kind,
        "edge_classifier": predictor.edges_digest,  # --refine-edge, or a car's own
        "variants": {},
    }
    for tta in (False, True):
        label = "flip TTA" if tta else "no TTA  "
        best_t = score.best_threshold(tta)
        print(
            f"{label}: mean Dice {score.mean(tta):.5f}  "
            f"(best threshold {best_t}: {score.mean(tta, best_t):.5f})"
        )
        worst = score.worst(tta)
        print("  worst 10: " + ", ".join(f"{name} {value:.4f}" for name, value in worst))
        report["variants"]["tta" if tta else "plain"] = {
            "mean_dice": score.mean(tta),
            "by_threshold": {str(t): score.mean(tta, t) for t in score.thresholds},
            "worst10": worst,
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if keeper is not None:
        from model.workflows.eval_report import from_model_score, write_report

        facts = [
            ("model", f"{predictor.name} ({path})"),
            ("data", str(args.data_dir)),
            ("images", f"{score.count} of {len(cars)} {kind} cars, full resolution"),
            ("model threshold", f"{score.model_threshold:g}"),
            ("mean Dice, no TTA", f"{score.mean(False):.5f}"),
        ]
        title = f"Evaluation of {predictor.name} on {kind} cars"
        page = write_report(from_model_score(score, keeper, facts, title), args.report)
        print(f"report: {page}")
    return 0


def cmd_pack_model(args: argparse.Namespace) -> int:
    from model.nn.predictor import load_model_file
    from model.nn.shipping import save_float16
    from model.store.versions import read_model_meta, write_model_meta

    model = load_model_file(args.model)
    meta = read_model_meta(args.model)
    if args.threshold is not None:
        if not 0.0 < args.threshold < 1.0:
            raise CliError(f"threshold must be in (0, 1), got {args.threshold}")
        meta["threshold"] = args.threshold
    meta.update(weights_dtype="float16", packed_from=str(args.model.resolve()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_float16(model, args.output)
    write_model_meta(args.output, meta)
    size_mb = args.output.stat().st_size / 1e6
    print(
        f"{args.output}: {size_mb:.1f} MB (float16 weights), threshold {meta.get('threshold', 0.5)}"
    )
    return 0
