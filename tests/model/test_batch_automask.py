"""Batch auto-mask: selections, never touching hand-made masks, cancel keeps saved work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from model.data.masks import read_mask, write_mask
from model.edits.lifecycle import MaskState
from model.edits.project_store import ProjectStore
from model.workflows.batch_automask import BatchProgress, run_batch_automask, select_images

SHAPE = (8, 12)


@dataclass
class _Pred:
    mask: np.ndarray

    @property
    def prob(self) -> np.ndarray:
        return self.mask.astype(np.float32) * 0.95


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
    project = ProjectStore(tmp_path / "proj")
    paths = [tmp_path / f"car_{i:02d}.jpg" for i in range(1, 6)]
    one = np.ones(SHAPE, np.uint8)
    project.save_auto_mask("car_01", one, "v1")  # stale auto-mask
    project.save_auto_mask("car_02", one, "v2")  # current auto-mask
    project.save_auto_mask("car_03", one, "v1")
    project.save_edit("car_03", np.zeros(SHAPE, np.uint8))  # hand-edited
    project.save_auto_mask("car_04", one, "v1")
    project.set_reviewed("car_04", True, one)  # accepted as is
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
    chosen, protected = select_images(project, paths, selection, "v2")
    assert [p.stem for p in chosen] == expected
    assert protected == 2


def test_the_editors_auto_mask_is_refreshed_by_a_stale_batch(tmp_path):
    """Failure 2: Ctrl+R's mask, saved again by autosave unchanged, stays an auto-mask."""
    project, paths = _setup(tmp_path)
    one = np.ones(SHAPE, np.uint8)
    project.save_auto_mask("car_05", one, "v1", by_person=True)  # the editor's Ctrl+R
    project.load_for_editing("car_05")
    project.save_edit("car_05", one)  # the autosave of the same pixels
    assert project.state("car_05") is MaskState.AUTO
    chosen, _ = select_images(project, paths, "stale", "v2")
    assert [p.stem for p in chosen] == ["car_01", "car_05"]


def test_a_persons_mask_file_left_by_an_old_version_is_never_replaced(tmp_path):
    """A masks/ file the old JSON never listed is a person's mask after migration."""
    root = tmp_path / "proj"
    write_mask(root / "masks" / "car_01_mask.png", np.ones(SHAPE, np.uint8))
    project = ProjectStore(root)
    chosen, protected = select_images(project, [tmp_path / "car_01.jpg"], "all", "v2")
    assert chosen == [] and protected == 1


def test_run_saves_auto_masks_and_skips_masks_edited_meanwhile(tmp_path):
    project, paths = _setup(tmp_path)
    hand = np.zeros(SHAPE, np.uint8)
    hand[0, 0] = 1

    def user_edits_while_running(image_id):
        if image_id == "car_02":  # the user saves an edit just before its prediction lands
            other_window = ProjectStore(project.root)
            other_window.save_edit("car_02", hand)

    predictor = FakePredictor(on_yield=user_edits_while_running)
    chosen, _ = select_images(project, paths, "all", "v3")
    progress: list[BatchProgress] = []
    result = run_batch_automask(project, chosen, predictor, "v3", on_progress=progress.append)
    assert (result.saved, result.skipped_hand_made, result.cancelled) == (2, 1, False)
    assert np.array_equal(project.load_shown_mask("car_02"), hand)
    assert project.state("car_02") is MaskState.EDITED
    assert project.record("car_05").auto_version == "v3"
    assert project.record("car_05").uncertainty == 0.0
    assert read_mask(project.auto_mask_path("car_05")).sum() == 3 * SHAPE[1]
    assert [p.done for p in progress] == [1, 2, 3]
    assert progress[-1].total == 3 and progress[-1].eta_s == 0.0
    # the database on disk already holds the new rows
    reloaded = ProjectStore(project.root)
    assert reloaded.record("car_01").auto_version == "v3"
    assert predictor.closed


def test_batch_masks_get_their_dice_where_the_truth_exists(tmp_path):
    """Failure 11: the Dice column is filled for batch-masked images."""
    project, paths = _setup(tmp_path)
    truth = np.zeros(SHAPE, np.uint8)
    truth[:1, :] = 1  # what the fake predictor makes for the first image
    write_mask(tmp_path / "car_05_mask.gif", truth)
    chosen, _ = select_images(project, paths, "without-mask", "v3")
    run_batch_automask(
        project, chosen, FakePredictor(), "v3", truth_of=lambda i: tmp_path / f"{i}_mask.gif"
    )
    assert project.record("car_05").dice == 1.0


