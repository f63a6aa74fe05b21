"""`carvana` data commands: evaluate, validate-submission, masks-to-csv, csv-to-masks.

These only move arrays (no keras import), so they start fast and run anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.cli.main import CliError
from model.cli.progress import progress_bar, progress_counter
from model.data.dataset import list_masks, parse_image_name
from model.data.masks import read_mask, write_mask
from model.kaggle.metrics import evaluate_masks
from model.kaggle.rle import CARVANA_SHAPE, rle_decode
from model.kaggle.submission import SubmissionWriter, iter_rle_csv, validate_submission

MAX_PROBLEMS_SHOWN = 50

_EVALUATE_EPILOG = """\
examples:
  carvana evaluate --pred predictions.csv --truth data/train_masks
  carvana evaluate --pred out/masks --truth data/train_masks.csv --worst 20

P and T are each a folder of masks (<id>_mask.gif, <id>.png, ...) or an
img,rle_mask CSV. Images are matched by id; every predicted image needs a truth.
"""
_VALIDATE_EPILOG = """\
examples:
  carvana validate-submission submission.csv
  carvana validate-submission submission.csv --sample data/sample_submission.csv

Checks the header, .jpg names, duplicates and that every RLE fits the image size.
Prints every problem with its line number; exit status 1 when there are any.
"""
_MASKS_TO_CSV_EPILOG = """\
example:
  carvana masks-to-csv data/train_masks -o train_masks.csv

Rows are sorted by image name; <id>_mask.gif becomes <id>.jpg in the img column.
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
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser(
        "validate-submission", help="check a Kaggle submission CSV before uploading",
        description="Check a Kaggle submission CSV and report every problem found.",
        epilog=_VALIDATE_EPILOG, formatter_class=formatter,
    )  # fmt: skip
    p.add_argument("file", type=Path, metavar="FILE", help="the submission CSV")
    p.add_argument("--sample", type=Path, help="sample_submission.csv: require the same images")
    _shape_option(p)
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


def run_evaluate(args: argparse.Namespace) -> int:
    report = evaluate_masks(args.pred, args.truth, wrap=lambda ids: progress_bar(ids, desc="dice"))
    if report.count == 0:
        raise CliError(f"no predicted masks found in {args.pred}")
    print(f"mean Dice: {report.mean:.6f}")
    print(f"images:    {report.count}")
    worst = report.worst(args.worst)
    if worst:
        print(f"worst {len(worst)}:")
        for image_id, score in worst:
            print(f"  {score:.6f}  {image_id}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    with progress_counter(desc="validate", unit="row") as on_progress:
        report = validate_submission(
            args.file, sample=args.sample, shape=args.size, on_progress=on_progress
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


def run_masks_to_csv(args: argparse.Namespace) -> int:
    masks = list_masks(args.masks_dir)
    if not masks:
        raise CliError(f"{args.masks_dir}: no mask files (.gif, .png, .jpg) found")
    rows = sorted((f"{image_id}.jpg", path) for image_id, path in masks.items())
    with SubmissionWriter(args.output, resume=args.resume) as writer:
        todo = [(name, path) for name, path in rows if name not in writer.done]
        for name, path in progress_bar(todo, desc="encode"):
            writer.write(name, read_mask(path))
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
