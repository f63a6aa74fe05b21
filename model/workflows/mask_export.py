"""Export the project's masks as a folder of PNG or GIF files.

Each image's file is the mask the lifecycle says it shows (a person's, else the stored
auto-mask; ``model.workflows.mask_sources``). Images with neither are reported, not
invented; unreviewed edits are written and counted apart.
GIFs use Kaggle's train_masks layout (``<id>_mask.gif``, palette indices 0/1); PNGs are
8-bit gray 0/255. Every file is written atomically, so a cancelled export leaves only
complete masks behind, and a rerun simply overwrites them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from model.data.masks import write_mask
from model.edits.lifecycle import ActiveModels
from model.edits.project_store import ProjectStore
from model.workflows.mask_sources import ShownMasks, SourceTally

log = logging.getLogger(__name__)

FORMATS = ("png", "gif")


@dataclass(frozen=True)
class MaskExportProgress:
    """One image done: ``source`` is its state ("reviewed", "auto"...) or "missing"."""

    done: int
    total: int
    image_id: str
    source: str


ProgressFn = Callable[[MaskExportProgress], None]
StopFn = Callable[[], bool]


@dataclass
class MaskExportResult:
    out_dir: Path
    fmt: str
    tally: SourceTally = field(default_factory=SourceTally)
    missing: list[str] = field(default_factory=list)  # images with no mask at all
    cancelled: bool = False

    @property
    def written(self) -> int:
        return self.tally.from_store

    def summary(self) -> str:
        t = self.tally
        text = (
            f"{self.written} {self.fmt.upper()} masks in {self.out_dir} "
            f"({t.reviewed} reviewed, {t.unreviewed_edits} edited but not reviewed, "
            f"{t.auto + t.stale_auto} auto)"
        )
        if self.missing:
            text += f"; {len(self.missing)} images without a mask skipped"
        if self.cancelled:
            text += "; cancelled"
        return text


def export_file_name(image_id: str, fmt: str) -> str:
    return f"{image_id}_mask.{fmt}"


def export_masks(
    project: ProjectStore,
    image_ids: Iterable[str],
    out_dir: Path,
    fmt: str = "png",
    include_auto: bool = True,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    active: ActiveModels | str | None = None,
) -> MaskExportResult:
    """Write one mask per image id into ``out_dir``: the mask each image shows.

    ``include_auto=False`` exports only what people corrected (e.g. to share training data).
    on_progress gets a MaskExportProgress after every file.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown mask format {fmt!r}; use one of {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = list(image_ids)
    # People's masks first: if the user cancels half-way, the valuable masks are already out.
    records = project.records()
    ordered = sorted(ids, key=lambda i: (i not in records or not records[i].has_edit, i))
    shown = ShownMasks(project, active, include_auto)
    result = MaskExportResult(out_dir=out_dir, fmt=fmt, tally=shown.tally)
    for done, image_id in enumerate(ordered, start=1):
        if should_stop is not None and should_stop():
            result.cancelled = True
            break
        mask = shown.mask_of(image_id)
        source = "missing" if mask is None else str(project.record(image_id).state)
        if mask is None:
            result.missing.append(image_id)
        else:
            write_mask(out_dir / export_file_name(image_id, fmt), mask)
        if on_progress is not None:
            on_progress(MaskExportProgress(done, len(ordered), image_id, source))
    log.info("mask export: %s", result.summary())
    return result
