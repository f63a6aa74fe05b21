"""`carvana predict | export`: the network on the command line, and what the network
commands share (which model, the engine, cooperative Ctrl-C).

Keras is imported inside the commands, not at module level, so `carvana --help` and the
data commands start instantly. Ctrl-C is cooperative: the first one finishes the current
batch (or image) and keeps everything done so far; a second one aborts at once.
"""

from __future__ import annotations

import argparse
import contextlib
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

from model.choices import ENGINE_CHOICES
from model.cli.cluster import add_ray_args, ray_predictor
from model.cli.main import CliError
from model.data.dataset import list_images
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


def load_predictor(
    path: Path, batch_size: int = 2, engine: str | None = None, refine_edge: bool = False
):
    """Predictor.load with its errors (a bad file, an engine that cannot run) as CliError;
    ``refine_edge``: the shipped edge refiner re-decides each mask's edge band."""
    from model.nn.predictor import ModelLoadError, Predictor

    try:
        predictor = Predictor.load(path, batch_size=batch_size, engine=engine)
    except ModelLoadError as exc:
        raise CliError(str(exc)) from None
    if refine_edge:
        _refine_edges_of(predictor, path)
    log.info(
        "model %s (%s, input %dx%d, engine %s)",
        predictor.name,
        path,
        *predictor.input_size,
        predictor.engine.name,
    )
    return predictor


def _refine_edges_of(predictor, path: Path) -> None:
    """--refine-edge: the shipped edge refiner re-decides the edges of ``predictor``'s
    masks, unless its model is a car's own (Learn this car), which already does."""
    from model.nn.edge_classifier import EdgeClassifierError
    from model.nn.edge_refiner import MISSING, load_refiner

    if predictor.edges is not None:
        log.info("--refine-edge: %s is a car's own model, which already refines its edges", path)
        return
    try:
        refiner = load_refiner()
    except EdgeClassifierError as exc:
        raise CliError(f"--refine-edge: {exc}") from None
    if refiner is None:
        raise CliError(f"--refine-edge: {MISSING}")
    predictor.edges = refiner


def _load_predictor_and_path(args: argparse.Namespace):
    path = resolve_model(args.model).path
    if getattr(args, "ray", None):  # the same engine on a Ray cluster (model.cli.cluster)
        return ray_predictor(args, path), path
    return load_predictor(path, args.batch_size, args.engine, args.refine_edge), path


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


def _add_predict_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="model file or folder, or 'default' for the shipped default "
        "(default: the current model)",
    )
    parser.add_argument("--tta", action="store_true", help="average with the flipped image")
    parser.add_argument("--batch-size", type=int, default=2, help="images per model call")
    add_engine_arg(parser)
    add_refine_edge_arg(parser)


def add_refine_edge_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--refine-edge",
        action="store_true",
        help="re-decide each mask's edge at full resolution from the photo with the shipped "
        "edge refiner (the window's Refine edge, P): about 8 %% less error on the validation "
        "cars, about 0.3 s more per image; a car's own model (Learn this car) always does",
    )


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
