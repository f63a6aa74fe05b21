"""Fine-tune panel against a tiny model: progress, keep/reject decision, cancel keeps weights."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.finetune import FinetunePanel, format_eta
from model.data.masks import read_mask
from model.project import EditsProject
from model.store.versions import ModelStore, read_model_meta
from tiny_carvana import make_image_folder, records, save_tiny_model


@pytest.fixture
def setup(tmp_path, qtbot):
    train, masks = make_image_folder(tmp_path / "data", cars=3, angles=2)
    project = EditsProject(tmp_path / "data" / "train_edits")
    for r in records(train):
        truth = read_mask(masks / f"{r.image_id}_mask.gif")
        project.save_auto_mask(r.image_id, np.zeros_like(truth), "v001")
        project.save_mask(r.image_id, truth)
    store = ModelStore(tmp_path / "models")
    base = store.add(save_tiny_model(tmp_path / "base.keras"), {"preset": "128x128"})
    store.set_current(base.version)
    worker = ModelWorker()
    panel = FinetunePanel(worker, store)
    qtbot.addWidget(panel)
    panel.set_data(project, records(train, masks))
    panel.preset.addItem("128x128")
    panel.preset.setCurrentText("128x128")
    yield panel, store, base
    worker.shutdown()


def test_shows_training_set(setup):
    panel, _, base = setup
    assert "6 corrected or reviewed masks (3 cars)" in panel.data_label.text()
    assert "6 ground-truth masks available" in panel.data_label.text()
    assert base.version in panel.data_label.text()
    assert panel.start_button.isEnabled()


def test_preset_is_locked_to_the_starting_models_input_size(setup, tmp_path):
    panel, _, _ = setup
    assert panel.preset.currentText() == "128x128" and not panel.preset.isEnabled()
    assert "starting model" in panel.preset.toolTip()
    empty = FinetunePanel(panel.worker, ModelStore(tmp_path / "no-models"))
    empty.base_model = lambda: None  # no store model and no shipped one: a fresh network
    empty.set_data(panel.project, panel.images)
    assert empty.preset.isEnabled() and empty.preset.currentText() == "256x384"
    empty.deleteLater()


@pytest.mark.slow
def test_finetune_reports_progress_and_decides(setup, qtbot):
    panel, store, base = setup
    events = []
    panel.worker.progress.connect(lambda _id, info: events.append(info["event"]))
    with qtbot.waitSignal(panel.run_finished, timeout=180_000) as done:
        panel.start()
        assert panel.running and not panel.start_button.isEnabled()
    selection = done.args[0]
    assert {"data", "batch", "epoch", "scoring", "selection"} <= set(events)
    assert selection["accepted"] == (selection["new_dice"] > selection["current_dice"])
    assert (store.current().version == selection["version"]) == selection["accepted"]
    meta = read_model_meta(store.get(selection["version"]).path)
    assert meta["parent"] == base.version
    assert meta["selection"]["holdout_dice_new"] == pytest.approx(selection["new_dice"])
    assert "Held-out Dice" in panel.decision_label.text()
    assert panel.plots.train_loss and panel.plots.batch_loss
    # the user overrides the decision either way
    assert not panel.override_button.isHidden()
    before = store.current().version
    with qtbot.waitSignal(panel.model_changed):
        panel.override_button.click()
    assert store.current().version != before


@pytest.mark.slow
def test_cancel_stops_within_a_batch_and_keeps_best_weights(setup, qtbot):
    panel, store, _base = setup
    panel.epochs.setValue(50)
    panel.batch_size.setValue(1)
    batches = []

    def on_progress(_job, info):
        if info["event"] == "batch":
            batches.append(info)
            if len(batches) == 1:
                panel.cancel()

    panel.worker.progress.connect(on_progress)
    with qtbot.waitSignal(panel.run_finished, timeout=180_000) as done:
        panel.start()
    selection = done.args[0]
    assert selection["cancelled"]
    # the stop crosses a thread and a pipe (polled every 0.1 s), then lands within one batch
    assert len(batches) <= 3
    kept = store.get(selection["version"])
    assert kept.path.is_file()
    assert read_model_meta(kept.path)["training"]["cancelled"] is True
    assert "cancelled" in panel.status_label.text()


def test_format_eta():
    assert format_eta(75) == "1:15"
    assert format_eta(float("nan")) == "–"
    assert format_eta(3 * 3600 + 120) == "3h02"


def test_versions_menu_lists_scores_and_rolls_back(tmp_path, qtbot):
    from PySide6.QtWidgets import QMenu

    from carvana_gui.panels.versions_menu import ModelVersionsMenu
    from model.workflows.finetune import decide, record_version

    store = ModelStore(tmp_path / "models")
    fake = tmp_path / "m.keras"
    fake.write_bytes(b"weights")
    first = store.add(fake, {})
    store.set_current(first.version)
    rejected = record_version(store, fake, decide(0.91, 0.95, 4), {"parent": first.version})
    menu = QMenu()
    versions = ModelVersionsMenu(store, menu)
    texts = [a.text() for a in versions.menu.actions()]
    assert texts == [f"{rejected.version} — Dice 0.9100 vs 0.9500, from v001 (kept aside)", "v001"]
    assert [a.isChecked() for a in versions.menu.actions()] == [False, True]
    with qtbot.waitSignal(versions.current_changed) as switched:
        versions.menu.actions()[0].trigger()
    assert switched.args[0].version == rejected.version == store.current().version
    versions.switch_to(first.version)  # roll back
    assert store.current().version == first.version
    assert [a.isChecked() for a in versions.menu.actions()] == [False, True]


def test_model_loop_is_installed_in_the_window(window, qtbot):
    loop = window.model_loop
    assert set(loop.docks) == {"finetune", "batch", "effort"}
    file_texts = [a.text() for a in window.menu("file").actions()]
    assert "&Export…" in file_texts
    model_texts = [a.text() for a in window.menu("model").actions()]
    assert "&Versions" in model_texts and "&Fine-tune on corrected masks…" in model_texts
    # the folder the window opened reached the panels
    assert loop.finetune.project is window.project
    assert len(loop.batch.images) == len(window.records) == 6
    assert "0 corrected or reviewed masks" in loop.finetune.data_label.text()
    assert loop.batch.open_image_id == window.current.record.image_id
    dialog = loop.show_export()
    assert dialog.project is window.project
    assert dialog.folder_edit.text() == str(window.current.record.path.parent)
    dialog.close()
