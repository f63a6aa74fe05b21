"""`carvana automask | status`: the window's project, headless.

Both open a folder exactly as the window does (``model.workflows.annotation_folder``) and
follow the same mask lifecycle: ``automask`` is the batch auto-mask (it never replaces a
mask a person edited or reviewed, and with ``--stale`` redoes only auto-masks made by
another model than the current one); ``status`` counts the images in each state. A window
open on the same folder sees the new rows (the project store is shared SQLite).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from model.cli.main import CliError
from model.cli.network import (
    INTERRUPTED,
    _report_skipped,
    add_engine_arg,
    cooperative_interrupt,
    load_predictor,
    resolve_model,
)
from model.cli.progress import progress_counter
from model.edits.car_models import CarModels
from model.edits.lifecycle import ActiveModels, BatchSelection
from model.store.versions import ModelInfo, ModelStore, ModelStoreError, user_models_dir
from model.workflows.annotation_folder import (
    AnnotationFolder,
    folder_status,
    open_annotation_folder,
)
from model.workflows.batch_automask import active_model_files

log = logging.getLogger(__name__)


def _open(args: argparse.Namespace, create: bool = True) -> AnnotationFolder:
    try:
        edits = Path(args.edits) if args.edits else None
        return open_annotation_folder(Path(args.folder), edits, create)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _active_models(
    folder: AnnotationFolder, general: ModelInfo, explicit: bool
) -> tuple[ActiveModels, dict[str | None, Path]]:
    """Each image's active model, and every such model's file (version -> path).

    A car taught with Learn this car is masked by its own model, so a batch never undoes
    that (``--model`` asks for one model for every image instead). A car model that is no
    longer in the model store leaves its car to the general model, with a warning.
    """
    if explicit:
        return active_model_files((general.path, general.version), {})
    store = ModelStore(user_models_dir())
    car_models: dict[str, tuple[Path, str]] = {}
    for car, version in CarModels(folder.store.root).versions().items():
        try:
            car_models[car] = (store.get(version).path, version)
        except ModelStoreError as exc:
            log.warning("car %s: its model %s is not available (%s)", car, version, exc)
    return active_model_files((general.path, general.version), car_models)


def cmd_automask(args: argparse.Namespace) -> int:
    from model.workflows.batch_automask import group_by_model, run_batch_by_model, select_images

    folder = _open(args)
    model = resolve_model(args.model)  # a broken current.json is an error naming it
    active, model_paths = _active_models(folder, model, explicit=args.model is not None)
    selection = BatchSelection.STALE if args.stale else BatchSelection(args.select)
    chosen, protected = select_images(
        folder.store, [r.path for r in folder.images], selection, active
    )
    groups = group_by_model(chosen, active, model_paths)
    by_cars = sum(len(g.paths) for g in groups if g.version != model.version)
    print(
        f"{len(chosen)} images to auto-mask with {model.version} ({selection.value})"
        + (f", {by_cars} of them by their car's own model" if by_cars else "")
        + f"; {protected} masks people edited or reviewed are left alone"
    )
    if not chosen:
        return _report_skipped(folder.layout.skipped)  # name clashes, unreadable entries
    truth = {r.image_id: r.mask_path for r in folder.images if r.mask_path is not None}
    with (
        cooperative_interrupt() as stop,
        progress_counter("automask", "img", total=len(chosen)) as update,
    ):
        result = run_batch_by_model(
            folder.store,
            groups,
            lambda path: load_predictor(path, args.batch_size, args.engine),
            tta=args.tta,
            on_progress=lambda p: update(p.done),
            should_stop=stop.is_set,
            truth_of=truth.get,
        )
    print(result.summary())
    print(f"project: {folder.store.root}")
    status = _report_skipped(folder.layout.skipped)  # name clashes, unreadable entries
    return INTERRUPTED if result.cancelled else status


def cmd_status(args: argparse.Namespace) -> int:
    folder = _open(args, create=False)  # a status query writes nothing beside the data
    if args.model:
        active = ActiveModels(resolve_model(args.model).version)
    else:  # counting needs no model: with none (or a broken pointer) nothing is stale
        current = ModelStore(user_models_dir()).current()
        version = current.version if current is not None else None
        # a learned car's masks are judged against its own model, as automask does
        by_car = CarModels(folder.store.root).versions() if folder.store is not None else {}
        active = ActiveModels(version, by_car)
    status = folder_status(folder, active)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print("\n".join(status.lines()))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "automask",
        help="auto-mask a folder's images into its project (never replaces people's masks)",
        description="The window's batch auto-mask, headless: predicts the images of FOLDER "
        "into its edits project (<images>_edits beside the images). Masks a person edited "
        "or reviewed are never replaced. Default: only images without a mask.",
    )
    p.add_argument("folder", help="Kaggle root, its train/ or test/, or a folder of images")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--stale", action="store_true", help="redo auto-masks made by another model")
    group.add_argument(
        "--select",
        choices=[s.value for s in BatchSelection],
        default=BatchSelection.WITHOUT_MASK.value,
        help="which images (default without-mask; 'all' still leaves people's masks alone)",
    )
    p.add_argument("--tta", action="store_true", help="average with the flipped image")
    p.add_argument("--model", help="model file or folder (default: the current model)")
    p.add_argument("--edits", help="project folder (default: <images>_edits beside them)")
    p.add_argument("--batch-size", type=int, default=2, help="images per model call")
    add_engine_arg(p)
    p.set_defaults(func=cmd_automask)

    p = subparsers.add_parser(
        "status",
        help="how many images are in each mask state (none, auto, edited, reviewed)",
        description="Counts per mask state of FOLDER's images, stale auto-masks against the "
        "current model (or --model), the reviewed share and the correction effort per model.",
    )
    p.add_argument("folder", help="Kaggle root, its train/ or test/, or a folder of images")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--model", help="judge staleness against this model instead")
    p.add_argument("--edits", help="project folder (default: <images>_edits beside them)")
    p.set_defaults(func=cmd_status)
