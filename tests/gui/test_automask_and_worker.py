"""Auto-mask through the single model worker with a tiny real network; worker semantics."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from carvana_gui.jobs.model_worker import JobCancelledError, ModelWorker
from tiny_carvana import save_tiny_model


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.keras")


def test_auto_mask_is_one_undoable_step_with_confidence(
    qtbot, isolated_config, image_folder, tmp_path, tiny_model_file, monkeypatch
):
    from model.store.versions import ModelStore, user_models_dir

    store = ModelStore(user_models_dir())
    info = store.add(tiny_model_file, {"preset": "128x128"})
    store.set_current(info.version)
    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.model is not None, timeout=60_000)
    assert info.version in window.status.model.text()
    window.document.replace(np.ones_like(window.document.mask), "start")
    with qtbot.waitSignal(window.mask_edited, timeout=60_000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    image_id = window.session.current.record.image_id
    mask = window.document.mask.copy()
    assert mask.shape == window.session.current.image.shape[:2] and set(np.unique(mask)) <= {0, 1}
    assert window.document.history.undo_count == 2
    auto_png = window.session.project.auto_mask_path(image_id)
    qtbot.waitUntil(
        lambda: auto_png.exists() and not window.session.autosaver.has_unsaved, timeout=3000
    )
    assert window.session.project.record(image_id).auto_version == info.version
    assert window.session.project.state(image_id) == "auto"
    window.action("confidence").setChecked(True)
    assert window.canvas.confidence_item.array is not None
    window.document.undo()
    assert window.document.mask.all()
    window.document.redo()
    assert np.array_equal(window.document.mask, mask)
    window.close()


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_flip_tta_is_on_by_default_and_a_menu_switch_turns_it_off(
    qtbot, isolated_config, image_folder, tmp_path, tiny_model_file
):
    from model.nn.predictor import Predictor
    from model.store.versions import ModelStore, user_models_dir

    store = ModelStore(user_models_dir())
    store.set_current(store.add(tiny_model_file, {"preset": "128x128"}).version)
    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.model is not None, timeout=60_000)
    image_id, image = window.session.current.record.image_id, window.session.current.image
    predictor = Predictor.load(tiny_model_file)
    flipped, plain = predictor.predict(image, tta=True).prob, predictor.predict(image).prob
    gap = np.abs(flipped - plain).max()
    assert gap > 0  # an untrained net is near 0.5 everywhere, but not mirror-symmetric
    assert window.action("automask_tta").isChecked()
    for expected in (flipped, plain):
        with qtbot.waitSignal(window.automask.result_ready, timeout=60_000):
            window.action("auto_mask").trigger()
        assert np.abs(window.auto_masking.probs[image_id] - expected).max() < gap / 10
        window.action("automask_tta").setChecked(False)
    assert window.prefs.automask_tta is False
    from carvana_gui.actions import about_text

    # the tests run the Keras engine (CARVANA_ENGINE=keras); About names what ran
    assert window.automask.last_engine == "keras"
    assert "the last auto-mask ran on keras" in about_text(window.automask.last_engine)
    window.close()


def test_auto_mask_without_model_explains_how_to_get_one(
    qtbot, isolated_config, image_folder, tmp_path
):
    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.discovered, timeout=60_000)
    window.action("auto_mask").trigger()
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "carvana train" in boxes[0].text() and "Import model" in boxes[0].text()
    assert window.document.mask.sum() == 0
    window.close()


def test_worker_runs_jobs_in_order_on_one_thread(qtbot):
    worker = ModelWorker()
    threads, progress = [], []
    worker.progress.connect(lambda _id, info: progress.append(info["step"]))

    def job(ctx):
        threads.append(threading.get_ident())
        ctx.report({"step": ctx.job_id})
        return ctx.job_id * 10

    results = []
    ids = [worker.submit(job, f"job{i}", on_result=results.append) for i in range(3)]
    qtbot.waitUntil(lambda: len(results) == 3, timeout=5000)
    assert results == [i * 10 for i in ids] and progress == ids
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    assert worker.shutdown()


def test_worker_errors_and_cooperative_cancel(qtbot):
    worker = ModelWorker()
    gate = threading.Event()

    def failing(ctx):
        raise ValueError("bad model file x.keras")

    def long_job(ctx):
        gate.set()
        while not ctx.should_stop():
            threading.Event().wait(0.01)
        raise JobCancelledError

    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        worker.submit(failing, "predict")
    _job_id, message, details = blocker.args
    assert message == "predict: bad model file x.keras" and "ValueError" in details
    running = worker.submit(long_job, "train")
    queued = worker.submit(lambda ctx: 1, "never")
    assert gate.wait(5)
    cancelled = []
    worker.cancelled.connect(cancelled.append)
    worker.cancel()
    qtbot.waitUntil(lambda: len(cancelled) == 2, timeout=5000)
    assert cancelled == [running, queued] and not worker.busy
    assert worker.shutdown()


def test_import_model_validates_and_becomes_current(
    qtbot, isolated_config, image_folder, tmp_path, tiny_model_file
):
    from model.store.versions import ModelStore, user_models_dir

    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.discovered, timeout=60_000)
    assert window.automask.model is None
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with qtbot.waitSignal(window.worker.errored, timeout=60_000) as blocker:
        window.automask.import_model(broken)
    assert "broken.keras" in blocker.args[1]
    assert ModelStore(user_models_dir()).current() is None
    with qtbot.waitSignal(window.model_changed, timeout=60_000) as changed:
        window.automask.import_model(tiny_model_file)
    current = ModelStore(user_models_dir()).current()
    assert current is not None and changed.args[0].path == current.path
    assert current.version in window.status.model.text()
    window.close()
