"""Export dialog: a valid submission whose decoded masks equal the masks on disk; mask folders."""

from __future__ import annotations

import csv
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from carvana_gui.jobs.model_worker import ModelWorker
from carvana_gui.panels.export import ExportDialog
from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from model.kaggle.rle import rle_decode
from model.workflows.batch_automask import run_batch_automask
from tiny_carvana import IMAGE_HW, make_image_folder, records, save_tiny_model


@pytest.fixture
def setup(tmp_path, qtbot):
    train, _ = make_image_folder(tmp_path / "data", cars=2, angles=3)
    project = ProjectStore(tmp_path / "data" / "train_edits")
    model = save_tiny_model(tmp_path / "models" / "v002" / "model.keras")
    worker = ModelWorker()
    dialog = ExportDialog(worker, lambda: (model, "v002"), project, train)
    qtbot.addWidget(dialog)
    dialog.csv_edit.setText(str(tmp_path / "out" / "submission.csv"))
    yield dialog, project, records(train), model, tmp_path
    worker.shutdown()


def _rows(path):
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["img", "rle_mask"]
        return {name: rle for name, rle in reader}


@pytest.mark.slow
def test_submission_equals_masks_on_disk_and_is_validated(setup, qtbot):
    dialog, project, recs, model, tmp_path = setup
    from model.nn.predictor import Predictor

    run_batch_automask(project, [r.path for r in recs[2:]], Predictor.load(model), "v002")
    hand = np.zeros(IMAGE_HW, np.uint8)
    hand[5:50, 7:90] = 1
    project.save_edit(recs[0].image_id, hand)  # hand-edited beats any prediction
    project.save_auto_mask(recs[1].image_id, 1 - hand, "v001")
    project.set_reviewed(recs[1].image_id, True, 1 - hand)  # accepted by a person
    with open(tmp_path / "data" / "sample_submission.csv", "w") as fh:  # lists these images
        fh.write("img,rle_mask\n" + "".join(f"{r.path.name},1 1\n" for r in recs))
    with qtbot.waitSignal(dialog.export_finished, timeout=120_000) as done:
        assert dialog.start_submission() is not None
    outcome = done.args[0]
    assert outcome.report.ok and outcome.report.rows == len(recs)
    assert outcome.sample is not None
    rows = _rows(dialog.csv_edit.text())
    assert set(rows) == {r.path.name for r in recs}
    for r in recs:
        on_disk = project.load_shown_mask(r.image_id)  # what the editor shows
        assert np.array_equal(rle_decode(rows[r.path.name], IMAGE_HW), on_disk), r.image_id
    text = dialog.report.toPlainText()
    assert "VALID" in text and "compared with" in text and "sample_submission" in text
    # Failure 10: the sources are counted as they are, and the unreviewed edit is named
    assert "1 reviewed, 1 edited, not reviewed, 4 stored auto-masks, 0 predicted now" in text
    assert f"were exported as they are: {recs[0].image_id}" in text


@pytest.mark.slow
def test_submission_without_saved_masks_predicts_and_reports_sample_mismatch(setup, qtbot):
    dialog, _, recs, _, tmp_path = setup
    with open(tmp_path / "data" / "sample_submission.csv", "w") as fh:
        fh.write("img,rle_mask\n" + "".join(f"{r.path.name},1 1\n" for r in recs[:-1]))
    with qtbot.waitSignal(dialog.export_finished, timeout=120_000) as done:
        dialog.start_submission()
    outcome = done.args[0]
    assert not outcome.report.ok
    assert any("not in sample_submission.csv" in p for p in outcome.report.problems)
    assert outcome.result.overridden == 0 and outcome.result.written == len(recs)
    assert "PROBLEMS" in dialog.report.toPlainText()


def test_bad_inputs_are_reported_in_the_dialog(setup):
    dialog, _, _, _, tmp_path = setup
    dialog.csv_edit.setText(str(tmp_path / "out.txt"))
    assert dialog.start_submission() is None
    assert "should be a .csv" in dialog.report.toPlainText()
    dialog.folder_edit.setText(str(tmp_path / "nope"))
    assert dialog.start_submission() is None
    assert "not a folder" in dialog.report.toPlainText()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_mask_folder_export(setup, qtbot, fmt):
    dialog, project, recs, _, tmp_path = setup
    hand = np.zeros(IMAGE_HW, np.uint8)
    hand[1:9, 2:30] = 1
    project.save_auto_mask(recs[0].image_id, 1 - hand, "v001")
    project.save_edit(recs[0].image_id, hand)
    project.save_auto_mask(recs[1].image_id, 1 - hand, "v001")
    dialog.masks_edit.setText(str(tmp_path / "exported"))
    dialog.format.setCurrentText(fmt)
    with qtbot.waitSignal(dialog.export_finished, timeout=30_000) as done:
        assert dialog.start_masks()
    result = done.args[0]
    tally = result.tally
    assert (tally.unreviewed_edits, tally.stale_auto, len(result.missing)) == (1, 1, len(recs) - 2)
    ext = fmt.lower()
    assert np.array_equal(read_mask(tmp_path / "exported" / f"{recs[0].image_id}_mask.{ext}"), hand)
    assert "0 reviewed, 1 edited but not reviewed, 1 auto" in dialog.report.toPlainText()


@pytest.mark.slow
def test_cancel_then_resume_gives_a_complete_valid_csv(setup, qtbot):
    dialog, _, recs, _, _ = setup
    seen = []

    from model.workflows.submission_export import ExportProgress

    def cancel_on_first(_job, info):
        if isinstance(info, ExportProgress) and not seen:
            seen.append(info)
            dialog.cancel()

    dialog.worker.progress.connect(cancel_on_first)
    with qtbot.waitSignal(dialog.export_finished, timeout=120_000) as first:
        dialog.start_submission()
    assert first.args[0].result.cancelled
    assert "Cancelled" in dialog.report.toPlainText()
    assert not os.path.exists(dialog.csv_edit.text())  # only the .partial file so far
    with qtbot.waitSignal(dialog.export_finished, timeout=120_000) as second:
        dialog.start_submission()
    outcome = second.args[0]
    assert outcome.result.already_done >= 1  # resumed, not restarted
    assert outcome.report.ok and len(_rows(dialog.csv_edit.text())) == len(recs)


def test_export_proposes_the_last_export_folder_never_the_dataset(setup, tmp_path):
    """First hour, point 7: the default path was inside the dataset folder."""
    from carvana_gui.panels.export import ExportDialog
    from carvana_gui.settings import WindowState

    dialog, project, _, model, _ = setup
    state = WindowState(tmp_path / "window.ini")
    fresh = ExportDialog(dialog.worker, lambda: (model, "v002"), project, dialog.image_folder,
                         state=state)  # fmt: skip
    assert not Path(fresh.csv_edit.text()).is_relative_to(tmp_path / "data")
    assert not Path(fresh.masks_edit.text()).is_relative_to(tmp_path / "data")
    (tmp_path / "exports").mkdir()
    fresh.masks_edit.setText(str(tmp_path / "exports" / "masks"))
    assert fresh.start_masks()
    fresh.mask_thread.wait(30_000)
    again = ExportDialog(dialog.worker, lambda: (model, "v002"), project, dialog.image_folder,
                         state=state)  # fmt: skip
    assert Path(again.csv_edit.text()) == tmp_path / "exports" / "submission.csv"
    fresh.deleteLater()
    again.deleteLater()
