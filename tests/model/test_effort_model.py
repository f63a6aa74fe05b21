"""Correction effort aggregated per model version (pure, no Qt/Keras)."""

from __future__ import annotations

import numpy as np
import pytest

from model.edits.effort import effort_by_version
from model.edits.lifecycle import MaskRecord, MaskState
from model.edits.project_store import ProjectStore

R, E, A, N = MaskState.REVIEWED, MaskState.EDITED, MaskState.AUTO, MaskState.NONE


def _rec(state, version, changed=None, seconds=0.0) -> MaskRecord:
    return MaskRecord(
        state=state, auto_version=version, pixels_changed=changed, seconds=seconds, has_auto=True
    )


def test_groups_by_version_and_counts_only_judged_images():
    records = {
        "a_01": _rec(R, "v1", 0, 4.0),
        "a_02": _rec(E, "v1", 300, 20.0),
        "a_03": _rec(A, "v1", 0),
        "b_01": _rec(R, "v2", 0, 2.0),
        "b_02": _rec(R, "v2", 10, 6.0),
        "c_01": _rec(E, None, None, 9.0),
        "c_02": MaskRecord(),
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
    (v,) = effort_by_version([_rec(A, "v9", 0)])
    assert (v.judged, v.pending, v.accepted_share, v.mean_pixels_changed) == (0, 1, 0.0, 0.0)


def test_reads_rows_of_a_real_project(tmp_path):
    project = ProjectStore(tmp_path / "p")
    auto = np.zeros((8, 8), np.uint8)
    auto[2:6, 2:6] = 1
    project.save_auto_mask("car_01", auto, "v1")
    project.save_auto_mask("car_02", auto, "v1")
    edited = auto.copy()
    edited[0, :3] = 1
    project.save_edit("car_01", edited)
    project.add_seconds("car_01", 7.5)
    project.set_reviewed("car_02", True, auto)
    (v,) = effort_by_version(ProjectStore(tmp_path / "p").records())
    assert (v.judged, v.accepted) == (2, 1)
    assert v.mean_pixels_changed == pytest.approx(1.5)  # 3 pixels on one of two images
    assert v.mean_seconds == pytest.approx(3.75)
