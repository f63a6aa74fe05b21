"""Fine-tune on reviewed masks, then keep the new model only if it is better.

The one fine-tune workflow of the GUI (run in a child process, see ``finetune_process``)
and of ``carvana finetune``. Its rules, in the lifecycle's words:

- only masks a person reviewed (``lifecycle.may_train``) train, select or judge; unreviewed
  edits are counted and reported, never used. A plain masks folder counts as reviewed.
- the reviewed images are split BY CAR into train / select / judge. The select cars drive
  early stopping and the checkpoint choice (best.keras); the judge cars decide keep-or-not
  (full-resolution Dice of new vs base) and serve nothing else. With fewer than three cars
  there is no judge set: the current model is kept unless the caller says otherwise.
- the folder's ground-truth masks, when asked for, only add training images, never of a
  select or judge car.
- a cancel stores nothing, unless an epoch had finished and the person chooses to keep it;
  then that candidate is judged like any other.

Keras is imported lazily (``train_model`` / ``judge_model``); everything else moves
records and JSON.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.data.dataset import ImageRecord
from model.data.masks import read_mask
from model.kaggle.metrics import DiceReport, dice
from model.store.keep_or_not import Decision, decide, override_current, record_version
from model.store.versions import ModelInfo, ModelStore
from model.workflows.finetune_data import Sources, TrainingSet, build_training_set
from model.workflows.finetune_events import (
    DataSummary,
    EventFn,
    Finished,
    Phase,
    Scoring,
    Selection,
    TrainingDone,
    from_training_dict,
)

log = logging.getLogger(__name__)

FRESH_PRESET = "256x384"  # input size of a new network, when there is no model to start from

StopFn = Callable[[], bool]


@dataclass
class FinetuneSettings:
    """The one set of fine-tune defaults (GUI widgets and CLI options read them from here)."""

    epochs: int = 3
    learning_rate: float = 5e-5
    batch_size: int = 2
    patience: int = 3  # early stopping on the select set
    include_ground_truth: bool = False
    seed: int = 0
    preset: str | None = None  # None: the base model's own input size (fine-tuning keeps it)
    width_multiplier: float = 0.5  # only used when there is no model to start from
    workers: int = 1  # data loading threads
    engine: str | None = None  # inference engine for judging (None: auto / CARVANA_ENGINE)
    extra: dict = field(default_factory=dict)  # passed on to TrainConfig


# -- judging --------------------------------------------------------------------------
def score_predictor(
    predictor: Any,
    records: list[ImageRecord],
    on_event: EventFn | None = None,
    model: str = "new",
    should_stop: StopFn | None = None,
) -> DiceReport:
    """Full-resolution Dice of a predictor on records whose mask_path holds the truth."""
    truth = {r.path: r for r in records}
    report = DiceReport()
    for done, (path, prediction) in enumerate(predictor.predict_paths(list(truth)), start=1):
        record = truth[Path(path)]
        report.scores[record.image_id] = dice(prediction.mask, read_mask(record.mask_path))
        if on_event is not None:
            on_event(Scoring(model, done, len(records)))
        if should_stop is not None and should_stop():
            break
    return report


# -- the run --------------------------------------------------------------------------
@dataclass
class FinetuneOutcome:
    version: ModelInfo | None  # None: nothing was stored
    decision: Decision | None
    cancelled: bool
    history: dict[str, list[float]]
    summary: DataSummary
    message: str

    @property
    def stored(self) -> bool:
        return self.version is not None

    def finished_event(self) -> Finished:
        accepted = self.decision is not None and self.decision.accept
        return Finished(
            self.version.version if self.version else None,
            self.stored,
            accepted,
            self.cancelled,
            self.message,
        )


def base_input_size(base: ModelInfo | None) -> str | None:
    """The base model's input size as "HxW" (from its JSON), if it says."""
    if base is None:
        return None
    dims = base.meta.get("input_size")
    if isinstance(dims, list) and len(dims) == 2:
        return f"{int(dims[0])}x{int(dims[1])}"
    preset = base.meta.get("preset")
    return preset if isinstance(preset, str) else None


def train_model(config: Any, on_progress: Callable[[dict], None], should_stop: StopFn) -> Any:
    """model.nn.training.train (Keras is imported here, never at module level)."""
    from model.nn.training import train

    return train(config, on_progress, should_stop)


def judge_model(
    model_path: Path,
    records: list[ImageRecord],
    on_event: EventFn,
    which: str,
    should_stop: StopFn | None = None,
    engine: str | None = None,
) -> float:
    """Mean full-resolution Dice of the model file on the judge records."""
    from model.nn.predictor import Predictor

    predictor = Predictor.load(model_path, engine=engine)
    return score_predictor(predictor, records, on_event, which, should_stop).mean


def default_run_dir(store: ModelStore) -> Path:
    return store.root / ".runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}"


def _as_bool_fn(value: Callable[[], bool] | bool) -> Callable[[], bool]:
    return value if callable(value) else (lambda: bool(value))


