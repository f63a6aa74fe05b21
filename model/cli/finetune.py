"""`carvana finetune`: fine-tune on reviewed masks, keep the result only if it is better.

The same workflow as the GUI's Fine-tune panel (``model.workflows.finetune.run_finetune``):
reviewed masks only, split by car into train / select / judge, the judge set decides
keep-or-not. Two forms:

- ``carvana finetune FOLDER``: an annotation folder; its project store's reviewed masks
  train (``--edits DIR`` names another edits folder). Unreviewed edits are counted, not used.
- ``carvana finetune IMAGES_DIR MASKS_DIR``: a plain masks folder; every mask counts as
  reviewed.

``--car CAR`` learns one car instead (see ``model.cli.learn_car``).
``--with-truth`` adds the folder's ground-truth masks to training (never of a select or
judge car). Ctrl-C stops; nothing is stored unless ``--keep-cancelled`` and an epoch had
finished. ``carvana models`` shows each version's verdict and lets the user overrule it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from model.cli.learn_car import add_arguments as add_learn_car_arguments
from model.cli.main import CliError
from model.cli.network import (
    INTERRUPTED,
    add_engine_arg,
    cooperative_interrupt,
    resolve_model,
)
from model.cli.train import add_precision_arg
from model.data.dataset import list_images
from model.store.versions import (
    ModelStore,
    user_models_dir,
)
from model.workflows.finetune import FinetuneSettings, run_finetune
from model.workflows.finetune_data import Sources, describe, folder_sources, reviewed_sources
from model.workflows.finetune_events import (
    Batch,
    DataSummary,
    Epoch,
    FinetuneEvent,
    Phase,
    Selection,
    TrainingDone,
)


def _sources(args: argparse.Namespace) -> Sources:
    """Reviewed masks of an annotation folder, or every mask of a plain masks folder."""
    if args.masks_dir is not None:
        if args.edits:
            raise CliError("--edits is for an annotation folder, not IMAGES_DIR MASKS_DIR")
        images = list_images(args.folder, args.masks_dir)
        sources = folder_sources(images)
        if not sources.reviewed:
            raise CliError(f"{args.masks_dir}: no masks matching the images in {args.folder}")
        return sources
    from model.workflows.annotation_folder import open_annotation_folder

    try:
        folder = open_annotation_folder(Path(args.folder), Path(args.edits) if args.edits else None)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"reviewed masks from {folder.store.root}")
    return reviewed_sources(folder.store, folder.images)


class _Printer:
    """Events -> a batch bar on stderr and one line per stage on stdout."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, event: FinetuneEvent) -> None:
        if isinstance(event, DataSummary):
            print(describe(event))
        elif isinstance(event, Phase):
            print(f"{event.message}…")
        elif isinstance(event, Batch):
            if self.bar is None:
                self.bar = tqdm(
                    total=event.epochs * event.batches,
                    desc="finetune",
                    unit="batch",
                    file=sys.stderr,
                    disable=None,
                    dynamic_ncols=True,
                )
            self.bar.set_postfix(epoch=f"{event.epoch}/{event.epochs}", loss=f"{event.loss:.4f}")
            self.bar.update(1)
        elif isinstance(event, Epoch):
            line = (
                f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f}  "
                f"select loss {event.val_loss:.4f}  select Dice {event.val_dice:.4f}"
            )
            (self.bar.write if self.bar is not None else print)(line)
        elif isinstance(event, TrainingDone):
            self.close()
        elif isinstance(event, Selection) and event.new_dice is not None:
            base = f", base {event.base_dice:.4f}" if event.base_dice is not None else ""
            print(f"judge-set Dice at full resolution: new {event.new_dice:.4f}{base}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_finetune(args: argparse.Namespace) -> int:
    if getattr(args, "car", None) or getattr(args, "forget_car", None):
        from model.cli import learn_car

        if args.car and args.forget_car:
            raise CliError("--car and --forget-car: choose one")
        return learn_car.cmd_learn_car(args) if args.car else learn_car.cmd_forget_car(args)
    store = ModelStore(Path(args.out) if args.out else user_models_dir())
    base = resolve_model(args.model, store)  # a broken current.json is an error
    sources = _sources(args)  # ground truth comes with the folder's records
    settings = FinetuneSettings(
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        patience=args.patience,
        include_ground_truth=args.with_truth,
        seed=args.seed,
        workers=args.workers,
        engine=args.engine,
        extra={"precision": args.precision},
    )
    print(f"fine-tuning {base.version} ({base.path})")
    printer = _Printer()
    try:
        with cooperative_interrupt() as stop:
            outcome = run_finetune(
                sources,
                store,
                base,
                settings,
                printer,
                stop.is_set,
                keep_cancelled=args.keep_cancelled,
                make_current=args.make_current,
            )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        printer.close()
    if outcome.version is None:
        if not outcome.cancelled:
            raise CliError(outcome.message)
        print(outcome.message)
        return INTERRUPTED
    info, decision = outcome.version, outcome.decision
    print(f"model {info.version}: {info.path}")
    if decision.accept:
        print(f"  now the current model: {decision.reason}")
    elif args.make_current:  # the user's word beats the score, and the JSON says so
        print(f"  now the current model (--make-current), although: {decision.reason}")
    else:
        print(
            f"  kept aside, the current model is unchanged: {decision.reason}\n"
            f"  to use it anyway: carvana models --out {store.root} --use {info.version}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = FinetuneSettings()
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on reviewed masks",
        description="Continue training a model on reviewed masks: FOLDER is an annotation "
        "folder (its reviewed masks train; unreviewed edits are not used), or IMAGES_DIR "
        "MASKS_DIR a plain masks folder (every mask counts). The reviewed cars are split into "
        "train / select (early stopping) / judge (keep or not). The result is stored as a new "
        "version with the base as its parent; it becomes the current model only if it beats "
        "the base on the judge cars (full-resolution Dice), unless --make-current.",
    )
    p.add_argument("folder", metavar="FOLDER", help="annotation folder, or IMAGES_DIR")
    p.add_argument("masks_dir", nargs="?", metavar="MASKS_DIR", help="plain masks folder")
    p.add_argument("--edits", metavar="DIR", help="edits folder (default: <images>_edits)")
    add_learn_car_arguments(p)
    p.add_argument(
        "--with-truth",
        action="store_true",
        help="also train on the folder's ground-truth masks (never of a select or judge car)",
    )
    p.add_argument("--model", help="base model (default: the current model)")
    p.add_argument("--out", help="models folder (default: the user models folder)")
    p.add_argument(
        "--make-current",
        action="store_true",
        help="make the result current even when it scores no better than the base",
    )
    p.add_argument(
        "--keep-cancelled",
        action="store_true",
        help="on Ctrl-C, judge and store the best finished epoch instead of nothing",
    )
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="default %(default)s")
    p.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="default %(default)s"
    )
    p.add_argument(
        "--lr", type=float, default=defaults.learning_rate, help="Adam learning rate (%(default)s)"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=defaults.patience,
        help="early stopping on the select cars (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="split/shuffle seed")
    p.add_argument(
        "--workers", type=int, default=defaults.workers, help="data loading threads (%(default)s)"
    )
    add_precision_arg(p)
    add_engine_arg(p)  # what judges the new model against the current one
    p.set_defaults(func=cmd_finetune)
