"""Reading images and masks, writing masks safely.

Masks are uint8 arrays of 0/1, shape (H, W). Kaggle ships palette GIFs whose pixel
values are already 0/1; people also bring PNGs (0/1 or 0/255) and JPEGs (lossy, so
thresholded at 127). Writes go through a temp file + fsync + rename so a crash
never leaves a half-written mask behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from model.data.dataset import MASK_SUFFIXES

# Kaggle's train_masks GIFs: index 0 black, index 1 white.
_GIF_PALETTE = [0, 0, 0, 255, 255, 255] + [0, 0, 0] * 254


class MaskError(ValueError):
    """A mask file that cannot be read, or does not fit its image."""


class ImageReadError(ValueError):
    """An image file that cannot be decoded."""


# EXIF orientation is ignored everywhere: Kaggle's images carry no rotation, masks are
# stored unrotated, and image_size() reads the header size; an EXIF-6 JPEG decoded upright
# (OpenCV's default) would be W x H while its mask and every size check say H x W.
IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3); grayscale and RGBA are converted.

    Pixels as stored: an EXIF orientation tag is ignored, so the shape always equals
    ``image_size(path)``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    # imdecode on bytes also works for non-ASCII paths, where cv2.imread fails.
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, IMREAD_FLAGS) if data.size else None
    if bgr is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(H, W) of an image from its header, without decoding the pixels (EXIF ignored)."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageReadError(f"{path}: cannot read image header ({exc})") from None
    return height, width


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a mask file as uint8 {0, 1} of shape (H, W).

    GIF/PNG: palette indices or gray values; 0/1 is kept, anything larger is
    thresholded at 127 (0/255 masks). JPEG: always thresholded at 127.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MASK_SUFFIXES:
        raise MaskError(
            f"{path}: unsupported mask format {suffix!r} (use {', '.join(MASK_SUFFIXES)})"
        )
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L", "1"):
                img = img.convert("L")
            values = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise MaskError(f"{path}: mask file not found") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise MaskError(f"{path}: not a readable mask image ({exc})") from None
    if values.ndim != 2:
        raise MaskError(f"{path}: expected a single-channel mask, got shape {values.shape}")
    if suffix in (".jpg", ".jpeg") or values.max(initial=0) > 1:
        return (values > 127).view(np.uint8)
    return np.ascontiguousarray(values)


def _encode_mask(mask: np.ndarray, suffix: str, path: Path) -> bytes:
    binary = np.asarray(mask) != 0
    if binary.ndim != 2:
        raise MaskError(f"{path}: a mask must be 2-D, got shape {binary.shape}")
    buffer = io.BytesIO()
    if suffix == ".png":
        Image.fromarray(binary.astype(np.uint8) * 255).save(buffer, format="PNG")
    elif suffix == ".gif":
        img = Image.fromarray(binary.view(np.uint8))
        img.putpalette(_GIF_PALETTE)  # turns the L image into P with indices 0/1
        img.save(buffer, format="GIF")
    else:
        raise MaskError(f"{path}: masks are written as .png or .gif (lossless), not {suffix!r}")
    return buffer.getvalue()


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> Path:
    """Write a mask losslessly and atomically; the suffix picks the format.

    ``.png``: 8-bit gray 0/255 (opens visibly in any viewer). ``.gif``: palette
    indices 0/1 exactly like Kaggle's train_masks.
    """
    path = Path(path)
    data = _encode_mask(mask, path.suffix.lower(), path)
    atomic_write_bytes(path, data)
    return path


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once at import, not per write, because
    # it is process-wide and autosave threads create files concurrently.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def new_dir_mode() -> int:
    """The mode a plain ``mkdir`` would give: for folders made by ``tempfile.mkdtemp``
    (always 0700), so others sharing a store can read what we add."""
    return 0o777 & ~_UMASK


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: temp file, fsync, rename, fsync dir.

    Any OSError (disk full, permission denied, ...) is raised again naming ``path``
    (same errno, so FileNotFoundError/PermissionError stay what they were).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error_naming(exc, path) from exc
    try:
        # mkstemp creates 0600 files; give the result the usual umask-based mode instead.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise os_error_naming(exc, path) from exc
        raise
    fsync_dir(path.parent)


def os_error_naming(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` as an OSError of the same errno (and subclass) whose message names ``path``."""
    if exc.errno is None:
        return OSError(f"cannot write {path}: {exc}")
    return OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


def fsync_dir(folder: Path) -> None:
    """Make a rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def check_mask_size(
    mask: np.ndarray,
    mask_path: str | os.PathLike[str],
    image_shape: tuple[int, int],
    image_path: str | os.PathLike[str],
) -> None:
    """Raise MaskError naming both files when a mask does not match its image."""
    mask_hw = tuple(int(v) for v in mask.shape[:2])
    image_hw = tuple(int(v) for v in image_shape[:2])
    if mask_hw != image_hw:
        raise MaskError(
            f"mask {mask_path} is {mask_hw[0]}x{mask_hw[1]} (HxW) but its image "
            f"{image_path} is {image_hw[0]}x{image_hw[1]}"
        )
