"""The SQLite project store: rows per image, files, migration, conflicts (no Qt)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from model.edits.lifecycle import MaskSource, MaskState, shown_source
from model.edits.project_store import (
    ConflictError,
    ProjectError,
    ProjectStore,
    default_project_dir,
)


def _mask(rows: slice, cols: slice, shape=(12, 20)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[rows, cols] = 1
    return mask


def test_default_project_dir_is_beside_the_folder(tmp_path):
    (tmp_path / "train").mkdir()
    assert default_project_dir(tmp_path / "train") == tmp_path.resolve() / "train_edits"


def test_rows_survive_reopening(tmp_path):
    store = ProjectStore.for_folder(tmp_path / "train")
    mask = _mask(slice(3, 8), slice(4, 15))
    store.save_edit("car_01", mask)
    store.set_dice("car_01", 0.987)
    store.add_seconds("car_01", 4.5)
    store.add_seconds("car_01", 1.0)
    store.close()

    again = ProjectStore.for_folder(tmp_path / "train")
    assert np.array_equal(again.load_for_editing("car_01"), mask)
    record = again.record("car_01")
    assert record.state is MaskState.EDITED and record.dice == pytest.approx(0.987)
    assert record.seconds == pytest.approx(5.5) and record.pixels_changed is None
    assert record.user and record.updated
    assert again.load_for_editing("other") is None and again.state("other") is MaskState.NONE


def test_a_batch_auto_mask_is_what_the_editor_loads(tmp_path):
    """Failure 1: the auto-mask on disk is the mask the editor opens."""
    store = ProjectStore(tmp_path / "p")
    auto = _mask(slice(2, 6), slice(2, 6))
    store.save_auto_mask("img", auto, "v003", uncertainty=0.01)
    assert np.array_equal(store.load_for_editing("img"), auto)
    assert store.record("img").uncertainty == pytest.approx(0.01)


def test_effort_counts_pixels_changed_and_unchanged_saves_stay_auto(tmp_path):
    """Failure 2: saving the model's own mask leaves it an auto-mask (no person's file)."""
    store = ProjectStore(tmp_path / "p")
    auto = _mask(slice(2, 6), slice(2, 6))
    store.save_auto_mask("img", auto, "v003", by_person=True)
    store.load_for_editing("img")
    assert store.save_edit("img", auto).state is MaskState.AUTO
    assert not store.mask_path("img").exists()
    edited = auto.copy()
    edited[0, 0] = 1
    edited[3, 3] = 0
    record = store.save_edit("img", edited)
    assert record.state is MaskState.EDITED and record.pixels_changed == 2
    assert record.auto_version == "v003" and shown_source(record) is MaskSource.EDITED
    reviewed = store.set_reviewed("img", True, edited)
    assert reviewed.state is MaskState.REVIEWED
    assert store.save_edit("img", auto).state is MaskState.REVIEWED


def test_a_batch_never_replaces_a_persons_mask(tmp_path):
    store = ProjectStore(tmp_path / "p")
    store.save_edit("img", _mask(slice(1, 3), slice(1, 3)))
    assert store.save_auto_mask("img", _mask(slice(0, 9), slice(0, 9)), "v004") is None
    assert store.state("img") is MaskState.EDITED
    assert np.array_equal(store.load_shown_mask("img"), _mask(slice(1, 3), slice(1, 3)))


def test_two_stores_on_one_folder_detect_each_other(tmp_path):
    """Failure 12: two windows on one folder never overwrite each other silently."""
    mine, theirs = ProjectStore(tmp_path / "p"), ProjectStore(tmp_path / "p")
    mine.load_for_editing("img")
    theirs.load_for_editing("img")
    theirs.save_edit("img", _mask(slice(0, 4), slice(0, 4)))
    with pytest.raises(ConflictError, match="img") as caught:
        mine.save_edit("img", _mask(slice(5, 9), slice(5, 9)))
    assert caught.value.theirs.state is MaskState.EDITED
    # the other window's stroke is still there, untouched
    assert np.array_equal(theirs.load_shown_mask("img"), _mask(slice(0, 4), slice(0, 4)))
    assert "img" in mine.refresh() or mine.record("img").revision == theirs.record("img").revision
    # "keep mine": an explicit overwrite
    mine.save_edit("img", _mask(slice(5, 9), slice(5, 9)), force=True)
    theirs.refresh()
    assert np.array_equal(theirs.load_shown_mask("img"), _mask(slice(5, 9), slice(5, 9)))
    # and the other window's next save is detected in turn
    with pytest.raises(ConflictError):
        theirs.save_edit("img", _mask(slice(0, 2), slice(0, 2)))


def test_statuses_of_two_stores_are_kept_both(tmp_path):
    """Failure 12: a second writer no longer erases the first one's statuses."""
    a, b = ProjectStore(tmp_path / "p"), ProjectStore(tmp_path / "p")
    a.save_edit("one", _mask(slice(0, 2), slice(0, 2)))
    b.save_edit("two", _mask(slice(0, 2), slice(0, 2)))
    fresh = ProjectStore(tmp_path / "p")
    assert fresh.state("one") is MaskState.EDITED and fresh.state("two") is MaskState.EDITED
    assert b.refresh() == {"one"}


