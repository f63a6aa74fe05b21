"""Reading project state that may be old, hand-edited or damaged, without losing a mask.

Rows come from the SQLite database, from an older ``project.json`` (migrated once) or,
when neither can be read, from the mask files themselves. A wrong-typed value is dropped
and noted in ``problems`` (the window shows them, naming the file), never raised; a row is
always made to agree with the files that exist, and a person's mask file is never ignored.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

from model.edits import lifecycle
from model.edits.lifecycle import MaskRecord, MaskState


def _ids_in(folder: Path, suffix: str) -> set[str]:
    try:
        with os.scandir(folder) as entries:
            return {e.name[: -len(suffix)] for e in entries if e.name.endswith(suffix)}
    except FileNotFoundError:
        return set()


# -- tolerant reading of stored values ------------------------------------------
def _as_float(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _as_int(value: object) -> int | None:
    number = _as_float(value)
    return None if number is None else int(number)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    return value


def _as_state(value: object) -> MaskState:
    legacy = {"no-mask": MaskState.NONE}
    if isinstance(value, str) and value in legacy:
        return legacy[value]
    try:
        return MaskState(value)
    except ValueError:
        raise ValueError(f"unknown state {value!r}") from None


_CONVERTERS = {
    "state": _as_state,
    "auto_version": _as_text,
    "has_auto": lambda v: bool(_as_int(v) or 0),
    "has_edit": lambda v: bool(_as_int(v) or 0),
    "uncertainty": _as_float,
    "pixels_changed": _as_int,
    "seconds": lambda v: _as_float(v) or 0.0,
    "dice": _as_float,
    "user": _as_text,
    "updated": _as_text,
    "revision": lambda v: _as_int(v) or 0,
}


def record_from_values(values: dict[str, object], problems: list[str], where: str) -> MaskRecord:
    """A MaskRecord from stored values; a wrong-typed value is dropped and noted, not raised."""
    clean: dict[str, object] = {}
    for name, convert in _CONVERTERS.items():
        if name not in values:
            continue
        try:
            clean[name] = convert(values[name])
        except ValueError as exc:
            problems.append(f"{where}: {name} {exc}; ignored")
    return MaskRecord(**clean)


def read_legacy_json(path: Path, problems: list[str]) -> dict[str, MaskRecord]:
    """The rows of an older ``project.json``; an unreadable file gives none (noted)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = data["images"]
        if not isinstance(images, dict):
            raise TypeError("'images' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(
            f"{path}: unreadable ({exc}); kept as it is, states rebuilt from the mask files"
        )
        return {}
    rows = {}
    for image_id, entry in images.items():
        if not isinstance(entry, dict):
            problems.append(f"{path}: {image_id}: not an object; ignored")
            continue
        values = dict(entry)
        values["state"] = values.pop("status", "none")
        values["auto_version"] = values.pop("model_version", None)
        rows[str(image_id)] = record_from_values(values, problems, f"{path}: {image_id}")
    return rows


def consistent_with_files(
    image_id: str, record: MaskRecord, has_edit: bool, has_auto: bool, problems: list[str]
) -> MaskRecord:
    """Align a row with the files that exist; a file is never dropped for a row."""
    record = replace(record, has_edit=has_edit, has_auto=has_auto)
    if record.state in lifecycle.HAND_MADE and not (has_edit or has_auto):
        problems.append(f"{image_id}: was {record.state} but has no mask file; now none")
        return replace(record, state=MaskState.NONE)
    if record.state is MaskState.AUTO and not has_auto and not has_edit:
        return replace(record, state=MaskState.NONE)
    if has_edit and record.state not in lifecycle.HAND_MADE:
        return replace(record, state=MaskState.EDITED)  # a person's file: never ignore it
    if record.state is MaskState.NONE and has_auto:
        return replace(record, state=MaskState.AUTO)
    return record


def rows_from_disk(root: Path, legacy: Path, problems: list[str]) -> dict[str, MaskRecord]:
    """Rows for a new database: ``legacy`` (project.json) if present, made to agree with the
    mask files in ``root/masks`` and ``root/auto`` (one directory listing each)."""
    edited = _ids_in(root / "masks", "_mask.png")
    autos = _ids_in(root / "auto", "_auto.png")
    rows = read_legacy_json(legacy, problems) if legacy.is_file() else {}
    return {
        image_id: consistent_with_files(
            image_id,
            rows.get(image_id, MaskRecord()),
            image_id in edited,
            image_id in autos,
            problems,
        )
        for image_id in edited | autos | set(rows)
    }
