"""Correction effort per model version: is fine-tuning paying off?

Pure aggregation over the edits project's per-image records (no Qt, no Keras). An image
counts for a model version once a person has judged that version's auto-mask: they either
changed it ("edited") or approved it ("reviewed"). Auto-masks nobody has looked at say
nothing about the model, so they are counted separately as "pending".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JUDGED = ("edited", "reviewed")


@dataclass(frozen=True)
class VersionEffort:
    """How much correcting one model version's auto-masks took."""

    version: str
    judged: int  # images a person edited or approved
    accepted: int  # approved with no pixel changed
    pending: int  # auto-masks not looked at yet
    mean_pixels_changed: float
    mean_seconds: float

    @property
    def accepted_share(self) -> float:
        """Share of judged images accepted without edits (0 when none judged)."""
        return self.accepted / self.judged if self.judged else 0.0


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def effort_by_version(records: Mapping[str, Any] | Iterable[Any]) -> list[VersionEffort]:
    """Aggregate records (ImageEntry objects or their dicts) by the version that auto-masked them.

    Records without a model version (masks drawn from scratch) have no auto-mask to compare
    against and are left out. Versions are returned in order of first appearance after
    sorting by name, which for timestamped version names is creation order.
    """
    values = records.values() if isinstance(records, Mapping) else records
    groups: dict[str, dict[str, float]] = {}
    for record in values:
        version = _field(record, "model_version")
        if not version:
            continue
        g = groups.setdefault(
            str(version), {"judged": 0, "accepted": 0, "pending": 0, "pixels": 0.0, "seconds": 0.0}
        )
        status = _field(record, "status")
        if status not in JUDGED:
            if status == "auto":
                g["pending"] += 1
            continue
        changed = int(_field(record, "pixels_changed") or 0)
        g["judged"] += 1
        g["pixels"] += changed
        g["seconds"] += float(_field(record, "seconds") or 0.0)
        if status == "reviewed" and changed == 0:
            g["accepted"] += 1
    result = []
    for version in sorted(groups):
        g = groups[version]
        n = int(g["judged"])
        result.append(
            VersionEffort(
                version=version,
                judged=n,
                accepted=int(g["accepted"]),
                pending=int(g["pending"]),
                mean_pixels_changed=g["pixels"] / n if n else 0.0,
                mean_seconds=g["seconds"] / n if n else 0.0,
            )
        )
    return result


def read_status_records(status_file: Path) -> dict[str, dict]:
    """The per-image records of a saved project status file (``project.json``).

    A missing file is an empty project; an unreadable one raises ValueError naming it.
    """
    path = Path(status_file)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = data["images"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable project status file ({exc})") from exc
    if not isinstance(images, dict):
        raise ValueError(f"{path}: 'images' must be an object, got {type(images).__name__}")
    return images
