"""Correction effort aggregated per model version (pure, no Qt/Keras)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.edits.effort import effort_by_version, read_status_records
from model.project import EditsProject


def test_groups_by_version_and_counts_only_judged_images():
    records = {
        "a_01": {"status": "reviewed", "model_version": "v1", "pixels_changed": 0, "seconds": 4.0},
        "a_02": {"status": "edited", "model_version": "v1", "pixels_changed": 300, "seconds": 20.0},
        "a_03": {"status": "auto", "model_version": "v1", "pixels_changed": 0, "seconds": 0.0},
        "b_01": {"status": "reviewed", "model_version": "v2", "pixels_changed": 0, "seconds": 2.0},
        "b_02": {"status": "reviewed", "model_version": "v2", "pixels_changed": 10, "seconds": 6.0},
        "c_01": {"status": "edited", "model_version": None, "pixels_changed": None, "seconds": 9.0},
        "c_02": {"status": "no-mask", "model_version": None},
    }
    v1, v2 = effort_by_version(records)
    assert (v1.version, v1.judged, v1.accepted, v1.pending) == ("v1", 2, 1, 1)
    assert v1.accepted_share == pytest.approx(0.5)
    assert v1.mean_pixels_changed == pytest.approx(150.0)
    assert v1.mean_seconds == pytest.approx(12.0)
    # reviewed after touching pixels is not "accepted without edits"
    assert (v2.judged, v2.accepted) == (2, 1)
    assert v2.mean_pixels_changed == pytest.approx(5.0)


def test_version_with_only_pending_masks_has_zero_share():
    (v,) = effort_by_version([{"status": "auto", "model_version": "v9"}])
    assert (v.judged, v.pending, v.accepted_share, v.mean_pixels_changed) == (0, 1, 0.0, 0.0)


def test_reads_records_of_a_real_project(tmp_path):
    project = EditsProject(tmp_path / "p")
    auto = np.zeros((8, 8), np.uint8)
    auto[2:6, 2:6] = 1
    project.save_auto_mask("car_01", auto, "v1")
    project.save_auto_mask("car_02", auto, "v1")
    edited = auto.copy()
    edited[0, :3] = 1
    project.save_mask("car_01", edited)
    project.add_seconds("car_01", 7.5)
    project.set_status("car_02", "reviewed")
    project.save()
    (v,) = effort_by_version(read_status_records(project.status_path))
    assert (v.judged, v.accepted) == (2, 1)
    assert v.mean_pixels_changed == pytest.approx(1.5)  # 3 pixels on one of two images


def test_unreadable_status_file_names_the_file(tmp_path):
    bad = tmp_path / "project.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"project\.json"):
        read_status_records(bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="must be an object"):
        read_status_records(bad)
    assert read_status_records(tmp_path / "missing.json") == {}
