"""Training and fine-tuning: one function used by the CLI and the GUI.

Progress and cancellation cross the boundary as plain callables: `on_progress(dict)` is
called after every batch and epoch, `should_stop()` is polled after every batch (Keras 3
checks `model.stop_training` between batches, so a cancel takes effect within one batch).
Checkpoints are written atomically: `best.keras` (lowest validation loss), `last.keras`
plus `train_state.json` after every epoch, so an interrupted run resumes where it stopped.
A cancelled epoch is not counted: its weights go to `last.keras` and a resume redoes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from model.data.dataset import ImageRecord, parse_image_name, split_by_car
from model.nn.backend import accelerators, backend_name, data_parallel, set_mixed_precision
from model.nn.bn_calibration import RecalibrateBatchNorm, recalibrate_batchnorm
from model.nn.losses import CUSTOM_OBJECTS, LOSSES, dice_coef
from model.nn.network import build_segnet, preset_size
from model.nn.pipeline import Augment, MaskSequence
from model.nn.shipping import to_float32
from model.nn.train_callbacks import (
    BEST_NAME,
    CheckpointCallback,
    ProgressCallback,
    ProgressFn,
    StopFn,
    read_state,
    save_model_atomic,
)
from model.nn.train_callbacks import LAST_NAME as LAST_NAME  # re-exported for callers
from model.nn.train_callbacks import STATE_NAME as STATE_NAME
from model.nn.train_callbacks import write_state as write_state

log = logging.getLogger(__name__)

Pair = tuple[Path, Path | np.ndarray]


@dataclass
class TrainConfig:
    """Everything a run needs. `train_pairs`/`val_pairs` hold (image, mask) pairs."""

    train_pairs: list[Pair]
    val_pairs: list[Pair]
    out_dir: Path
    preset: str = "512x768"
    width_multiplier: float = 0.5
    epochs: int = 10
    batch_size: int = 4
    learning_rate: float = 1e-4
    patience: int = 5
    min_delta: float = 1e-4
    augment: Augment | None = field(default_factory=Augment)
    base_model: Path | None = None  # fine-tune from here instead of a fresh network
    # Start from these weights, rebuilt at this run's preset: the network is fully
    # convolutional, so weights learnt at 256x384 fit 512x768 (progressive resizing).
    init_weights: Path | None = None
    resume: bool = True
    seed: int = 0
    workers: int = 2
    cache: bool = True
    mixed_precision: bool = False
    loss: str = "bce-dice"  # a key of model.nn.losses.LOSSES
    tensorboard: bool = True
    distribute: bool = False  # data parallel over all devices (MirroredStrategy/DataParallel)

    @property
    def input_size(self) -> tuple[int, int]:
        return preset_size(self.preset)


@dataclass
class TrainResult:
    model_path: Path | None  # best checkpoint (None only when not a single batch ran)
    last_path: Path | None
    history: dict[str, list[float]]
    best_val_loss: float
    best_val_dice: float
    epochs_run: int
    cancelled: bool
    stopped_early: bool


def load_keras_model(path: Path) -> keras.Model:
    return keras.saving.load_model(
        path, custom_objects=CUSTOM_OBJECTS, compile=True, safe_mode=True
    )


def compile_model(
    model: keras.Model,
    learning_rate: float,
    loss: str = "bce-dice",
    optimizer: keras.optimizers.Optimizer | None = None,
) -> None:
    """Compile with Adam and `loss`; pass `optimizer` to keep a resumed run's Adam state."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if optimizer is None:
        optimizer = keras.optimizers.Adam(
            learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8
        )
    # XLA pays off on accelerators; on a CPU it compiles slower and runs no faster.
    jit = "auto" if accelerators() else False
    model.compile(optimizer=optimizer, loss=LOSSES[loss], metrics=[dice_coef], jit_compile=jit)


def _config_record(config: TrainConfig) -> dict:
    """The run's settings as JSON (the pairs left out: they are the data, not settings)."""
    cfg = {k: v for k, v in asdict(config).items() if k not in ("train_pairs", "val_pairs")}
    return json.loads(json.dumps(cfg, default=str))


def _fresh_state(config: TrainConfig) -> dict:
    return {
        "epoch": 0,
        "best_val_loss": math.inf,
        "best_val_dice": 0.0,
        "wait": 0,
        "history": {},
        "config": _config_record(config),
    }


