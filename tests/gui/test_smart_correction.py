"""Smart click (S, Shift+click from the brush), the Unsure column and Accept and next (R),
through real mouse and key events on the window."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPoint, Qt

from carvana_gui.canvas.tools.smart import NO_PROBABILITIES
from model.edits.click_session import ClickSession
from model.edits.smart_click import DEFAULT_PARAMS, smart_click
from model.kaggle.metrics import dice

L, R = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _vp(window, x, y) -> QPoint:
    return window.canvas.image_to_viewport(x, y)


def click(qtbot, window, x, y, button=L, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(window.canvas.viewport(), button, modifier, pos=_vp(window, x, y))


def start_with(window, mask, prob=None):
    """Put ``mask`` on the canvas (one undo step) and the model's ``prob`` beside it."""
    image_id = window.session.current_id
    window.auto_masking.probs = {} if prob is None else {image_id: prob}
    window.document.replace(mask, "setup")
    return window.session.current.truth.astype(np.uint8)


def model_like_prob(truth, unsure, value):
    prob = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 1.0)
    prob[unsure] = value
    return prob


def missed_ends(truth):
    """Two pieces of car cut from the mask: its left and right ends (far apart)."""
    xs = np.nonzero(truth.any(axis=0))[0]
    left = np.zeros_like(truth, bool)
    right = np.zeros_like(truth, bool)
    left[:, xs[0] : xs[0] + 14] = True
    right[:, xs[-1] - 13 : xs[-1] + 1] = True
    return left & (truth == 1), right & (truth == 1)


def centre_of(region):
    ys, xs = np.nonzero(region)
    return int(np.median(xs)), int(np.median(ys))


def test_s_selects_smart_click_and_a_left_click_fills_missed_car_in_one_undo_step(qtbot, window):
    truth = window.session.current.truth.astype(np.uint8)
    left, right = missed_ends(truth)
    mask = truth.copy()
    mask[left | right] = 0
    prob = model_like_prob(truth, left | right, 0.35)
    start_with(window, mask, prob)
    qtbot.keyClick(window.canvas, Qt.Key.Key_S)
    assert window.action("tool_smart").isChecked()
    assert window.canvas.tool is window.smart_correction.tool
    steps = window.document.history.undo_count
    before = window.document.mask.copy()
    x, y = centre_of(left)
    click(qtbot, window, x, y)
    after = window.document.mask
    assert window.document.history.undo_count == steps + 1
    assert (after[left] == 1).mean() > 0.9  # the clicked piece is car now
    assert np.array_equal(after[right], before[right])  # the piece not clicked is untouched
    changed = np.argwhere(after != before)
    reach = DEFAULT_PARAMS.edge_reach  # a click this shallow reaches this far, along the edge
    assert np.abs(changed[:, 1] - x).max() <= reach  # nothing farther moved
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, before)


def test_right_click_removes_false_car_under_the_car(qtbot, window):
    truth = window.session.current.truth.astype(np.uint8)
    ys = np.nonzero(truth.any(axis=1))[0]
    xs = np.nonzero(truth.any(axis=0))[0]
    shadow = np.zeros_like(truth, bool)
    mid = (xs[0] + xs[-1]) // 2
    shadow[ys[-1] - 2 : ys[-1] + 9, mid - 20 : mid + 21] = True  # within one click's reach
    shadow &= truth == 0  # a strip under the car, wrongly in the mask
    mask = truth.copy()
    mask[shadow] = 1
    start_with(window, mask, model_like_prob(truth, shadow, 0.6))
    window.action("tool_smart").trigger()
    x, y = centre_of(shadow)
    click(qtbot, window, x, y, button=R)
    assert ((window.document.mask == 1) & shadow).sum() < 0.2 * shadow.sum()
    assert dice(window.document.mask, truth) > dice(mask, truth)
    assert window.document.history.undo_count == 2  # setup + the click


def test_shift_click_with_the_brush_is_the_benchmarks_smart_click(qtbot, window):
    truth = window.session.current.truth.astype(np.uint8)
    left, _right = missed_ends(truth)
    mask = truth.copy()
    mask[left] = 0
    prob = model_like_prob(truth, left, 0.35)
    start_with(window, mask, prob)
    assert window.action("tool_brush").isChecked()
    window.canvas.set_brush_size(3)
    x, y = centre_of(left)
    expected = mask.copy()
    ClickSession().click(window.session.current.image, prob, expected, y, x, True)  # the bench's
    click(qtbot, window, x, y, modifier=SHIFT)
    assert np.array_equal(window.document.mask, expected)
    assert (window.document.mask[left] == 1).mean() > 0.9  # far more than a 3 px dab
    click(qtbot, window, 5, 5)  # a plain click still paints a dab
    assert window.document.mask[5, 5] == 1


