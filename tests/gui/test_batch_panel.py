"""Batch auto-mask panel with a tiny model: hand-edited masks are skipped, cancel keeps work."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from carvana_gui.batch_panel import BatchPanel
from carvana_gui.model_worker import ModelWorker
from model.masks import read_mask
from model.project import EditsProject
from tiny_carvana import make_image_folder, records, save_tiny_model


@pytest.fixture
def setup(tmp_path, qtbot):
    train, _ = make_image_folder(tmp_path / "data", cars=4, angles=4)
    project = EditsProject(tmp_path / "data" / "train_edits")
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
    project.save_mask(recs[0].image_id, hand)  # hand-edited
    project.save_auto_mask(recs[1].image_id, hand, "v001")
    project.set_status(recs[1].image_id, "reviewed")  # reviewed
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
    assert (result.saved, result.skipped_hand_made) == (13, 1)
    assert np.array_equal(project.load_mask(recs[0].image_id), hand)
    assert np.array_equal(project.load_auto_mask(recs[1].image_id), hand)
    assert project.status(recs[1].image_id) == "reviewed"
    assert project.auto_mask_path(recs[3].image_id).exists() is False  # open image untouched
    for r in recs[4:]:
        entry = project.entry(r.image_id)
        assert (entry.status, entry.model_version) == ("auto", "v007")
        assert read_mask(project.auto_mask_path(r.image_id)).shape == (96, 144)
    assert project.entry(recs[2].image_id).model_version == "v007"  # stale one refreshed
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
    assert EditsProject(project.root).status(saved[0].image_id) == "auto"  # status on disk
    assert "Cancelled" in panel.status_label.text()
