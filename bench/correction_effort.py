"""How many interactions a mask needs to reach Dice 0.995 / 0.997: brush vs smart click.

Run:  python bench/correction_effort.py IMAGES_DIR [MASKS_DIR] [--model M] [--limit N]
          [--targets 0.995,0.997] [--max-interactions 20] [--tools brush,smart,clicks]
          [--cars ID,ID | --training-cars N] [--cache DIR] [--refiner F]

Per image: start from the model's auto-mask (flip TTA, probability map kept). A simulated
annotator who knows the true mask takes the largest error region (model/edits/annotator.py)
and interacts once at its deepest point:
  brush: one round dab, the largest that stays inside the region (the editor's dab code);
  smart: first Refine edge (the editor's P: model/nn/edge_refiner.py re-decides the
         whole mask's edge band with the shipped refiner), then one click per
         interaction there (positive on missed car, negative on false car), handled by
         model/edits/click_session.py (the image's clicks so far, each running
         smart_click) exactly as the editor's Smart click tool handles it, on the
         refined probabilities as the editor's clicks after P are;
  clicks: the same clicks without Refine edge, to see what it adds;
  grabcut: the same click handled by its GrabCut alternative (grabcut_click), to compare.
Given the Kaggle folder, the images are the model's validation cars (model JSON
data.val_cars); choose settings with --training-cars N or --cars instead.
--cache DIR keeps the auto-mask probabilities (npz, keyed by the model file's hash) so
reruns only cost the interactions. The LAST line is the summary:
  NoC@0.995 smart=X.XX brush=Y.YY reach0.997=R ms_per_click=Z
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_paths import REPO

sys.path.insert(0, str(REPO))

from model.data.dataset import ImageRecord, scan_folder
from model.data.masks import read_image, read_mask
from model.edits.annotator import brush_dab, next_click
from model.edits.click_session import ClickSession
from model.edits.smart_click import grabcut_click
from model.kaggle.metrics import dice
from model.nn.edge_classifier import EdgeClassifierError
from model.nn.edge_refiner import load_refiner, refine_edge

TOOLS = ("brush", "smart", "clicks", "grabcut")


@dataclass
class Run:
    """One image corrected with one tool: Dice after 0, 1, 2, ... interactions."""

    dices: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def noc(self, target: float, cap: int) -> int:
        for i, d in enumerate(self.dices):
            if d >= target:
                return i
        return cap


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def masks_in(folder: Path) -> dict[str, Path]:
    """Image id -> mask file, for names like ID_mask.gif or ID.png."""
    found = {}
    for path in folder.iterdir():
        stem = path.stem[: -len("_mask")] if path.stem.endswith("_mask") else path.stem
        found[stem] = path
    return found


def choose_records(args: argparse.Namespace, meta: dict) -> list[ImageRecord]:
    from model.nn.evaluation import training_car_records

    if args.training_cars:
        records = training_car_records(args.images_dir, meta, args.training_cars)
    else:
        records = list(scan_folder(args.images_dir).images)
    if args.masks_dir is not None:
        if not args.masks_dir.is_dir():
            raise SystemExit(f"{args.masks_dir}: masks folder not found")
        masks = masks_in(args.masks_dir)
        for r in records:
            r.mask_path = masks.get(r.image_id, r.mask_path)
    records = [r for r in records if r.mask_path is not None]
    if args.cars:
        wanted = set(args.cars.split(","))
        records = [r for r in records if r.car_id in wanted]
    elif not args.training_cars:
        val_cars = set((meta.get("data") or {}).get("val_cars") or ())
        chosen = [r for r in records if r.car_id in val_cars]
        records = chosen or records
    if not records:
        raise SystemExit(f"{args.images_dir}: no images with true masks to correct")
    records.sort(key=lambda r: r.image_id)
    return records[: args.limit] if args.limit else records


def auto_masks(records, model: Path, cache: Path | None):
    """Yield (record, image, truth, mask, prob) with flip-TTA auto-masks, cached by model hash."""
    from model.nn.predictor import Predictor

    folder = cache / file_hash(model) if cache else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    predictor = None
    for record in records:
        image, truth = read_image(record.path), read_mask(record.mask_path)
        hit = folder / f"{record.image_id}.npz" if folder else None
        if hit is not None and hit.is_file():
            with np.load(hit) as data:
                prob = data["prob"].astype(np.float32)
                mask = np.unpackbits(data["mask"])[: prob.size].reshape(prob.shape)
        else:
            predictor = predictor or Predictor.load(model)
            pred = predictor.predict(image, tta=True)
            prob, mask = pred.prob, pred.mask
            if hit is not None:
                np.savez(hit, prob=prob.astype(np.float16), mask=np.packbits(mask))
        yield record, image, truth, mask.astype(np.uint8), prob


def correct(tool, image, truth, mask, prob, targets, cap, refiner=None, threshold=0.5) -> Run:
    """Correct one image with ``tool`` until the highest target or ``cap`` interactions.
    ``smart`` refines the edge first when given the ``refiner`` (``load_refiner``)."""
    mask = mask.copy()
    session = ClickSession()  # one per image, as the editor keeps one per open image
    run = Run(dices=[dice(mask, truth)])
    refine = tool == "smart" and refiner is not None and prob is not None
    while len(run.dices) <= cap and run.dices[-1] < max(targets):
        click = next_click(mask, truth)
        if click is None:
            break
        start = time.perf_counter()
        if refine:  # the first interaction: Refine edge (P) on the whole mask
            prob, _ = refine_edge(image, prob, mask, refiner, threshold)
            refine = False
        elif tool == "brush":
            brush_dab(mask, click)
        elif tool == "grabcut":
            grabcut_click(image, prob, mask, click.y, click.x, click.positive)
        else:
            session.click(image, prob, mask, click.y, click.x, click.positive)
        run.ms.append((time.perf_counter() - start) * 1000)
        run.dices.append(dice(mask, truth))
    return run


def report(tool: str, runs: list[Run], targets: list[float], cap: int) -> None:
    ms = np.concatenate([r.ms for r in runs]) if any(r.ms for r in runs) else np.zeros(1)
    print(f"{tool}: {len(runs)} images, {int(sum(len(r.ms) for r in runs))} interactions")
    for t in targets:
        nocs = np.array([r.noc(t, cap) for r in runs])
        reach = float(np.mean([r.noc(t, cap + 1) <= cap for r in runs]))
        print(
            f"  NoC@{t}: mean {nocs.mean():.2f}  median {np.median(nocs):.1f}"
            f"  reached by {reach * 100:.1f} %"
        )
    print(f"  ms per interaction: median {np.median(ms):.1f}  p95 {np.percentile(ms, 95):.1f}")


def summary_line(runs: dict[str, list[Run]], targets: list[float], cap: int) -> str:
    """The last line: NoC@0.995 smart=X.XX brush=Y.YY reach0.997=R ms_per_click=Z."""
    t0 = targets[0]
    noc = {
        t: float(np.mean([r.noc(t0, cap) for r in runs[t]])) if runs.get(t) else float("nan")
        for t in TOOLS
    }
    smart = runs.get("smart", [])
    reach = np.mean([r.noc(targets[-1], cap + 1) <= cap for r in smart]) if smart else np.nan
    ms = np.median(np.concatenate([r.ms for r in smart])) if any(r.ms for r in smart) else 0.0
    return (
        f"NoC@{t0} smart={noc['smart']:.2f} brush={noc['brush']:.2f} "
        f"reach{targets[-1]}={reach:.2f} ms_per_click={ms:.0f}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images_dir", type=Path, help="Kaggle root or train/ or a folder of images")
    p.add_argument("masks_dir", type=Path, nargs="?", help="true masks (default: Kaggle layout)")
    p.add_argument("--model", type=Path, help="default: the shipped default model")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--targets", default="0.995,0.997")
    p.add_argument("--max-interactions", type=int, default=20)
    p.add_argument("--tools", default="brush,smart")
    p.add_argument("--cars", default="", help="comma-separated car ids instead of val cars")
    p.add_argument("--training-cars", type=int, default=0, help="the first N training cars")
    p.add_argument("--cache", type=Path, help="folder for cached auto-mask probabilities")
    p.add_argument("--refiner", type=Path, help="edge refiner .npz (default: the shipped one)")
    p.add_argument("--per-image", action="store_true", help="print each image's NoC")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from model.store.versions import read_model_meta, shipped_model_path

    args = parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    if bad := [t for t in tools if t not in TOOLS]:
        raise SystemExit(f"unknown tool(s) {bad}; choose from {TOOLS}")
    targets = sorted(float(t) for t in args.targets.split(","))
    cap = args.max_interactions
    model = args.model or shipped_model_path()
    if model is None or not Path(model).is_file():
        raise SystemExit(f"{model}: model file not found (pass --model)")
    meta = read_model_meta(Path(model))
    records = choose_records(args, meta)
    threshold = float(meta.get("threshold", 0.5))
    try:
        refiner = load_refiner(args.refiner)
    except EdgeClassifierError as exc:
        raise SystemExit(str(exc)) from None
    if refiner is None and "smart" in tools:
        print("no edge refiner installed: smart is clicks only", flush=True)
    cars = len({r.car_id for r in records})
    print(f"{len(records)} images of {cars} cars, model {model}, flip TTA, cap {cap}", flush=True)
    runs: dict[str, list[Run]] = {t: [] for t in tools}
    for record, image, truth, mask, prob in auto_masks(records, Path(model), args.cache):
        line = [f"{record.image_id}: auto {dice(mask, truth):.5f}"]
        for tool in tools:
            run = correct(tool, image, truth, mask, prob, targets, cap, refiner, threshold)
            runs[tool].append(run)
            line.append(f"{tool} " + "/".join(str(run.noc(t, cap)) for t in targets))
        if args.per_image:
            print("  " + "  ".join(line), flush=True)
    for tool in tools:
        report(tool, runs[tool], targets, cap)
    print(summary_line(runs, targets, cap))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