def test_a_right_click_after_a_left_click_keeps_the_left_clicks_disc_like_the_benchmark(
    qtbot, window
):
    """Two clicks on one image in the window are the benchmark's ClickSession: the second
    (not car) re-decides the region around it but leaves the first click's own disc,
    where plain one-click-at-a-time smart clicks would take part of it back."""
    truth = window.session.current.truth.astype(np.uint8)
    left, _right = missed_ends(truth)
    mask = truth.copy()
    mask[left] = 0
    prob = model_like_prob(truth, left, 0.35)
    x, y = centre_of(left)
    # an uncertain strip outside the car, beside the missed piece: the first click's
    # region runs into it and the second click (not car) is made there
    xs = np.nonzero(truth[y])[0]
    outside = slice(max(0, xs[0] - 40), xs[0])
    prob[y - 20 : y + 20, outside] = 0.45
    start_with(window, mask, prob)
    window.action("tool_smart").trigger()
    session, plain = ClickSession(), mask.copy()
    expected = mask.copy()
    image = window.session.current.image
    session.click(image, prob, expected, y, x, True)
    smart_click(image, prob, plain, y, x, True)
    click(qtbot, window, x, y)
    assert np.array_equal(window.document.mask, expected)
    added = (expected == 1) & (mask == 0) & (truth == 0)
    assert added.any(), "the first click should overshoot into the uncertain strip"
    ny, nx = np.argwhere(added)[len(np.argwhere(added)) // 2]
    session.click(image, prob, expected, int(ny), int(nx), False)
    smart_click(image, prob, plain, int(ny), int(nx), False)
    click(qtbot, window, int(nx), int(ny), button=R)
    assert np.array_equal(window.document.mask, expected)
    assert window.document.history.undo_count == 3  # setup + one step per click
    first = session.clicks[0]
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    disc = (yy - first.y) ** 2 + (xx - first.x) ** 2 <= first.radius**2
    assert (window.document.mask[disc] == 1).all()
    assert (plain[disc] == 0).any()  # what the session prevents


def test_without_model_probabilities_the_mask_is_the_prior_and_the_status_says_so(qtbot, window):
    truth = window.session.current.truth.astype(np.uint8)
    left, _right = missed_ends(truth)
    mask = truth.copy()
    mask[left] = 0
    start_with(window, mask, None)
    window.action("tool_smart").trigger()
    x, y = centre_of(left)
    click(qtbot, window, x, y)
    assert (window.document.mask[left] == 1).mean() > 0.8
    assert window.statusBar().currentMessage().startswith(NO_PROBABILITIES)


def test_unsure_column_sorts_the_most_unsure_first(qtbot, window):
    from carvana_gui.panels.image_list import COLUMNS, UNSURE_COLUMN

    project, model = window.session.project, window.table_model
    ids = [model.record_at(r).image_id for r in range(model.rowCount())]
    mask = np.zeros((96, 144), np.uint8)
    for n, image_id in enumerate(ids[:4]):
        project.save_auto_mask(image_id, mask, "v001", uncertainty=0.01 * (n + 1))
    window.image_list.group_box.setChecked(False)
    assert COLUMNS[UNSURE_COLUMN] == "Unsure"
    window.image_list.set_sort(UNSURE_COLUMN, False)
    order = [model.record_at(r).image_id for r in range(model.rowCount())]
    assert order[:4] == ids[:4][::-1]  # most unsure first, unscored images last
    index = model.index(0, UNSURE_COLUMN)
    assert model.data(index) == "4.00 %"
    assert model.data(model.index(5, UNSURE_COLUMN)) == ""


def test_r_accepts_the_mask_and_goes_to_the_next_unreviewed_image(qtbot, window):
    from model.edits.lifecycle import MaskState

    model = window.table_model
    first = window.session.current_id
    model_ids = [model.record_at(r).image_id for r in range(model.rowCount())]
    window.session.project.set_reviewed(model_ids[1], True, np.zeros((96, 144), np.uint8))
    qtbot.keyClick(window.canvas, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window.session.current_id == model_ids[2])  # [1] was reviewed
    qtbot.waitUntil(lambda: window.session.state_of(first) is MaskState.REVIEWED)
    qtbot.keyClick(window.canvas, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window.session.current_id == model_ids[3])
    assert window.session.state_of(model_ids[2]) is MaskState.REVIEWED


def test_choosing_smart_click_asks_the_model_for_probabilities_without_touching_the_mask(
    qtbot, window, monkeypatch
):
    """An image masked by a batch has no probabilities kept: the worker computes them."""
    import carvana_gui.panels.smart_correction as smart_panel
    from carvana_gui.jobs.automask import ActiveModel

    truth = window.session.current.truth.astype(np.uint8)
    left, _right = missed_ends(truth)
    mask = truth.copy()
    mask[left] = 0
    start_with(window, mask, None)
    prob = model_like_prob(truth, left, 0.35)
    asked = []

    def fake_job(path, image, tta):  # stands in for the network on the worker thread
        asked.append((path, image.shape, tta))
        return lambda ctx: prob

    monkeypatch.setattr(smart_panel, "probabilities_job", fake_job)
    monkeypatch.setattr(
        window.automask, "model_for", lambda _id: ActiveModel(Path("m.keras"), "v009")
    )
    steps = window.document.history.undo_count
    qtbot.keyClick(window.canvas, Qt.Key.Key_S)
    image_id = window.session.current_id
    qtbot.waitUntil(lambda: image_id in window.auto_masking.probs)
    assert len(asked) == 1 and asked[0][1][:2] == mask.shape
    assert window.statusBar().currentMessage() == smart_panel.PROBABILITIES_READY
    assert np.array_equal(window.document.mask, mask)  # asking changed nothing
    assert window.document.history.undo_count == steps
    expected = mask.copy()
    x, y = centre_of(left)
    ClickSession().click(window.session.current.image, prob, expected, y, x, True)
    click(qtbot, window, x, y)
    assert np.array_equal(window.document.mask, expected)  # the click used them
    window.smart_correction.fetch_probabilities()
    assert len(asked) == 1  # asked once per image


def test_t_selects_the_edge_brush_and_a_rough_stroke_snaps_a_bleeding_edge(qtbot, window):
    """The mask bleeds 3 px past the whole car outline; one rough stroke along the top of
    the car (the mouse a few pixels off the edge) puts that stretch back on the photo's
    edge, as one undo step; the rest of the outline is left as it was."""
    from tests.gui.test_canvas_editing import drag

    truth = window.session.current.truth.astype(np.uint8)
    bleed = cv2.dilate(truth, np.ones((7, 7), np.uint8))
    start_with(window, bleed)
    qtbot.keyClick(window.canvas, Qt.Key.Key_T)
    assert window.action("tool_edge_brush").isChecked()
    assert window.canvas.tool is window.smart_correction.edge_brush
    window.canvas.set_brush_size(10)
    ys, xs = np.nonzero(truth)
    cx = int(np.median(xs))
    top = {x: int(ys[xs == x].min()) for x in range(cx - 15, cx + 16, 5)}
    steps = window.document.history.undo_count
    drag(qtbot, window, [(x, y - 2) for x, y in top.items()])  # a little above the edge
    after = window.document.mask
    assert window.document.history.undo_count == steps + 1
    stretch = (slice(min(top.values()) - 6, max(top.values()) + 4), slice(cx - 12, cx + 13))
    assert (after[stretch] == truth[stretch]).mean() > 0.97
    assert (bleed[stretch] == truth[stretch]).mean() < 0.9
    bottom = slice(int(ys.max()) - 3, None)
    assert np.array_equal(after[bottom], bleed[bottom])  # far from the stroke: untouched
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.document.mask, bleed)


def test_an_edge_brush_stroke_away_from_the_edge_changes_nothing_and_says_why(qtbot, window):
    from carvana_gui.canvas.tools.edge_brush import NO_EDGE
    from tests.gui.test_canvas_editing import drag

    truth = start_with(window, window.session.current.truth.astype(np.uint8))
    qtbot.keyClick(window.canvas, Qt.Key.Key_T)
    window.canvas.set_brush_size(6)
    steps = window.document.history.undo_count
    drag(qtbot, window, [(5, 5), (12, 8)])  # a corner of the backdrop, far from the car
    assert np.array_equal(window.document.mask, truth)
    assert window.document.history.undo_count == steps
    assert window.statusBar().currentMessage() == NO_EDGE
