"""EXIF orientation is ignored by every reader, so all of them agree with image_size().

Reproduction (before the fix): a JPEG tagged EXIF orientation 6 ("rotate 90° to view"),
stored 8x12 (HxW). OpenCV's default decode rotated it to 12x8 while image_size() (the
header) said 8x12, so its predicted mask was 12x8 against an 8x12 image, and training
refused the pair ("mask ... has size 12x8 but image ... is 8x12").
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from model.data.masks import image_size, read_image, write_mask

STORED_HW = (8, 12)


@pytest.fixture
def exif6_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (*STORED_HW, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    path = tmp_path / "000000000001_01.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    with Image.open(path) as img:  # the tag really is in the file
        assert img.getexif().get(0x0112) == 6
    return path


def test_read_image_ignores_exif_orientation(exif6_jpeg):
    assert image_size(exif6_jpeg) == STORED_HW
    image = read_image(exif6_jpeg)
    assert image.shape == (*STORED_HW, 3)
    # The pixels as stored, not rotated: PIL without exif_transpose gives the same array.
    with Image.open(exif6_jpeg) as img:
        stored = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(image, stored)


def test_training_pair_loads_an_exif_rotated_jpeg(exif6_jpeg, tmp_path):
    pipeline = pytest.importorskip("model.nn.pipeline")
    mask_path = write_mask(tmp_path / "m.png", np.ones(image_size(exif6_jpeg), np.uint8))
    image, soft = pipeline.load_resized_pair(exif6_jpeg, mask_path, (16, 24))
    assert image.shape == (16, 24, 3) and soft.shape == (16, 24)
