"""End-to-end `carvana` data commands through model.cli.main.main on small synthetic data."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from model.cli.main import main
from model.cli.progress import progress_bar, progress_counter
from model.data.masks import read_mask, write_mask
from model.kaggle.rle import rle_encode

SHAPE = (6, 10)


@pytest.fixture
def masks_dir(tmp_path):
    rng = np.random.default_rng(7)
    folder = tmp_path / "masks"
    for i in (2, 0, 1):
        mask = (rng.random(SHAPE) > 0.6).astype(np.uint8)
        mask[0, 0] = 1  # first pixel set: the case the popular one-liner gets wrong
        write_mask(folder / f"{i:012x}_01_mask.gif", mask)
    return folder


def test_masks_to_csv_then_csv_to_masks_round_trip(tmp_path, masks_dir, capsys):
    out = tmp_path / "out.csv"
    assert main(["masks-to-csv", str(masks_dir), "-o", str(out), "--size", "6x10"]) == 0
    assert "wrote 3 rows" in capsys.readouterr().out
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["img", "rle_mask"]
    assert [r[0] for r in rows[1:]] == [f"{i:012x}_01.jpg" for i in range(3)]
    assert rows[1][1] == rle_encode(read_mask(masks_dir / "000000000000_01_mask.gif"))

    back = tmp_path / "back"
    assert main(["csv-to-masks", str(out), "-o", str(back), "--size", "6x10"]) == 0
    assert "wrote 3 masks" in capsys.readouterr().out
    for i in range(3):
        original = read_mask(masks_dir / f"{i:012x}_01_mask.gif")
        np.testing.assert_array_equal(read_mask(back / f"{i:012x}_01_mask.png"), original)

    assert main(["evaluate", "--pred", str(back), "--truth", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean Dice: 1.000000" in text and "images:    3" in text and "worst 3:" in text


def test_evaluate_prints_worst_images(tmp_path, masks_dir, capsys):
    pred = tmp_path / "pred"
    for path in masks_dir.iterdir():
        mask = read_mask(path)
        if path.name.startswith("000000000001"):
            mask = 1 - mask
        write_mask(pred / path.name.replace(".gif", ".png"), mask)
    assert main(["evaluate", "--pred", str(pred), "--truth", str(masks_dir), "--worst", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "worst 1:"
    assert lines[3].split() == ["0.000000", "000000000001_01"]
    assert float(lines[0].split()[-1]) == pytest.approx(2 / 3)


def test_validate_submission_ok_and_broken_row(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("img,rle_mask\na.jpg,1 2\nb.jpg,\n")
    assert main(["validate-submission", str(good), "--size", "2x2"]) == 0
    assert "OK, 2 rows" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("img,rle_mask\na.jpg,1 2\nb.jpg,3 9\n")
    assert main(["validate-submission", str(bad), "--size", "2x2", "--sample", str(good)]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s) in 2 rows" in out
    assert "line 3: b.jpg: bad rle_mask" in out and "past the image" in out


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["evaluate", "--pred", str(tmp_path / "x"), "--truth", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("carvana: error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "bad.csv").write_text("img,rle_mask\na.jpg,1 2 3\n")
    assert main(["csv-to-masks", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "o")]) == 1
    assert "a.jpg: RLE has an odd number" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["masks-to-csv", str(tmp_path / "empty"), "-o", str(tmp_path / "o.csv")]) == 1
    assert "no mask files" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "evaluate", "--pred", str(tmp_path / "x"), "--truth", str(tmp_path)])


def test_bad_size_argument(capsys):
    with pytest.raises(SystemExit):
        main(["validate-submission", "x.csv", "--size", "big"])
    assert "HEIGHTxWIDTH" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["evaluate", "validate-submission", "masks-to-csv", "csv-to-masks"]
)
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"carvana {command}" in capsys.readouterr().out


@pytest.mark.slow
def test_real_masks_to_csv_reproduces_train_masks_rows(carvana_data, tmp_path, capsys):
    """16 real GIFs -> the same rows, same order, same text as train_masks.csv."""
    masks = sorted((carvana_data / "train_masks").iterdir())[:16]
    subset = tmp_path / "subset"
    subset.mkdir()
    for path in masks:
        (subset / path.name).symlink_to(path)
    out = tmp_path / "out.csv"
    assert main(["masks-to-csv", str(subset), "-o", str(out)]) == 0
    with (carvana_data / "train_masks.csv").open(newline="") as handle:
        expected = [row for _, row in zip(range(17), csv.reader(handle), strict=False)]
    with out.open(newline="") as handle:
        assert list(csv.reader(handle)) == expected
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(out), "--truth", str(carvana_data / "train_masks")]) == 0
    assert "mean Dice: 1.000000" in capsys.readouterr().out


def test_progress_helpers_pass_everything_through(capsys):
    assert list(progress_bar(range(5), total=5, desc="x")) == [0, 1, 2, 3, 4]
    seen = []
    with progress_counter(desc="y") as update:
        for done in (10, 20, 25):
            update(done)
            seen.append(done)
    assert seen == [10, 20, 25]
    assert capsys.readouterr().err == ""  # not a terminal: no bar noise in logs
