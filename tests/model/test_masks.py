"""Image and mask I/O: formats, thresholds, atomic writes, size checks."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image

from model.data.masks import (
    ImageReadError,
    MaskError,
    atomic_write_bytes,
    check_mask_size,
    image_size,
    read_image,
    read_mask,
    write_mask,
)


@pytest.fixture
def mask():
    m = np.zeros((6, 9), np.uint8)
    m[0, 0] = 1
    m[2:5, 3:7] = 1
    m[-1, -1] = 1
    return m


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_write_then_read_is_lossless(tmp_path, mask, suffix):
    path = write_mask(tmp_path / f"m{suffix}", mask)
    assert path == tmp_path / f"m{suffix}"
    back = read_mask(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask)


def test_png_is_written_as_visible_0_255_gray(tmp_path, mask):
    with Image.open(write_mask(tmp_path / "m.png", mask)) as img:
        assert img.mode == "L"
        assert set(np.unique(np.asarray(img)).tolist()) == {0, 255}


def test_gif_is_written_like_kaggle_palette_0_1(tmp_path, mask):
    with Image.open(write_mask(tmp_path / "m.gif", mask)) as img:
        assert img.mode == "P"
        assert set(np.unique(np.asarray(img)).tolist()) == {0, 1}
        assert img.getpalette()[:6] == [0, 0, 0, 255, 255, 255]


def test_reads_png_with_values_0_1(tmp_path, mask):
    Image.fromarray(mask).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def test_reads_rgb_png(tmp_path, mask):
    Image.fromarray(np.stack([mask * 255] * 3, axis=-1)).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def test_reads_jpeg_mask_with_threshold(tmp_path):
    big = np.zeros((64, 64), np.uint8)
    big[16:48, 16:48] = 255
    Image.fromarray(big).save(tmp_path / "m.jpg", quality=90)
    back = read_mask(tmp_path / "m.jpg")
    assert set(np.unique(back).tolist()) == {0, 1}
    assert back[32, 32] == 1 and back[2, 2] == 0
    assert abs(int(back.sum()) - 32 * 32) < 64


def test_read_mask_errors_name_the_file(tmp_path):
    with pytest.raises(MaskError, match=r"missing\.png"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(MaskError, match=r"broken\.png"):
        read_mask(tmp_path / "broken.png")
    with pytest.raises(MaskError, match="unsupported"):
        read_mask(tmp_path / "m.bmp")


def test_write_mask_rejects_lossy_or_unknown_suffix(tmp_path, mask):
    with pytest.raises(MaskError, match=r"\.png or \.gif"):
        write_mask(tmp_path / "m.jpg", mask)
    assert not (tmp_path / "m.jpg").exists()


def test_read_image_converts_gray_and_rgba_to_rgb(tmp_path):
    gray = np.full((5, 7), 200, np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    g = read_image(tmp_path / "g.png")
    a = read_image(tmp_path / "a.png")
    assert g.shape == a.shape == (5, 7, 3) and g.dtype == np.uint8
    assert g[0, 0].tolist() == [200, 200, 200]
    assert a[0, 0].tolist() == [255, 0, 0]  # RGB order, not OpenCV's BGR


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match=r"nothere\.jpg"):
        read_image(tmp_path / "nothere.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ImageReadError, match=r"bad\.jpg"):
        read_image(tmp_path / "bad.jpg")


def test_image_size_reads_header(tmp_path):
    cv2.imwrite(str(tmp_path / "i.jpg"), np.zeros((12, 34, 3), np.uint8))
    assert image_size(tmp_path / "i.jpg") == (12, 34)
    (tmp_path / "x.jpg").write_bytes(b"nope")
    with pytest.raises(ImageReadError, match=r"x\.jpg"):
        image_size(tmp_path / "x.jpg")


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["f.bin"]


def test_failed_atomic_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_check_mask_size_names_both_files(mask):
    check_mask_size(mask, "a_mask.gif", (6, 9), "a.jpg")
    with pytest.raises(MaskError, match=r"a_mask\.gif.*6x9.*a\.jpg.*6x10"):
        check_mask_size(mask, "a_mask.gif", (6, 10, 3), "a.jpg")


@pytest.mark.slow
def test_real_gif_mask_and_image(carvana_data):
    mask = read_mask(carvana_data / "train_masks" / "00087a6bd4dc_01_mask.gif")
    image_path = carvana_data / "train" / "00087a6bd4dc_01.jpg"
    assert mask.shape == (1280, 1918) and set(np.unique(mask).tolist()) == {0, 1}
    assert image_size(image_path) == (1280, 1918)
    check_mask_size(mask, "m", image_size(image_path), image_path)
    image = read_image(image_path)
    assert image.shape == (1280, 1918, 3) and image.dtype == np.uint8


def test_atomic_writes_get_the_usual_file_mode_not_mkstemps_0600(tmp_path):
    import stat

    from model.data import masks

    masks.atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~masks._UMASK != 0o600
