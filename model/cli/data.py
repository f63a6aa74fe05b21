"""`carvana` data commands: evaluate, validate-submission, masks-to-csv, csv-to-masks.

These only move arrays (no keras import), so they start fast and run anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from model.cli.evaluate import add_report_args, worst_collector
from model.cli.main import CliError
from model.cli.progress import progress_bar, progress_counter
from model.data.dataset import list_images, list_masks, parse_image_name
from model.data.masks import check_mask_size, image_size, read_image, read_mask, write_mask
from model.kaggle.metrics import evaluate_masks
from model.kaggle.rle import CARVANA_SHAPE, rle_decode
from model.kaggle.submission import SubmissionWriter, iter_rle_csv, validate_submission

MAX_PROBLEMS_SHOWN = 50

_EVALUATE_EPILOG = """\
examples:
  carvana evaluate --pred predictions.csv --truth data/train_masks
  carvana evaluate --pred out/masks --truth data/train_masks.csv --worst 20
  carvana evaluate --pred out/masks --truth data/train_masks --report report/

P and T are each a folder of masks (<id>_mask.gif, <id>.png, ...) or an
img,rle_mask CSV. Images are matched by id; every predicted image needs a truth.
"""
_VALIDATE_EPILOG = """\
examples:
  carvana validate-submission submission.csv
  carvana validate-submission submission.csv --sample data/sample_submission.csv
  carvana validate-submission submission.csv --images data/test

