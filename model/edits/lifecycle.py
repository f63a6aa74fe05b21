"""The mask lifecycle: the one place that says what state an image's mask is in.

An image's mask is in exactly one state::

    none ──auto-mask──▶ auto (made by model version V) ──a person changes it──▶ edited
      │                   │                                                    │
      └──────────── a person accepts it (edited or not) ──▶ reviewed ◀─────────┘

An auto-mask is *stale* when V is not the image's active model. Every part of the app
(editor, image list, batch, fine-tune, export, effort, CLI) asks this module instead of
re-deriving the rule from files or strings. Pure: no Qt, no Keras, no file access; the
project store (``model.edits.project_store``) applies these transitions to its rows and
files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class MaskState(StrEnum):
    """The state of an image's mask; the values are what stores and ``--json`` show."""

    NONE = "none"
    AUTO = "auto"
    EDITED = "edited"
    REVIEWED = "reviewed"


class MaskSource(StrEnum):
    """Which stored file holds the mask the person sees (and export writes)."""

    NONE = "none"
    AUTO = "auto"  # the model's mask, stored once whoever made it (batch or Ctrl+R)
    EDITED = "edited"  # a person's mask


class BatchSelection(StrEnum):
    """Which images a batch auto-mask may (re)predict."""

    ALL = "all"
    WITHOUT_MASK = "without-mask"
    STALE = "stale"


HAND_MADE = frozenset({MaskState.EDITED, MaskState.REVIEWED})


class LifecycleError(RuntimeError):
    """A transition the lifecycle forbids (e.g. a batch replacing a person's mask)."""


@dataclass(frozen=True)
class MaskRecord:
    """What the project knows about one image's mask."""

    state: MaskState = MaskState.NONE
    auto_version: str | None = None  # model version that made the stored auto-mask
    has_auto: bool = False  # an auto-mask file is stored
    has_edit: bool = False  # a person's mask file is stored
    uncertainty: float | None = None  # share of uncertain pixels in the auto-mask
    pixels_changed: int | None = None  # person's mask vs the auto-mask
    seconds: float = 0.0  # time spent on the image in the editor
    dice: float | None = None  # the shown mask against the folder's ground truth
    user: str | None = None  # who changed it last (OS user name)
    updated: str | None = None  # when (ISO 8601, UTC)
    revision: int = 0  # bumped by every change of the mask or its state


@dataclass(frozen=True)
class ActiveModels:
    """The active model version of each image: one general model, optionally one per car."""

    default: str | None = None
    by_car: Mapping[str, str] = field(default_factory=dict)

    def for_image(self, image_id: str) -> str | None:
        car = image_id.split("_", 1)[0]
        return self.by_car.get(car, self.default)


def as_active(active: ActiveModels | str | None) -> ActiveModels:
    return active if isinstance(active, ActiveModels) else ActiveModels(active)


# -- questions -----------------------------------------------------------------
def shown_source(record: MaskRecord) -> MaskSource:
    """The mask the editor shows and export writes: the person's, else the model's."""
    if record.state in HAND_MADE and record.has_edit:
        return MaskSource.EDITED
    if record.state in (MaskState.AUTO, MaskState.REVIEWED) and record.has_auto:
        return MaskSource.AUTO  # reviewed as is, from before edits were always stored
    return MaskSource.NONE


def is_hand_made(record: MaskRecord) -> bool:
    """A person owns this mask: no batch may replace it."""
    return record.state in HAND_MADE


def is_stale(record: MaskRecord, image_id: str, active: ActiveModels | str | None) -> bool:
    """An auto-mask made by another version than the image's active model."""
    return (
        record.state is MaskState.AUTO
        and record.has_auto
        and record.auto_version != as_active(active).for_image(image_id)
    )


def batch_may_replace(
    record: MaskRecord,
    image_id: str,
    selection: BatchSelection,
    active: ActiveModels | str | None,
) -> bool:
    """May a batch auto-mask (GUI or ``carvana automask``) write this image's auto-mask?"""
    if is_hand_made(record):
        return False
    if selection is BatchSelection.ALL:
        return True
    if selection is BatchSelection.WITHOUT_MASK:
        return shown_source(record) is MaskSource.NONE
    return is_stale(record, image_id, active)


