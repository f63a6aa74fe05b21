"""Never ship a stale row: a submission export resumes only the SAME unfinished export.

Reproduction (before the fix): ``carvana export DIR -o s.csv`` a second time, after new
edits, with ``--tta``, with another model or on a smaller folder, printed "0 rows written
(16 kept from an earlier run)" and shipped the old rows; 4 images over a 16-row file gave
"valid submission, 16 rows". The GUI's Export (resume checked by default) did the same,
so a mask edited after the last export never reached the file.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import ThresholdPredictor, install_fake_predictor_module

from model.cli.main import main
from model.edits.project_store import ProjectStore
from model.kaggle.rle import rle_decode
from model.workflows.mask_sources import ShownMasks
from model.workflows.submission_export import export_submission
from tiny_carvana import IMAGE_HW, make_image_folder, records


def _rows(path: Path) -> dict[str, str]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["img", "rle_mask"]
        rows = list(reader)
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), "duplicate rows"
    return dict(rows)


@pytest.fixture
def folder(tmp_path):
    train, masks = make_image_folder(tmp_path / "data", cars=2, angles=3)
    return train, records(train, masks)


def _hand_mask(value_rows: slice) -> np.ndarray:
    mask = np.zeros(IMAGE_HW, np.uint8)
    mask[value_rows, 10:60] = 1
    return mask


def test_a_mask_edited_after_the_last_export_reaches_the_next_one(folder, tmp_path):
    _, recs = folder
    store = ProjectStore(tmp_path / "data" / "train_edits")
    out = tmp_path / "s.csv"
    first = _hand_mask(slice(5, 20))
    store.save_edit(recs[0].image_id, first)
    done = export_submission(recs, out, ThresholdPredictor(), override_mask=ShownMasks(store, "v1"))
    assert np.array_equal(rle_decode(_rows(out)[recs[0].name], IMAGE_HW), first)

    second = _hand_mask(slice(30, 60))  # the person edits again, then exports again
    store.save_edit(recs[0].image_id, second)
    again = export_submission(
        recs, out, ThresholdPredictor(), override_mask=ShownMasks(store, "v1")
    )
    assert again.already_done == 0 and again.written == len(recs)
    assert np.array_equal(rle_decode(_rows(out)[recs[0].name], IMAGE_HW), second)
    assert done.already_done == 0


def test_a_smaller_folder_over_a_bigger_finished_file_has_only_its_rows(folder, tmp_path):
    _, recs = folder
    out = tmp_path / "s.csv"
    export_submission(recs, out, ThresholdPredictor())
    assert len(_rows(out)) == 6
    result = export_submission(recs[:4], out, ThresholdPredictor())
    assert result.already_done == 0
    assert set(_rows(out)) == {r.name for r in recs[:4]}


def _cancel_after(n: int):
    calls: list[dict] = []
    return calls.append, lambda: len(calls) >= n


@pytest.mark.parametrize(
    ("change", "word"),
    [("tta", "TTA"), ("model", "model"), ("images", "image set"), ("masks", "masks")],
)
def test_an_unfinished_export_made_another_way_is_started_over(folder, tmp_path, change, word):
    _, recs = folder
    out = tmp_path / "s.csv"
    model_a, model_b = tmp_path / "a.keras", tmp_path / "b.keras"
    model_a.write_bytes(b"model a")
    model_b.write_bytes(b"model b")
    store = ProjectStore(tmp_path / "data" / "train_edits")
    progress, stop = _cancel_after(2)
    first = export_submission(
        recs,
        out,
        ThresholdPredictor(),
        override_mask=ShownMasks(store, "v1"),
        on_progress=progress,
        should_stop=stop,
        model_file=model_a,
    )
    assert first.cancelled and len(_rows(first.path)) == 2
    assert json.loads((tmp_path / "s.csv.partial.json").read_text())["tta"] is False

    images, tta, model = recs, False, model_a
    if change == "tta":
        tta = True
    elif change == "model":
        model = model_b
    elif change == "images":
        images = recs[1:]
    else:
        store.save_edit(recs[0].image_id, _hand_mask(slice(1, 9)))
    predictor = ThresholdPredictor()
    second = export_submission(
        images, out, predictor, tta=tta, override_mask=ShownMasks(store, "v1"), model_file=model
    )
    assert second.already_done == 0
    assert second.restarted is not None and word in second.restarted
    assert "starting over" in second.restarted
    assert set(_rows(out)) == {r.name for r in images}
    assert not (tmp_path / "s.csv.partial.json").exists()


def test_the_same_unfinished_export_still_resumes(folder, tmp_path):
    _, recs = folder
    out = tmp_path / "s.csv"
    model = tmp_path / "a.keras"
    model.write_bytes(b"model a")
    store = ProjectStore(tmp_path / "data" / "train_edits")
    store.save_edit(recs[3].image_id, _hand_mask(slice(2, 4)))
    progress, stop = _cancel_after(2)
    export_submission(
        recs,
        out,
        ThresholdPredictor(),
        override_mask=ShownMasks(store, "v1"),
        on_progress=progress,
        should_stop=stop,
        model_file=model,
    )
    predictor = ThresholdPredictor()
    second = export_submission(
        recs, out, predictor, override_mask=ShownMasks(store, "v1"), model_file=model
    )
    assert second.already_done >= 2 and second.restarted is None
    assert len(predictor.asked) == len(recs) - second.already_done
    assert set(_rows(out)) == {r.name for r in recs}


def test_a_plain_override_callable_never_resumes(folder, tmp_path):
    """Masks whose source cannot be fingerprinted: a partial file is not trusted."""
    _, recs = folder
    out = tmp_path / "s.csv"
    mask = _hand_mask(slice(3, 7))

    def override(record):
        return mask if record is recs[-1] else None

    progress, stop = _cancel_after(2)
    first = export_submission(
        recs,
        out,
        ThresholdPredictor(),
        override_mask=override,
        on_progress=progress,
        should_stop=stop,
    )
    assert first.cancelled
    second = export_submission(recs, out, ThresholdPredictor(), override_mask=override)
    assert second.already_done == 0 and "starting over" in second.restarted


def test_cli_export_twice_replaces_the_file(folder, tmp_path, monkeypatch, capsys):
    """`carvana export DIR -o s.csv` after an earlier export: new rows, never the old ones."""
    train, recs = folder
    install_fake_predictor_module(monkeypatch)
    model = tmp_path / "m.keras"
    model.write_bytes(b"fake")
    out = tmp_path / "s.csv"
    assert main(["export", str(train), "-o", str(out), "--model", str(model)]) == 0
    assert "valid submission, 6 rows" in capsys.readouterr().out

    small = tmp_path / "small"
    small.mkdir()
    for r in recs[:4]:
        shutil.copy(r.path, small / r.path.name)
    assert main(["export", str(small), "-o", str(out), "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "4 rows written" in text and "kept" not in text
    assert "valid submission, 4 rows" in text
    assert set(_rows(out)) == {r.name for r in recs[:4]}


def test_cli_names_why_it_starts_an_unfinished_export_over(folder, tmp_path, monkeypatch, capsys):
    train, recs = folder
    install_fake_predictor_module(monkeypatch)
    model = tmp_path / "m.keras"
    model.write_bytes(b"fake")
    out = tmp_path / "s.csv"
    progress, stop = _cancel_after(2)
    export_submission(
        recs, out, ThresholdPredictor(), on_progress=progress, should_stop=stop, model_file=model
    )
    assert main(["export", str(train), "-o", str(out), "--model", str(model), "--tta"]) == 0
    captured = capsys.readouterr()
    assert "s.csv.partial: the earlier unfinished export used another TTA setting" in captured.err
    assert "starting over" in captured.err
    assert "6 rows written in" in captured.out


def test_gui_export_job_ships_the_edit_made_after_the_last_export(folder, tmp_path):
    """The GUI's run_submission_job with resume checked (the default)."""
    from carvana_gui.panels.export import run_submission_job, submission_report_text

    train, recs = folder
    store = ProjectStore(tmp_path / "data" / "train_edits")
    model = tmp_path / "v002.keras"
    model.write_bytes(b"fake")

    class Ctx:
        def report(self, info):
            pass

        def should_stop(self):
            return False

        def predictor(self, path):
            return ThresholdPredictor()

    out = tmp_path / "submission.csv"
    store.save_edit(recs[0].image_id, _hand_mask(slice(5, 20)))
    run_submission_job(Ctx(), train, out, model, False, True, ShownMasks(store, "v002"))
    edited = _hand_mask(slice(40, 80))
    store.save_edit(recs[0].image_id, edited)
    outcome = run_submission_job(Ctx(), train, out, model, False, True, ShownMasks(store, "v002"))
    assert outcome.result.already_done == 0 and outcome.report.ok
    assert np.array_equal(rle_decode(_rows(out)[recs[0].name], IMAGE_HW), edited)
    assert "kept" not in submission_report_text(outcome)


