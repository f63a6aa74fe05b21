"""Fine-tune panel: reviewed masks only, its own job (the model worker stays free), a
prompt cancel that stores nothing unless asked, typed events into the plots."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import sys
import time

import pytest

from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.finetune import FinetunePanel, format_eta
from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from model.store.versions import ModelStore, read_model_meta
from model.workflows.finetune import FinetuneSettings
from model.workflows.finetune_events import Batch, Epoch, Finished, Selection
from tiny_carvana import car_id, make_image_folder, records

# A stand-in for the child process, speaking its protocol. Modes:
#   slow:   batches every 50 ms until "stop" (nothing stored) or "keep" (a stored candidate)
#   epoch:  the same, after one finished epoch
#   stuck:  says it is loading, then ignores "stop" (as during TensorFlow's import)
FAKE_CHILD = r"""
import json, sys, threading, time
mode = sys.argv[1]
request = json.loads(sys.stdin.readline())
said = []
def watch():
    for line in sys.stdin:
        said.append(line.strip())
        if said[-1] in ("stop", "keep"):
            return
    said.append("stop")
threading.Thread(target=watch, daemon=True).start()
def emit(**event):
    print(json.dumps(event), flush=True)
emit(type="Phase", name="loading", message="loading data and model")
if mode == "stuck":
    time.sleep(60)
if mode == "epoch":
    emit(type="Epoch", epoch=1, epochs=3, loss=0.3, val_loss=0.3, val_dice=0.9, seconds=1.0)
for batch in range(1, 1200):
    if said:
        break
    emit(type="Batch", epoch=2, epochs=3, batch=batch, batches=10**4, loss=0.2,
         images_per_s=10.0, eta_s=5.0)
    time.sleep(0.05)
if said and said[-1] == "keep":
    emit(type="Selection", version="v009-finetune", accepted=False, new_dice=0.9,
         base_dice=0.95, reason="judge-set Dice 0.9000 <= current 0.9500", cancelled=True,
         overridden=False, parent="v001")
    emit(type="Finished", version="v009-finetune", stored=True, accepted=False,
         cancelled=True, message="v009-finetune: kept aside")
else:
    emit(type="Finished", version=None, stored=False, accepted=False, cancelled=True,
         message="cancelled: nothing stored")
