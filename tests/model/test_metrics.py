"""Dice per image and over mask folders / RLE CSVs."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from model.data.masks import write_mask
from model.kaggle.metrics import DiceReport, dice, evaluate_masks, mask_source
from model.kaggle.rle import rle_encode


def test_dice_values():
    a = np.array([[1, 1, 0, 0]], np.uint8)
    b = np.array([[0, 1, 1, 0]], np.uint8)
    assert dice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, np.zeros_like(a)) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert dice(a * 255, a.astype(bool)) == 1.0


def test_dice_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        dice(np.zeros((2, 3)), np.zeros((3, 2)))


def test_report_mean_count_worst():
    report = DiceReport({"a": 0.9, "b": 0.5, "c": 1.0, "d": 0.5})
    assert report.count == 4
    assert report.mean == pytest.approx(0.725)
    assert report.worst(3) == [("b", 0.5), ("d", 0.5), ("a", 0.9)]
    assert math.isnan(DiceReport().mean)


def make_masks(rng: np.random.Generator, n: int, shape=(8, 12)) -> dict[str, np.ndarray]:
    return {f"{i:012x}_01": (rng.random(shape) > 0.5).astype(np.uint8) for i in range(n)}


def write_csv(path, masks: dict[str, np.ndarray]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["img", "rle_mask"])
        for image_id, mask in masks.items():
            writer.writerow([f"{image_id}.jpg", rle_encode(mask)])


def test_evaluate_folder_against_csv_and_back(tmp_path):
    rng = np.random.default_rng(0)
    truth = make_masks(rng, 5)
    pred = dict(truth)
    flipped = truth["000000000003_01"].copy()
    flipped[:4] = 1 - flipped[:4]
    pred["000000000003_01"] = flipped
    for image_id, mask in truth.items():
        write_mask(tmp_path / "truth" / f"{image_id}_mask.gif", mask)
    write_csv(tmp_path / "pred.csv", pred)
    progress = []
    report = evaluate_masks(
        tmp_path / "pred.csv", tmp_path / "truth", on_progress=lambda d, t: progress.append((d, t))
    )
    expected = dice(flipped, truth["000000000003_01"])
    assert report.count == 5 and progress[-1] == (5, 5)
    assert report.worst(1) == [("000000000003_01", pytest.approx(expected))]
    assert report.mean == pytest.approx((4 + expected) / 5)
    swapped = evaluate_masks(tmp_path / "truth", tmp_path / "pred.csv")
    assert swapped.scores == pytest.approx(report.scores)


def test_evaluate_subset_of_truth_and_missing_truth(tmp_path):
    rng = np.random.default_rng(1)
    truth = make_masks(rng, 4)
    write_csv(tmp_path / "truth.csv", truth)
    for image_id in list(truth)[:2]:
        write_mask(tmp_path / "pred" / f"{image_id}.png", truth[image_id])
    report = evaluate_masks(tmp_path / "pred", tmp_path / "truth.csv")
    assert report.count == 2 and report.mean == 1.0
    write_mask(tmp_path / "pred" / "stranger.png", truth["000000000000_01"])
    with pytest.raises(ValueError, match=r"1 predicted image.*no truth.*stranger"):
        evaluate_masks(tmp_path / "pred", tmp_path / "truth.csv")


def test_evaluate_size_mismatch_and_bad_sources(tmp_path):
    write_mask(tmp_path / "a" / "x.png", np.ones((4, 4), np.uint8))
    write_mask(tmp_path / "b" / "x.png", np.ones((4, 5), np.uint8))
    with pytest.raises(ValueError, match="x: predicted mask is 4x4 but truth is 4x5"):
        evaluate_masks(tmp_path / "a", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="neither a masks folder nor"):
        mask_source(tmp_path / "nothing")
    (tmp_path / "dup.csv").write_text("img,rle_mask\nx.jpg,1 1\nx.jpg,1 2\n")
    with pytest.raises(ValueError, match="line 3: duplicate"):
        mask_source(tmp_path / "dup.csv")


@pytest.mark.slow
def test_real_csv_matches_real_gifs(carvana_data, tmp_path):
    """32 real images: train_masks.csv decodes to exactly the GIF masks."""
    with (carvana_data / "train_masks.csv").open(newline="") as handle:
        rows = [row for _, row in zip(range(33), csv.reader(handle), strict=False)]
    (tmp_path / "pred.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    report = evaluate_masks(tmp_path / "pred.csv", carvana_data / "train_masks")
    assert report.count == 32 and report.mean == 1.0