def test_a_partial_file_cut_before_its_header_resumes_into_a_clean_file(tmp_path):
    """A crash before the first flush leaves an empty .partial: no NUL bytes come of it."""
    from model.kaggle.submission import SubmissionWriter

    out = tmp_path / "s.csv"
    (tmp_path / "s.csv.partial").write_bytes(b"img,rle")  # cut inside the header
    with SubmissionWriter(out) as writer:
        writer.write("a.jpg", "1 1")
    assert out.read_bytes() == b"img,rle_mask\na.jpg,1 1\n"


def test_masks_to_csv_resumes_only_the_same_unfinished_conversion(tmp_path, capsys):
    import numpy as np

    from model.cli.main import main as carvana
    from model.data.masks import write_mask

    masks = tmp_path / "masks"
    for i in range(3):
        write_mask(masks / f"car_{i:02d}_mask.png", np.eye(6, 10, i, dtype=np.uint8))
    out = tmp_path / "m.csv"
    # an unfinished earlier run with a stale row for car_00
    (tmp_path / "m.csv.partial").write_text("img,rle_mask\ncar_00.jpg,1 1\n")
    args = ["masks-to-csv", str(masks), "-o", str(out), "--size", "6x10", "--resume"]
    assert carvana(args) == 0
    assert "starting over" in capsys.readouterr().err
    rows = dict(line.split(",") for line in out.read_text().splitlines()[1:])
    assert rows["car_00.jpg"] != "1 1" and len(rows) == 3