def _legacy(tmp_path, images: dict) -> None:
    root = tmp_path / "p"
    (root / "masks").mkdir(parents=True)
    (root / "project.json").write_text(json.dumps({"format": 1, "images": images}))


def test_project_json_is_migrated_without_loss(tmp_path):
    _legacy(
        tmp_path,
        {
            "a_01": {"status": "reviewed", "model_version": "v002", "dice": 0.99, "seconds": 3},
            "a_02": {"status": "no-mask", "seconds": 1.5},
        },
    )
    from model.data.masks import write_mask

    write_mask(tmp_path / "p" / "masks" / "a_01_mask.png", _mask(slice(1, 5), slice(1, 5)))
    store = ProjectStore(tmp_path / "p")
    assert store.record("a_01").state is MaskState.REVIEWED
    assert store.record("a_01").auto_version == "v002"
    assert store.record("a_02").seconds == 1.5 and store.state("a_02") is MaskState.NONE
    assert (tmp_path / "p" / "project.json.migrated").is_file()
    assert store.recovered == []


def test_wrong_typed_values_are_recovered_with_a_message(tmp_path):
    """Failure 12: "dice": "x" or "seconds": "abc" must not crash the window at every start."""
    _legacy(
        tmp_path,
        {"a_01": {"status": "edited", "dice": "x", "seconds": "abc"}, "a_02": {"status": "??"}},
    )
    from model.data.masks import write_mask

    write_mask(tmp_path / "p" / "masks" / "a_01_mask.png", _mask(slice(1, 5), slice(1, 5)))
    store = ProjectStore(tmp_path / "p")
    record = store.record("a_01")
    assert record.state is MaskState.EDITED and record.dice is None and record.seconds == 0
    assert any("dice" in m and "project.json" in m for m in store.recovered)
    assert store.state("a_02") is MaskState.NONE
    store.add_seconds("a_01", 2.0)  # an image switch works
    assert store.record("a_01").seconds == 2.0


def test_a_wrong_typed_value_inside_the_database_is_recovered(tmp_path):
    store = ProjectStore(tmp_path / "p")
    store.save_edit("img", _mask(slice(0, 3), slice(0, 3)))
    store.close()
    with sqlite3.connect(tmp_path / "p" / "project.sqlite") as conn:
        conn.execute("UPDATE images SET dice = 'x', seconds = 'abc' WHERE image_id = 'img'")
    again = ProjectStore(tmp_path / "p")
    assert again.record("img").dice is None and again.state("img") is MaskState.EDITED
    assert any("project.sqlite" in m and "dice" in m for m in again.recovered)


def test_an_unreadable_database_is_set_aside_and_rebuilt_from_the_files(tmp_path):
    store = ProjectStore(tmp_path / "p")
    store.save_edit("img", _mask(slice(0, 3), slice(0, 3)))
    store.save_auto_mask("other", _mask(slice(0, 5), slice(0, 5)), "v001")
    store.close()
    for extra in ("project.sqlite-wal", "project.sqlite-shm"):
        (tmp_path / "p" / extra).unlink(missing_ok=True)
    (tmp_path / "p" / "project.sqlite").write_bytes(b"this is not a database" * 100)
    again = ProjectStore(tmp_path / "p")
    assert again.state("img") is MaskState.EDITED and again.state("other") is MaskState.AUTO
    assert any("project.sqlite" in m and "set aside" in m for m in again.recovered)
    assert list((tmp_path / "p").glob("project.sqlite.unreadable-*"))


def test_a_read_only_folder_names_the_database(tmp_path, monkeypatch):
    store = ProjectStore(tmp_path / "p")

    def refuse(*_args, **_kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store, "_conn", _RefusingConnection(store._conn, refuse))
    with pytest.raises(ProjectError, match=r"project\.sqlite"):
        store.add_seconds("img", 1.0)


class _RefusingConnection:
    def __init__(self, conn, refuse):
        self._conn, self._refuse = conn, refuse

    def execute(self, sql, *args):
        if sql.startswith("BEGIN"):
            self._refuse()
        return self._conn.execute(sql, *args)
