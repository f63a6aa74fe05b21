"""Kaggle submission CSVs: stream them out, resume them, validate them.

A full test-set export is 100,064 rows; the writer keeps only the set of names
already written, never masks. Rows go to ``<file>.partial`` and the finished file
appears by rename on a clean close, so a crash leaves the previous file intact and
a resumable partial file behind. A finished file is always replaced, never resumed;
a partial file is resumed only when ``<file>.partial.json`` says it was made the same
way (same fingerprint). ``<file>.lock`` keeps a second writer out while one runs.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np

from model.data.locks import FileLock
from model.data.masks import atomic_write_bytes, fsync_dir, os_error_naming
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


# What a fingerprint's keys mean, for "the earlier unfinished export used another ...".
FINGERPRINT_WORDS = {
    "images": "image set",
    "model": "model",
    "tta": "TTA setting",
    "masks": "set of hand-made/stored masks",
}


def _describe_change(saved: dict | None, wanted: dict | None) -> str:
    if saved is None:
        return "nothing records how the earlier unfinished export was made"
    if wanted is None:
        return "the earlier unfinished export was made with settings this one cannot compare"
    keys = [k for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    words = [FINGERPRINT_WORDS.get(k, k) for k in keys]
    return "the earlier unfinished export used another " + "/".join(words)


class SubmissionWriter:
    """Append rows to a submission; resumable; the final file appears atomically.

    Rows go to ``<path>.partial``; ``close`` renames it onto ``path``. With
    ``resume=True`` an interrupted export's rows in ``<path>.partial`` are kept and
    listed in ``done`` (``write`` skips those names, so a resumed export never
    duplicates rows), but only when the ``fingerprint`` recorded beside it in
    ``<path>.partial.json`` equals this run's (same image set, model, TTA, masks).
    Otherwise the partial file is started over and ``restart_reason`` says why. The
    finished ``path`` is never read: an export always replaces it. A truncated last
    line (crash mid-write) is dropped and rewritten. ``<path>.lock`` is held until
    close/abort; a second writer gets LockedError naming the file and its holder.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        resume: bool = True,
        fingerprint: dict | None = None,
    ) -> None:
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name + ".partial")
        self.fingerprint_path = self.path.with_name(self.path.name + ".partial.json")
        self.fingerprint = fingerprint
        self.done: set[str] = set()
        self.restart_reason: str | None = None
        self._pending = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(
            self.path.with_name(self.path.name + ".lock"), what=f"{self.path} (an export)"
        ).acquire()
        try:
            self._open(resume)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, resume: bool) -> None:
        if resume and self.partial_path.exists():
            saved = self._saved_fingerprint()
            if saved == self.fingerprint:
                self._recover_partial()
                self._file = self._wrap(
                    lambda: self.partial_path.open("a", newline="", encoding="utf-8")
                )
                return
            self.restart_reason = _describe_change(saved, self.fingerprint) + ": starting over"
        if self.fingerprint is not None:
            data = json.dumps(self.fingerprint, indent=1, sort_keys=True).encode()
            atomic_write_bytes(self.fingerprint_path, data)
        else:
            self.fingerprint_path.unlink(missing_ok=True)
        self._file = self._wrap(lambda: self.partial_path.open("w", newline="", encoding="utf-8"))
        self._write_line(_HEADER_LINE)

    def _saved_fingerprint(self) -> dict | None:
        if not self.fingerprint_path.is_file():
            return None
        try:
            saved = json.loads(self.fingerprint_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"unreadable": True}  # never equal to a real fingerprint
        return saved if isinstance(saved, dict) else {"unreadable": True}

    def _wrap(self, action):
        """Run a file operation; an OSError (e.g. disk full) names the partial file."""
        try:
            return action()
        except OSError as exc:
            raise os_error_naming(exc, self.partial_path) from exc

    def _write_line(self, line: str) -> None:
        self._wrap(lambda: self._file.write(line))

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
        if not data.startswith(complete):  # empty, or a half-written header: write it anew
            self._wrap(lambda: self.partial_path.write_bytes(complete))
        elif len(complete) != len(data):
            with self.partial_path.open("r+b") as handle:
                handle.truncate(len(complete))

    def write(self, img_name: str, mask_or_rle: np.ndarray | str) -> None:
        """Add one row unless ``img_name`` is already in the file."""
        if img_name in self.done:
            return
        if "," in img_name or "\n" in img_name:
            raise SubmissionError(f"image name {img_name!r} cannot contain commas or newlines")
        rle = mask_or_rle if isinstance(mask_or_rle, str) else rle_encode(mask_or_rle)
        self._write_line(f"{img_name},{rle}\n")
        self.done.add(img_name)
        self._pending += 1
        if self._pending >= _FLUSH_EVERY:
            self._wrap(self._file.flush)
            self._pending = 0

    def close(self) -> Path:
        """Finish: fsync the rows and rename the partial file onto ``path``."""
        try:
            if not self._file.closed:
                try:
                    self._wrap(self._file.flush)
                    self._wrap(lambda: os.fsync(self._file.fileno()))
                except BaseException:
                    with contextlib.suppress(OSError):
                        self._file.close()
                    raise
                self._file.close()
                os.replace(self.partial_path, self.path)
                self.fingerprint_path.unlink(missing_ok=True)
                fsync_dir(self.path.parent)
        finally:
            self._lock.release()
        return self.path

    def abort(self) -> None:
        """Stop without finishing: rows so far stay in the partial file for a resume."""
        try:
            if not self._file.closed:
                with contextlib.suppress(OSError):
                    self._file.flush()
                    os.fsync(self._file.fileno())
                with contextlib.suppress(OSError):
                    self._file.close()
        finally:
            self._lock.release()

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
    shape_of: Callable[[str], tuple[int, int]] | None = None,
) -> SubmissionReport:
    """Check a submission row by row and collect all problems (not just the first).

    Header ``img,rle_mask``; names end in .jpg; no duplicates; every RLE decodes
    within ``shape``, or within ``shape_of(img)`` (each row's own image size; a
    ValueError from it, e.g. no such image, is reported as that row's problem);
    with ``sample``, exactly the sample's image set.
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
                parse_rle(rle, shape if shape_of is None else shape_of(name))
            except RLEError as exc:
                problems.append(f"line {line}: {name}: bad rle_mask: {exc}")
            except ValueError as exc:  # from shape_of: no image, unreadable image
                problems.append(f"line {line}: {name}: {exc}")
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
