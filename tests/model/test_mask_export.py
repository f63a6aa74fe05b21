"""Mask folder export: the shown mask per image, honest counts, round-trips, whole files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from model.workflows.mask_export import export_masks


def _project(tmp_path):
    project = ProjectStore(tmp_path / "proj")
    auto = np.zeros((12, 16), np.uint8)
    auto[3:9, 4:12] = 1
    edited = auto.copy()
    edited[0:2, :] = 1
    project.save_auto_mask("car_01", auto, "v1")
    project.save_edit("car_01", edited)
    project.save_auto_mask("car_02", auto, "v1")
    return project, auto, edited


@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_edited_mask_wins_and_round_trips(tmp_path, fmt):
    project, auto, edited = _project(tmp_path)
    project.set_reviewed("car_01", True, edited)
    result = export_masks(
        project, ["car_02", "car_01", "car_03"], tmp_path / "out", fmt, active="v2"
    )
    tally = result.tally
    assert (tally.unreviewed_edits, tally.auto, tally.stale_auto) == (0, 0, 1)
    assert (tally.reviewed, result.missing, result.written) == (1, ["car_03"], 2)
    assert np.array_equal(read_mask(tmp_path / "out" / f"car_01_mask.{fmt}"), edited)
    assert np.array_equal(read_mask(tmp_path / "out" / f"car_02_mask.{fmt}"), auto)
    assert not (tmp_path / "out" / f"car_03_mask.{fmt}").exists()
    if fmt == "gif":  # Kaggle layout: palette indices 0/1, not 0/255
        with Image.open(tmp_path / "out" / "car_01_mask.gif") as img:
            assert img.mode == "P"
            assert set(np.unique(np.asarray(img)).tolist()) == {0, 1}


def test_edited_only_and_progress_order(tmp_path):
    project, _, _ = _project(tmp_path)
    seen = []
    result = export_masks(
        project,
        ["car_02", "car_01"],
        tmp_path / "out",
        "png",
        include_auto=False,
        on_progress=lambda info: seen.append((info.image_id, info.source)),
    )
    assert seen == [("car_01", "edited"), ("car_02", "missing")]  # people's masks first
    assert result.written == 1
    # Failure 10: an unreviewed edit is exported, and said to be one
    assert result.tally.unreviewed_edits == 1
    assert "1 edited but not reviewed" in result.summary()


def test_cancel_stops_before_next_file(tmp_path):
    project, _, _ = _project(tmp_path)
    calls = iter([False, True])
    result = export_masks(
        project, ["car_01", "car_02"], tmp_path / "out", "gif", should_stop=lambda: next(calls)
    )
    assert result.cancelled and result.written == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["car_01_mask.gif"]


def test_bad_format_and_file_as_folder(tmp_path):
    project, _, _ = _project(tmp_path)
    with pytest.raises(ValueError, match="jpg"):
        export_masks(project, ["car_01"], tmp_path / "out", "jpg")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        export_masks(project, ["car_01"], blocker, "png")
