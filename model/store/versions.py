"""Model files on disk: the JSON beside each .keras file, and a folder of versions.

A store is one folder: every version is a sub-folder holding ``model.keras`` and
``model.json``; ``current.json`` names the version in use (a pointer, never a copy),
so switching back to an older model is one small atomic write. This module only
moves files and JSON, so the GUI can list models without importing Keras.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from model.data.masks import atomic_write_bytes, fsync_dir

log = logging.getLogger(__name__)

MODEL_NAME = "model.keras"
META_NAME = "model.json"
CURRENT_NAME = "current.json"
MODELS_DIR_ENV = "CARVANA_MODELS_DIR"
DEFAULT_THRESHOLD = 0.5
SHIPPED_ALIAS = "default"  # `carvana models --use default`; shipped ids are "default-vNNN"
_VERSION = re.compile(r"^v(?P<number>\d+)(?:-[A-Za-z0-9_.x-]+)?$")


class ModelStoreError(ValueError):
    """A store folder or model JSON that cannot be used; the message names the file."""


@dataclass
class ModelInfo:
    """One stored model: its version name, the .keras file, and the JSON beside it."""

    version: str
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return float(self.meta.get("threshold", DEFAULT_THRESHOLD))


def meta_path_for(model_path: Path) -> Path:
    """The JSON that describes a model file: same folder, same stem, ``.json``."""
    return Path(model_path).with_suffix(".json")


def read_model_meta(model_path: Path) -> dict:
    """The JSON beside a model file, or {} when there is none (e.g. a bare checkpoint)."""
    path = meta_path_for(model_path)
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelStoreError(f"{path}: not a readable model description ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelStoreError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def write_model_meta(model_path: Path, meta: dict) -> Path:
    """Write the JSON beside a model file atomically."""
    path = meta_path_for(model_path)
    atomic_write_bytes(path, json.dumps(meta, indent=2, sort_keys=True, default=str).encode())
    return path


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.x-]+", "_", label).strip("_")[:40]


class ModelStore:
    """A folder of model versions with a ``current`` pointer."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def _info(self, folder: Path) -> ModelInfo | None:
        model = folder / MODEL_NAME
        if not model.is_file():
            return None
        try:
            meta = read_model_meta(model)
        except ModelStoreError as exc:
            log.warning("%s", exc)
            meta = {}
        return ModelInfo(version=folder.name, path=model, meta=meta)

    def versions(self) -> list[ModelInfo]:
        """Every stored version, oldest first (by version number)."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            match = _VERSION.match(entry.name)
            if match and entry.is_dir():
                info = self._info(entry)
                if info is not None:
                    found.append((int(match["number"]), info))
        return [info for _, info in sorted(found, key=lambda item: item[0])]

    def choices(self) -> list[ModelInfo]:
        """What a person can choose from: the shipped default (when installed), then every
        stored version, oldest first (Model → Versions, ``carvana models``)."""
        shipped = shipped_model_info()
        return ([shipped] if shipped is not None else []) + self.versions()

    def get(self, version: str) -> ModelInfo:
        shipped = shipped_model_info()
        if shipped is not None and version in (shipped.version, SHIPPED_ALIAS):
            return shipped
        info = self._info(self.root / version) if _VERSION.match(version) else None
        if info is None:
            raise ModelStoreError(f"{self.root}: no model version {version!r}")
        return info

    def _read_pointer(self) -> tuple[ModelInfo | None, str]:
        """(the version ``current.json`` points at, or None; why, in words)."""
        pointer = self.root / CURRENT_NAME
        if not pointer.is_file():
            return None, f"no {CURRENT_NAME} in {self.root}"
        try:
            version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
            return self.get(str(version)), f"{pointer} points at it"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            why = f"{pointer} ignored: {exc}"
            log.warning("%s", why)
            return None, why

    def pointed(self) -> ModelInfo | None:
        """The version ``current.json`` points at; None when unset or the version is gone."""
        return self._read_pointer()[0]

    def current(self) -> ModelInfo | None:
        """The one answer to "which model is current": the pointer, else the shipped default."""
        return self.current_and_why()[0]

    def current_and_why(self) -> tuple[ModelInfo | None, str]:
        """The current model and why it is the one, e.g. for the CLI's "model ..." line."""
        info, why = self._read_pointer()
        if info is not None:
            return info, why
        shipped = shipped_model_info()
        if shipped is None:
            return None, f"{why}; no shipped default installed"
        return shipped, f"{why}; the shipped default"

    def set_current(self, version: str) -> ModelInfo:
        """Point ``current.json`` at ``version`` (a stored version, or the shipped default).

        Choosing the shipped default stores the alias ``default``: it keeps meaning "the
        default installed with the package" when a newer one is shipped.
        """
        info = self.get(version)  # raises when it does not exist
        name = SHIPPED_ALIAS if is_shipped(info) else info.version
        atomic_write_bytes(self.root / CURRENT_NAME, json.dumps({"version": name}).encode())
        return info

    def _next_number(self) -> int:
        numbers = [0]
        if self.root.is_dir():
            for entry in self.root.iterdir():
                match = _VERSION.match(entry.name)
                if match:
                    numbers.append(int(match["number"]))
        return max(numbers) + 1

    def add(self, model_file: Path, meta: dict, label: str = "") -> ModelInfo:
        """Copy a model file and its description into a new version folder.

        The folder is filled under a temporary name and renamed into place, so a crash
        never leaves a version without its JSON.
        """
        model_file = Path(model_file)
        if not model_file.is_file():
            raise ModelStoreError(f"{model_file}: model file not found")
        self.root.mkdir(parents=True, exist_ok=True)
        meta = dict(meta)
        meta.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        meta.setdefault("threshold", DEFAULT_THRESHOLD)
        staging = Path(tempfile.mkdtemp(prefix=".adding-", dir=self.root))
        try:
            shutil.copyfile(model_file, staging / MODEL_NAME)
            with open(staging / MODEL_NAME, "rb") as handle:
                os.fsync(handle.fileno())
            write_model_meta(staging / MODEL_NAME, meta)
            suffix = f"-{_slug(label)}" if label and _slug(label) else ""
            while True:
                folder = self.root / f"v{self._next_number():03d}{suffix}"
                try:
                    os.rename(staging, folder)  # fails if a concurrent add took the name
                    break
                except OSError:
                    if not folder.exists():
                        raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.root)
        log.info("added model version %s to %s", folder.name, self.root)
        return ModelInfo(version=folder.name, path=folder / MODEL_NAME, meta=meta)


