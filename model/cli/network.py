"""`carvana train | predict | export`: the network on the command line.

Keras is imported inside the commands, not at module level, so `carvana --help` and the
data commands start instantly. Ctrl-C is cooperative: the first one finishes the current
batch (or image) and keeps everything done so far; a second one aborts at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from model.choices import ENGINE_CHOICES, PRECISIONS
from model.cli.cluster import add_ray_args, ray_predictor
from model.cli.main import CliError
from model.data.dataset import list_images, scan_folder, split_by_car
from model.data.locks import LockedError
from model.data.masks import atomic_write_bytes, image_size, write_mask
from model.store.versions import (
    MODEL_NAME,
    SHIPPED_ALIAS,
    ModelInfo,
    ModelStore,
    ModelStoreError,
    model_info_for_file,
    shipped_model_info,
    user_models_dir,
)

log = logging.getLogger(__name__)

INTERRUPTED = 130
PARTIAL = 2  # finished, but some images could not be read


@contextlib.contextmanager
def cooperative_interrupt() -> Iterator[threading.Event]:
    """First Ctrl-C sets the event (stop after this step); the second raises at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("\ncarvana: stopping after the current step (Ctrl-C again to abort)\n")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _bar(total: int, desc: str, unit: str, initial: int = 0) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=None,  # off when stderr is not a terminal
        dynamic_ncols=True,
        smoothing=0.1,
    )


def resolve_model(arg: str | None, store: ModelStore | None = None) -> ModelInfo:
    """--model value (file, version folder, store folder, or ``default``) or the current model
    of ``store`` (default: the user's), as a version: its id is what auto-masks record and
    what a fine-tune names as its parent.

    Without a file, the store's current model is used, and the log says which and why
    (e.g. ``model default-v005 (no current.json in ...; the shipped default)``). A
    ``current.json`` that cannot be used is an error naming it and the fix, never a
    silent switch to the shipped default; ``--model default`` asks for that default.
    """
    if arg is None:
        store = store or ModelStore(user_models_dir())
        return _current_of(
            store,
            "no model: pass --model FILE, or train one first "
            f"(carvana train DATA --out {store.root})",
        )
    path = Path(arg).expanduser()
    if str(arg) == SHIPPED_ALIAS and not path.exists():
        shipped = shipped_model_info()
        if shipped is None:
            raise CliError("--model default: no shipped default model is installed")
        log.info("model %s (asked for with --model default): %s", shipped.version, shipped.path)
        return shipped
    if path.is_dir():
        if (path / MODEL_NAME).is_file():
            return _info_for_file(path / MODEL_NAME)
        return _current_of(
            ModelStore(path),
            f"{path}: neither a model version folder nor a store with a current model",
        )
    if not path.is_file():
        raise CliError(f"{path}: model file not found")
    return _info_for_file(path)


def _info_for_file(path: Path) -> ModelInfo:
    try:
        return model_info_for_file(path)
    except ModelStoreError as exc:
        raise CliError(str(exc)) from None


def _current_of(store: ModelStore, missing: str) -> ModelInfo:
    try:
        current, why = store.current_and_why(strict=True)
    except ModelStoreError as exc:
        raise CliError(str(exc)) from None
    if current is None:
        raise CliError(missing)
    log.info("model %s (%s): %s", current.version, why, current.path)
    return current


def load_predictor(path: Path, batch_size: int = 2, engine: str | None = None):
    """Predictor.load with its errors (a bad file, an engine that cannot run) as CliError."""
    from model.nn.predictor import ModelLoadError, Predictor

    try:
        predictor = Predictor.load(path, batch_size=batch_size, engine=engine)
    except ModelLoadError as exc:
        raise CliError(str(exc)) from None
    log.info(
        "model %s (%s, input %dx%d, engine %s)",
        predictor.name,
        path,
        *predictor.input_size,
        predictor.engine.name,
    )
    return predictor


def _load_predictor_and_path(args: argparse.Namespace):
    path = resolve_model(args.model).path
    if getattr(args, "ray", None):  # the same engine on a Ray cluster (model.cli.cluster)
        return ray_predictor(args, path), path
    return load_predictor(path, args.batch_size, args.engine), path


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


