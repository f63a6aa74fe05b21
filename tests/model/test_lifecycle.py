"""The mask lifecycle, without Qt, Keras or files."""

from __future__ import annotations

import pytest

from model.edits import lifecycle
from model.edits.lifecycle import (
    ActiveModels,
    BatchSelection,
    LifecycleError,
    MaskRecord,
    MaskSource,
    MaskState,
)

AUTO_V1 = lifecycle.after_auto_mask(MaskRecord(), "v001", by_person=False)


def test_states_have_the_names_the_cli_json_uses():
    assert [s.value for s in MaskState] == ["none", "auto", "edited", "reviewed"]


def test_an_auto_mask_is_shown_whoever_made_it():
    """Failure 1: a batch auto-mask must be what the editor shows (and export writes)."""
    assert lifecycle.shown_source(AUTO_V1) is MaskSource.AUTO
    by_person = lifecycle.after_auto_mask(MaskRecord(), "v001", by_person=True)
    assert by_person == AUTO_V1
    assert lifecycle.shown_source(MaskRecord()) is MaskSource.NONE


def test_saving_the_unchanged_auto_mask_keeps_it_an_auto_mask():
    """Failure 2: Ctrl+R then autosave must not turn the model's mask into a person's."""
    saved = lifecycle.after_edit(AUTO_V1, pixels_changed=0)
    assert saved.state is MaskState.AUTO and not saved.has_edit
    assert lifecycle.is_stale(saved, "car_01", "v002")
    assert lifecycle.batch_may_replace(saved, "car_01", BatchSelection.STALE, "v002")


def test_an_edit_makes_it_the_persons_and_batches_leave_it_alone():
    edited = lifecycle.after_edit(AUTO_V1, pixels_changed=120)
    assert edited.state is MaskState.EDITED and lifecycle.shown_source(edited) is MaskSource.EDITED
    for selection in BatchSelection:
        assert not lifecycle.batch_may_replace(edited, "car_01", selection, "v002")
    with pytest.raises(LifecycleError):
        lifecycle.after_auto_mask(edited, "v002", by_person=False)
    # the person's own Ctrl+R replaces it (one undoable step in the editor)
    assert lifecycle.after_auto_mask(edited, "v002", by_person=True).state is MaskState.AUTO


def test_only_reviewed_masks_train():
    """Failure 3: unreviewed edits are counted, not used."""
    edited = lifecycle.after_edit(AUTO_V1, pixels_changed=5)
    reviewed = lifecycle.after_review(edited, True, mask_is_empty=False)
    accepted_as_is = lifecycle.after_review(AUTO_V1, True, mask_is_empty=False)
    assert not lifecycle.may_train(edited) and lifecycle.is_unreviewed_edit(edited)
    assert lifecycle.may_train(reviewed) and lifecycle.may_train(accepted_as_is)
    assert not lifecycle.may_train(AUTO_V1)


def test_review_survives_later_edits_and_can_be_taken_back():
    reviewed = lifecycle.after_review(AUTO_V1, True, mask_is_empty=False)
    assert lifecycle.after_edit(reviewed, 30).state is MaskState.REVIEWED
    back = lifecycle.after_review(reviewed, False, mask_is_empty=False)
    assert back.state is MaskState.AUTO and not back.has_edit
    edited_then_reviewed = lifecycle.after_review(
        lifecycle.after_edit(AUTO_V1, 40), True, mask_is_empty=False
    )
    assert lifecycle.after_review(edited_then_reviewed, False, False).state is MaskState.EDITED
    drawn = lifecycle.after_review(lifecycle.after_edit(MaskRecord(), None), True, True)
    assert lifecycle.after_review(drawn, False, mask_is_empty=True).state is MaskState.NONE


def test_selections():
    none = MaskRecord()
    fresh = lifecycle.after_auto_mask(MaskRecord(), "v002", by_person=False)
    active = "v002"
    assert lifecycle.batch_may_replace(none, "a_01", BatchSelection.WITHOUT_MASK, active)
    assert not lifecycle.batch_may_replace(fresh, "a_01", BatchSelection.WITHOUT_MASK, active)
    assert not lifecycle.batch_may_replace(fresh, "a_01", BatchSelection.STALE, active)
    assert lifecycle.batch_may_replace(AUTO_V1, "a_01", BatchSelection.STALE, active)
    assert lifecycle.batch_may_replace(fresh, "a_01", BatchSelection.ALL, active)


def test_stale_is_judged_against_the_images_own_active_model():
    active = ActiveModels(default="default-v005", by_car={"car": "v009-car"})
    made_by_car_model = lifecycle.after_auto_mask(MaskRecord(), "v009-car", by_person=False)
    assert not lifecycle.is_stale(made_by_car_model, "car_03", active)
    assert lifecycle.is_stale(made_by_car_model, "other_03", active)


def test_counts():
    records = {
        "a_01": AUTO_V1,
        "a_02": lifecycle.after_edit(AUTO_V1, 3),
        "a_03": lifecycle.after_review(AUTO_V1, True, False),
    }
    counts = lifecycle.count_states(records, ["a_01", "a_02", "a_03", "a_04"], "v002")
    assert (counts.none, counts.auto, counts.edited, counts.reviewed) == (1, 1, 1, 1)
    assert counts.stale == 1 and counts.total == 4 and counts.reviewed_share == 0.25
