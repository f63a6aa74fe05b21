"""Batch auto-mask: selections, never touching hand-made masks, cancel keeps saved work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from model.data.masks import read_mask
from model.project import EditsProject
from model.workflows.batch_automask import is_stale, run_batch_predict, select_images

SHAPE = (8, 12)


@dataclass
class _Pred:
    mask: np.ndarray


class FakePredictor:
    """Predicts a mask whose value encodes the image index, and logs what it was asked."""

    def __init__(self, on_yield=None):
        self.asked: list[str] = []
        self.closed = False
        self.on_yield = on_yield

    def predict_paths(self, paths, tta=False):
        try:
            for i, path in enumerate(paths):
                self.asked.append(Path(path).stem)
                if self.on_yield:
                    self.on_yield(Path(path).stem)
                mask = np.zeros(SHAPE, np.uint8)
                mask[: i + 1, :] = 1
                yield Path(path), _Pred(mask)
        finally:
            self.closed = True


def _setup(tmp_path):
    project = EditsProject(tmp_path / "proj")
    paths = [tmp_path / f"car_{i:02d}.jpg" for i in range(1, 6)]
    one = np.ones(SHAPE, np.uint8)
    project.save_auto_mask("car_01", one, "v1")  # stale auto-mask
    project.save_auto_mask("car_02", one, "v2")  # current auto-mask
    project.save_auto_mask("car_03", one, "v1")
    project.save_mask("car_03", np.zeros(SHAPE, np.uint8))  # hand-edited
    project.save_auto_mask("car_04", one, "v1")
    project.set_status("car_04", "reviewed")  # accepted as is
    return project, paths  # car_05 has no mask


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("all", ["car_01", "car_02", "car_05"]),
        ("without-mask", ["car_05"]),
        ("stale", ["car_01"]),
    ],
)
def test_selection_never_includes_hand_made_masks(tmp_path, selection, expected):
    project, paths = _setup(tmp_path)
    chosen, protected = select_images(project, paths, selection, current_version="v2")
    assert [p.stem for p in chosen] == expected
    assert protected == 2


def test_stale_means_another_version():
    from model.project import ImageEntry

    assert is_stale(ImageEntry(status="auto", model_version="v1"), "v2")
    assert not is_stale(ImageEntry(status="auto", model_version="v2"), "v2")
    assert not is_stale(ImageEntry(status="edited", model_version="v1"), "v2")


def test_run_saves_auto_masks_and_skips_masks_edited_meanwhile(tmp_path):
    project, paths = _setup(tmp_path)
    hand = np.zeros(SHAPE, np.uint8)
    hand[0, 0] = 1

    def user_edits_while_running(image_id):
        if image_id == "car_02":  # the user saves an edit just before its prediction lands
            project.save_mask("car_02", hand)

    predictor = FakePredictor(on_yield=user_edits_while_running)
    chosen, _ = select_images(project, paths, "all", "v3")
    progress = []
    result = run_batch_predict(project, chosen, predictor, "v3", on_progress=progress.append)
    assert (result.saved, result.skipped_hand_made, result.cancelled) == (2, 1, False)
    assert np.array_equal(project.load_mask("car_02"), hand)
    assert project.entry("car_02").status == "edited"
    assert project.entry("car_05").model_version == "v3"
    assert read_mask(project.auto_mask_path("car_05")).sum() == 3 * SHAPE[1]
    assert [p["done"] for p in progress] == [1, 2, 3]
    assert progress[-1]["total"] == 3 and progress[-1]["eta_s"] == 0.0
    # the status file on disk already holds the new entries
    reloaded = EditsProject(project.root)
    assert reloaded.entry("car_01").model_version == "v3"
    assert predictor.closed


def test_protect_callback_and_cancel(tmp_path):
    project, paths = _setup(tmp_path)
    chosen, _ = select_images(project, paths, "all", "v3")
    predictor = FakePredictor()
    result = run_batch_predict(
        project,
        chosen,
        predictor,
        "v3",
        protect=lambda image_id: image_id == "car_01",
        should_stop=lambda: len(predictor.asked) >= 2,
    )
    assert result.cancelled
    assert (result.saved, result.skipped_hand_made, result.protected_ids) == (1, 0, ["car_01"])
    assert result.saved_ids == ["car_02"]
    assert "1 left to the editor" in result.summary()
    assert project.entry("car_01").model_version == "v1"  # protected: untouched
    assert project.entry("car_05").status == "no-mask"  # never reached
    assert predictor.closed  # background prefetch stopped


def test_unknown_selection(tmp_path):
    project, paths = _setup(tmp_path)
    with pytest.raises(ValueError, match="unknown selection"):
        select_images(project, paths, "some", None)
