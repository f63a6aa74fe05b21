"""Batch auto-mask panel with a tiny model: hand-edited masks are skipped, cancel keeps work."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.batch import BatchPanel
from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from tiny_carvana import make_image_folder, records, save_tiny_model


@pytest.fixture
def setup(tmp_path, qtbot):
    train, _ = make_image_folder(tmp_path / "data", cars=4, angles=4)
    project = ProjectStore(tmp_path / "data" / "train_edits")
    model = save_tiny_model(tmp_path / "models" / "v007" / "model.keras")
    worker = ModelWorker()
    panel = BatchPanel(worker, lambda: (model, "v007"))
    qtbot.addWidget(panel)
    recs = records(train)
    yield panel, project, recs
    worker.shutdown()


@pytest.mark.slow
def test_batch_skips_hand_edited_and_open_image(setup, qtbot):
    panel, project, recs = setup
    hand = np.zeros((96, 144), np.uint8)
    hand[10:20, 10:20] = 1
    project.save_edit(recs[0].image_id, hand)  # hand-edited
    project.save_auto_mask(recs[1].image_id, hand, "v001")
    project.set_reviewed(recs[1].image_id, True, hand)  # reviewed
    project.save_auto_mask(recs[2].image_id, hand, "v001")  # stale auto-mask
    panel.set_data(project, recs)
    panel.open_image_id = recs[3].image_id  # open in the editor
    assert "14 images to predict with v007; 2 hand-edited" in panel.counts_label.text()
    panel.set_selection("stale")
    assert panel.counts_label.text().startswith("1 images")
    panel.set_selection("all")
    saved = []
    panel.mask_saved.connect(saved.append)
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000) as done:
        panel.start()
    result = done.args[0]
    assert (result.saved, result.skipped_hand_made) == (13, 0)
    assert result.protected_ids == [recs[3].image_id]
    assert np.array_equal(project.load_shown_mask(recs[0].image_id), hand)
    assert np.array_equal(project.load_auto_mask(recs[1].image_id), hand)
    assert project.state(recs[1].image_id) == "reviewed"
    assert project.auto_mask_path(recs[3].image_id).exists() is False  # open image untouched
    for r in recs[4:]:
        entry = project.record(r.image_id)
        assert (entry.state, entry.auto_version) == ("auto", "v007")
        assert read_mask(project.auto_mask_path(r.image_id)).shape == (96, 144)
    assert project.record(recs[2].image_id).auto_version == "v007"  # stale one refreshed
    assert len(saved) == 14 and panel.progress_bar.value() == 14
    assert "images/s" in panel.status_label.text() or "auto-masked" in panel.status_label.text()
    panel.set_selection("stale")
    assert panel.counts_label.text().startswith("0 images")


@pytest.mark.slow
def test_cancel_keeps_finished_masks(setup, qtbot):
    panel, project, recs = setup
    panel.set_data(project, recs)
    panel.worker.progress.connect(lambda *_: panel.cancel())
    with qtbot.waitSignal(panel.batch_finished, timeout=120_000) as done:
        panel.start()
    assert done.args[0] is None  # cancelled
    saved = [r for r in recs if project.auto_mask_path(r.image_id).exists()]
    assert 1 <= len(saved) < len(recs)
    assert ProjectStore(project.root).state(saved[0].image_id) == "auto"  # status on disk
    assert "Cancelled" in panel.status_label.text()


@pytest.mark.slow
def test_window_auto_masks_the_open_image_the_batch_left_to_it(
    qtbot, isolated_config, image_folder, tmp_path
):
    from conftest import open_window

    from model.store.versions import ModelStore, user_models_dir

    store = ModelStore(user_models_dir())
    tiny = save_tiny_model(tmp_path / "tiny.keras")
    store.set_current(store.add(tiny, {"preset": "128x128"}).version)
    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.model is not None, timeout=60_000)
    open_id = window.session.current.record.image_id
    assert not window.document.mask.any()
    panel = window.model_loop.batch
    panel.refresh_counts()
    with (
        qtbot.waitSignal(window.automask.result_ready, timeout=120_000) as auto,
        qtbot.waitSignal(panel.batch_finished, timeout=120_000) as done,
    ):
        panel.start()
    assert done.args[0].protected_ids == [open_id]
    assert "1 left to the editor" in panel.status_label.text()
    assert auto.args[0].image_id == open_id  # the editor's own auto-mask, on the canvas
    assert np.array_equal(window.document.mask, auto.args[0].mask)
    qtbot.waitUntil(lambda: window.session.project.state(open_id) == "auto", timeout=5_000)
    assert all(
        window.session.project.state(r.image_id) == "auto" for r in window.session.records.values()
    )
    window.close()
