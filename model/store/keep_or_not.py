"""Keep the new model or not: the decision, its record in the version's JSON, and the
person's override (Model → Versions, ``carvana models --use``).

A fine-tuned version is always stored, with both judge-set scores; it becomes current
only when it beats its base. Pure: no Keras, no Qt.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from model.store.versions import ModelInfo, ModelStore, read_model_meta, write_model_meta

log = logging.getLogger(__name__)


@dataclass
class Decision:
    new_dice: float
    current_dice: float | None
    accept: bool
    reason: str
    holdout_images: int = 0  # judge images


def decide(new_dice: float, current_dice: float | None, judge_images: int) -> Decision:
    """Accept the new model only when its judge-set Dice beats the current one."""
    if current_dice is None:
        return Decision(new_dice, None, True, "no current model to compare with", judge_images)
    if judge_images == 0 or math.isnan(new_dice):
        reason = "no judge images to compare on: keeping the current model"
        return Decision(new_dice, current_dice, False, reason, judge_images)
    if new_dice > current_dice:
        reason = f"judge-set Dice {new_dice:.4f} > current {current_dice:.4f}"
        return Decision(new_dice, current_dice, True, reason, judge_images)
    reason = f"judge-set Dice {new_dice:.4f} <= current {current_dice:.4f}: keeping the current"
    return Decision(new_dice, current_dice, False, reason, judge_images)


def record_version(
    store: ModelStore, model_file: Path, decision: Decision, meta: dict, label: str = "finetune"
) -> ModelInfo:
    """Store the new model with both scores in its JSON; make it current only if accepted."""
    meta = dict(meta)
    new_dice = decision.new_dice if math.isfinite(decision.new_dice) else None  # JSON has no NaN
    meta["selection"] = {
        "holdout_dice_new": new_dice,  # "holdout" = the judge set
        "holdout_dice_parent": decision.current_dice,
        "holdout_images": decision.holdout_images,
        "accepted": decision.accept,
        "reason": decision.reason,
        "override": False,
    }
    meta["val_dice"] = new_dice
    info = store.add(model_file, meta, label)
    if decision.accept:
        store.set_current(info.version)
    log.info(
        "model %s %s: %s",
        info.version,
        "accepted" if decision.accept else "kept aside",
        decision.reason,
    )
    return info


def override_current(store: ModelStore, version: str) -> ModelInfo:
    """The user's word beats the score: make ``version`` current and note the override."""
    info = store.get(version)
    meta = read_model_meta(info.path)
    selection = meta.get("selection")
    if isinstance(selection, dict) and not selection.get("accepted"):
        selection["override"] = True
        write_model_meta(info.path, meta)
    store.set_current(version)
    return store.get(version)


def version_label(info: ModelInfo) -> str:
    """'v003-finetune — Dice 0.9921 vs 0.9910, from v002 (kept aside)': judge-set Dice of a
    fine-tuned version against its parent (Model menu and `carvana models`)."""
    meta = info.meta
    parts = [info.version]
    selection = meta.get("selection") if isinstance(meta.get("selection"), dict) else None
    if selection and selection.get("holdout_dice_new") is not None:
        score = f"Dice {selection['holdout_dice_new']:.4f}"
        if selection.get("holdout_dice_parent") is not None:
            score += f" vs {selection['holdout_dice_parent']:.4f}"
        parts.append(score)
    elif isinstance(meta.get("val_dice"), int | float):
        parts.append(f"val Dice {meta['val_dice']:.4f}")
    if meta.get("parent"):
        parts.append(f"from {meta['parent']}")
    text = " — ".join(parts[:2]) + (", " + parts[2] if len(parts) > 2 else "")
    if selection and not selection.get("accepted") and not selection.get("override"):
        text += " (kept aside)"
    return text