"""


def review(project: ProjectStore, image_id: str, mask) -> None:
    project.save_edit(image_id, mask)
    project.set_reviewed(image_id, True, mask)


@pytest.fixture
def setup(tmp_path, qtbot, monkeypatch):
    """4 cars: 1-3 reviewed, car 4 one unreviewed edit; a fake base model (no Keras)."""
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    train, masks = make_image_folder(tmp_path / "data", cars=4, angles=2)
    project = ProjectStore.for_folder(train)
    for r in records(train):
        truth = read_mask(masks / f"{r.image_id}_mask.gif")
        if r.car_id != car_id(4):
            review(project, r.image_id, truth)
        elif r.angle == 1:
            project.save_edit(r.image_id, truth)
    store = ModelStore(tmp_path / "models")
    fake = tmp_path / "base.keras"
    fake.write_bytes(b"not a model")
    base = store.add(fake, {"preset": "128x128", "input_size": [128, 128]})
    store.set_current(base.version)
    worker = ModelWorker()
    panel = FinetunePanel(worker, store)
    qtbot.addWidget(panel)
    panel.set_data(project, records(train, masks))
    script = tmp_path / "fake_child.py"
    script.write_text(FAKE_CHILD)
    panel.fake_child = lambda mode: [sys.executable, str(script), mode]
    yield panel, store, base
    panel.shutdown()
    worker.shutdown()


def test_shows_the_reviewed_training_set_and_the_unreviewed_edits(setup):
    panel, _, base = setup
    text = panel.data_label.text()
    assert "6 reviewed masks" in text and "1 unreviewed edits not used" in text
    assert "2 select (1 cars), 2 judge (1 cars)" in text
    assert "8 ground-truth masks available" in text
    assert base.version in text
    assert panel.start_button.isEnabled()


def test_widgets_start_at_the_workflows_defaults(setup):
    panel, _, _ = setup
    defaults = FinetuneSettings()
    assert panel.epochs.value() == defaults.epochs
    assert panel.learning_rate.value() == pytest.approx(defaults.learning_rate)
    assert panel.batch_size.value() == defaults.batch_size
    assert panel.patience.value() == defaults.patience
    settings = panel.settings()
    assert settings.preset is None  # fine-tuning keeps the base model's input size
    assert (settings.epochs, settings.patience) == (defaults.epochs, defaults.patience)
    assert settings.extra["precision"] == "auto"  # bfloat16 on AMX CPUs, else float32
    panel.precision.setCurrentText("bfloat16")  # reaches TrainConfig.precision in the child
    assert panel.settings().extra["precision"] == "bfloat16"


def test_preset_is_locked_to_the_starting_models_input_size(setup, tmp_path):
    panel, _, _ = setup
    assert panel.preset.currentText() == "128x128" and not panel.preset.isEnabled()
    assert "starting model" in panel.preset.toolTip()
    empty = FinetunePanel(panel.worker, ModelStore(tmp_path / "no-models"))
    empty.set_data(panel.project, panel.images)  # no store model and no shipped one
    assert empty.preset.isEnabled() and empty.preset.currentText() == "256x384"
    assert empty.settings().preset == "256x384"
    empty.deleteLater()


def test_finetune_does_not_block_the_model_worker(setup, qtbot):
    panel, _, _ = setup
    panel.child_command = panel.fake_child("slow")
    batches = []
    job = panel.start()
    job.event.connect(lambda e: batches.append(e) if isinstance(e, Batch) else None)
    qtbot.waitUntil(lambda: len(batches) >= 2, timeout=10_000)
    with qtbot.waitSignal(panel.worker.finished, timeout=5_000) as done:
        panel.worker.submit(lambda ctx: "auto-mask done", "auto-mask")
    assert done.args[1] == "auto-mask done"
    assert panel.running  # the fine-tune is still going
    with qtbot.waitSignal(panel.run_finished, timeout=5_000) as finished:
        panel.cancel()
    assert not finished.args[0].stored


def test_cancel_during_loading_stops_within_2_s_and_stores_nothing(setup, qtbot):
    panel, store, _ = setup
    panel.child_command = panel.fake_child("stuck")
    panel.start()
    qtbot.waitUntil(lambda: "Loading" in panel.status_label.text(), timeout=10_000)
    started = time.monotonic()
    with qtbot.waitSignal(panel.run_finished, timeout=5_000) as finished:
        panel.cancel()
    assert time.monotonic() - started < 2.0
    result = finished.args[0]
    assert isinstance(result, Finished) and result.cancelled and not result.stored
    assert len(store.versions()) == 1
    assert "nothing stored" in panel.status_label.text()
    assert not panel.running and panel.start_button.isEnabled()


@pytest.mark.parametrize("keep", [False, True])
def test_cancel_after_an_epoch_asks_whether_to_keep_it(setup, qtbot, keep):
    panel, _, _ = setup
    panel.child_command = panel.fake_child("epoch")
    asked = []
    panel.ask_keep = lambda: asked.append(True) or keep
    panel.start()
    qtbot.waitUntil(lambda: panel.epochs_done == 1 and "batch" in panel.status_label.text())
    with qtbot.waitSignal(panel.run_finished, timeout=5_000) as finished:
        panel.cancel()
    assert asked == [True]
    result = finished.args[0]
    assert result.stored == keep and result.cancelled
    if keep:
        assert isinstance(panel.selection, Selection)
        assert "kept aside" in panel.decision_label.text()
        assert panel.override_button.text() == "Use v009-finetune anyway"
    else:
        assert panel.selection is None and "nothing stored" in panel.status_label.text()


def test_plots_take_typed_events(qtbot):
    from carvana_gui.panels.training_plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.add(Batch(1, 2, 1, 2, 0.5, 1.0, 3.0))
    plots.add(Batch(1, 2, 2, 2, math.nan, 1.0, 3.0))  # a NaN batch loss is skipped
    plots.add(Epoch(1, 2, 0.4, math.nan, 0.8, 1.0))
    plots.add(Finished(None, False, False, True, "x"))  # not a curve: ignored
    plots.flush()
    assert plots.batch_x == [0.5] and plots.batch_loss == [0.5]
    assert plots.train_loss == [0.4] and plots.val_dice == [0.8]
    xs, _ = plots.val_curve.getData()
    assert xs is None or len(xs) == 0  # NaN select loss: not drawn


def test_format_eta():
    assert format_eta(75) == "1:15"
    assert format_eta(float("nan")) == "–"
    assert format_eta(3 * 3600 + 120) == "3h02"


@pytest.mark.slow
def test_finetune_reports_progress_and_decides(setup, qtbot, tmp_path):
    """The real child process and a tiny network, end to end."""
    from tiny_carvana import save_tiny_model

    panel, store, _ = setup
    base = store.add(save_tiny_model(tmp_path / "tiny.keras"), {"preset": "128x128"})
    store.set_current(base.version)
    panel.epochs.setValue(1)
    events = []
    with qtbot.waitSignal(panel.run_finished, timeout=180_000) as done:
        job = panel.start()
        job.event.connect(lambda e: events.append(type(e).__name__))
        assert panel.running and not panel.start_button.isEnabled()
    result = done.args[0]
    assert {"DataSummary", "Batch", "Epoch", "Scoring", "Selection"} <= set(events)
    selection = panel.selection
    assert selection.accepted == (selection.new_dice > selection.base_dice)
    assert (store.current().version == selection.version) == selection.accepted
    assert result.stored and result.version == selection.version
    meta = read_model_meta(store.get(selection.version).path)
    assert meta["parent"] == base.version and meta["data"]["unreviewed_edits"] == 1
    assert "Judge-set Dice" in panel.decision_label.text()
    assert panel.plots.train_loss and panel.plots.batch_loss
    assert not panel.override_button.isHidden()
    before = store.current().version
    with qtbot.waitSignal(panel.model_changed):
        panel.override_button.click()
    assert store.current().version != before


def test_model_loop_is_installed_in_the_window(window, qtbot):
    loop = window.model_loop
    assert set(loop.docks) == {"finetune", "batch", "effort"}
    file_texts = [a.text() for a in window.menu("file").actions()]
    assert "&Export…" in file_texts
    model_texts = [a.text() for a in window.menu("model").actions()]
    assert "&Versions" in model_texts and "&Fine-tune on corrected masks…" in model_texts
    # the folder the window opened reached the panels
    assert loop.finetune.project is window.session.project
    assert len(loop.batch.images) == len(window.session.records) == 6
    assert "0 reviewed masks" in loop.finetune.data_label.text()
    assert loop.batch.open_image_id == window.session.current.record.image_id
    dialog = loop.show_export()
    assert dialog.project is window.session.project
    assert dialog.folder_edit.text() == str(window.session.current.record.path.parent)
    dialog.close()