Checks the header, .jpg names, duplicates and that every RLE fits the image size
(--size, or with --images each row's own image; a row without its image is a problem).
Prints every problem with its line number; exit status 1 when there are any.
"""
_MASKS_TO_CSV_EPILOG = """\
examples:
  carvana masks-to-csv data/train_masks -o train_masks.csv
  carvana masks-to-csv my_masks -o my.csv --images my_images

Rows are sorted by image name; <id>_mask.gif becomes <id>.jpg in the img column.
Every mask must have its image's size: with --images each mask is checked against
its own image, otherwise against --size (default 1280x1918). Any mismatch stops the
command before a row is written, naming each file and both sizes.
"""
_CSV_TO_MASKS_EPILOG = """\
examples:
  carvana csv-to-masks submission.csv -o masks/
  carvana csv-to-masks train_masks.csv -o masks/ --format gif

Writes <id>_mask.png (gray 0/255) or <id>_mask.gif (palette 0/1, like Kaggle).
"""


def _shape(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH such as 1280x1918, got {text!r}"
        ) from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return height, width


def _shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size",
        type=_shape,
        default=CARVANA_SHAPE,
        metavar="HxW",
        help="image size for RLE masks, height x width (default: 1280x1918, Carvana)",
    )


def _images_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--images", type=Path, metavar="DIR", help=help_text)


def _image_sizes(images_dir: Path):
    """A lookup image id -> (H, W) read from the headers in ``images_dir`` on demand;
    raises ValueError naming the file (or the missing id) when there is no size."""
    try:
        records = list_images(images_dir)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    paths = {r.image_id: r.path for r in records}
    clashes = {Path(entry.path).stem: entry.reason for entry in records.skipped}

    def size_of(image_id: str) -> tuple[int, int]:
        path = paths.get(image_id)
        if path is None:
            why = clashes.get(image_id, f"no image with id {image_id!r} in {images_dir}")
            raise ValueError(why)
        return image_size(path)  # ImageReadError (a ValueError) names the file

    return size_of


def register(subparsers: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "evaluate", help="mean Dice of predicted masks against ground truth",
        description="Score predicted masks with Dice (Kaggle's metric) and list the worst images.",
        epilog=_EVALUATE_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    p.add_argument("--pred", required=True, metavar="P", help="predicted masks: folder or RLE CSV")
    p.add_argument("--truth", required=True, metavar="T", help="true masks: folder or RLE CSV")
    p.add_argument("--worst", type=int, default=10, metavar="N", help="list the N worst images")
    add_report_args(p)
    p.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="the photos, for the report's crops (default: train/ beside a train_masks "
        "folder or CSV given as --truth)",
    )
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser(
        "validate-submission", help="check a Kaggle submission CSV before uploading",
        description="Check a Kaggle submission CSV and report every problem found.",
        epilog=_VALIDATE_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    p.add_argument("file", type=Path, metavar="FILE", help="the submission CSV")
    p.add_argument("--sample", type=Path, help="sample_submission.csv: require the same images")
    _shape_option(p)
    _images_option(p, "check each row against its own image's size (instead of --size)")
    p.set_defaults(func=run_validate)

    p = subparsers.add_parser(
        "masks-to-csv", help="encode a folder of masks as an img,rle_mask CSV",
        description="Run-length encode every mask in a folder into one Kaggle CSV.",
        epilog=_MASKS_TO_CSV_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    p.add_argument("masks_dir", type=Path, metavar="MASKS_DIR", help="folder of mask images")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE", help="CSV to write")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep rows of an interrupted run instead of restarting",
    )
    _shape_option(p)
    _images_option(p, "each mask must have the size of its image here (instead of --size)")
    p.set_defaults(func=run_masks_to_csv)

    p = subparsers.add_parser(
        "csv-to-masks", help="decode an img,rle_mask CSV into mask images",
        description="Decode every row of a Kaggle RLE CSV into a lossless mask file.",
        epilog=_CSV_TO_MASKS_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    p.add_argument("file", type=Path, metavar="FILE", help="img,rle_mask CSV")
    p.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="folder to write"
    )
    p.add_argument("--format", choices=("png", "gif"), default="png", help="mask file format")
    _shape_option(p)
    p.set_defaults(func=run_csv_to_masks)


def _report_photos(args: argparse.Namespace):
    """Image id -> photo loader for the report's crops (an empty dict: no photos found)."""
    folder = args.images
    if folder is None:  # the Kaggle layout: train/ beside train_masks/ or train_masks.csv
        truth = Path(args.truth)
        guess = truth.with_name(truth.stem.removesuffix("_masks"))
        folder = guess if truth.stem.endswith("_masks") and guess.is_dir() else None
    if folder is None:
        print("report: no --images folder, so the crops show the truth in grey", file=sys.stderr)
        return {}
    paths = {r.image_id: r.path for r in list_images(folder)}
    return {image_id: (lambda p=path: read_image(p)) for image_id, path in paths.items()}


def run_evaluate(args: argparse.Namespace) -> int:
    keeper = worst_collector(args)
    on_pair = None
    if keeper is not None:
        photos = _report_photos(args)

        def on_pair(image_id, pred, truth, dice) -> None:
            keeper.offer(image_id, dice, pred, truth, photos.get(image_id))

    report = evaluate_masks(
        args.pred, args.truth, wrap=lambda ids: progress_bar(ids, desc="dice"), on_pair=on_pair
    )
    if report.count == 0:
        raise CliError(f"no predicted masks found in {args.pred}")
    print(f"mean Dice: {report.mean:.6f}")
    print(f"images:    {report.count}")
    worst = report.worst(args.worst)
    if worst:
        print(f"worst {len(worst)}:")
        for image_id, score in worst:
            print(f"  {score:.6f}  {image_id}")
    if keeper is not None:
        from model.workflows.eval_report import ReportData, write_report

        data = ReportData(
            title="Evaluation of predicted masks",
            dice=dict(report.scores),
            label="mask files as given",
            facts=[("predicted", str(args.pred)), ("truth", str(args.truth))],
            worst=keeper.worst(),
        )
        print(f"report: {write_report(data, args.report)}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    shape_of = None
    if args.images is not None:
        size_of = _image_sizes(args.images)

        def shape_of(name: str) -> tuple[int, int]:
            return size_of(parse_image_name(name)[0])

    with progress_counter(desc="validate", unit="row") as on_progress:
        report = validate_submission(
            args.file,
            sample=args.sample,
            shape=args.size,
            on_progress=on_progress,
            shape_of=shape_of,
        )
    if report.ok:
        print(f"{args.file}: OK, {report.rows} rows")
        return 0
    print(f"{args.file}: {len(report.problems)} problem(s) in {report.rows} rows")
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"  {problem}")
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        print(f"  ... and {len(report.problems) - MAX_PROBLEMS_SHOWN} more")
    return 1


def _expected_mask_sizes(masks: dict[str, Path], args: argparse.Namespace):
    """(image id -> the (H, W) its mask must have, [problems]) for masks-to-csv.

    Sizes come from the mask headers (nothing is decoded), so a wrong-size mask stops the
    command before any row is written.
    """
    size_of = _image_sizes(args.images) if args.images is not None else None
    where = f"its image in {args.images}" if size_of else "--size"
    expected: dict[str, tuple[int, int]] = {}
    problems: list[str] = []
    for image_id, path in progress_bar(masks.items(), desc="check sizes"):
        try:
            shape = size_of(image_id) if size_of else args.size
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
            continue
        try:
            mask_hw = image_size(path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if mask_hw != tuple(shape):
            problems.append(
                f"{path}: mask is {mask_hw[0]}x{mask_hw[1]} (HxW) but {where} is "
                f"{shape[0]}x{shape[1]}"
            )
        expected[image_id] = tuple(shape)
    return expected, problems


def run_masks_to_csv(args: argparse.Namespace) -> int:
    masks = list_masks(args.masks_dir)
    if not masks:
        raise CliError(f"{args.masks_dir}: no mask files (.gif, .png, .jpg) found")
    expected, problems = _expected_mask_sizes(masks, args)
    if problems:
        for problem in problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        if len(problems) > MAX_PROBLEMS_SHOWN:
            print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", file=sys.stderr)
        hint = "" if args.images else " (give --images DIR or --size HxW if that is intended)"
        raise CliError(
            f"{len(problems)} of {len(masks)} masks do not fit their image size{hint}; "
            "nothing written"
        )
    rows = sorted((f"{image_id}.jpg", image_id, path) for image_id, path in masks.items())
    # Resume only the same unfinished conversion: the same mask files, unchanged since.
    digest = hashlib.sha256()
    for name, image_id, path in rows:
        stat = path.stat()
        digest.update(
            f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{expected[image_id]}\n".encode()
        )
    fingerprint = {"masks": digest.hexdigest()}
    with SubmissionWriter(args.output, resume=args.resume, fingerprint=fingerprint) as writer:
        if writer.restart_reason:
            print(f"{args.output}: {writer.restart_reason}", file=sys.stderr)
        todo = [row for row in rows if row[0] not in writer.done]
        for name, image_id, path in progress_bar(todo, desc="encode"):
            mask = read_mask(path)
            check_mask_size(mask, path, expected[image_id], f"{name} (expected size)")
            writer.write(name, mask)
    print(f"wrote {len(rows)} rows to {args.output}")
    return 0


def run_csv_to_masks(args: argparse.Namespace) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, rle in progress_bar(iter_rle_csv(args.file), desc="decode"):
        image_id = parse_image_name(name)[0]
        try:
            mask = rle_decode(rle, args.size)
        except ValueError as exc:
            raise CliError(f"{args.file}: {name}: {exc}") from None
        write_mask(args.output / f"{image_id}_mask.{args.format}", mask)
        count += 1
    print(f"wrote {count} masks to {args.output}", file=sys.stdout)
    return 0
