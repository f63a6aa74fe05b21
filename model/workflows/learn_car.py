"""Learn this car: adapt the current model to one car from a few reviewed angles, then
re-mask that car's angles nobody has edited.

A Carvana car is photographed at 16 angles on one turntable: once a person has reviewed
a few, the model can learn that very car (paint, wheels, shadow) in well under a minute.
The one workflow behind Model → Learn this car (Ctrl+L, in a child process), ``carvana
finetune FOLDER --car CAR`` and ``bench/learn_car.py``:

1. the car's reviewed masks (``lifecycle.may_train``; at least ``MIN_REVIEWED``) train
   a copy of the base model with the one fine-tune workflow (``run_finetune``), tuned for
   few images (``LearnCarSettings``; figures in MODEL_CARD.md);
2. the result is stored in the model store as a per-car version (``vNNN-car-CAR``, its
   JSON says ``kind: car``), never as the current model;
3. it becomes that car's active model only (``car_models.json`` of the project); other
   cars and the general model are untouched;
4. the car's images in state none or auto (``lifecycle.batch_may_replace``) are re-masked
   with it, as auto-masks: the person still reviews them. The general model's masks it
   replaces are kept aside, so ``forget_car`` puts them back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.data.dataset import ImageRecord
from model.edits.car_models import CarModels, car_model_name, may_remask
from model.edits.lifecycle import MaskRecord
from model.edits.project_store import ProjectStore
from model.store.versions import ModelInfo, ModelStore
from model.workflows.batch_automask import BatchProgress, run_batch_automask
from model.workflows.finetune import FinetuneSettings, StopFn, run_finetune
from model.workflows.finetune_data import Sources, reviewed_sources
from model.workflows.finetune_events import (
    CarLearned,
    EventFn,
    FinetuneEvent,
    Finished,
    Phase,
    Remasked,
)

log = logging.getLogger(__name__)

MIN_REVIEWED = 2


@dataclass
class LearnCarSettings:
    """How a model adapts to one car (chosen on training cars, see MODEL_CARD.md)."""

    image_steps: int = 24  # images seen in all (k reviewed angles, each ~image_steps/k times)
    learning_rate: float = 1e-4
    batch_size: int = 2
    trainable: str = "all"  # all | decoder | bn (model.nn.training.set_trainable)
    freeze_bn: bool = True  # BatchNorm in inference mode: batch statistics of one car hurt
    shift: float = 0.0  # random shift (fraction of the size); scale and rotation stay off
    hflip: bool = True
    tta: bool = True  # re-mask with flip TTA
    seed: int = 0
    workers: int = 1
    extra: dict = field(default_factory=dict)  # more TrainConfig fields (experiments)

    def finetune_settings(self, reviewed: int) -> FinetuneSettings:
        repeats = max(1, math.ceil(self.image_steps / max(1, reviewed)))
        return FinetuneSettings(
            epochs=1,  # one epoch of `repeats` passes: one checkpoint write, not many
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            patience=1,
            seed=self.seed,
            workers=self.workers,
            extra={
                "trainable": self.trainable,
                "freeze_bn": self.freeze_bn,
                "repeats": repeats,
                "augment": {
                    "shift": self.shift,
                    "scale": 0.0,
                    "rotate_deg": 0.0,
                    "hflip": self.hflip,
                },
                **self.extra,
            },
        )


@dataclass
class LearnCarOutcome:
    car: str
    version: ModelInfo | None  # the per-car version; None: nothing was stored
    name: str
    remasked: list[str]
    left_to_editor: list[str]
    cancelled: bool
    seconds: float
    message: str


def car_records(images: Collection[ImageRecord], car: str) -> list[ImageRecord]:
    return sorted((r for r in images if r.car_id == car), key=lambda r: r.image_id)


def car_sources(project: ProjectStore, images: Collection[ImageRecord], car: str) -> Sources:
    """The car's reviewed masks; ValueError (naming the car) when there are too few."""
    records = car_records(images, car)
    if not records:
        raise ValueError(f"no images of car {car!r} in this folder")
    sources = reviewed_sources(project, records)
    if len(sources.reviewed) < MIN_REVIEWED:
        raise ValueError(
            f"learn car {car}: review at least {MIN_REVIEWED} of its angles first "
            f"({len(sources.reviewed)} reviewed)"
        )
    return Sources(sources.reviewed, sources.unreviewed_edits)  # never the folder's truth


