"""Per-car active models of a project ("Learn this car"), and the masks they replaced.

``lifecycle.ActiveModels`` has one general model and optionally one per car; this module
is where the per-car part lives on disk, beside the project store:

- ``car_models.json``: ``{"cars": {CAR: {"version", "name", "base", "created"}}}``; the
  ``version`` is the model store's id (what auto-masks record, what staleness compares
  with), ``name`` what people read (``default-v005+car:1258cf954183``).
- ``car_models/CAR/``: the general model's auto-masks a per-car model replaced, with
  their version and uncertainty in ``replaced.json``, so forgetting the car's model puts
  them back without running any model.

Pure: no Keras, no Qt. Writes are atomic (one JSON file, one PNG per mask).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.data.masks import atomic_write_bytes, read_mask, write_mask
from model.edits import lifecycle
from model.edits.lifecycle import ActiveModels, MaskState

log = logging.getLogger(__name__)

FILE_NAME = "car_models.json"
BACKUP_DIR = "car_models"
REPLACED_NAME = "replaced.json"


class CarModelsError(ValueError):
    """An unreadable car_models.json; the message names the file."""


def car_of(image_id: str) -> str:
    """The car of a Kaggle image id (``CAR_NN``), as ``ActiveModels.for_image`` reads it."""
    return image_id.split("_", 1)[0]


def car_model_name(base_version: str | None, car: str) -> str:
    """What a person reads for a per-car model: ``v005+car:1258cf954183``."""
    return f"{base_version or 'new'}+car:{car}"


@dataclass(frozen=True)
class CarModel:
    car: str
    version: str  # model store id
    name: str  # display name
    base: str | None  # the general model it was adapted from


class CarModels:
    """The per-car models of one project folder (``root`` = the project store's root)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / FILE_NAME

    def _read(self) -> dict:
        if not self.path.is_file():
            return {"cars": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CarModelsError(f"{self.path}: not readable as JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("cars"), dict):
            raise CarModelsError(f'{self.path}: expected {{"cars": {{CAR: {{...}}}}}}')
        return data

    def all(self) -> dict[str, CarModel]:
        """Every car with a model of its own; an unreadable file is logged and ignored
        (the cars then use the general model, whose masks are never lost)."""
        try:
            cars = self._read()["cars"]
        except CarModelsError as exc:
            log.warning("%s", exc)
            return {}
        found = {}
        for car, entry in cars.items():
            if isinstance(entry, dict) and isinstance(entry.get("version"), str):
                version = entry["version"]
                found[car] = CarModel(
                    car, version, str(entry.get("name") or version), entry.get("base")
                )
        return found

    def get(self, car: str) -> CarModel | None:
        return self.all().get(car)

    def versions(self) -> dict[str, str]:
        """car -> model version id (``ActiveModels.by_car``)."""
        return {car: m.version for car, m in self.all().items()}

    def names(self) -> dict[str, str]:
        """model version id -> display name, for the image list's model column."""
        return {m.version: m.name for m in self.all().values()}

    def active(self, default: str | None) -> ActiveModels:
        return ActiveModels(default, self.versions())

    def set(self, car: str, version: str, name: str, base: str | None) -> CarModel:
        data = self._read()
        data["cars"][car] = {
            "version": version,
            "name": name,
            "base": base,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self._write(data)
        return CarModel(car, version, name, base)

    def remove(self, car: str) -> CarModel | None:
        data = self._read()
        entry = data["cars"].pop(car, None)
        self._write(data)
        return (
            CarModel(car, entry["version"], entry.get("name", ""), entry.get("base"))
            if entry
            else None
        )

    def _write(self, data: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, json.dumps(data, indent=2, sort_keys=True).encode())

    # -- the general model's masks a per-car model replaced --------------------------
    def backup_dir(self, car: str) -> Path:
        return self.root / BACKUP_DIR / car

    def keep_replaced(self, store, image_ids: list[str]) -> int:
        """Copy the general model's auto-masks of ``image_ids`` aside (once per car: a second
        "Learn this car" keeps the first backup, which holds the general model's masks)."""
        folder = self.backup_dir(car_of(image_ids[0])) if image_ids else None
        if folder is None:
            return 0
        replaced = self._replaced(folder)
        kept = 0
        for image_id in image_ids:
            record = store.record(image_id)
            if image_id in replaced or record.state is not MaskState.AUTO or not record.has_auto:
                continue
            if record.auto_version in self.names():
                continue  # made by a per-car model: not the general model's mask
            try:
                mask = read_mask(store.auto_mask_path(image_id))
            except Exception as exc:  # unreadable: nothing to restore later
                log.warning("%s: not kept aside (%s)", store.auto_mask_path(image_id), exc)
                continue
            write_mask(folder / f"{image_id}.png", mask)
            replaced[image_id] = {"version": record.auto_version, "uncertainty": record.uncertainty}
            kept += 1
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / REPLACED_NAME, json.dumps(replaced, indent=2).encode())
        return kept

    def _replaced(self, folder: Path) -> dict:
        try:
            data = json.loads((folder / REPLACED_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def replaced_mask(
        self, car: str, image_id: str
    ) -> tuple[np.ndarray, str | None, float | None] | None:
        """(mask, version, uncertainty) the car's model replaced on ``image_id``, or None."""
        folder = self.backup_dir(car)
        entry = self._replaced(folder).get(image_id)
        if not isinstance(entry, dict):
            return None
        try:
            mask = read_mask(folder / f"{image_id}.png")
        except Exception as exc:
            log.warning("%s: cannot restore (%s)", folder / f"{image_id}.png", exc)
            return None
        return mask, entry.get("version"), entry.get("uncertainty")

    def drop_backup(self, car: str) -> None:
        shutil.rmtree(self.backup_dir(car), ignore_errors=True)


def forget_car(
    store,
    car: str,
    image_ids: list[str],
    leave: set[str] | frozenset[str] = frozenset(),
) -> tuple[CarModel | None, list[str], list[str]]:
    """Forget ``car``'s own model: the car uses the general model again, and every mask the
    car's model made that nobody has touched since gets the general model's mask back.

    ``leave``: images the caller restores itself (the one open in the editor, as an
    undoable step). Returns (the forgotten model or None, the image ids restored, the
    ids whose car-model mask stays: nothing was kept to go back to, so they show as stale).
    """
    models = CarModels(store.root)
    model = models.get(car)
    if model is None:
        return None, [], []
    restored, stays = [], []
    for image_id in image_ids:
        if car_of(image_id) != car or image_id in leave:
            continue
        record = store.record(image_id)
        if not (record.state is MaskState.AUTO and record.auto_version == model.version):
            continue  # edited or reviewed since, or not the car model's mask: keep it
        old = models.replaced_mask(car, image_id)
        if old is None:
            stays.append(image_id)  # no general mask to restore: it stays, shown as stale
            continue
        mask, version, uncertainty = old
        if store.save_auto_mask(image_id, mask, version, by_person=False, uncertainty=uncertainty):
            restored.append(image_id)
        else:
            stays.append(image_id)
    models.remove(car)
    if not leave:
        models.drop_backup(car)
    return model, restored, stays


def may_remask(record: lifecycle.MaskRecord) -> bool:
    """Learn this car re-masks the car's images nobody has edited (none or auto)."""
    return lifecycle.batch_may_replace(record, "", lifecycle.BatchSelection.ALL, None)
