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
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from model.nn.backend import (
    accelerators,
    backend_name,
    data_parallel,
    make_repeatable,
    resolve_precision,
    set_precision,
)
from model.nn.bn_calibration import RecalibrateBatchNorm, recalibrate_batchnorm
from model.nn.frameworks import keras
from model.nn.losses import CUSTOM_OBJECTS, LOSSES, dice_coef
from model.nn.network import build_segnet
from model.nn.pipeline import MaskSequence
from model.nn.shipping import for_training
from model.nn.train_callbacks import (
    BEST_NAME,
    CheckpointCallback,
    ProgressCallback,
    ProgressFn,
    StopFn,
    read_state,
    recover_checkpoints,
    save_model_atomic,
)
from model.nn.train_callbacks import LAST_NAME as LAST_NAME  # re-exported for callers
from model.nn.train_callbacks import STATE_NAME as STATE_NAME
from model.nn.train_callbacks import write_state as write_state
from model.nn.train_config import TrainConfig

log = logging.getLogger(__name__)


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
def _dtype_policy(precision: str):
    """The precision policy only while the network is built; the saved model keeps it."""
    previous = keras.mixed_precision.global_policy().name
    set_precision(precision)
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
    with _dtype_policy(config.precision):
        if config.base_model is not None:
            # The shipped default stores float16 weights. Trained as float16 layers its loss
            # is NaN from the first batch (and slow on CPUs), so every base trains with
            # float32 variables, its layers computing in the chosen precision.
            policy = keras.mixed_precision.global_policy().name
            model = for_training(load_keras_model(Path(config.base_model)), policy)
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
        recover_checkpoints(out)  # a run killed mid-commit, temp files of dead runs
        make_repeatable(config.seed)  # weights, dropout-free init and shuffles follow the seed
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
        # With no validation images (one car) the checkpoint's scores are training scores:
        # they are not reported as validation figures.
        "val_dice": _finite_or_none(result.best_val_dice)
        if result.best_val_dice and config.val_pairs
        else None,
        "val_loss": _finite_or_none(result.best_val_loss) if config.val_pairs else None,
        "loss": config.loss,
        "precision": resolve_precision(config.precision),
        "epochs": len(next(iter(result.history.values()), [])),
        "cancelled": result.cancelled,
        "parent": parent,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
