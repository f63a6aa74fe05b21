"""Submission CSVs: reading, streaming/resumable writing, validation."""

from __future__ import annotations

import csv
import os
import tracemalloc

import numpy as np
import pytest

from model.kaggle.submission import (
    SUBMISSION_HEADER,
    SubmissionError,
    SubmissionWriter,
    iter_rle_csv,
    validate_submission,
)


def rows_of(path) -> list[tuple[str, str]]:
    return list(iter_rle_csv(path))


def test_iter_rle_csv_and_header_errors(tmp_path):
    good = tmp_path / "g.csv"
    good.write_text("img,rle_mask\na.jpg,1 2\nb.jpg,\n")
    assert rows_of(good) == [("a.jpg", "1 2"), ("b.jpg", "")]
    bad = tmp_path / "b.csv"
    bad.write_text("image,mask\na.jpg,1 2\n")
    with pytest.raises(SubmissionError, match=r"b\.csv: line 1: header is 'image,mask'"):
        rows_of(bad)
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(SubmissionError, match="empty file"):
        rows_of(tmp_path / "e.csv")
    (tmp_path / "f.csv").write_text("img,rle_mask\na.jpg,1 2,extra\n")
    with pytest.raises(SubmissionError, match="line 2: expected 2 fields"):
        rows_of(tmp_path / "f.csv")
    with pytest.raises(SubmissionError, match="not found"):
        rows_of(tmp_path / "none.csv")


def test_writer_writes_header_rows_and_finishes_atomically(tmp_path):
    out = tmp_path / "sub.csv"
    mask = np.zeros((2, 3), np.uint8)
    mask[0, 0] = mask[1, 2] = 1
    with SubmissionWriter(out) as writer:
        writer.write("a.jpg", mask)
        writer.write("b.jpg", "2 2")
        writer.write("a.jpg", "9 9")  # already written: skipped
        assert not out.exists()  # only the finished file appears under the real name
    assert out.read_text() == "img,rle_mask\na.jpg,1 1 6 1\nb.jpg,2 2\n"
    assert os.listdir(tmp_path) == ["sub.csv"]
    assert SUBMISSION_HEADER == ("img", "rle_mask")


def test_interrupted_export_resumes_without_duplicates(tmp_path):
    out = tmp_path / "sub.csv"
    names = [f"{i:03d}.jpg" for i in range(10)]
    with pytest.raises(RuntimeError), SubmissionWriter(out) as writer:
        for name in names[:6]:
            writer.write(name, "1 1")
        raise RuntimeError("killed")
    assert not out.exists()
    partial = tmp_path / "sub.csv.partial"
    # a crash in the middle of a line leaves a truncated row
    with partial.open("a") as handle:
        handle.write("006.jpg,1 ")
    with SubmissionWriter(out) as writer:
        assert writer.done == set(names[:6])
        for name in names:
            writer.write(name, "2 3")
    rows = rows_of(out)
    assert [name for name, _ in rows] == names
    assert [rle for _, rle in rows] == ["1 1"] * 6 + ["2 3"] * 4
    assert not partial.exists()


def test_a_finished_file_is_replaced_never_resumed_and_no_resume(tmp_path):
    out = tmp_path / "sub.csv"
    with SubmissionWriter(out) as writer:
        writer.write("a.jpg", "1 1")
    with SubmissionWriter(out) as writer:
        assert writer.done == set()  # a finished file is not an unfinished export
        writer.write("b.jpg", "1 1")
    assert [n for n, _ in rows_of(out)] == ["b.jpg"]
    with SubmissionWriter(out, resume=False) as writer:
        assert writer.done == set()
        writer.write("c.jpg", "")
    assert rows_of(out) == [("c.jpg", "")]


def test_resume_rejects_a_foreign_file(tmp_path):
    out = tmp_path / "sub.csv"
    (tmp_path / "sub.csv.partial").write_text("something,else\n")
    with pytest.raises(SubmissionError, match="header"):
        SubmissionWriter(out)
    assert not (tmp_path / "sub.csv.lock").exists()  # the lock is released on failure


def test_writer_rejects_bad_names(tmp_path):
    with SubmissionWriter(tmp_path / "s.csv") as writer, pytest.raises(SubmissionError):
        writer.write("a,b.jpg", "1 1")