def may_train(record: MaskRecord) -> bool:
    """Only masks a person accepted train or judge a model (unreviewed edits are counted)."""
    return record.state is MaskState.REVIEWED and shown_source(record) is not MaskSource.NONE


def is_unreviewed_edit(record: MaskRecord) -> bool:
    return record.state is MaskState.EDITED


def counts_for_effort(record: MaskRecord) -> bool:
    """A person judged a model's auto-mask: changed it or accepted it."""
    return record.auto_version is not None and record.state in HAND_MADE


# -- transitions ---------------------------------------------------------------
def after_auto_mask(
    record: MaskRecord, version: str | None, by_person: bool, uncertainty: float | None = None
) -> MaskRecord:
    """A new auto-mask was stored.

    A batch may only replace a mask nobody owns; a person's Ctrl+R replaces whatever is
    shown (one undoable step in the editor) and the image is no longer reviewed.
    """
    if not by_person and is_hand_made(record):
        raise LifecycleError(f"a batch may not replace a {record.state} mask")
    return replace(
        record,
        state=MaskState.AUTO,
        auto_version=version,
        has_auto=True,
        has_edit=False,
        uncertainty=uncertainty,
        pixels_changed=0,
    )


def after_edit(record: MaskRecord, pixels_changed: int | None) -> MaskRecord:
    """A person saved a mask; ``pixels_changed`` against the auto-mask (None: no auto-mask).

    A mask identical to the stored auto-mask is the auto-mask again (no person's file is
    kept for it), unless it was reviewed: a review survives later edits.
    """
    if record.state is MaskState.REVIEWED:
        return replace(record, has_edit=True, pixels_changed=pixels_changed)
    if pixels_changed == 0 and record.has_auto:
        return replace(record, state=MaskState.AUTO, has_edit=False, pixels_changed=0)
    return replace(record, state=MaskState.EDITED, has_edit=True, pixels_changed=pixels_changed)


def after_review(record: MaskRecord, reviewed: bool, mask_is_empty: bool) -> MaskRecord:
    """The person marked the image reviewed (the shown mask is then stored as theirs),
    or took the mark back."""
    if reviewed:
        return replace(record, state=MaskState.REVIEWED, has_edit=True)
    if record.state is not MaskState.REVIEWED:
        return record
    if record.has_auto and record.pixels_changed == 0:
        return replace(record, state=MaskState.AUTO, has_edit=False)
    if record.has_edit and not (mask_is_empty and not record.has_auto):
        return replace(record, state=MaskState.EDITED)
    if record.has_auto:
        return replace(record, state=MaskState.AUTO, has_edit=False)
    return replace(record, state=MaskState.NONE, has_edit=False, pixels_changed=None)


# -- summaries -----------------------------------------------------------------
@dataclass(frozen=True)
class StateCounts:
    """Images per state, and the auto-masks that are stale."""

    none: int = 0
    auto: int = 0
    edited: int = 0
    reviewed: int = 0
    stale: int = 0

    @property
    def total(self) -> int:
        return self.none + self.auto + self.edited + self.reviewed

    @property
    def reviewed_share(self) -> float:
        return self.reviewed / self.total if self.total else 0.0


def count_states(
    records: Mapping[str, MaskRecord], image_ids: list[str], active: ActiveModels | str | None
) -> StateCounts:
    """Counts over ``image_ids`` (images never touched are ``none``)."""
    tally = {state: 0 for state in MaskState}
    stale = 0
    empty = MaskRecord()
    for image_id in image_ids:
        record = records.get(image_id, empty)
        tally[record.state] += 1
        stale += is_stale(record, image_id, active)
    return StateCounts(
        none=tally[MaskState.NONE],
        auto=tally[MaskState.AUTO],
        edited=tally[MaskState.EDITED],
        reviewed=tally[MaskState.REVIEWED],
        stale=stale,
    )
