"""`carvana models`: list the model versions (the shipped default too), choose the current one.

The list is the same as the GUI's Model → Versions: the default installed with the package,
then every stored version, oldest first; ``*`` marks the current one. ``--use VERSION``
moves the store's pointer (``--use default`` rolls back to the shipped model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model.cli.main import CliError
from model.store.versions import (
    ModelInfo,
    ModelStore,
    ModelStoreError,
    is_shipped,
    shipped_label,
    user_models_dir,
)


def choice_label(info: ModelInfo) -> str:
    from model.store.keep_or_not import version_label

    return shipped_label(info) if is_shipped(info) else version_label(info)


def cmd_models(args: argparse.Namespace) -> int:
    from model.store.keep_or_not import override_current

    store = ModelStore(Path(args.out) if args.out else user_models_dir())
    if args.use:
        try:
            info = override_current(store, args.use)
        except ModelStoreError as exc:
            raise CliError(str(exc)) from None
        print(f"{info.version} is now the current model of {store.root}")
        return 0
    choices = store.choices()
    if not choices:
        print(f"{store.root}: no models yet (train or import one)")
        return 0
    current = store.current()
    print(f"{store.root}:")
    for info in choices:
        mark = "*" if current is not None and info.version == current.version else " "
        created = str(info.meta.get("created", "?"))[:16]
        print(f"{mark} {choice_label(info)}  [{created}, preset {info.meta.get('preset', '?')}]")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the model versions, or choose the current one",
        description="List the shipped default and the versions in a models folder "
        "(* marks the current one) with their scores, or make one current with --use "
        "(--use default rolls back to the shipped model).",
    )
    p.add_argument("--out", help="models folder (default: the user models folder)")
    p.add_argument("--use", metavar="VERSION", help="make this version the current model")
    p.set_defaults(func=cmd_models)
