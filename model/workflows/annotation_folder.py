"""An annotation folder: a folder of images and the project store of the edits made on it.

The window (File → Open Folder) and the headless commands (``carvana automask``,
``carvana status``, ``carvana finetune FOLDER``) open a folder the same way, so they agree
on which images it holds and where its edits live; ``folder_status`` is the summary both
show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from model.data.dataset import DataLayout, ImageRecord, scan_folder
from model.edits import lifecycle
from model.edits.effort import VersionEffort, effort_by_version
from model.edits.lifecycle import ActiveModels, StateCounts
from model.edits.project_store import ProjectStore, default_project_dir


def image_folder_of(folder: Path, layout: DataLayout) -> Path:
    """The folder the images themselves are in (``train/`` of a Kaggle root)."""
    return layout.images[0].path.parent if layout.images else Path(folder)


@dataclass
class AnnotationFolder:
    layout: DataLayout
    image_folder: Path
    project_dir: Path
    store: ProjectStore | None  # None: no edits yet, and the caller only reads

    @property
    def images(self) -> list[ImageRecord]:
        return self.layout.images


def open_annotation_folder(
    folder: Path, project_dir: Path | None = None, create: bool = True
) -> AnnotationFolder:
    """Scan ``folder`` (a Kaggle root, its train/ or test/, or plain images) and open its
    project store (``<images>_edits`` beside the images unless ``project_dir``).

    ``create=False`` (a command that only reads, like ``carvana status``) leaves a folder
    nobody has edited untouched: no edits folder is made beside the data.
    """
    layout = scan_folder(folder)
    image_folder = image_folder_of(Path(folder), layout)
    root = Path(project_dir) if project_dir is not None else default_project_dir(image_folder)
    store = ProjectStore(root) if create or root.exists() else None
    return AnnotationFolder(layout, image_folder, root, store)


@dataclass
class FolderStatus:
    counts: StateCounts
    active_model: str | None
    project_dir: Path
    effort: list[VersionEffort] = field(default_factory=list)

    def to_json(self) -> dict:
        """Integer counts keyed by the lifecycle's state names plus ``stale`` and ``total``;
        everything else nested under its own key."""
        c = self.counts
        data: dict = {state.value: getattr(c, state.value) for state in lifecycle.MaskState}
        data["stale"] = c.stale
        data["total"] = c.total
        data["summary"] = {
            "reviewed_share": round(c.reviewed_share, 4),
            "active_model": self.active_model,
            "project_dir": str(self.project_dir),
        }
        data["effort_by_model"] = {
            e.version: {k: v for k, v in asdict(e).items() if k != "version"}
            | {"accepted_share": round(e.accepted_share, 4)}
            for e in self.effort
        }
        return data

    def lines(self) -> list[str]:
        c = self.counts
        out = [
            f"{c.total} images in {self.project_dir.parent}",
            f"  none {c.none}, auto {c.auto} ({c.stale} stale against "
            f"{self.active_model or 'no model'}), edited {c.edited}, reviewed {c.reviewed} "
            f"({c.reviewed_share:.0%} reviewed)",
        ]
        for e in self.effort:
            out.append(
                f"  {e.version}: {e.judged} judged, {e.accepted_share:.0%} accepted unchanged, "
                f"{e.mean_pixels_changed:.0f} px changed on average, {e.pending} pending"
            )
        return out


def folder_status(folder: AnnotationFolder, active: ActiveModels | str | None) -> FolderStatus:
    records = folder.store.records() if folder.store is not None else {}
    ids = [r.image_id for r in folder.images]
    counts = lifecycle.count_states(records, ids, active)
    name = active.default if isinstance(active, ActiveModels) else active
    return FolderStatus(counts, name, folder.project_dir, effort_by_version(records))
