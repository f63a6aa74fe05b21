"""Failure 9: in a 100k-image folder, the recount after every edit stalled the window
(1.37 s of file checks on the GUI thread). The panels now count from the store's rows in
memory, and a big folder is counted on a helper thread."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.batch import BatchPanel
from carvana_gui.panels.finetune import FinetunePanel
from model.data.dataset import ImageRecord
from model.edits.lifecycle import MaskRecord, MaskState
from model.edits.project_store import ProjectStore
from model.store.versions import ModelStore

IMAGES = 30_000


def _big_project(tmp_path):
    store = ProjectStore(tmp_path / "edits")
    images = [
        ImageRecord(f"{i // 16:012x}_{i % 16 + 1:02d}", tmp_path / f"{i}.jpg", f"{i // 16:012x}")
        for i in range(IMAGES)
    ]
    rows = {r.image_id: MaskRecord(MaskState.AUTO, "v1", has_auto=True) for r in images[::3]}
    store.put_records(rows)
    for record in images[:6]:  # a few reviewed masks with files
        mask = np.ones((4, 6), np.uint8)
        store.save_edit(record.image_id, mask)
        store.set_reviewed(record.image_id, True, mask)
    return store, images


def test_recounts_in_a_big_folder_leave_the_gui_thread_at_once(
    qtbot, tmp_path, monkeypatch, isolated_config
):
    store, images = _big_project(tmp_path)
    stats = []
    real_is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: stats.append(self) or real_is_file(self))
    worker = ModelWorker()
    batch = BatchPanel(worker, lambda: (tmp_path / "m.keras", "v2"))
    finetune = FinetunePanel(worker, ModelStore(tmp_path / "models"))
    qtbot.addWidget(batch)
    qtbot.addWidget(finetune)
    started = time.perf_counter()
    batch.set_data(store, images)
    finetune.set_data(store, images)
    assert time.perf_counter() - started < 0.1  # both counts went to helper threads
    qtbot.waitUntil(lambda: "images to predict" in batch.counts_label.text(), timeout=10_000)
    qtbot.waitUntil(lambda: "6 reviewed" in finetune.data_label.text(), timeout=10_000)
    assert f"{len(images[::3]) - 2} auto-masks are stale" in batch.counts_label.text()
    reviewed_checks = [p for p in stats if p.parent.name == "masks"]
    assert len(reviewed_checks) <= 6 and len(stats) < 50  # no file check per image
    worker.shutdown()
