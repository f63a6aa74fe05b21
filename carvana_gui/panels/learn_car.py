"""Model → Learn this car (Ctrl+L) and Model → Forget this car's model.

Once at least two angles of the open image's car are reviewed, the general model learns
that car's edge from them and the car's unedited angles are re-masked by it
(``model.workflows.learn_car``). The work runs in the fine-tune child process, watched by
a FinetuneJob thread, so the window and the model worker (Ctrl+R) stay free meanwhile;
progress shows in the status bar. When it is done the car's re-masked rows reload, the
image list names the car's model, and Ctrl+R on that car's images uses it
(``AutoMaskController.car_models``). The open image is left to the editor: it is
auto-masked there by the car's model, one undoable step, unless the person edited it.

Forgetting puts the general model's masks back (files kept aside by the learn step), on a
helper thread; the open image again as one undoable step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QProgressBar

from carvana_gui.jobs.automask import ActiveModel
from carvana_gui.jobs.background_call import BACKGROUND_FROM, BackgroundCall
from carvana_gui.jobs.finetune_job import FinetuneJob
from model.edits import lifecycle
from model.edits.car_models import CarModel, CarModels, forget_car
from model.store.versions import ModelInfo, ModelStore, ModelStoreError, read_model_meta
from model.workflows.finetune_events import CarLearned, Finished, Phase, Remasked
from model.workflows.finetune_process import make_learn_car_request
from model.workflows.learn_car import MIN_REVIEWED, LearnCarSettings

log = logging.getLogger(__name__)

SHORTCUT = "Ctrl+L"


class LearnCarFlow(QObject):
    """The two Model-menu actions, the running job and the per-car models of the folder."""

    learned = Signal(object)  # the run's Finished event (None: it failed), after take-in
    forgotten = Signal(str, list)  # car, image ids whose general mask came back

    def __init__(self, window: Any, store: ModelStore) -> None:
        super().__init__(window)
        self.window = window
        self.store = store
        self.settings = LearnCarSettings()
        self.child_command: list[str] | None = None  # tests: another child process
        self.job: FinetuneJob | None = None
        self.car: str | None = None  # the car being learned
        self.models: dict[str, CarModel] = {}  # this folder's cars with a model of their own
        self._car_ids: dict[str, list[str]] = {}
        self._forget_call = BackgroundCall(self)

        self.learn_action = QAction("&Learn this car", window)
        self.learn_action.setObjectName("learn_car")
        self.learn_action.setShortcut(QKeySequence(SHORTCUT))
        self.learn_action.triggered.connect(self.learn)
        self.forget_action = QAction("Forget this car's &model", window)
        self.forget_action.setObjectName("forget_car")
        self.forget_action.triggered.connect(self.forget)
        menu = window.menu("model")
        menu.addSeparator()
        menu.addAction(self.learn_action)
        menu.addAction(self.forget_action)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(False)
        self.progress.hide()
        window.statusBar().addPermanentWidget(self.progress)

        window.folder_opened.connect(self._on_folder)
        window.image_changed.connect(lambda _id: self.update())
        window.model_changed.connect(lambda _model: self._show_model())
        window.table_model.dataChanged.connect(lambda *_: self.update_enabled())
        window.table_model.modelReset.connect(self.update_enabled)
        self.update_enabled()

    # -- what the open image's car has ------------------------------------------------
    def current_car(self) -> str | None:
        current = self.window.session.current
        return current.record.car_id if current is not None else None

    def reviewed_count(self, car: str | None) -> int:
        project = self.window.session.project
        if car is None or project is None:
            return 0
        ids = self._car_ids.get(car, ())
        # the same question the workflow asks of what may train (reviewed, with a mask)
        return sum(lifecycle.may_train(project.record(i)) for i in ids)

    def update(self) -> None:
        self.update_enabled()
        self._show_model()

    def update_enabled(self) -> None:
        car = self.current_car()
        learn, forget = self.learn_action, self.forget_action
        if self.job is not None:
            learn.setText(f"Cancel &learning car {self.car}")
            learn.setEnabled(True)
            learn.setStatusTip(f"Stop adapting the model to car {self.car}")
            forget.setEnabled(False)
            return
        learn.setText("&Learn this car")
        reviewed = self.reviewed_count(car)
        learn.setEnabled(car is not None and reviewed >= MIN_REVIEWED)
        if car is None:
            tip = "Learn this car: open an image of a car first"
        elif reviewed < MIN_REVIEWED:
            tip = f"Learn car {car}: review {MIN_REVIEWED} of its angles first ({reviewed} so far)"
        else:
            tip = (
                f"Adapt the model to car {car} from its {reviewed} reviewed angles and re-mask "
                "its unedited angles (that car only)"
            )
        learn.setStatusTip(tip)
        learn.setToolTip(f"{tip}  [{SHORTCUT}]")
        model = self.models.get(car) if car is not None else None
        forget.setEnabled(model is not None)
        forget.setStatusTip(
            f"Car {car} uses {model.name}: go back to the general model's masks"
            if model is not None
            else "This car has no model of its own"
        )

    def _show_model(self) -> None:
        """The status bar names the model that auto-masks the open image."""
        car = self.current_car()
        general = self.window.automask.model
        model = self.models.get(car) if car is not None else None
        if model is not None:
            self.window.status.show_model(model.name)
        elif general is not None:
            self.window.status.show_model(general.name)

    # -- folder -----------------------------------------------------------------------
    def _on_folder(self, layout) -> None:
        self._car_ids = {}
        for record in layout.images:
            if record.car_id:
                self._car_ids.setdefault(record.car_id, []).append(record.image_id)
        project = self.window.session.project
        self.models = CarModels(project.root).all() if project is not None else {}
        self._apply_models()
        self.update()

    def _apply_models(self) -> None:
        """Hand the car models to the auto-mask controller and the image list."""
        automask = self.window.automask
        automask.car_models = {}
        for car, model in self.models.items():
            try:
                info = self.store.get(model.version)
            except ModelStoreError as exc:  # deleted from the store: the general model serves
                log.warning("car %s: its model %s is not available (%s)", car, model.version, exc)
                continue
            automask.car_models[car] = ActiveModel(info.path, model.version)
        self.window.table_model.set_car_models(
            {car: m.version for car, m in self.models.items()},
            {m.version: m.name for m in self.models.values()},
        )

    # -- learn ------------------------------------------------------------------------
    def learn(self) -> FinetuneJob | None:
        """Start learning the open image's car (or cancel the run in progress)."""
        w = self.window
        if self.job is not None:
            self.cancel()
            return None
        s, car = w.session, self.current_car()
        if car is None or s.project is None:
            w.status.show_message("Learn this car: open an image of a car first.")
            return None
        reviewed = self.reviewed_count(car)
        if reviewed < MIN_REVIEWED:
            w.status.show_message(
                f"Learn car {car}: review at least {MIN_REVIEWED} of its angles first "
                f"({reviewed} reviewed)."
            )
            return None
        general = w.automask.model
        if general is None:
            w.show_info("Learn this car adapts the active model: there is none yet.")
            return None
        try:
            base = ModelInfo(general.name, Path(general.path), read_model_meta(Path(general.path)))
        except ModelStoreError as exc:
            w.show_error(str(exc))
            return None
        if s.autosaver is not None:
            s.autosaver.flush(wait=True)  # the child reads the reviewed masks from disk
        ids = self._car_ids.get(car, [])
        protect = [s.current_id] if s.current_id in ids else []  # the editor's own
        request = make_learn_car_request(
            s.project.root,
            [s.records[i] for i in ids],
            car,
            self.store.root,
            base,
            self.settings,
            protect,
        )
        job = FinetuneJob(request, self.child_command)  # no Qt parent: outlives the panel
        job.event.connect(self._on_event)
        job.finished.connect(self._on_finished)
        job.errored.connect(self._on_errored)
        self.job, self.car = job, car
        self.progress.setRange(0, 0)
        self.progress.show()
        w.status.show_message(f"Learning car {car} from {reviewed} reviewed angles…", timeout_ms=0)
        self.update_enabled()
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None and not self.job.cancelling:
            self.job.cancel(False)
            self.window.status.show_message(f"Cancelling learning car {self.car}…")

    def shutdown(self, timeout_s: float = 3.0) -> None:
        """Stop a run and wait for its child (window close, tests)."""
        if self.job is not None:
            self.job.cancel(False)
            self.job.wait(timeout_s)

    @property
    def running(self) -> bool:
        return self.job is not None

    def _on_event(self, event: object) -> None:
        if self.job is None:
            return
        status, car = self.window.status, self.car
        if isinstance(event, Phase):
            self.progress.setRange(0, 0)
            status.show_message(f"Learn car {car}: {event.message}…", timeout_ms=0)
        elif isinstance(event, Remasked):
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
            status.show_message(
                f"Learn car {car}: re-masked {event.done}/{event.total} angles", timeout_ms=0
            )
            if event.saved:
                self._reload_row(event.image_id)
        elif isinstance(event, CarLearned):
            self._take_in(event)

    def _take_in(self, event: CarLearned) -> None:
        """The car's model is stored and its angles re-masked: the window follows."""
        w = self.window
        project = w.session.project
        if project is None:
            return
        self.models = CarModels(project.root).all()
        self._apply_models()
        for image_id in event.remasked:
            self._reload_row(image_id)
        current = w.session.current_id
        if current in event.left_to_editor and self._untouched(current):
            w.auto_masking.run()  # the editor's auto-mask, by the car's model: one undo step
        self.update()

    def _reload_row(self, image_id: str) -> None:
        """A row the child re-masked: take in its new state; reload it if it is open."""
        w = self.window
        project = w.session.project
        if project is None:
            return
        project.refresh()
        w.table_model.refresh_image(image_id)
        if w.session.current_id == image_id and self._untouched(image_id):
            mask = project.load_for_editing(image_id)  # notes the child's revision
            if mask is not None:
                w.document.replace(mask, "learn this car")

    def _untouched(self, image_id: str) -> bool:
        """No person's work on ``image_id``: state none/auto and nothing unsaved."""
        s = self.window.session
        if s.project is None or lifecycle.is_hand_made(s.project.record(image_id)):
            return False
        return s.autosaver is None or s.autosaver.unsaved_mask(image_id) is None

    def _done(self, result: Finished | None) -> None:
        self.job = None
        self.progress.hide()
        self.update()
        self.learned.emit(result)

    def _on_finished(self, result: Finished) -> None:
        car = self.car
        model = self.models.get(car) if car is not None else None
        if result.stored and model is not None:
            text = f"Car {car} learned: {result.message}; Ctrl+R on its angles uses {model.name}"
        else:
            text = f"Learn car {car}: {result.message}"
        self.window.status.show_message(text, timeout_ms=0)
        self._done(result)

    def _on_errored(self, message: str, _traceback: str) -> None:
        self._done(None)
        self.window.show_error(f"Learn this car failed: {message}")

    # -- forget -----------------------------------------------------------------------
    def forget(self) -> None:
        """The open image's car uses the general model again; its masks come back."""
        w = self.window
        s, car = w.session, self.current_car()
        model = self.models.get(car) if car is not None else None
        project = s.project
        if model is None or project is None or self.job is not None:
            return
        if s.autosaver is not None:
            s.autosaver.flush(wait=True)
        ids = list(self._car_ids.get(car, []))
        current = s.current_id
        leave = (
            {current}
            if current in ids
            and self._untouched(current)
            and project.record(current).auto_version == model.version
            else set()
        )

        def work() -> tuple[str, list[str], str | None, Any, int]:
            _model, restored, stay = forget_car(project, car, ids, leave)
            models = CarModels(project.root)
            back = models.replaced_mask(car, current) if leave else None
            models.drop_backup(car)
            # the open image, left to the editor, stays too when nothing was kept for it
            stays = len(stay) + bool(leave and back is None)
            return car, restored, (current if leave else None), back, stays

        self.forget_action.setEnabled(False)
        self._forget_call.request(work, self._on_forgotten, BACKGROUND_FROM)

    def _on_forgotten(self, result: tuple) -> None:
        car, restored, open_id, back, stays = result
        w = self.window
        s = w.session
        self.models.pop(car, None)
        self._apply_models()
        for image_id in restored:
            w.table_model.refresh_image(image_id)
        if back is not None and open_id is not None and s.current_id == open_id:
            mask, version, uncertainty = back
            project, autosaver = s.project, s.autosaver
            if project is not None and autosaver is not None and self._untouched(open_id):
                autosaver.run_in_writer(
                    lambda: project.save_auto_mask(
                        open_id, mask, version, by_person=True, uncertainty=uncertainty
                    )
                )
                w.document.replace(mask, "general model's mask")
                w.table_model.refresh_image(open_id)
        message = (
            f"Car {car} uses the general model again; {len(restored) + (back is not None)} "
            "of its masks restored"
        )
        if stays:
            message += f"; {stays} had no earlier mask to go back to and stay, shown as stale"
        w.status.show_message(message)
        self.update()
        self.forgotten.emit(car, restored)


def install_learn_car(window: Any, store: ModelStore) -> LearnCarFlow:
    """Add Model → Learn this car / Forget this car's model to ``window``."""
    flow = LearnCarFlow(window, store)
    window.learn_car = flow
    return flow