def test_protect_callback_and_cancel(tmp_path):
    project, paths = _setup(tmp_path)
    chosen, _ = select_images(project, paths, "all", "v3")
    predictor = FakePredictor()
    result = run_batch_automask(
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
    assert project.record("car_01").auto_version == "v1"  # protected: untouched
    assert project.state("car_05") is MaskState.NONE  # never reached
    assert predictor.closed  # background prefetch stopped


def test_unknown_selection(tmp_path):
    project, paths = _setup(tmp_path)
    with pytest.raises(ValueError, match="unknown selection"):
        select_images(project, paths, "some", None)


def test_one_pass_counts_agree_with_the_selections(tmp_path):
    from model.workflows.batch_automask import count_selections

    project, paths = _setup(tmp_path)
    ids = [p.stem for p in paths]
    counts = count_selections(project.records(), ids, "v2")
    for selection in ("all", "without-mask", "stale"):
        chosen, protected = select_images(project, paths, selection, "v2")
        assert counts.for_selection(selection) == len(chosen)
        assert counts.protected == protected


def test_a_batch_masks_a_learned_cars_images_with_that_cars_own_model(tmp_path):
    """Learn this car made 'carb's masks with its own model (v2-car): a stale batch must not
    call them stale and put the general model's masks back, and an 'all' batch predicts
    them with the car's model and records it, one progress count over both models."""
    from model.edits.lifecycle import ActiveModels
    from model.workflows.batch_automask import group_by_model, run_batch_by_model

    project = ProjectStore(tmp_path / "proj")
    one = np.ones(SHAPE, np.uint8)
    paths = [tmp_path / f"{car}_{a:02d}.jpg" for car in ("cara", "carb") for a in (1, 2)]
    project.save_auto_mask("cara_01", one, "v1")  # stale: the general model is v2 now
    project.save_auto_mask("cara_02", one, "v2")
    project.save_auto_mask("carb_01", one, "v2-car")  # learned car, its model's masks
    project.save_auto_mask("carb_02", one, "v2-car")
    active = ActiveModels("v2", {"carb": "v2-car"})
    files = {"v2": tmp_path / "v2.keras", "v2-car": tmp_path / "v2-car.keras"}

    stale, _ = select_images(project, paths, "stale", active)
    assert [p.stem for p in stale] == ["cara_01"]
    stale_plain, _ = select_images(project, paths, "stale", "v2")  # the bug this fixes
    assert [p.stem for p in stale_plain] == ["cara_01", "carb_01", "carb_02"]

    chosen, _ = select_images(project, paths, "all", active)
    groups = group_by_model(chosen, active, files)
    assert [(g.version, [p.stem for p in g.paths]) for g in groups] == [
        ("v2", ["cara_01", "cara_02"]),
        ("v2-car", ["carb_01", "carb_02"]),
    ]
    loaded: dict[Path, FakePredictor] = {}

    def load(path: Path) -> FakePredictor:
        loaded[path] = FakePredictor()
        return loaded[path]

    progress: list[BatchProgress] = []
    result = run_batch_by_model(project, groups, load, on_progress=progress.append)
    assert [p.stem for p in loaded] == ["v2", "v2-car"]
    assert loaded[files["v2-car"]].asked == ["carb_01", "carb_02"]
    records = project.records()
    assert [records[i].auto_version for i in ("cara_01", "carb_01")] == ["v2", "v2-car"]
    assert result.saved == result.total == 4 and not result.cancelled
    assert [(p.done, p.total) for p in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(ValueError, match="v2-car"):
        group_by_model(chosen, active, {"v2": files["v2"]})


def test_a_cancel_in_the_first_models_images_stops_the_whole_batch(tmp_path):
    from model.edits.lifecycle import ActiveModels
    from model.workflows.batch_automask import group_by_model, run_batch_by_model

    project = ProjectStore(tmp_path / "proj")
    paths = [tmp_path / f"{car}_01.jpg" for car in ("cara", "carb")]
    active = ActiveModels("v2", {"carb": "v2-car"})
    groups = group_by_model(paths, active, {"v2": tmp_path / "a", "v2-car": tmp_path / "b"})
    loads: list[Path] = []
    result = run_batch_by_model(
        project, groups, lambda p: loads.append(p) or FakePredictor(), should_stop=lambda: True
    )
    assert result.cancelled and result.saved == 1 and loads == [tmp_path / "a"]
