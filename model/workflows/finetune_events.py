"""Typed progress events of a fine-tune run, and their JSON form across the child's pipe.

The workflow (``model.workflows.finetune``) emits these dataclasses; the GUI panel, the
training plots and the CLI printer consume them. Between the child process and the GUI
they travel as one JSON object per line with a ``type`` tag (``to_json`` / ``from_json``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class DataSummary:
    """What the run trains, selects and judges on, and what it leaves out (and why)."""

    reviewed: int  # reviewed masks (the person's accepted ones)
    unreviewed_edits: int  # edited but not reviewed: counted, never used
    ground_truth: int  # folder ground-truth masks added to training
    train_images: int
    select_images: int  # early stopping and checkpoint choice
    judge_images: int  # keep-or-not, nothing else
    train_cars: int
    select_cars: int
    judge_cars: int
    judge_ids: list[str] = field(default_factory=list)
    note: str = ""  # e.g. "too few cars for a judge set: ..."

    @property
    def can_judge(self) -> bool:
        return self.judge_images > 0


@dataclass(frozen=True)
class Phase:
    """A stage without a count: "loading", "training", "judging", "storing"."""

    name: str
    message: str = ""


@dataclass(frozen=True)
class Batch:
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class Epoch:
    """A finished epoch; ``val_*`` are on the select set (NaN without one)."""

    epoch: int
    epochs: int
    loss: float
    val_loss: float
    val_dice: float
    seconds: float


@dataclass(frozen=True)
class TrainingDone:
    cancelled: bool
    epochs_finished: int
    best_val_dice: float


@dataclass(frozen=True)
class Scoring:
    """Full-resolution Dice on the judge set: ``model`` is "new" or "base"."""

    model: str
    done: int
    total: int


@dataclass(frozen=True)
class Selection:
    """The keep-or-not verdict on a stored candidate."""

    version: str
    accepted: bool  # the score (or make_current) made it the current model
    new_dice: float | None
    base_dice: float | None
    reason: str
    cancelled: bool
    overridden: bool = False  # made current by make_current although it did not win
    parent: str | None = None


@dataclass(frozen=True)
class Remasked:
    """Learn this car: one of the car's unedited images re-masked by its new model."""

    done: int
    total: int
    image_id: str
    saved: bool


@dataclass(frozen=True)
class CarLearned:
    """Learn this car: the car's own model and what it re-masked (before ``Finished``)."""

    car: str
    version: str
    name: str
    remasked: list[str] = field(default_factory=list)
    left_to_editor: list[str] = field(default_factory=list)  # open there: one undoable step
    seconds: float = 0.0


@dataclass(frozen=True)
class Finished:
    """The run's last event: ``version`` is None when nothing was stored."""

    version: str | None
    stored: bool
    accepted: bool
    cancelled: bool
    message: str


@dataclass(frozen=True)
class Failed:
    """The child's error (the parent raises it as FinetuneProcessError)."""

    message: str
    traceback: str = ""


FinetuneEvent = (
    DataSummary
    | Phase
    | Batch
    | Epoch
    | TrainingDone
    | Scoring
    | Selection
    | Remasked
    | CarLearned
    | Finished
    | Failed
)
EventFn = Callable[[FinetuneEvent], None]

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        DataSummary,
        Phase,
        Batch,
        Epoch,
        TrainingDone,
        Scoring,
        Selection,
        Remasked,
        CarLearned,
        Finished,
        Failed,
    )
}


def _nan_free(value: object) -> object:
    """JSON has no NaN: non-finite floats travel as None and come back as NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(event: FinetuneEvent) -> dict:
    return {"type": type(event).__name__, **{k: _nan_free(v) for k, v in asdict(event).items()}}


def from_json(data: dict) -> FinetuneEvent:
    """The dataclass back from ``to_json``; raises ValueError for an unknown type."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown fine-tune event {data.get('type')!r}")
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if value is None and f.type == "float":
            value = math.nan
        values[f.name] = value
    return cls(**values)


def from_training_dict(info: dict) -> FinetuneEvent | None:
    """Adapter for ``model.nn.training.train``'s progress dicts (None: not ours to show)."""
    event = info.get("event")
    nan = math.nan
    if event == "batch":
        return Batch(
            int(info["epoch"]),
            int(info["epochs"]),
            int(info["batch"]),
            int(info["batches"]),
            float(info.get("loss", nan)),
            float(info.get("images_per_s", 0.0)),
            float(info.get("eta_s", nan)),
        )
    if event == "epoch":
        return Epoch(
            int(info["epoch"]),
            int(info["epochs"]),
            float(info.get("loss", nan)),
            float(info.get("val_loss", nan)),
            float(info.get("val_dice", nan)),
            float(info.get("seconds", nan)),
        )
    return None