def cmd_predict(args: argparse.Namespace) -> int:
    predictor, _ = _load_predictor_and_path(args)
    records = list_images(args.images_dir)
    skipped: list[tuple[Path, str]] = list(records.skipped)  # name clashes, symlink loops
    if not records:
        _report_skipped(skipped)
        raise CliError(f"{args.images_dir}: no images found")
    out = Path(args.output)
    prob_dir = out / "probabilities"
    done = 0
    with cooperative_interrupt() as stop, _bar(len(records), "predict", "img") as bar:
        stream = predictor.predict_paths(
            (r.path for r in records),
            tta=args.tta,
            on_error=lambda p, e: skipped.append((p, str(e))),
        )
        for path, prediction in stream:
            stem = Path(path).stem
            write_mask(out / f"{stem}_mask.{args.format}", prediction.mask)
            if args.probabilities:
                gray = np.round(prediction.prob * 255).astype(np.uint8)
                atomic_write_bytes(prob_dir / f"{stem}.png", _png_bytes(gray))
            done += 1
            bar.update(1)
            if stop.is_set():
                stream.close()
                break
    print(f"{done} masks written to {out}")
    return _report_skipped(skipped) or (INTERRUPTED if stop.is_set() else 0)


def _png_bytes(gray: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", gray)
    if not ok:
        raise CliError("cannot encode a probability map as PNG")
    return data.tobytes()


def _report_skipped(skipped: list[tuple[Path, str]]) -> int:
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} images skipped", file=sys.stderr)
        return PARTIAL
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from model.kaggle.submission import validate_submission
    from model.workflows.submission_export import export_submission

    records = list_images(args.images_dir)
    if not records:
        raise CliError(f"{args.images_dir}: no images found")
    predictor, model_path = _load_predictor_and_path(args)
    out = Path(args.output)
    with cooperative_interrupt() as stop, _bar(len(records), "export", "img") as bar:

        def on_progress(info) -> None:  # an ExportProgress
            bar.n = info.done
            bar.refresh()

        try:
            result = export_submission(
                records,
                out,
                predictor,
                tta=args.tta,
                resume=not args.no_resume,
                on_progress=on_progress,
                should_stop=stop.is_set,
                model_file=model_path,
            )
        except LockedError as exc:
            raise CliError(str(exc)) from None
    if result.restarted:
        print(f"{out}.partial: {result.restarted}", file=sys.stderr)
    rate = result.written / result.seconds if result.seconds else math.nan
    kept = (
        f" ({result.already_done} kept from the same unfinished export)"
        if result.already_done
        else ""
    )
    print(f"{result.written} rows written{kept} in {result.seconds:.1f} s, {rate:.2f} images/s")
    if result.cancelled:
        print(f"interrupted: rows so far kept in {result.path}; re-run to resume")
        return INTERRUPTED
    status = _report_skipped(result.skipped)
    shape = image_size(records[0].path)
    report = validate_submission(result.path, sample=args.sample, shape=shape)
    for problem in report.problems[:20]:
        print(f"invalid: {problem}", file=sys.stderr)
    if not report.ok:
        raise CliError(f"{result.path}: {len(report.problems)} problems in the submission")
    print(f"{result.path}: valid submission, {report.rows} rows")
    return status


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
        default="float32",
        help="compute precision while training: float32 (default); bfloat16 on CPUs with "
        "AVX-512 BF16/AMX (about 1.3x faster per step here); float16 on GPUs",
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


def _add_predict_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="model file or folder, or 'default' for the shipped default "
        "(default: the current model)",
    )
    parser.add_argument("--tta", action="store_true", help="average with the flipped image")
    parser.add_argument("--batch-size", type=int, default=2, help="images per model call")
    add_engine_arg(parser)


def add_engine_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINE_CHOICES,
        default=None,
        help="what runs the network: openvino (the model converted once and cached; bf16 "
        "on CPUs with AMX/AVX-512 BF16, 2-3x faster), keras (TensorFlow), or auto (the "
        "default, also set by CARVANA_ENGINE): OpenVINO on a CPU where it is installed",
    )


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

    p = subparsers.add_parser("predict", help="write a mask for every image in a folder")
    p.add_argument("images_dir")
    p.add_argument("-o", "--output", required=True, help="folder for <id>_mask.<format> files")
    p.add_argument("--format", choices=("png", "gif"), default="png", help="mask file format")
    p.add_argument("--probabilities", action="store_true", help="also write 8-bit probability maps")
    _add_predict_args(p)
    add_ray_args(p)
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser(
        "export", help="write a Kaggle submission CSV for every image in a folder (resumable)"
    )
    p.add_argument("images_dir")
    p.add_argument("-o", "--output", required=True, help="submission CSV to write")
    p.add_argument("--sample", help="sample_submission.csv to check the image set against")
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="start over even when the same export was interrupted (a finished CSV, or one "
        "made with other images, model, TTA or masks, is always started over)",
    )
    _add_predict_args(p)
    add_ray_args(p)
    p.set_defaults(func=cmd_export)
