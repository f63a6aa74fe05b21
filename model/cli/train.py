"""`carvana train`: train the network from scratch or from another model's weights.

Keras is imported inside the command, not at module level, so `carvana --help` starts
instantly; Ctrl-C finishes the current batch and keeps every finished epoch (re-running the
same command resumes).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tqdm import tqdm

from model.choices import AUTO_PRECISION, PRECISIONS
from model.cli.main import CliError
from model.cli.network import INTERRUPTED, _bar, cooperative_interrupt
from model.data.dataset import scan_folder, split_by_car
from model.store.versions import ModelStore


def _progress_printer(bar: tqdm):
    def on_progress(info: dict) -> None:
        event = info["event"]
        if event == "batch":
            bar.set_postfix(epoch=f"{info['epoch']}/{info['epochs']}", loss=f"{info['loss']:.4f}")
            bar.update(1)
        elif event == "epoch":
            if math.isnan(info["val_loss"]):  # one car: nothing held out to validate on
                scores = "no validation set (all images are training images)"
            else:
                scores = f"val_loss {info['val_loss']:.4f}  val_dice {info['val_dice']:.4f}"
            bar.write(
                f"epoch {info['epoch']}/{info['epochs']}: loss {info['loss']:.4f}  "
                f"{scores}  ({info['seconds']:.0f} s)"
            )

    return on_progress


def train_with_bar(config):
    """Run training with a progress bar and cooperative Ctrl-C; None when interrupted."""
    from model.nn.training import read_state, train

    batches = -(-len(config.train_pairs) // config.batch_size)
    state = read_state(Path(config.out_dir)) if config.resume else None
    done = min(state["epoch"], config.epochs) * batches if state else 0
    with (
        cooperative_interrupt() as stop,
        _bar(config.epochs * batches, "train", "batch", initial=done) as bar,
    ):
        result = train(config, _progress_printer(bar), stop.is_set)
    if result.cancelled:
        print(f"interrupted: checkpoints kept in {config.out_dir}; re-run to resume")
        return None
    if result.model_path is None:
        raise CliError(f"{config.out_dir}: training produced no checkpoint")
    return result


def _run_training(config, data: dict, store_dir: Path, parent: str | None, threshold: float):
    """Train with a progress bar and Ctrl-C handling; store the best model as current."""
    from model.nn.training import run_meta

    result = train_with_bar(config)
    if result is None:
        return INTERRUPTED
    meta = run_meta(config, result, data, parent=parent, threshold=threshold)
    meta["run"] = str(Path(config.out_dir).resolve())
    store = ModelStore(store_dir)
    same = [
        v
        for v in store.versions()
        if v.meta.get("run") == meta["run"] and v.meta.get("epochs") == meta["epochs"]
    ]
    if result.epochs_run == 0 and same:  # re-running a finished command adds nothing new
        print(f"{config.out_dir}: already trained for {config.epochs} epochs: {same[-1].version}")
        return 0
    info = store.add(result.model_path, meta, label=Path(config.out_dir).name)
    store.set_current(info.version)
    if config.val_pairs:
        score = f"val Dice {result.best_val_dice:.4f}" if result.best_val_dice else "val Dice n/a"
    else:
        score = "no validation set: one car, every image trained"
    print(f"model {info.version}: {info.path}  ({score}; now the current model)")
    return 0


AUGMENT_CHOICES = ("seed", "flip", "flip-colour", "none")
# The keys of model.nn.losses.LOSSES, spelled out so `carvana --help` need not import Keras.
LOSS_CHOICES = ("bce-dice", "bce-dice-lovasz", "lovasz")


def _augment(choice: str):
    """The pipeline's Augment for an --augment choice (None: no augmentation at all)."""
    from model.nn.pipeline import Augment

    if choice == "seed":
        return Augment()
    if choice == "flip":
        return Augment.flips_only()
    if choice == "flip-colour":
        return Augment.flips_and_colour()
    return None


