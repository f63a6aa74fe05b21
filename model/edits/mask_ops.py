"""Pure-numpy mask editing operations used by the desktop tools.

Every operation edits a uint8 0/1 mask in place and returns the bounding box it
touched (``Box``), so callers repaint and record undo only for that rectangle
instead of the whole 1918x1280 image. No Qt and no Keras here: the functions are
tested as plain array code.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

# (y0, x0, y1, x1), end-exclusive, in full-resolution image pixels.
Box = tuple[int, int, int, int]

MIN_BRUSH = 1
MAX_BRUSH = 300


def union_box(a: Box | None, b: Box | None) -> Box | None:
    """Smallest box holding both (either may be None = nothing touched)."""
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def clip_box(box: Box, shape: tuple[int, ...]) -> Box | None:
    """Clip a box to an array shape; None when nothing of it is inside."""
    y0, x0 = max(box[0], 0), max(box[1], 0)
    y1, x1 = min(box[2], shape[0]), min(box[3], shape[1])
    if y0 >= y1 or x0 >= x1:
        return None
    return (y0, x0, y1, x1)


def box_slices(box: Box) -> tuple[slice, slice]:
    return slice(box[0], box[2]), slice(box[1], box[3])


def window_box(changed: np.ndarray, corner: tuple[int, int]) -> Box:
    """The box of ``changed``'s true pixels (a window whose top-left pixel sits at
    ``corner`` of the full mask), in full-mask coordinates. ``changed`` must hold one."""
    ys, xs = np.nonzero(changed)
    y0, x0 = corner
    return (y0 + int(ys.min()), x0 + int(xs.min()), y0 + int(ys.max()) + 1, x0 + int(xs.max()) + 1)


@lru_cache(maxsize=512)
def disk_footprint(diameter: int) -> np.ndarray:
    """Boolean round brush of the given diameter in pixels (cached: built once per size)."""
    if diameter < 1:
        raise ValueError(f"brush diameter must be >= 1, got {diameter}")
    centre = (diameter - 1) / 2.0
    yy, xx = np.mgrid[0:diameter, 0:diameter]
    radius = diameter / 2.0
    disk = (yy - centre) ** 2 + (xx - centre) ** 2 <= radius**2
    disk.flags.writeable = False
    return disk


def _stamp_box(cy: int, cx: int, diameter: int) -> Box:
    top, left = cy - (diameter - 1) // 2, cx - (diameter - 1) // 2
    return (top, left, top + diameter, left + diameter)


def stamp_disk(mask: np.ndarray, cy: int, cx: int, diameter: int, value: int) -> Box | None:
    """Paint (value=1) or erase (value=0) one round dab centred on (cy, cx)."""
    return stroke_segment(mask, (cy, cx), (cy, cx), diameter, value)


def _line_points(p0: tuple[int, int], p1: tuple[int, int], spacing: float) -> np.ndarray:
    dy, dx = p1[0] - p0[0], p1[1] - p0[1]
    steps = max(1, int(np.ceil(max(abs(dy), abs(dx)) / spacing)))
    t = np.linspace(0.0, 1.0, steps + 1)
    ys = np.rint(p0[0] + t * dy).astype(np.int64)
    xs = np.rint(p0[1] + t * dx).astype(np.int64)
    return np.unique(np.stack([ys, xs], axis=1), axis=0)


def stroke_segment(
    mask: np.ndarray,
    p0: tuple[int, int],
    p1: tuple[int, int],
    diameter: int,
    value: int,
) -> Box | None:
    """Paint a round brush along the straight line p0 -> p1 (points are (y, x)).

    Mouse events arrive tens of pixels apart when the hand moves fast; stamping
    along the interpolated line keeps the stroke free of gaps. Dabs are spaced at
    most an eighth of the diameter (1 px for small brushes) so edges stay smooth.
    """
    diameter = int(np.clip(diameter, MIN_BRUSH, MAX_BRUSH))
    footprint = disk_footprint(diameter)
    points = _line_points(p0, p1, max(1.0, diameter / 8.0))
    half = (diameter - 1) // 2
    full = (
        int(points[:, 0].min()) - half,
        int(points[:, 1].min()) - half,
        int(points[:, 0].max()) - half + diameter,
        int(points[:, 1].max()) - half + diameter,
    )
    box = clip_box(full, mask.shape)
    if box is None:
        return None
    # Stamp into a local patch with margins, then apply once to the clipped area.
    patch = np.zeros((full[2] - full[0], full[3] - full[1]), dtype=bool)
    for y, x in points:
        top, left = int(y) - half - full[0], int(x) - half - full[1]
        patch[top : top + diameter, left : left + diameter] |= footprint
    inner = patch[box[0] - full[0] : box[2] - full[0], box[1] - full[1] : box[3] - full[1]]
    region = mask[box_slices(box)]
    region[inner] = 1 if value else 0
    return box


def flood_fill(mask: np.ndarray, y: int, x: int, value: int) -> Box | None:
    """Set the 4-connected region of equal pixels around (y, x) to ``value``.

    Clicking inside a hole with value=1 fills it; clicking on a stray blob with
    value=0 removes it. Returns None when the click is outside or changes nothing.
    """
    h, w = mask.shape
    if not (0 <= y < h and 0 <= x < w) or int(mask[y, x]) == int(bool(value)):
        return None
    work = mask.copy()
    _, _, _, rect = cv2.floodFill(work, None, (int(x), int(y)), 2, flags=4)
    rx, ry, rw, rh = rect
    box = (ry, rx, ry + rh, rx + rw)
    sl = box_slices(box)
    mask[sl][work[sl] == 2] = 1 if value else 0
    return box


def fill_holes(mask: np.ndarray) -> Box | None:
    """Fill every background region that does not touch the image border."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask != 0
    cv2.floodFill(padded, None, (0, 0), 2, flags=4)
    holes = padded[1:-1, 1:-1] == 0
    if not holes.any():
        return None
    ys = np.flatnonzero(holes.any(axis=1))
    xs = np.flatnonzero(holes.any(axis=0))
    box = (int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1)
    sl = box_slices(box)
    mask[sl][holes[sl]] = 1
    return box


def fill_polygon(mask: np.ndarray, points: Sequence[tuple[float, float]], value: int) -> Box | None:
    """Add (value=1) or remove (value=0) the area enclosed by a lasso polygon of (y, x) points."""
    if len(points) < 3:
        return None
    pts = np.rint(np.asarray(points, dtype=np.float64)).astype(np.int64)
    full = (
        int(pts[:, 0].min()),
        int(pts[:, 1].min()),
        int(pts[:, 0].max()) + 1,
        int(pts[:, 1].max()) + 1,
    )
    box = clip_box(full, mask.shape)
    if box is None:
        return None
    local = np.zeros((box[2] - box[0], box[3] - box[1]), dtype=np.uint8)
    xy = np.stack([pts[:, 1] - box[1], pts[:, 0] - box[0]], axis=1).astype(np.int32)
    cv2.fillPoly(local, [xy], 1, lineType=cv2.LINE_8)
    region = mask[box_slices(box)]
    region[local.astype(bool)] = 1 if value else 0
    return box


def replace_mask(mask: np.ndarray, new_mask: np.ndarray) -> Box | None:
    """Overwrite the whole mask (used to apply an auto-mask as one edit)."""
    if new_mask.shape != mask.shape:
        raise ValueError(f"mask shape {new_mask.shape} does not match image {mask.shape}")
    mask[...] = new_mask != 0
    return (0, 0, mask.shape[0], mask.shape[1])
