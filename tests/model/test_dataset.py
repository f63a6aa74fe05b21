"""Folder discovery, name parsing, mask matching and the by-car split."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.data.dataset import (
    IMAGE_SUFFIXES,
    DataLayout,
    ImageRecord,
    find_mask,
    list_images,
    list_masks,
    mask_image_id,
    parse_image_name,
    scan_folder,
    split_by_car,
)

CARS = ("00087a6bd4dc", "02159e548029", "0495dcf27283", "0ce66b539f52")


def touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def make_kaggle(root: Path, angles: int = 3) -> Path:
    ids = [f"{car}_{a:02d}" for car in CARS for a in range(1, angles + 1)]
    touch(root / "train", *(f"{i}.jpg" for i in ids))
    touch(root / "train_masks", *(f"{i}_mask.gif" for i in ids[:-1]))
    touch(root / "test", "aaaaaaaaaaaa_01.jpg", "aaaaaaaaaaaa_02.jpg")
    touch(root, "train_masks.csv", "sample_submission.csv", "metadata.csv")
    return root


def test_parse_carvana_and_other_names():
    assert parse_image_name("00087a6bd4dc_01.jpg") == ("00087a6bd4dc_01", "00087a6bd4dc", 1)
    assert parse_image_name("00087a6bd4dc_16_mask.gif") == ("00087a6bd4dc_16_mask", None, None)
    assert parse_image_name("holiday photo.PNG") == ("holiday photo", None, None)
    assert parse_image_name("car_1.jpeg") == ("car_1", None, None)
    assert mask_image_id("00087a6bd4dc_16_mask.gif") == "00087a6bd4dc_16"
    assert mask_image_id("photo.png") == "photo"


def test_image_record_name():
    record = ImageRecord("a", Path("/x/a.jpg"))
    assert record.name == "a.jpg" and record.car_id is None and record.mask_path is None


def test_scan_kaggle_root(tmp_path):
    layout = scan_folder(make_kaggle(tmp_path / "data"))
    assert isinstance(layout, DataLayout)
    assert layout.kind == "kaggle" and layout.root == (tmp_path / "data").resolve()
    assert len(layout.images) == 12 and len(layout.test_images) == 2
    assert [r.image_id for r in layout.images] == sorted(r.image_id for r in layout.images)
    first = layout.images[0]
    assert (first.car_id, first.angle) == (CARS[0], 1)
    assert first.mask_path == layout.masks_dir / f"{CARS[0]}_01_mask.gif"
    assert layout.images[-1].mask_path is None
    assert layout.masks_csv.name == "train_masks.csv"
    assert layout.sample_submission.name == "sample_submission.csv"
    assert layout.metadata.name == "metadata.csv"


def test_scan_kaggle_subset_and_train_folder(tmp_path):
    root = tmp_path / "data"
    touch(root / "test", "x_01.jpg")
    layout = scan_folder(root)
    assert layout.kind == "kaggle" and layout.images == [] and len(layout.test_images) == 1
    assert layout.masks_dir is None and layout.masks_csv is None

    root2 = make_kaggle(tmp_path / "data2")
    layout = scan_folder(root2 / "train")
    assert layout.kind == "kaggle" and layout.root == root2.resolve()
    assert layout.masks_dir == (root2 / "train_masks").resolve()
    assert len(layout.images) == 12


@pytest.mark.parametrize("masks_location", ["inside", "sibling", "parent"])
def test_scan_plain_folder_with_masks(tmp_path, masks_location):
    images = tmp_path / "photos"
    touch(images, "b.png", "a.jpg", "c.JPEG", "notes.txt", ".hidden.jpg")
    masks = {
        "inside": images / "masks",
        "sibling": tmp_path / "photos_masks",
        "parent": tmp_path / "masks",
    }[masks_location]
    touch(masks, "a.png", "b_mask.gif")
    layout = scan_folder(images)
    assert layout.kind == "plain" and layout.masks_dir == masks.resolve()
    assert [r.name for r in layout.images] == ["a.jpg", "b.png", "c.JPEG"]
    assert [r.mask_path.name if r.mask_path else None for r in layout.images] == [
        "a.png",
        "b_mask.gif",
        None,
    ]
    assert all(r.car_id is None for r in layout.images)


def test_scan_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan_folder(tmp_path / "nowhere")
    touch(tmp_path / "empty", "readme.txt")
    with pytest.raises(ValueError, match=r"empty.*no images"):
        scan_folder(tmp_path / "empty")
    touch(tmp_path / "k" / "train_masks", "a_mask.gif")
    with pytest.raises(ValueError, match="without any images"):
        scan_folder(tmp_path / "k")


def test_find_mask_tries_patterns_in_order(tmp_path):
    assert find_mask(tmp_path, "a") is None
    touch(tmp_path, "a.jpg")
    assert find_mask(tmp_path, "a").name == "a.jpg"
    touch(tmp_path, "a.png")
    assert find_mask(tmp_path, "a").name == "a.png"
    touch(tmp_path, "a_mask.gif")
    assert find_mask(tmp_path, "a").name == "a_mask.gif"


def test_list_masks_and_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="masks folder"):
        list_masks(tmp_path / "no")
    with pytest.raises(FileNotFoundError, match="image folder"):
        list_images(tmp_path / "no")
    assert ".png" in IMAGE_SUFFIXES


def records(n_cars: int = 20, angles: int = 4, extra: int = 3) -> list[ImageRecord]:
    out = [
        ImageRecord(f"{c:012x}_{a:02d}", Path(f"{c:012x}_{a:02d}.jpg"), f"{c:012x}", a)
        for c in range(n_cars)
        for a in range(1, angles + 1)
    ]
    out += [ImageRecord(f"photo{i}", Path(f"photo{i}.jpg")) for i in range(extra)]
    return out


def test_split_by_car_keeps_cars_together_and_is_reproducible():
    recs = records()
    train, val = split_by_car(recs, val_fraction=0.25, seed=3)
    assert len(train) + len(val) == len(recs)
    assert {r.image_id for r in train}.isdisjoint(r.image_id for r in val)
    train_cars = {r.car_id for r in train if r.car_id}
    val_cars = {r.car_id for r in val if r.car_id}
    assert train_cars.isdisjoint(val_cars) and val_cars
    assert train == sorted(train, key=lambda r: r.image_id)
    assert (train, val) == split_by_car(list(reversed(recs)), val_fraction=0.25, seed=3)
    other = split_by_car(recs, val_fraction=0.25, seed=4)[1]
    assert {r.image_id for r in other} != {r.image_id for r in val}
    # 20 cars + 3 ungrouped photos = 23 groups; 25% -> 6 groups in val
    assert len({r.car_id or r.image_id for r in val}) == 6


def test_split_min_val_cars_and_edge_cases():
    recs = records(n_cars=5, extra=0)
    _, val = split_by_car(recs, val_fraction=0.01, min_val_cars=2)
    assert len({r.car_id for r in val}) == 2
    train, val = split_by_car(recs, val_fraction=0.0)
    assert val == [] and len(train) == len(recs)
    train, val = split_by_car(records(n_cars=1, extra=0), val_fraction=0.5)
    assert val == [] and len(train) == 4
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_car(recs, val_fraction=1.0)


@pytest.mark.slow
def test_scanning_100k_names_lists_them_all_without_decoding(tmp_path):
    """Empty files stand in for images: a scan that opened one would fail to decode it.

    The speed target (well under a second) is measured by bench/bench_scan.py.
    """
    folder = tmp_path / "test"
    folder.mkdir()
    names = [f"{c:012x}_{a:02d}.jpg" for c in range(6254) for a in range(1, 17)]
    for name in names:
        (folder / name).touch()
    layout = scan_folder(folder)
    assert len(layout.images) == 100_064
    assert [r.name for r in layout.images[:2]] == sorted(names)[:2]
    assert layout.images[-1].car_id == f"{6253:012x}" and layout.images[-1].angle == 16


@pytest.mark.slow
def test_real_kaggle_layout(carvana_data):
    layout = scan_folder(carvana_data)
    assert layout.kind == "kaggle" and len(layout.images) == 2496
    assert all(r.mask_path is not None for r in layout.images)
    assert len({r.car_id for r in layout.images}) == 156
    assert layout.sample_submission is not None and layout.masks_csv is not None
    train, val = split_by_car(layout.images, val_fraction=0.1, seed=0)
    assert len(val) == 16 * 16 and not {r.car_id for r in train} & {r.car_id for r in val}
