"""`carvana finetune | models`: fine-tune on corrected masks, and choose among the versions.

A fine-tuned model is always stored (nothing is lost), but it becomes the current model
only when it beats its base on the held-out cars at full resolution, the same rule the
GUI's Fine-tune panel applies (model/model_selection.py). `carvana models` shows that
verdict for every version and lets the user overrule it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from model.cli.main import CliError
from model.cli.network import (
    INTERRUPTED,
    add_training_args,
    resolve_model,
    train_with_bar,
)
from model.data.dataset import list_images
from model.store.versions import (
    MODEL_NAME,
    ModelStore,
    read_model_meta,
    resolve_default_model,
    user_models_dir,
)


def cmd_finetune(args: argparse.Namespace) -> int:
    from model.nn.training import finetune_config, run_meta

    base = resolve_model(args.model)
    records = [r for r in list_images(args.images_dir, args.masks_dir) if r.mask_path]
    if not records:
        raise CliError(f"{args.masks_dir}: no masks matching the images in {args.images_dir}")
    pairs = [(r.path, r.mask_path) for r in records]
    base_meta = read_model_meta(base)
    store_dir = Path(args.out) if args.out else user_models_dir()
    config = finetune_config(
        base,
        pairs,
        store_dir / "runs" / f"finetune-{time.strftime('%Y%m%d-%H%M%S')}",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        val_fraction=args.val_fraction,
        patience=args.patience,
        seed=args.seed,
        workers=args.workers,
        tensorboard=True,
    )
    train_pairs, val_pairs = config.train_pairs, config.val_pairs
    data = {
        "folders": [str(Path(args.images_dir).resolve()), str(Path(args.masks_dir).resolve())],
        "images": len(pairs),
        "train_images": len(train_pairs),
        "val_images": len(val_pairs),
        "val_ids": sorted(Path(p[0]).stem for p in val_pairs),
    }
    parent = base.parent.name if base.name == MODEL_NAME else base.name
    threshold = float(base_meta.get("threshold", 0.5))
    print(f"fine-tuning {base} on {len(train_pairs)} images, validating on {len(val_pairs)}")
    result = train_with_bar(config)
    if result is None:
        return INTERRUPTED
    meta = run_meta(config, result, data, parent=parent, threshold=threshold)
    meta["run"] = str(Path(config.out_dir).resolve())
    held_out = {Path(image) for image, _ in val_pairs}
    decision = _compare_on_held_out(
        result.model_path, base, [r for r in records if r.path in held_out]
    )
    from model.workflows.finetune import override_current, record_version

    store = ModelStore(store_dir)
    info = record_version(store, result.model_path, decision, meta, label=Path(config.out_dir).name)
    print(f"model {info.version}: {info.path}")
    if decision.accept:
        print(f"  now the current model: {decision.reason}")
    elif args.make_current:  # the user's word beats the score, and the JSON says so
        override_current(store, info.version)
        print(f"  now the current model (--make-current), although: {decision.reason}")
    else:
        print(
            f"  kept aside, the current model is unchanged: {decision.reason}\n"
            f"  to use it anyway: carvana models --out {store.root} --use {info.version}"
        )
    return 0


def _compare_on_held_out(new_model: Path, base: Path, held_out: list):
    """Score the fine-tuned and the base model on the held-out images (full resolution)."""
    from model.nn.predictor import Predictor
    from model.workflows.finetune import Decision, decide, score_predictor

    if not held_out:  # all images of one car: nothing unseen to compare on
        reason = "no held-out images to compare on (they all show one car)"
        return Decision(float("nan"), None, False, reason, 0)
    print(f"scoring the new and the base model on {len(held_out)} held-out images")
    new = score_predictor(Predictor.load(new_model), held_out).mean
    old = score_predictor(Predictor.load(base), held_out).mean
    print(f"  held-out Dice at full resolution: new {new:.4f}, base {old:.4f}")
    return decide(new, old, len(held_out))


def cmd_models(args: argparse.Namespace) -> int:
    from model.store.versions import ModelStoreError
    from model.workflows.finetune import override_current, version_label

    store = ModelStore(Path(args.out) if args.out else user_models_dir())
    if args.use:
        try:
            info = override_current(store, args.use)
        except ModelStoreError as exc:
            raise CliError(str(exc)) from None
        print(f"{info.version} is now the current model of {store.root}")
        return 0
    versions = store.versions()
    if not versions:
        shipped = resolve_default_model()
        print(f"{store.root}: no models yet; the default is {shipped or 'not installed'}")
        return 0
    current = store.current()
    print(f"{store.root}:")
    for info in versions:
        mark = "*" if current is not None and info.version == current.version else " "
        created = str(info.meta.get("created", "?"))[:16]
        print(f"{mark} {version_label(info)}  [{created}, preset {info.meta.get('preset', '?')}]")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on corrected masks",
        description="Continue training a model on images and their (corrected) masks. The "
        "result is stored as a new version with the base as its parent; it becomes the "
        "current model only if it beats the base on the held-out cars (full-resolution "
        "Dice), unless --make-current.",
    )
    p.add_argument("images_dir")
    p.add_argument("masks_dir")
    p.add_argument("--model", help="base model (default: the current model)")
    p.add_argument("--out", help="models folder (default: the user models folder)")
    p.add_argument(
        "--make-current",
        action="store_true",
        help="make the result current even when it scores no better than the base",
    )
    add_training_args(p, epochs=5, batch=2, lr=5e-5, val=0.2, patience=3)
    p.set_defaults(func=cmd_finetune)

    p = subparsers.add_parser(
        "models",
        help="list the stored model versions, or choose the current one",
        description="List the versions in a models folder (* marks the current one) with "
        "their scores, or make one current with --use.",
    )
    p.add_argument("--out", help="models folder (default: the user models folder)")
    p.add_argument("--use", metavar="VERSION", help="make this version the current model")
    p.set_defaults(func=cmd_models)
