"""Submission export: every image once, hand-edited masks win, bad images skipped, resumable."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.masks import read_image, read_mask
from model.kaggle.rle import rle_decode
from model.kaggle.submission import validate_submission
from model.workflows.submission_export import export_submission
from tiny_carvana import IMAGE_HW, make_image_folder, records


@dataclass
class _Pred:
    mask: np.ndarray


class ThresholdPredictor:
    """Stands in for Predictor: mask = bright pixels; reads files like the real one."""

    def __init__(self):
        self.asked: list[str] = []

    def predict_paths(self, paths, tta=False, on_error=None, encode=None):
        for path in paths:
            self.asked.append(Path(path).name)
            try:
                image = read_image(path)
            except Exception as exc:
                on_error(Path(path), exc)
                continue
            yield Path(path), _Pred((image[..., 0] > 150).astype(np.uint8))


def _rows(path: Path) -> dict[str, str]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["img", "rle_mask"]
        rows = list(reader)
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), "duplicate rows"
    return dict(rows)


def _folder(tmp_path):
    train, masks = make_image_folder(tmp_path / "data", cars=2, angles=3)
    (train / "000000000009_01.jpg").write_bytes(b"broken")  # unreadable: skipped, reported
    return records(train, masks)


def test_export_writes_every_readable_image_and_overrides_win(tmp_path):
    recs = _folder(tmp_path)
    edited = recs[1]
    edited_mask = np.zeros(IMAGE_HW, np.uint8)
    edited_mask[10:20, 30:40] = 1
    predictor = ThresholdPredictor()
    progress = []
    result = export_submission(
        recs,
        tmp_path / "sub.csv",
        predictor,
        override_mask=lambda r: edited_mask if r is edited else None,
        on_progress=progress.append,
    )
    assert not result.cancelled and result.path == tmp_path / "sub.csv"
    assert result.overridden == 1 and result.written == 6
    assert [p.name for p, _ in result.skipped] == ["000000000009_01.jpg"]
    assert edited.name not in predictor.asked  # hand-edited images are not predicted
    rows = _rows(result.path)
    assert set(rows) == {r.name for r in recs} - {"000000000009_01.jpg"}
    np.testing.assert_array_equal(rle_decode(rows[edited.name], IMAGE_HW), edited_mask)
    other = recs[0]
    expected = (read_image(other.path)[..., 0] > 150).astype(np.uint8)
    np.testing.assert_array_equal(rle_decode(rows[other.name], IMAGE_HW), expected)
    assert validate_submission(result.path, shape=IMAGE_HW).ok
    assert progress[-1].done == progress[-1].total == len(recs)
    assert read_mask(other.mask_path).shape == IMAGE_HW


def test_cancelled_export_keeps_rows_and_resumes_without_duplicates(tmp_path):
    recs = [r for r in _folder(tmp_path) if not r.name.startswith("000000000009")]
    out = tmp_path / "sub.csv"
    calls = []
    first = export_submission(
        recs,
        out,
        ThresholdPredictor(),
        on_progress=calls.append,
        should_stop=lambda: len(calls) >= 2,
    )
    assert first.cancelled and first.written == 2 and not out.exists()
    assert len(_rows(first.path)) == 2  # the .partial file
    second_predictor = ThresholdPredictor()
    second = export_submission(recs, out, second_predictor)
    assert second.already_done == 2 and second.written == len(recs) - 2
    assert len(second_predictor.asked) == len(recs) - 2  # done rows are not predicted again
    assert set(_rows(out)) == {r.name for r in recs}
    assert not first.path.exists()