def run_finetune(
    sources: Sources,
    store: ModelStore,
    base: ModelInfo | None,
    settings: FinetuneSettings,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
    keep_cancelled: Callable[[], bool] | bool = False,
    make_current: bool = False,
    run_dir: Path | None = None,
    label: str = "finetune",
    extra_meta: dict | None = None,
) -> FinetuneOutcome:
    """Fine-tune ``base`` (None: a fresh network) on ``sources``, judge, store, decide.

    ``should_stop`` cancels (polled every batch); after a cancel, ``keep_cancelled()``
    says whether the best finished epoch is still judged and stored. ``make_current``
    makes a stored candidate current even when it did not win (noted in its JSON).
    ``label`` names the version folder (vNNN-label); ``extra_meta`` goes into its JSON
    (e.g. the car of a per-car version, see ``learn_car``). Raises ValueError when there
    is nothing to train on.
    """
    emit = on_event or (lambda event: None)
    stop = should_stop or (lambda: False)
    keep = _as_bool_fn(keep_cancelled)
    training_set = build_training_set(sources, settings.include_ground_truth, settings.seed)
    summary = training_set.summary
    emit(summary)
    if not training_set.train:
        unused = (
            f" ({summary.unreviewed_edits} unreviewed edits not used)"
            if summary.unreviewed_edits
            else ""
        )
        raise ValueError(f"nothing to fine-tune on: review at least one mask first{unused}")
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(store)

    def nothing(message: str, cancelled: bool = True, history: dict | None = None):
        shutil.rmtree(run_dir, ignore_errors=True)
        outcome = FinetuneOutcome(None, None, cancelled, history or {}, summary, message)
        emit(outcome.finished_event())
        return outcome

    def discarding() -> bool:
        return stop() and not keep()

    if stop():
        return nothing("cancelled before training: nothing stored")
    emit(Phase("loading", "loading data and model"))
    from model.nn.pipeline import Augment  # keras: only in the worker / child / CLI
    from model.nn.train_config import TrainConfig

    extra = dict(settings.extra)
    if isinstance(extra.get("augment"), dict):  # settings travel to the child as JSON
        extra["augment"] = Augment(**extra["augment"])

    if stop():
        return nothing("cancelled while loading: nothing stored")
    config = TrainConfig(
        train_pairs=[(r.path, r.mask_path) for r in training_set.train],
        val_pairs=[(r.path, r.mask_path) for r in training_set.select],
        out_dir=run_dir,
        preset=settings.preset or base_input_size(base) or FRESH_PRESET,
        width_multiplier=settings.width_multiplier,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        patience=settings.patience,
        base_model=base.path if base is not None else None,
        resume=False,
        seed=settings.seed,
        workers=settings.workers,
        tensorboard=False,
        **extra,
    )

    def relay(info: dict) -> None:
        event = from_training_dict(info)
        if event is not None:
            emit(event)

    emit(Phase("training", f"training on {len(training_set.train)} images"))
    result = train_model(config, relay, stop)
    finished = result.epochs_run
    emit(TrainingDone(result.cancelled, finished, float(result.best_val_dice)))
    if result.cancelled:
        if finished == 0:
            return nothing("cancelled before an epoch finished: nothing stored", True, None)
        if not keep():
            return nothing("cancelled: nothing stored", True, result.history)
    if result.model_path is None or not Path(result.model_path).is_file():
        return nothing("training produced no checkpoint: nothing stored", result.cancelled)
    if discarding():
        return nothing("cancelled: nothing stored", True, result.history)

    decision = _judge(
        training_set, base, Path(result.model_path), emit, discarding, settings.engine
    )
    if discarding():
        return nothing("cancelled while judging: nothing stored", True, result.history)
    emit(Phase("storing", "storing the new version"))
    h, w = _size_of(config)
    meta = {
        "kind": "finetune",
        "parent": base.version if base is not None else None,
        "preset": f"{h}x{w}",
        "input_size": [h, w],
        "threshold": base.threshold if base is not None else 0.5,
        "data": asdict(summary),
        "training": {
            "epochs_run": finished,
            "epochs": settings.epochs,
            "learning_rate": settings.learning_rate,
            "batch_size": settings.batch_size,
            "patience": settings.patience,
            "cancelled": result.cancelled,
            "stopped_early": result.stopped_early,
            "best_val_loss": _finite(result.best_val_loss),
            "best_val_dice": _finite(result.best_val_dice),
        },
        **(extra_meta or {}),
    }
    info = record_version(store, Path(result.model_path), decision, meta, label)
    overridden = make_current and not decision.accept
    if overridden:
        info = override_current(store, info.version)
    shutil.rmtree(run_dir, ignore_errors=True)
    emit(
        Selection(
            info.version,
            decision.accept,
            _finite(decision.new_dice),
            decision.current_dice,
            decision.reason,
            result.cancelled,
            overridden,
            base.version if base is not None else None,
        )
    )
    verdict = "now the current model" if decision.accept or overridden else "kept aside"
    outcome = FinetuneOutcome(
        info, decision, result.cancelled, result.history, summary, f"{info.version}: {verdict}"
    )
    emit(outcome.finished_event())
    return outcome


def _judge(
    training_set: TrainingSet,
    base: ModelInfo | None,
    model_path: Path,
    emit: EventFn,
    discarding: StopFn,
    engine: str | None = None,
) -> Decision:
    judge = training_set.judge
    if not judge:
        reason = training_set.summary.note or "no judge images"
        if base is None:
            return Decision(math.nan, None, True, f"no current model to compare with; {reason}")
        return Decision(math.nan, None, False, f"{reason}: keeping the current model", 0)
    emit(Phase("judging", f"judging new vs current on {len(judge)} images at full resolution"))
    new_dice = judge_model(model_path, judge, emit, "new", discarding, engine)
    base_dice = None
    if base is not None and not discarding():
        base_dice = judge_model(base.path, judge, emit, "base", discarding, engine)
    return decide(new_dice, base_dice, len(judge))


def _size_of(config: Any) -> tuple[int, int]:
    h, w = config.input_size  # training.py sets the preset to the base model's size
    return int(h), int(w)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
