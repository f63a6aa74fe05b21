"""Finding images and masks on disk, and splitting them by car.

Understands the Kaggle layout (train/, train_masks/, train_masks.csv, test/,
sample_submission.csv, metadata.csv, any subset) and a plain folder of images with
an optional masks folder. Scanning only lists names (os.scandir): no image is
decoded, so 100k files take a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MASK_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg")

# Carvana: <12 hex car id>_<2-digit angle>, e.g. 00087a6bd4dc_01.
_CARVANA_NAME = re.compile(r"^(?P<car>[0-9a-f]{12})_(?P<angle>\d{2})$")
_MASK_CANDIDATES = ("{id}_mask.gif", "{id}_mask.png", "{id}.png", "{id}.gif", "{id}.jpg")
_MASK_CANDIDATES += ("{id}.jpeg", "{id}_mask.jpg")
_KNOWN_SUFFIXES = frozenset(IMAGE_SUFFIXES + MASK_SUFFIXES)
# One match per file on the fast path of a 100k-name scan.
_CARVANA_FILE = re.compile(r"^((?P<car>[0-9a-f]{12})_(?P<angle>\d{2}))\.(?i:jpg|jpeg|png)$")


@dataclass(frozen=True)
class ImageRecord:
    """One image on disk, with what its name tells us and its mask if one exists."""

    image_id: str
    path: Path
    car_id: str | None = None
    angle: int | None = None
    mask_path: Path | None = None

    @property
    def name(self) -> str:
        return self.path.name


class SkippedEntry(NamedTuple):
    """A folder entry left out of a scan, and why: callers list these, never drop them."""

    path: Path
    reason: str


class ImageList(list):
    """``list[ImageRecord]`` plus ``skipped``: entries that are not in the list, and why.

    Left out: two files with one image id (``dup.jpg`` + ``dup.png``: neither is used,
    since a mask or CSV row could not tell them apart) and entries that cannot be read
    (symlink loops, broken links, unreadable entries).
    """

    def __init__(self, records: Iterable[ImageRecord] = (), skipped: Iterable[SkippedEntry] = ()):
        super().__init__(records)
        self.skipped: list[SkippedEntry] = list(skipped)


@dataclass
class DataLayout:
    """What a folder holds: images (train/ or the plain folder), masks, Kaggle CSVs."""

    root: Path
    kind: str  # "kaggle" | "plain"
    images: list[ImageRecord] = field(default_factory=list)
    masks_dir: Path | None = None
    test_images: list[ImageRecord] = field(default_factory=list)
    masks_csv: Path | None = None
    sample_submission: Path | None = None
    metadata: Path | None = None
    # Entries of the image folders left out of ``images``/``test_images``, with the reason.
    skipped: list[SkippedEntry] = field(default_factory=list)


def parse_image_name(name: str) -> tuple[str, str | None, int | None]:
    """(image_id, car_id, angle) from a file name; non-Carvana names give (stem, None, None)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or f".{ext.lower()}" not in _KNOWN_SUFFIXES:
        stem = name
    match = _CARVANA_NAME.match(stem)
    if match is None:
        return stem, None, None
    return stem, match["car"], int(match["angle"])


def mask_image_id(mask_name: str) -> str:
    """Image id a mask file belongs to: ``<id>_mask.gif`` and ``<id>.png`` both give ``<id>``."""
    stem = mask_name.rsplit(".", 1)[0] if "." in mask_name else mask_name
    return stem[: -len("_mask")] if stem.endswith("_mask") else stem


def _child_paths(folder: Path, names: list[str]) -> list[Path]:
    """``folder / name`` for many names; pathlib's re-parsing dominates a 100k scan."""
    make_child = getattr(folder, "_make_child_relpath", None)  # CPython fast path, no parsing
    if make_child is None:
        return [folder / name for name in names]
    return [make_child(name) for name in names]