def _record_resumed_config(state: dict, config: TrainConfig) -> None:
    """A resume may change the lr, loss, augmentation or epochs: `config` says what runs
    now, and each earlier setting is kept with the epoch it ran until."""
    now = _config_record(config)
    if state.get("config") != now:
        earlier = dict(state.get("config") or {}, until_epoch=state["epoch"])
        state.setdefault("earlier_configs", []).append(earlier)
        state["config"] = now


class _RecalibrateUnlessCancelled(RecalibrateBatchNorm):
    """Precise BN, skipped for a cancelled epoch: its validation is thrown away anyway."""

    def __init__(self, sequence, progress: ProgressCallback) -> None:
        super().__init__(sequence)
        self.progress = progress

    def _run(self) -> None:
        if not self.progress.cancelled:
            super()._run()


@contextlib.contextmanager
def _dtype_policy(mixed: bool):
    """Mixed precision only while the network is built; the saved model keeps its policy."""
    previous = keras.mixed_precision.global_policy().name
    if mixed:
        set_mixed_precision(True)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _transfer_weights(source: Path, model: keras.Model) -> None:
    """Copy every weight of the model in `source` into `model` (same width, any input size)."""
    donor = load_keras_model(source)
    shapes = [tuple(w.shape) for w in donor.weights]
    if shapes != [tuple(w.shape) for w in model.weights]:
        raise ValueError(
            f"{source}: its weights do not fit this network (different width multiplier?)"
        )
    model.set_weights(donor.get_weights())
    log.info("initialised from the weights of %s", source)


def _prepare_model(config: TrainConfig, state: dict | None) -> tuple[keras.Model, dict]:
    out = config.out_dir
    if config.resume and state is not None and (out / LAST_NAME).exists():
        log.info("resuming from %s at epoch %d", out / LAST_NAME, state["epoch"])
        model = load_keras_model(out / LAST_NAME)
        # A resumed run may ask for a new learning rate (a manual step decay).
        model.optimizer.learning_rate.assign(config.learning_rate)
        _record_resumed_config(state, config)
        if model.loss is not LOSSES.get(config.loss):
            # ... or a new loss (e.g. the Lovasz hinge for the last epochs).
            compile_model(model, config.learning_rate, config.loss, optimizer=model.optimizer)
            # Validation losses under the old loss are on another scale: keeping the old
            # best would stop best.keras from ever moving and run out the patience.
            log.info("loss is now %s: best validation loss and patience start over", config.loss)
            state.update(best_val_loss=math.inf, wait=0)
        return model, state
    with _dtype_policy(config.mixed_precision):
        if config.base_model is not None:
            # The shipped default stores float16 weights. Trained as float16 layers its loss
            # is NaN from the first batch (and slow on CPUs), so every base trains as float32.
            model = to_float32(load_keras_model(Path(config.base_model)))
            expected = (None, *config.input_size, 3)
            if tuple(model.input_shape) != expected:
                config.preset = f"{model.input_shape[1]}x{model.input_shape[2]}"
                log.info("fine-tuning keeps the base model's input size %s", config.preset)
        else:
            h, w = config.input_size
            model = build_segnet(h, w, config.width_multiplier)
            if config.init_weights is not None:
                _transfer_weights(Path(config.init_weights), model)
    compile_model(model, config.learning_rate, config.loss)
    return model, _fresh_state(config)