def test_writer_streams_rows_instead_of_holding_them(tmp_path):
    """Memory stays flat: 2,000 rows of ~6 kB RLE (12 MB) must not stay in memory."""
    rle = " ".join(f"{s} 1" for s in range(1, 1600, 2))
    tracemalloc.start()
    try:
        with SubmissionWriter(tmp_path / "big.csv") as writer:
            for i in range(2000):
                writer.write(f"{i}.jpg", rle)
            assert writer.partial_path.stat().st_size > 0  # flushed while writing
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"peak {peak} bytes"
    assert len(rows_of(tmp_path / "big.csv")) == 2000


def test_validator_accepts_good_file(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("img,rle_mask\na.jpg,1 2\nb.jpg,\n")
    report = validate_submission(path, shape=(2, 2))
    assert report.ok and report.rows == 2 and report.problems == []


def test_validator_collects_all_problems_with_line_numbers(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "img,rle_mask\n"
        "a.jpg,1 2\n"
        "b.png,1 1\n"  # line 3: not .jpg
        "a.jpg,1 1\n"  # line 4: duplicate
        "c.jpg,1 2 3\n"  # line 5: odd count
        "d.jpg,3 1 1 1\n"  # line 6: unsorted
        "e.jpg,4 5\n"  # line 7: past the image
        "f.jpg\n"  # line 8: missing field
        "g.jpg,x 1\n"  # line 9: not a number
    )
    report = validate_submission(path, shape=(2, 2))
    assert not report.ok and report.rows == 8
    text = "\n".join(report.problems)
    for expected in (
        "line 3: image name 'b.png' does not end in .jpg",
        "line 4: duplicate image 'a.jpg'",
        "line 5: c.jpg: bad rle_mask: RLE has an odd number",
        "line 6: d.jpg: bad rle_mask: RLE run 2",
        "line 7: e.jpg: bad rle_mask: RLE run at start 4 with length 5 ends past",
        "line 8: expected 2 fields",
        "line 9: g.jpg: bad rle_mask: RLE value 'x' is not an integer",
    ):
        assert expected in text
    assert len(report.problems) == 7


def test_validator_header_and_sample(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text("img,rle_mask\na.jpg,1 1\nb.jpg,1 1\nc.jpg,1 1\n")
    path = tmp_path / "sub.csv"
    path.write_text("img,mask\na.jpg,1 1\nz.jpg,1 1\n")
    report = validate_submission(path, sample=sample)
    assert report.rows == 2
    assert report.problems[0].endswith("header is 'img,mask', expected 'img,rle_mask'")
    assert "2 image(s) of sample.csv missing: b.jpg, c.jpg" in report.problems
    assert "1 image(s) not in sample.csv: z.jpg" in report.problems
    (tmp_path / "empty.csv").write_text("")
    assert "empty file" in validate_submission(tmp_path / "empty.csv").problems[0]
    assert "not found" in validate_submission(tmp_path / "nope.csv").problems[0]


def test_validator_reports_progress(tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SUBMISSION_HEADER)
        writer.writerows([f"{i}.jpg", "1 1"] for i in range(2500))
    seen: list[int] = []
    assert validate_submission(path, on_progress=seen.append).ok
    assert seen == [1000, 2000, 2500]


@pytest.mark.slow
def test_real_sample_submission_is_valid(carvana_data):
    report = validate_submission(
        carvana_data / "sample_submission.csv", sample=carvana_data / "sample_submission.csv"
    )
    assert report.ok, report.problems[:5]
    assert report.rows == 100_064


def test_rows_longer_than_csvs_default_field_limit_read_back(tmp_path):
    """A noisy full-size mask encodes to megabytes of RLE; our own files must read back."""
    import numpy as np

    from model.kaggle.rle import CARVANA_SHAPE, rle_decode
    from model.kaggle.submission import SubmissionWriter, iter_rle_csv, validate_submission

    noisy = np.zeros(CARVANA_SHAPE, np.uint8)
    noisy.reshape(-1)[::2] = 1  # alternating pixels: the longest possible RLE
    path = tmp_path / "noisy.csv"
    with SubmissionWriter(path) as writer:
        writer.write("a_01.jpg", noisy)
    ((name, rle),) = list(iter_rle_csv(path))
    assert len(rle) > 131072 and name == "a_01.jpg"
    np.testing.assert_array_equal(rle_decode(rle), noisy)
    assert validate_submission(path).ok
