"""`carvana train-edge-refiner DATA_DIR --cars-file FILE`: the Refine edge action's classifier.

Samples the edge band of the model's flip-TTA masks of the given cars (never its
validation cars) and trains the general edge refiner (``model.nn.edge_refiner``) that the
window's Refine edge (P) and the correction benchmark use; the shipped one is
``model/weights/edge_refiner.npz``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from model.cli.main import CliError
from model.cli.network import add_engine_arg

_EPILOG = """example (the shipped refiner, trained on the 60 added cars v005 never saw):
  carvana train-edge-refiner ../shared/data/carvana \\
      --cars-file ../shared/data/carvana/added_cars.txt -o model/weights/edge_refiner.npz"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-edge-refiner",
        help="train the Refine edge classifier on cars the model never saw",
        description=__doc__.splitlines()[0],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data_dir", type=Path, help="Kaggle-layout folder with train/ and train_masks/")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--cars", help="comma-separated car ids")
    which.add_argument("--cars-file", type=Path, help="a file of car ids, one per line")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .npz to write")
    p.add_argument("--model", type=Path, help="a .keras model (default: the current one)")
    p.add_argument("--pixels", type=int, default=8000, help="band pixels sampled per image")
    add_engine_arg(p)
    p.set_defaults(func=cmd_train_edge_refiner)


def _car_ids(args: argparse.Namespace) -> list[str]:
    if args.cars_file is not None:
        try:
            text = args.cars_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{args.cars_file}: cannot read the car list ({exc})") from None
        ids = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        ids = [c.strip() for c in args.cars.split(",") if c.strip()]
    if not ids:
        raise CliError(f"{args.cars_file or '--cars'}: no car ids")
    return ids


def cmd_train_edge_refiner(args: argparse.Namespace) -> int:
    from model.cli.network import load_predictor, resolve_model
    from model.cli.progress import progress_counter
    from model.data.dataset import scan_folder
    from model.workflows.edge_refiner_training import (
        RefinerTraining,
        train_edge_refiner,
        unseen_records,
    )

    cars = _car_ids(args)
    if args.output.suffix != ".npz":
        raise CliError(f"{args.output}: the refiner is written as an .npz file")
    try:
        layout = scan_folder(args.data_dir)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    wanted = set(cars)
    records = sorted((r for r in layout.images if r.car_id in wanted), key=lambda r: r.image_id)
    if missing := sorted(wanted - {r.car_id for r in records}):
        raise CliError(f"{args.data_dir}: no images of car(s) {', '.join(missing[:5])}")
    path = resolve_model(str(args.model) if args.model else None).path
    predictor = load_predictor(path, engine=args.engine)
    try:
        records = unseen_records(records, predictor.meta)
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from None
    settings = RefinerTraining(pixels_per_image=args.pixels)
    start = time.perf_counter()
    with progress_counter(desc="edge bands", unit="img", total=len(records)) as on_progress:
        refiner = train_edge_refiner(
            predictor, records, settings, lambda done, total, record: on_progress(done)
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    refiner.save(args.output)
    seconds = time.perf_counter() - start
    print(
        f"edge refiner from {len(records)} images of {len(wanted)} cars "
        f"({settings.edge.band_px:g} px band, model {path}) -> {args.output} in {seconds:.0f} s"
    )
    return 0
