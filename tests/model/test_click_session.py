"""ClickSession (model/edits/click_session.py): a later smart click of the other side never
takes back an earlier click's own disc, unless that click no longer stands."""

from __future__ import annotations

import numpy as np

from model.edits.click_session import ClickSession
from model.edits.smart_click import smart_click


def uncertain_field():
    """A sure car block on the left, an uncertain field (p = 0.45) to its right."""
    image = np.full((200, 260, 3), 120, np.uint8)
    prob = np.full((200, 260), 0.45, np.float32)
    prob[:, :100] = 0.95
    mask = (prob > 0.5).astype(np.uint8)
    return image, prob, mask


FIRST = (100, 112)  # positive: 12 px from the car block
SECOND = (100, 140)  # negative, inside what the first click added


def disc(shape, centre, radius):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_a_later_click_of_the_other_side_leaves_the_earlier_clicks_disc():
    image, prob, mask = uncertain_field()
    session = ClickSession()
    assert session.click(image, prob, mask, *FIRST, True) is not None
    assert mask[FIRST] == 1 and mask[SECOND] == 1  # the first click added a region
    before = mask.copy()
    box = session.click(image, prob, mask, *SECOND, False)
    assert box is not None and mask[SECOND] == 0  # the newest click gets its side
    first, second = session.clicks
    kept = disc(mask.shape, FIRST, first.radius) & ~disc(mask.shape, SECOND, second.radius)
    assert (mask[kept] == 1).all()
    changed = np.argwhere(mask != before)
    assert len(changed) > 0
    y0, x0, y1, x1 = box
    assert (changed[:, 0] >= y0).all() and (changed[:, 0] < y1).all()
    assert (changed[:, 1] >= x0).all() and (changed[:, 1] < x1).all()


def test_without_the_session_the_second_click_takes_part_of_the_first_one_back():
    """What the session prevents (the ping-pong): plain smart_click eats into click one."""
    image, prob, mask = uncertain_field()
    session = ClickSession()
    session.click(image, prob, mask.copy(), *FIRST, True)
    radius = session.clicks[0].radius
    smart_click(image, prob, mask, *FIRST, True)
    smart_click(image, prob, mask, *SECOND, False)
    assert (mask[disc(mask.shape, FIRST, radius)] == 0).any()


def test_an_undone_click_no_longer_protects_its_disc():
    image, prob, mask = uncertain_field()
    session = ClickSession()
    before = mask.copy()
    session.click(image, prob, mask, *FIRST, True)
    first = session.clicks[0]
    mask[...] = before  # undo: the first click's pixel is not car any more
    mask[85:116, 116:160] = 1  # the person painted a patch by hand instead
    session.click(image, prob, mask, *SECOND, False)
    second = session.clicks[-1]
    painted = np.zeros_like(mask, bool)
    painted[85:116, 116:160] = True
    only_first = disc(mask.shape, FIRST, first.radius) & ~disc(mask.shape, SECOND, second.radius)
    assert (only_first & painted).any()
    assert (mask[only_first & painted] == 0).all()  # re-decided by the new click, not kept


def test_a_click_on_the_side_it_asks_for_changes_nothing_and_is_not_remembered():
    image, prob, mask = uncertain_field()
    session = ClickSession()
    assert session.click(image, prob, mask, 100, 50, True) is None
    assert session.clicks == []