def _scan_names(
    folder: Path, suffixes: tuple[str, ...], problems: list[SkippedEntry] | None = None
) -> list[str]:
    """Sorted names of the files in ``folder`` with one of ``suffixes``.

    An entry that cannot be checked (a symlink loop: "Too many levels of symbolic links")
    or a link to nothing is left out and added to ``problems``, never fatal.
    """
    names = []
    with os.scandir(folder) as entries:
        for e in entries:
            name = e.name
            if not name.lower().endswith(suffixes) or name.startswith("."):
                continue
            try:
                if e.is_file():
                    names.append(name)
                    continue
                broken = e.is_symlink() and not os.path.exists(e.path)
            except OSError as exc:
                reason = f"cannot read this entry ({exc.strerror or exc})"
            else:
                if not broken:
                    continue  # a folder named like an image: not an image
                reason = "broken symbolic link (its target does not exist)"
            if problems is not None:
                problems.append(SkippedEntry(folder / name, reason))
            log.warning("skipping %s: %s", folder / name, reason)
    names.sort()
    return names


def list_masks(masks_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Map image id -> mask file for every mask in a folder (sorted by id)."""
    folder = Path(masks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: masks folder not found")
    names = _scan_names(folder, MASK_SUFFIXES)
    found: dict[str, Path] = {}
    for name, path in zip(names, _child_paths(folder, names), strict=True):
        found.setdefault(mask_image_id(name), path)
    return dict(sorted(found.items()))


def find_mask(masks_dir: str | os.PathLike[str], image_id: str) -> Path | None:
    """The mask file for one image, trying the usual naming patterns in order."""
    folder = Path(masks_dir)
    for pattern in _MASK_CANDIDATES:
        candidate = folder / pattern.format(id=image_id)
        if candidate.is_file():
            return candidate
    return None


def list_images(
    folder: str | os.PathLike[str], masks_dir: str | os.PathLike[str] | None = None
) -> ImageList:
    """Every image in ``folder`` sorted by name, paired with its mask from ``masks_dir``.

    Entries that cannot be used are not in the list but in its ``skipped``, with the
    reason: unreadable entries (symlink loops, broken links) and image ids used by two
    files (``dup.jpg`` and ``dup.png``): neither of those is listed, so no command writes
    one mask or CSV row for two images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    masks = list_masks(masks_dir) if masks_dir is not None else {}
    skipped: list[SkippedEntry] = []
    names = _scan_names(folder, IMAGE_SUFFIXES, skipped)
    records = []
    match_carvana = _CARVANA_FILE.match
    for name, path in zip(names, _child_paths(folder, names), strict=True):
        match = match_carvana(name)
        if match is not None:
            image_id, car_id, angle = match[1], match["car"], int(match["angle"])
        else:
            image_id, car_id, angle = parse_image_name(name)
        records.append(ImageRecord(image_id, path, car_id, angle, masks.get(image_id)))
    counts = Counter(r.image_id for r in records)
    if len(counts) == len(records):
        return ImageList(records, skipped)
    clashing = {image_id for image_id, n in counts.items() if n > 1}
    files: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.image_id in clashing:
            files[record.image_id].append(record.name)
    for record in records:
        if record.image_id in clashing:
            others = ", ".join(n for n in files[record.image_id] if n != record.name)
            reason = (
                f"image id {record.image_id!r} is also used by {others}: "
                "rename one so each image has its own id"
            )
            skipped.append(SkippedEntry(record.path, reason))
            log.warning("skipping %s: %s", record.path, reason)
    skipped.sort(key=lambda entry: entry.path.name)
    return ImageList((r for r in records if r.image_id not in clashing), skipped)


def submission_name_problem(name: str) -> str | None:
    """Why an image file name cannot go into a submission CSV's ``img`` column, or None.

    The column is written unquoted, so a comma (or a line break or quote) would split or
    shift the row. Check every name before the first row is written, and skip and list
    the ones that fail instead of stopping midway.
    """
    for char, what in ((",", "a comma"), ("\n", "a line break"), ("\r", "a line break")):
        if char in name:
            return f"its name contains {what}, which the CSV's img column cannot hold"
    if '"' in name:
        return "its name contains a double quote, which the CSV's img column cannot hold"
    return None


def split_submission_records(
    records: Iterable[ImageRecord],
) -> tuple[list[ImageRecord], list[SkippedEntry]]:
    """(records whose names fit a submission CSV, the others with the reason)."""
    usable: list[ImageRecord] = []
    skipped: list[SkippedEntry] = []
    for record in records:
        problem = submission_name_problem(record.name)
        if problem is None:
            usable.append(record)
        else:
            skipped.append(SkippedEntry(record.path, problem))
    return usable, skipped


def _file_or_none(path: Path) -> Path | None:
    return path if path.is_file() else None


def _scan_kaggle_root(root: Path) -> DataLayout:
    masks_dir = root / "train_masks" if (root / "train_masks").is_dir() else None
    train = root / "train"
    test = root / "test"
    images = list_images(train, masks_dir) if train.is_dir() else ImageList()
    test_images = list_images(test) if test.is_dir() else ImageList()
    return DataLayout(
        root=root,
        kind="kaggle",
        images=images,
        masks_dir=masks_dir,
        test_images=test_images,
        masks_csv=_file_or_none(root / "train_masks.csv"),
        sample_submission=_file_or_none(root / "sample_submission.csv"),
        metadata=_file_or_none(root / "metadata.csv"),
        skipped=images.skipped + test_images.skipped,
    )


def _plain_masks_dir(folder: Path) -> Path | None:
    for candidate in (
        folder / "masks",
        folder.with_name(folder.name + "_masks"),
        folder.parent / "masks",
    ):
        if candidate.is_dir() and candidate != folder:
            return candidate
    return None


def _no_images_message(folder: Path, skipped: list[SkippedEntry]) -> str:
    text = f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found"
    if skipped:
        text += f"; {len(skipped)} skipped: " + "; ".join(
            f"{entry.path.name}: {entry.reason}" for entry in skipped[:5]
        )
    return text


def scan_folder(path: str | os.PathLike[str]) -> DataLayout:
    """Work out what a folder is: a Kaggle root, Kaggle ``train/``, or plain images."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    folder = folder.resolve()
    if any((folder / sub).is_dir() for sub in ("train", "test", "train_masks")):
        layout = _scan_kaggle_root(folder)
        if not layout.images and not layout.test_images:
            raise ValueError(f"{folder}: Kaggle layout without any images in train/ or test/")
        return layout
    sibling_masks = folder.with_name(folder.name + "_masks")
    if folder.name in ("train", "test") and sibling_masks.is_dir():
        layout = _scan_kaggle_root(folder.parent)
        if folder.name == "test":
            layout.images = layout.test_images
        layout.skipped = list(getattr(layout.images, "skipped", []))
        if not layout.images:
            raise ValueError(_no_images_message(folder, layout.skipped))
        return layout
    masks_dir = _plain_masks_dir(folder)
    images = list_images(folder, masks_dir)
    if not images:
        raise ValueError(_no_images_message(folder, images.skipped))
    return DataLayout(
        root=folder, kind="plain", images=images, masks_dir=masks_dir, skipped=images.skipped
    )


def split_by_car(
    records: Iterable[ImageRecord],
    val_fraction: float = 0.1,
    seed: int = 0,
    min_val_cars: int = 1,
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split into (train, val) so all angles of one car land on the same side.

    The 16 angles of a car are near-duplicates: splitting by image would leak them
    into validation and overstate Dice. Records without a car id form their own
    group. Same records and seed -> same split, whatever the input order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups: dict[str, list[ImageRecord]] = defaultdict(list)
    for record in records:
        groups[record.car_id if record.car_id is not None else f"\0{record.image_id}"].append(
            record
        )
    keys = sorted(groups)
    if len(keys) < 2 or val_fraction == 0.0:
        train = sorted((r for k in keys for r in groups[k]), key=lambda r: r.image_id)
        return train, []
    n_val = max(min_val_cars, round(len(keys) * val_fraction))
    n_val = min(n_val, len(keys) - 1)
    val_keys = set(random.Random(seed).sample(keys, n_val))
    train = [r for k in keys if k not in val_keys for r in groups[k]]
    val = [r for k in keys if k in val_keys for r in groups[k]]
    return sorted(train, key=lambda r: r.image_id), sorted(val, key=lambda r: r.image_id)
