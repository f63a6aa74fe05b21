"""The training input pipeline: resizing, augmentation kinds and the batches it yields."""

from __future__ import annotations

import numpy as np
import pytest

from model.nn.pipeline import Augment, MaskSequence, augment_pair, jitter_colour, load_resized_pair
from tiny_carvana import make_image_folder, records

FLIPS_ONLY = Augment.flips_only()


def _pattern(h: int = 64, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """An asymmetric image whose mask is exactly where its red channel is bright."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 100, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[10:40, 5:50] = 255
    image[mask == 255, 0] = 250
    return image, mask


def test_flips_only_mirror_exactly_or_leave_the_pair_alone():
    image, mask = _pattern()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        out_image, out_mask = augment_pair(image, mask, rng, FLIPS_ONLY)
        flipped = np.array_equal(out_image, image[:, ::-1])
        assert flipped or np.array_equal(out_image, image)
        expected_mask = mask[:, ::-1] if flipped else mask
        assert np.array_equal(out_mask, expected_mask)  # no resampling, no soft edges
        assert out_image.flags["C_CONTIGUOUS"] and out_mask.flags["C_CONTIGUOUS"]
        seen.add(flipped)
    assert seen == {True, False}


def test_no_flip_and_no_warp_is_the_identity():
    image, mask = _pattern()
    out_image, out_mask = augment_pair(image, mask, np.random.default_rng(0), Augment.none())
    assert np.array_equal(out_image, image) and np.array_equal(out_mask, mask)


def test_the_seed_warp_moves_image_and_mask_together():
    image, mask = _pattern()
    rng = np.random.default_rng(3)
    out_image, out_mask = augment_pair(image, mask, rng, Augment())
    assert not np.array_equal(out_image, image)  # it did warp
    inside = out_mask > 200
    outside = out_mask < 50
    # Bright red lands where the warped mask is set, and nowhere else.
    assert out_image[inside, 0].mean() > 220 and out_image[outside, 0].mean() < 120


def test_colour_jitter_repaints_the_image_but_never_the_mask():
    image, mask = _pattern()
    aug = Augment.flips_and_colour()
    outs = []
    for seed in range(6):
        out_image, out_mask = augment_pair(image, mask, np.random.default_rng(seed), aug)
        unflipped = out_image if np.array_equal(out_mask, mask) else out_image[:, ::-1]
        assert np.array_equal(out_mask, mask) or np.array_equal(out_mask, mask[:, ::-1])
        assert out_image.dtype == np.uint8 and not np.array_equal(unflipped, image)
        # colour only: the red "car" stays where the mask is
        inside, outside = mask == 255, mask == 0
        assert unflipped[inside, 0].mean() > 180 and unflipped[outside, 0].mean() < 130
        outs.append(out_image)
    again = augment_pair(image, mask, np.random.default_rng(0), aug)[0]
    assert np.array_equal(again, outs[0])  # reproducible per (seed, epoch, batch)
    assert not Augment.flips_only().has_colour and aug.has_colour


def test_hue_and_saturation_leave_a_white_backdrop_white():
    grey = np.full((8, 8, 3), 230, np.uint8)
    aug = Augment(shift=0.0, scale=0.0, rotate_deg=0.0, hflip=False, saturation=0.5, hue_deg=90)
    out = jitter_colour(grey, np.random.default_rng(0), aug)
    assert np.abs(out.astype(int) - 230).max() <= 1


def test_resized_pairs_keep_soft_edges_and_pad_near_misses(tmp_path):
    train, masks = make_image_folder(tmp_path / "data", cars=1, angles=1)
    rec = records(train, masks)[0]
    image, soft = load_resized_pair(rec.path, rec.mask_path, (64, 96))
    assert image.shape == (64, 96, 3) and soft.shape == (64, 96)
    assert soft.dtype == np.uint8 and ((soft > 0) & (soft < 255)).any()  # sub-pixel coverage
    # 96x144 into 128x256 is less than one 128-stride short: padded, never resampled.
    padded, hard = load_resized_pair(rec.path, rec.mask_path, (128, 256))
    assert padded.shape == (128, 256, 3) and set(np.unique(hard)) <= {0, 255}


def test_a_mask_of_the_wrong_size_names_both_files(tmp_path):
    train, masks = make_image_folder(tmp_path / "data", cars=1, angles=1)
    rec = records(train, masks)[0]
    with pytest.raises(ValueError, match=rf"{rec.path.name}"):
        load_resized_pair(rec.path, np.zeros((10, 10), np.uint8), (64, 96))


def test_batches_are_scaled_and_every_epoch_reshuffles(tmp_path):
    train, masks = make_image_folder(tmp_path / "data", cars=2, angles=2)
    pairs = [(r.path, r.mask_path) for r in records(train, masks)]
    seq = MaskSequence(pairs, (64, 96), batch_size=2, augment=FLIPS_ONLY, workers=1)
    x, y = seq[0]
    assert x.shape == (2, 64, 96, 3) and y.shape == (2, 64, 96, 1)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    assert y.min() >= 0.0 and y.max() <= 1.0 and y.max() > 0.9
    orders = {tuple(seq._order)}
    for _ in range(5):
        seq.on_epoch_end()
        orders.add(tuple(seq._order))
    assert len(orders) > 1
