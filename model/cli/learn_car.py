"""`carvana finetune FOLDER --car CAR` (learn this car) and `--forget-car CAR`.

The same workflow as the window's Model → Learn this car (``model.workflows.learn_car``):
the current model learns that car's edge from its reviewed angles (an edge classifier
beside the network), the result is stored as a per-car version and becomes that car's
model only, and the car's unedited images are re-masked with it. ``--forget-car`` puts
the general model's masks back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from model.cli.main import CliError
from model.cli.network import INTERRUPTED, cooperative_interrupt, resolve_model
from model.store.versions import ModelStore, user_models_dir
from model.workflows.annotation_folder import AnnotationFolder, open_annotation_folder
from model.workflows.finetune_events import FinetuneEvent, Phase, Remasked


def _folder(args: argparse.Namespace) -> AnnotationFolder:
    if args.masks_dir is not None:
        raise CliError("--car / --forget-car need an annotation folder, not IMAGES_DIR MASKS_DIR")
    try:
        return open_annotation_folder(Path(args.folder), Path(args.edits) if args.edits else None)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


class _Printer:
    """A bar for the re-masked images on stderr, a line per phase on stdout."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.stage = ""  # a disabled bar (no terminal) has no .desc to ask

    def _bar(self, total: int, desc: str, unit: str) -> tqdm:
        if self.bar is None or self.stage != desc:
            self.close()
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None)
            self.stage = desc
        return self.bar

    def __call__(self, event: FinetuneEvent) -> None:
        if isinstance(event, Phase):
            self.close()
            print(f"{event.message}…")
        elif isinstance(event, Remasked):
            self._bar(event.total, "re-mask", "image").update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = ""


def cmd_learn_car(args: argparse.Namespace) -> int:
    from model.workflows.learn_car import learn_car

    store = ModelStore(Path(args.out) if args.out else user_models_dir())
    base = resolve_model(args.model, store)
    folder = _folder(args)
    truth = {r.image_id: r.mask_path for r in folder.images if r.mask_path is not None}
    print(f"learning car {args.car} from {base.version} ({base.path})")
    printer = _Printer()
    try:
        with cooperative_interrupt() as stop:
            outcome = learn_car(
                folder.store,
                folder.images,
                args.car,
                store,
                base,
                None,
                printer,
                stop.is_set,
                truth_of=truth.get,
            )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        printer.close()
        folder.store.close()
    print(outcome.message)
    if outcome.version is None:  # cancelled, or what was learned would not help
        return INTERRUPTED if outcome.cancelled else 0
    print(f"model {outcome.version.version}: {outcome.version.path} ({outcome.seconds:.1f} s)")
    print(
        f"  car {args.car} only; undo with: carvana finetune {args.folder} --forget-car {args.car}"
    )
    return INTERRUPTED if outcome.cancelled else 0


def cmd_forget_car(args: argparse.Namespace) -> int:
    from model.edits.car_models import forget_car

    folder = _folder(args)
    ids = [r.image_id for r in folder.images]
    try:
        model, restored, left = forget_car(folder.store, args.forget_car, ids)
    finally:
        folder.store.close()
    if model is None:
        raise CliError(f"car {args.forget_car} has no model of its own in {folder.project_dir}")
    print(
        f"car {args.forget_car} uses the general model again ({model.name} forgotten); "
        f"{len(restored)} masks restored" + (f"; {_had_nothing(len(left))}" if left else "")
    )
    return 0


def _had_nothing(count: int) -> str:
    """Why masks made by a forgotten car model stay: there was no earlier mask."""
    return (
        f"{count} made by it had no earlier mask to go back to: they stay, shown as stale "
        "(a batch or Ctrl+R re-masks them with the general model)"
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--car",
        metavar="CAR_ID",
        help="learn this car: learn CAR_ID's edge from its reviewed angles (at least 2), "
        "make it that car's model only, and re-mask the car's unedited images",
    )
    p.add_argument(
        "--forget-car",
        metavar="CAR_ID",
        help="forget CAR_ID's own model: the car uses the general model again and its "
        "masks made by the car's model (unedited since) are restored",
    )
