"""Kaggle submission CSVs: stream them out, resume them, validate them.

A full test-set export is 100,064 rows; the writer keeps only the set of names
already written, never masks. Rows go to ``<file>.partial`` and the finished file
appears by rename on a clean close, so a crash leaves the previous file intact and
a resumable partial file behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np

from model.data.masks import fsync_dir
from model.kaggle.rle import CARVANA_SHAPE, RLEError, parse_rle, rle_encode

# A noisy 1280x1918 mask's RLE runs to megabytes (alternating pixels: ~12 MB), far past
# csv's 128 KiB default field limit, which would reject reading back our own exports.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))

SUBMISSION_HEADER = ("img", "rle_mask")
_HEADER_LINE = ",".join(SUBMISSION_HEADER) + "\n"
_FLUSH_EVERY = 64


class SubmissionError(ValueError):
    """A submission/RLE CSV that cannot be read."""


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise SubmissionError(f"{path}: empty file, expected header {_HEADER_LINE.strip()!r}")
    if tuple(h.strip().lstrip("\ufeff") for h in header) != SUBMISSION_HEADER:
        raise SubmissionError(
            f"{path}: line 1: header is {','.join(header)!r}, expected {_HEADER_LINE.strip()!r}"
        )


def iter_rle_csv(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Yield (img name as written, rle) for each row of an ``img,rle_mask`` CSV."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise SubmissionError(f"{path}: file not found") from None
    with handle:
        reader = csv.reader(handle)
        _check_header(path, next(reader, None))
        for row in reader:
            if len(row) != 2:
                raise SubmissionError(
                    f"{path}: line {reader.line_num}: expected 2 fields (img,rle_mask), "
                    f"got {len(row)}"
                )
            yield row[0], row[1]


class SubmissionWriter:
    """Append rows to a submission; resumable; the final file appears atomically.

    With ``resume=True`` rows already in ``<path>.partial`` (an interrupted export)
    or, failing that, in ``path`` itself are kept and listed in ``done``;
    ``write`` skips those names, so re-running an export never duplicates rows.
    A truncated last line (crash mid-write) is dropped and rewritten.
    """

    def __init__(self, path: str | os.PathLike[str], resume: bool = True) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        self.done: set[str] = set()
        self._pending = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and not self.partial_path.exists() and self.path.is_file():
            self.partial_path.write_bytes(self.path.read_bytes())
        if resume and self.partial_path.exists():
            self._recover_partial()
            self._file = self.partial_path.open("a", newline="", encoding="utf-8")
        else:
            self._file = self.partial_path.open("w", newline="", encoding="utf-8")
            self._file.write(_HEADER_LINE)

    def _recover_partial(self) -> None:
        data = self.partial_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # drop a half-written last line
        if not complete:
            complete = _HEADER_LINE.encode()
        lines = complete.decode("utf-8").splitlines()
        _check_header(self.partial_path, lines[0].split(","))
        for number, line in enumerate(lines[1:], start=2):
            name, sep, _ = line.partition(",")
            if not sep:
                raise SubmissionError(
                    f"{self.partial_path}: line {number}: not an img,rle_mask row"
                )
            self.done.add(name)
        if len(complete) != len(data):
            with self.partial_path.open("r+b") as handle:
                handle.truncate(len(complete))

    def write(self, img_name: str, mask_or_rle: np.ndarray | str) -> None:
        """Add one row unless ``img_name`` is already in the file."""
        if img_name in self.done:
            return
        if "," in img_name or "\n" in img_name:
            raise SubmissionError(f"image name {img_name!r} cannot contain commas or newlines")
        rle = mask_or_rle if isinstance(mask_or_rle, str) else rle_encode(mask_or_rle)
        self._file.write(f"{img_name},{rle}\n")
        self.done.add(img_name)
        self._pending += 1
        if self._pending >= _FLUSH_EVERY:
            self._file.flush()
            self._pending = 0

    def close(self) -> Path:
        """Finish: fsync the rows and rename the partial file onto ``path``."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.partial_path, self.path)
            fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Stop without finishing: rows so far stay in the partial file for a resume."""
        if not self._file.closed:
            self._file.flush()
            with contextlib.suppress(OSError):
                os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> SubmissionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass
class SubmissionReport:
    """Outcome of validate_submission: every problem found, with line numbers."""

    path: Path
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_submission(
    path: str | os.PathLike[str],
    sample: str | os.PathLike[str] | None = None,
    shape: tuple[int, int] = CARVANA_SHAPE,
    on_progress: Callable[[int], None] | None = None,
) -> SubmissionReport:
    """Check a submission row by row and collect all problems (not just the first).

    Header ``img,rle_mask``; names end in .jpg; no duplicates; every RLE decodes
    within ``shape``; with ``sample``, exactly the sample's image set.
    ``on_progress(rows_checked)`` is called every 1,000 rows.
    """
    path = Path(path)
    report = SubmissionReport(path=path)
    problems = report.problems
    if not path.is_file():
        problems.append(f"{path}: file not found")
        return report
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        try:
            _check_header(path, header)
        except SubmissionError as exc:
            problems.append(str(exc))
            if header is None:
                return report
        for row in reader:
            line = reader.line_num
            report.rows += 1
            if on_progress is not None and report.rows % 1000 == 0:
                on_progress(report.rows)
            if len(row) != 2:
                problems.append(f"line {line}: expected 2 fields (img,rle_mask), got {len(row)}")
                continue
            name, rle = row
            if not name.lower().endswith(".jpg"):
                problems.append(f"line {line}: image name {name!r} does not end in .jpg")
            if name in seen:
                problems.append(f"line {line}: duplicate image {name!r}")
            seen.add(name)
            try:
                parse_rle(rle, shape)
            except RLEError as exc:
                problems.append(f"line {line}: {name}: bad rle_mask: {exc}")
    if on_progress is not None:
        on_progress(report.rows)
    if sample is not None:
        expected = {name for name, _ in iter_rle_csv(sample)}
        _compare_image_sets(seen, expected, Path(sample), problems)
    return report


def _compare_image_sets(
    seen: set[str], expected: set[str], sample: Path, problems: list[str]
) -> None:
    missing = sorted(expected - seen)
    extra = sorted(seen - expected)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        problems.append(f"{len(missing)} image(s) of {sample.name} missing: {shown}")
    if extra:
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        problems.append(f"{len(extra)} image(s) not in {sample.name}: {shown}")