def cmd_train(args: argparse.Namespace) -> int:
    from model.nn.network import preset_size
    from model.nn.train_config import TrainConfig

    preset_size(args.preset)  # fail fast on a bad preset
    layout = scan_folder(args.data_dir)
    records = [r for r in layout.images if r.mask_path is not None]
    if not records:
        raise CliError(f"{layout.root}: no images with masks to train on")
    if args.exclude_cars_of:
        # Another model's validation cars stay unseen, so the two compare fairly on them;
        # stopping and the best epoch are chosen on cars held out of the rest.
        excluded = set(_val_cars_of(Path(args.exclude_cars_of)))
        records = [r for r in records if r.car_id not in excluded]
        print(f"leaving out the {len(excluded)} validation cars of {args.exclude_cars_of}")
    train_recs, val_recs = split_by_car(records, args.val_fraction, args.seed)
    run_name = args.run_name or f"{args.preset}-w{args.width:g}-s{args.seed}"
    if args.init_from and not args.run_name:
        run_name += f"-from-{Path(args.init_from).resolve().parent.name}"
    run_dir = Path(args.out) / "runs" / run_name
    config = TrainConfig(
        init_weights=Path(args.init_from) if args.init_from else None,
        train_pairs=[(r.path, r.mask_path) for r in train_recs],
        val_pairs=[(r.path, r.mask_path) for r in val_recs],
        out_dir=run_dir,
        preset=args.preset,
        width_multiplier=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        augment=_augment("none" if args.no_augment else args.augment),
        seed=args.seed,
        workers=args.workers,
        precision=args.precision,
        distribute=args.distribute,
        loss=args.loss,
    )
    data = {
        "folders": [str(layout.root)],
        "images": len(records),
        "train_images": len(train_recs),
        "val_images": len(val_recs),
        "val_cars": sorted({r.car_id or r.image_id for r in val_recs}),
    }
    print(f"training {len(train_recs)} images, validating on {len(val_recs)}; run: {run_dir}")
    parent = str(Path(args.init_from).resolve()) if args.init_from else None
    return _run_training(config, data, Path(args.out), parent=parent, threshold=0.5)


def _val_cars_of(model_path: Path) -> list[str]:
    """The validation cars recorded beside a model (``<model>.json`` or the folder's)."""
    candidates = [model_path.with_suffix(".json"), model_path / "model.json"]
    for meta in candidates:
        if meta.is_file():
            try:
                cars = json.loads(meta.read_text())["data"]["val_cars"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CliError(f"{meta}: no data.val_cars list ({exc})") from exc
            if not cars:
                raise CliError(f"{meta}: its data.val_cars list is empty")
            return list(cars)
    raise CliError(f"{model_path}: no model JSON beside it (looked for {candidates[0].name})")


def add_precision_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=AUTO_PRECISION,
        help="compute precision while training: auto (default): bfloat16 on CPUs with "
        "AMX (about 1.3x faster per step there), else float32; "
        "float16 for GPUs",
    )


def add_training_args(
    parser: argparse.ArgumentParser, epochs: int, batch: int, lr: float, val: float, patience: int
) -> None:
    parser.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    parser.add_argument("--batch-size", type=int, default=batch, help=f"default {batch}")
    parser.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr})")
    parser.add_argument(
        "--val-fraction", type=float, default=val, help=f"share of cars held out (default {val})"
    )
    parser.add_argument("--seed", type=int, default=0, help="split/shuffle seed (default 0)")
    parser.add_argument(
        "--patience",
        type=int,
        default=patience,
        help=f"early-stopping patience (default {patience})",
    )
    parser.add_argument("--workers", type=int, default=2, help="data loading threads (default 2)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the network on a folder with masks (resumable)",
        description="Train from scratch. Checkpoints go to OUT/runs/<preset>-w<width>-s<seed>/, "
        "so running the same command again resumes; the best model becomes the current one.",
    )
    p.add_argument("data_dir", help="Kaggle root, train/ folder, or images with a masks/ folder")
    p.add_argument("--preset", default="512x768", help="input size: name or HxW (default 512x768)")
    p.add_argument("--width", type=float, default=0.5, help="width multiplier (default 0.5)")
    p.add_argument("--out", required=True, help="models folder (versions + runs/)")
    add_training_args(p, epochs=10, batch=4, lr=1e-4, val=0.1, patience=5)
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start from this model's weights at --preset (e.g. train small, then larger)",
    )
    p.add_argument("--run-name", help="checkpoint folder under OUT/runs (default from the options)")
    p.add_argument(
        "--augment",
        choices=AUGMENT_CHOICES,
        default="seed",
        help="seed: random shift/scale/rotate/flip (default); flip: horizontal flips only, "
        "for final epochs on the turntable's own framing; flip-colour: flips plus random "
        "hue, saturation, contrast and brightness; none",
    )
    p.add_argument("--no-augment", action="store_true", help="same as --augment none")
    p.add_argument(
        "--loss",
        choices=LOSS_CHOICES,
        default="bce-dice",
        help="bce-dice: cross-entropy + (1 - Dice) (default); bce-dice-lovasz: plus the "
        "Lovasz hinge, for the last epochs (a resumed run may switch); lovasz: the hinge "
        "alone, to fine-tune a model already trained with one of the others",
    )
    add_precision_arg(p)
    p.add_argument(
        "--exclude-cars-of",
        metavar="MODEL",
        help="leave out MODEL's validation cars (its .json's data.val_cars) entirely, so the "
        "new model scores on them as fairly as MODEL did; --val-fraction of the other cars "
        "choose the best epoch",
    )
    p.add_argument("--distribute", action="store_true", help="data parallel over all devices")
    p.set_defaults(func=cmd_train)
