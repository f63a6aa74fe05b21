"""Edits project: masks beside the images, status JSON, effort figures (no Qt)."""

import json

import numpy as np
import pytest

from model.project import EditsProject, ProjectError, default_project_dir


def test_default_project_dir_is_beside_the_folder(tmp_path):
    (tmp_path / "train").mkdir()
    assert default_project_dir(tmp_path / "train") == tmp_path.resolve() / "train_edits"


def test_save_and_reload_mask_and_status(tmp_path):
    project = EditsProject.for_folder(tmp_path / "train")
    mask = np.zeros((12, 20), np.uint8)
    mask[3:8, 4:15] = 1
    project.save_mask("car_01", mask)
    project.set_dice("car_01", 0.987)
    project.add_seconds("car_01", 4.5)
    project.add_seconds("car_01", 1.0)
    project.save()
    assert project.mask_path("car_01").name == "car_01_mask.png"

    again = EditsProject.for_folder(tmp_path / "train")
    assert np.array_equal(again.load_mask("car_01"), mask)
    entry = again.entry("car_01")
    assert entry.status == "edited" and entry.dice == pytest.approx(0.987)
    assert entry.seconds == pytest.approx(5.5)
    assert entry.pixels_changed is None  # no auto-mask to compare with
    assert again.load_mask("other") is None and again.status("other") == "no-mask"
    assert again.edited_ids() == ["car_01"]


def test_effort_counts_pixels_changed_versus_auto_mask(tmp_path):
    project = EditsProject(tmp_path / "p")
    auto = np.zeros((10, 10), np.uint8)
    auto[2:6, 2:6] = 1
    project.save_auto_mask("img", auto, "v003")
    assert project.entry("img").status == "auto"
    project.save_mask("img", auto)
    assert project.entry("img").status == "auto"  # unchanged auto-mask stays "auto"
    edited = auto.copy()
    edited[0, 0] = 1
    edited[3, 3] = 0
    entry = project.save_mask("img", edited)
    assert entry.status == "edited" and entry.pixels_changed == 2
    assert entry.model_version == "v003"
    project.set_status("img", "reviewed")
    assert project.save_mask("img", auto).status == "reviewed"


def test_status_json_is_valid_and_rejects_unknown_status(tmp_path):
    project = EditsProject(tmp_path)
    project.set_status("a", "reviewed")
    project.save()
    data = json.loads((tmp_path / "project.json").read_text())
    assert data["images"]["a"]["status"] == "reviewed"
    with pytest.raises(ValueError, match="unknown status"):
        project.set_status("a", "done")


def test_corrupt_status_file_names_the_file(tmp_path):
    (tmp_path / "project.json").write_text("{not json")
    with pytest.raises(ProjectError, match=r"project\.json"):
        EditsProject(tmp_path)