def to_remask(
    project: ProjectStore, images: Collection[ImageRecord], car: str
) -> list[ImageRecord]:
    """The car's images nobody has edited (state none or auto)."""
    rows = project.records()
    return [r for r in car_records(images, car) if may_remask(rows.get(r.image_id, MaskRecord()))]


def load_predictor(path: Path) -> Any:
    """The Keras predictor (Keras is imported here, in the worker / child / CLI only)."""
    from model.nn.predictor import Predictor

    return Predictor.load(path, engine="keras")


def learn_car(
    project: ProjectStore,
    images: Collection[ImageRecord],
    car: str,
    store: ModelStore,
    base: ModelInfo,
    settings: LearnCarSettings | None = None,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
    protect: Collection[str] = (),
    truth_of: Callable[[str], Path | None] | None = None,
    predictor_loader: Callable[[Path], Any] | None = None,
    run_dir: Path | None = None,
) -> LearnCarOutcome:
    """Adapt ``base`` to ``car``, make it the car's active model, re-mask the car.

    ``protect``: image ids left to the caller (the one open in the editor); the eligible
    ones come back in ``left_to_editor``. ``truth_of`` fills the Dice column when the
    folder has ground truth. ``predictor_loader`` (default ``load_predictor``, looked up
    when called) loads the per-car model. Raises ValueError when the car has too few
    reviewed angles.
    """
    started = time.perf_counter()
    settings = settings or LearnCarSettings()
    emit = on_event or (lambda event: None)
    stop = should_stop or (lambda: False)
    sources = car_sources(project, images, car)
    name = car_model_name(base.version, car)

    def relay(event: FinetuneEvent) -> None:
        if not isinstance(event, Finished):  # this workflow sends its own, at the very end
            emit(event)

    outcome = run_finetune(
        sources,
        store,
        base,
        settings.finetune_settings(len(sources.reviewed)),
        relay,
        stop,
        keep_cancelled=False,
        make_current=False,
        label=f"car-{car}",
        run_dir=run_dir,
        extra_meta={"kind": "car", "car": car, "name": name, "learn_car": asdict(settings)},
    )
    info = outcome.version
    if info is None:
        return _finish(
            emit, LearnCarOutcome(car, None, name, [], [], True, _since(started), outcome.message)
        )
    emit(Phase("remasking", f"re-masking car {car} with {name}"))
    todo = to_remask(project, images, car)
    left = [r.image_id for r in todo if r.image_id in protect]
    todo = [r for r in todo if r.image_id not in protect]
    models = CarModels(project.root)
    models.keep_replaced(project, [r.image_id for r in todo] + left)
    models.set(car, info.version, name, base.version)
    remasked: list[str] = []
    cancelled = stop()
    if todo and not cancelled:
        predictor = (predictor_loader or load_predictor)(info.path)

        def progress(p: BatchProgress) -> None:
            emit(Remasked(p.done, p.total, p.image_id, p.saved))

        result = run_batch_automask(
            project,
            [r.path for r in todo],
            predictor,
            info.version,
            settings.tta,
            progress,
            stop,
            truth_of=truth_of,
        )
        remasked, cancelled = result.saved_ids, result.cancelled
    seconds = _since(started)
    emit(CarLearned(car, info.version, name, remasked, left, seconds))
    message = f"{name} ({info.version}) re-masked {len(remasked)} of car {car}'s images"
    if cancelled:
        message += " (cancelled while re-masking)"
    return _finish(
        emit, LearnCarOutcome(car, info, name, remasked, left, cancelled, seconds, message)
    )


def _since(started: float) -> float:
    return time.perf_counter() - started


def _finish(emit: EventFn, outcome: LearnCarOutcome) -> LearnCarOutcome:
    version = outcome.version.version if outcome.version is not None else None
    emit(Finished(version, version is not None, False, outcome.cancelled, outcome.message))
    return outcome