def user_models_dir() -> Path:
    """Where the user's trained and fine-tuned models live ($CARVANA_MODELS_DIR overrides)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "carvana-gui" / "models"


def shipped_model_path() -> Path | None:
    """The default model installed with the package (model/weights/default.keras), if present."""
    path = Path(__file__).resolve().parents[1] / "weights" / "default.keras"
    return path if path.is_file() else None


def shipped_model_info() -> ModelInfo | None:
    """The shipped default as a version like the others.

    Its id names what was shipped (``default-v005``, from its JSON's ``version``), so
    shipping a new default makes the older default's auto-masks stale.
    """
    path = shipped_model_path()
    if path is None:
        return None
    try:
        meta = read_model_meta(path)
    except ModelStoreError as exc:
        log.warning("%s", exc)
        meta = {}
    version = meta.get("version")
    if not isinstance(version, str) or not version.startswith(SHIPPED_ALIAS):
        version = SHIPPED_ALIAS
    return ModelInfo(version=version, path=path, meta=meta)


def is_shipped(info: ModelInfo) -> bool:
    """Is this the default installed with the package (stored ids all start with 'v')?"""
    return info.version.startswith(SHIPPED_ALIAS)


def shipped_label(info: ModelInfo) -> str:
    """'default-v005 — val Dice 0.9890 (shipped default)': the shipped model in a list."""
    dice = info.meta.get("val_dice")
    score = f" — val Dice {dice:.4f}" if isinstance(dice, int | float) else ""
    return f"{info.version}{score} (shipped default)"


def current_model() -> ModelInfo | None:
    """The user's current model: the user store's pointer, else the shipped default."""
    return ModelStore(user_models_dir()).current()


def resolve_default_model() -> Path | None:
    """The file of the user's current model (see current_model), else None."""
    current = current_model()
    return current.path if current is not None else None
