"""Correction effort per model version: is fine-tuning paying off?

Pure aggregation over the project store's rows (no Qt, no Keras). An image counts for a
model version once a person has judged that version's auto-mask (``lifecycle.
counts_for_effort``): they either changed it (edited) or approved it (reviewed). Auto-masks
nobody has looked at say nothing about the model, so they are counted as "pending".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from model.edits import lifecycle
from model.edits.lifecycle import MaskRecord, MaskState


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


def effort_by_version(
    records: Mapping[str, MaskRecord] | Iterable[MaskRecord],
) -> list[VersionEffort]:
    """Aggregate rows by the model version that auto-masked them.

    Rows without a model version (masks drawn from scratch) have no auto-mask to compare
    against and are left out. Versions are sorted by name (creation order for vNNN ids).
    """
    values = records.values() if isinstance(records, Mapping) else records
    groups: dict[str, dict[str, float]] = {}
    for record in values:
        if not record.auto_version:
            continue
        g = groups.setdefault(
            record.auto_version,
            {"judged": 0, "accepted": 0, "pending": 0, "pixels": 0.0, "seconds": 0.0},
        )
        if not lifecycle.counts_for_effort(record):
            if record.state is MaskState.AUTO:
                g["pending"] += 1
            continue
        changed = int(record.pixels_changed or 0)
        g["judged"] += 1
        g["pixels"] += changed
        g["seconds"] += record.seconds
        if record.state is MaskState.REVIEWED and changed == 0:
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