def train(
    config: TrainConfig, on_progress: ProgressFn | None = None, should_stop: StopFn | None = None
) -> TrainResult:
    """Train (or fine-tune, when config.base_model is set) and return where the best weights are."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with data_parallel(config.distribute) as replicas:
        model, state = _prepare_model(config, read_state(out) if config.resume else None)
        if replicas > 1 and config.batch_size % replicas:
            raise ValueError(
                f"batch size {config.batch_size} must be a multiple of the {replicas} devices"
            )
        size = tuple(model.input_shape[1:3])
        train_seq = MaskSequence(
            config.train_pairs,
            size,
            config.batch_size,
            config.augment,
            shuffle=True,
            seed=config.seed,
            cache=config.cache,
            workers=config.workers,
        )
        val_seq = None
        if config.val_pairs:
            val_seq = MaskSequence(
                config.val_pairs,
                size,
                config.batch_size,
                None,
                shuffle=False,
                cache=config.cache,
                workers=config.workers,
            )
        progress = ProgressCallback(config, len(train_seq), on_progress, should_stop)
        checkpoints = CheckpointCallback(out, config, state, progress)
        # Precise BN must run before validation and before the checkpoints are written.
        recalibrate = _RecalibrateUnlessCancelled(train_seq, progress)
        callbacks: list[keras.callbacks.Callback] = [progress, recalibrate, checkpoints]
        if config.tensorboard and backend_name() == "tensorflow":
            callbacks.append(
                keras.callbacks.TensorBoard(log_dir=str(out / "logs"), update_freq="epoch")
            )
        initial_epoch = state["epoch"]
        if initial_epoch < config.epochs:
            model.fit(
                train_seq,
                validation_data=val_seq,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=0,
            )
    best = out / BEST_NAME
    if progress.cancelled and not best.exists():
        # Cancelled inside the first epoch: keep what was learned rather than nothing.
        recalibrate_batchnorm(model, train_seq)
        save_model_atomic(model, best)
    result = TrainResult(
        model_path=best if best.exists() else None,
        last_path=out / LAST_NAME if (out / LAST_NAME).exists() else None,
        history=state["history"],
        best_val_loss=float(state["best_val_loss"]),
        best_val_dice=float(state["best_val_dice"]),
        epochs_run=state["epoch"] - initial_epoch,
        cancelled=progress.cancelled,
        stopped_early=checkpoints.stopped_early,
    )
    if on_progress:
        on_progress(
            {"event": "done", "cancelled": result.cancelled, "best_val_dice": result.best_val_dice}
        )
    return result


def split_pairs_by_car(
    pairs: Sequence[Pair], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Pair], list[Pair]]:
    """(train, val) pairs with all angles of a car on one side; val is empty with one car."""
    records = []
    for index, (image, _) in enumerate(pairs):
        stem, car_id, angle = parse_image_name(Path(image).name)
        # The index keeps ids unique (two folders may hold the same name) and maps back.
        records.append(ImageRecord(f"{stem}\0{index}", Path(image), car_id, angle))
    train_records, val_records = split_by_car(records, val_fraction, seed)

    def back(rs: list[ImageRecord]) -> list[Pair]:
        return [pairs[int(r.image_id.rsplit("\0", 1)[1])] for r in rs]

    return back(train_records), back(val_records)


def finetune_config(
    base_model: Path,
    pairs: Sequence[Pair],
    out_dir: Path | None = None,
    *,
    epochs: int = 5,
    batch_size: int = 2,
    learning_rate: float = 5e-5,
    val_fraction: float = 0.2,
    patience: int = 3,
    min_delta: float = 1e-4,
    seed: int = 0,
    workers: int = 2,
    augment: Augment | None = None,
    tensorboard: bool = False,
) -> TrainConfig:
    """The run that continues `base_model` on corrected (image, mask) pairs.

    Pairs are split by car for validation when they cover at least two cars; otherwise the
    training loss picks the best epoch. `out_dir` defaults to a new temporary folder.
    """
    if not pairs:
        raise ValueError("fine-tuning needs at least one (image, mask) pair")
    train_pairs, val_pairs = split_pairs_by_car(pairs, val_fraction, seed)
    if not val_pairs:
        log.info("fine-tuning on %d images of one car: no validation split", len(train_pairs))
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="finetune-"))
    return TrainConfig(
        train_pairs=train_pairs,
        val_pairs=val_pairs,
        out_dir=out,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        min_delta=min_delta,
        augment=augment if augment is not None else Augment(),
        base_model=Path(base_model),
        resume=False,
        seed=seed,
        workers=workers,
        tensorboard=tensorboard,
    )


def finetune(
    base_model: Path,
    pairs: Sequence[Pair],
    out_dir: Path | None = None,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    **options,
) -> TrainResult:
    """Continue training `base_model` on corrected (image, mask) pairs (see finetune_config).

    Masks may be files or in-memory uint8 arrays (the GUI's edited masks).
    """
    return train(finetune_config(base_model, pairs, out_dir, **options), on_progress, should_stop)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run_meta(
    config: TrainConfig,
    result: TrainResult,
    data: dict,
    parent: str | None = None,
    threshold: float = 0.5,
) -> dict:
    """The JSON that goes beside a trained model (see model_store)."""
    return {
        "preset": config.preset,
        "input_size": list(config.input_size),
        # A fine-tuned model keeps its parent's width, which the config does not know.
        "width_multiplier": None if config.base_model else config.width_multiplier,
        "threshold": threshold,
        "backend": backend_name(),
        "keras_version": keras.__version__,
        "data": data,
        "val_dice": _finite_or_none(result.best_val_dice) if result.best_val_dice else None,
        "val_loss": _finite_or_none(result.best_val_loss),
        "loss": config.loss,
        "epochs": len(next(iter(result.history.values()), [])),
        "cancelled": result.cancelled,
        "parent": parent,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
