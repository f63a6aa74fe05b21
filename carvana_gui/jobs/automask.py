"""One-click auto-mask: find the active model, predict in the model worker, import models.

All model work runs in the window's single ModelWorker thread; results come back as
plain arrays on the GUI thread. TensorFlow is imported there too, right after start-up
(``discover``), so the window appears before the slow import and the first click is quick.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from carvana_gui.jobs.model_worker import JobContext, ModelWorker
from carvana_gui.jobs.runtime_tuning import import_model_stack

log = logging.getLogger(__name__)

NO_MODEL_HELP = (
    "No segmentation model is installed yet.\n\n"
    "Get one in either way:\n"
    "  • train one on a Kaggle-style folder:  carvana train --data <folder>\n"
    "  • or import an existing .keras file:  Model → Import model…\n\n"
    "Trained and imported models go to the user model store and are used automatically."
)


@dataclass
class ActiveModel:
    path: Path
    name: str
    note: str = ""  # why this model, when it is not the one the store's pointer names


@dataclass
class AutoMaskResult:
    image_id: str
    mask: np.ndarray  # uint8 0/1
    prob: np.ndarray  # float32 0..1
    model_name: str
    seconds: float
    engine: str = ""  # what ran the network (openvino-f32, keras...)


def _discover(ctx: JobContext) -> ActiveModel | None:
    import_model_stack()  # warm-up: the slow import happens here, off the GUI thread

    from model.store.versions import ModelStore, user_models_dir

    # the version id (e.g. "default-v005") is what auto-masks record: a newly shipped
    # default or a new current version makes the older auto-masks stale
    store = ModelStore(user_models_dir())
    problem = store.pointer_problem(advice=False)  # garbled current.json: work on, say so
    current = store.current()
    if current is None:
        return None
    note = ""
    if problem is not None:
        note = (
            f"Using {current.version}: {problem}. Choose a model in Model → Versions to fix this."
        )
    return ActiveModel(current.path, current.version, note)


class AutoMaskController(QObject):
    """Knows the active model and runs auto-mask / import jobs on the worker."""

    model_changed = Signal(object)  # ActiveModel | None
    result_ready = Signal(object)  # AutoMaskResult
    no_model = Signal(str)  # help text, or a note on which model is used and why

    def __init__(self, worker: ModelWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.model: ActiveModel | None = None
        self.discovered = False
        # Learn this car: a car with a model of its own is auto-masked by it (car id -> model)
        self.car_models: dict[str, ActiveModel] = {}
        self.last_engine = ""  # what ran the last auto-mask (Help → About shows it)

    def discover(self) -> None:
        """Import Keras and find the default model, in the background."""

        def job(ctx: JobContext) -> ActiveModel | None:
            # set here, in queue order, so an auto-mask queued meanwhile sees the result
            self.model = _discover(ctx)
            self.discovered = True
            return self.model

        self.worker.submit(job, "find model", on_result=self._set_model)

    def _set_model(self, model: ActiveModel | None) -> None:
        self.discovered = True
        self.model = model
        log.info("active model: %s", model.path if model else "none")
        self.model_changed.emit(model)
        if model is not None and model.note:
            log.warning("%s", model.note)
            self.no_model.emit(model.note)  # shown once as an information message

    def set_model_path(self, path: Path, name: str | None = None) -> None:
        """Use a specific model file (e.g. one just fine-tuned)."""
        self._set_model(ActiveModel(Path(path), name or Path(path).stem))

    def run(self, image_id: str, image: np.ndarray, tta: bool = False) -> int | None:
        """Queue an auto-mask of ``image``; returns the job id, or None (no model: help shown)."""
        if self.model is None:
            if self.discovered:
                self.no_model.emit(NO_MODEL_HELP)
                return None
            # still discovering: the discover job runs first (same queue), so look again there
            job = self._job_when_ready(image_id, image, tta)
            return self.worker.submit(job, "auto-mask", on_result=self._deliver)
        return self.run_with(self.model_for(image_id), image_id, image, tta)

    def model_for(self, image_id: str) -> ActiveModel | None:
        """The image's active model: its car's own model, else the general one."""
        return self.car_models.get(image_id.split("_", 1)[0], self.model)

    def run_with(
        self, model: ActiveModel | None, image_id: str, image: np.ndarray, tta: bool = False
    ) -> int:
        """Queue an auto-mask of ``image`` by ``model``; the result comes as result_ready."""
        return self.worker.submit(
            self._job(model, image_id, image, tta), "auto-mask", on_result=self._deliver
        )

    def _job_when_ready(self, image_id: str, image: np.ndarray, tta: bool):
        def job(ctx: JobContext) -> AutoMaskResult | None:
            model = self.model_for(image_id)
            if model is None:
                return None
            return self._job(model, image_id, image, tta)(ctx)

        return job

    @staticmethod
    def _job(model: ActiveModel, image_id: str, image: np.ndarray, tta: bool):
        def job(ctx: JobContext) -> AutoMaskResult:
            started = time.perf_counter()
            predictor = ctx.predictor(model.path)
            prediction = predictor.predict(image, tta=tta)
            return AutoMaskResult(
                image_id,
                prediction.mask,
                prediction.prob,
                model.name,  # the version id, the same the staleness check compares with
                time.perf_counter() - started,
                str(getattr(getattr(predictor, "engine", None), "name", "")),
            )

        return job

    def _deliver(self, result: AutoMaskResult | None) -> None:
        if result is None:
            self.no_model.emit(NO_MODEL_HELP)
        else:
            self.last_engine = result.engine or self.last_engine
            self.result_ready.emit(result)

    def import_model(self, path: Path) -> int:
        """Validate a .keras file by loading it, add it to the user store and make it current."""

        def job(ctx: JobContext) -> ActiveModel:
            from model.store.versions import ModelStore, user_models_dir

            predictor = ctx.predictor(path)  # raises ModelLoadError with the file name
            store = ModelStore(user_models_dir())
            info = store.add(
                path,
                {"imported_from": str(path), "input_size": list(predictor.input_size)},
                label=path.stem,
            )
            store.set_current(info.version)
            return ActiveModel(info.path, info.version)

        return self.worker.submit(job, f"import {Path(path).name}", on_result=self._set_model)
