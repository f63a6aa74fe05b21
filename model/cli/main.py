"""`carvana`: the headless command line (train, predict, export, evaluate, RLE tools).

Each group of subcommands lives in its own module and registers itself through a
``register(subparsers)`` function, so this file only owns argument parsing, logging
set-up and the one error route: a single clear line on stderr and a non-zero exit,
with the traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("carvana")

# Modules that add subcommands; each defines register(subparsers) and sets
# `func` on its parsers via set_defaults(func=...). func(args) -> int exit code.
COMMAND_MODULES = (
    "model.cli.data",
    "model.cli.network",
    "model.cli.train",
    "model.cli.finetune",
    "model.cli.models",
    "model.cli.evaluate",
    "model.cli.edge_refiner",
    "model.cli.project",
)


class CliError(Exception):
    """An expected failure with a message meant for the user (no traceback)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carvana",
        description=(
            "Batch tools for Carvana car masks: train and fine-tune the segmentation "
            "network, predict masks, export and validate Kaggle RLE submissions, and "
            "score masks with Dice. Run `carvana COMMAND --help` for details."
        ),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show full tracebacks on errors, debug logs and TensorFlow's own messages",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log progress detail and TensorFlow's own messages (quiet by default)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose or args.debug:
        from model.framework_logs import show_framework_logs  # before Keras loads

        show_framework_logs()
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("carvana: interrupted; work done so far was kept\n")
        return 130
    except Exception as exc:  # the one error route of the CLI
        if args.debug:
            raise
        sys.stderr.write(f"carvana: error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
