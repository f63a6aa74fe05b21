"""Model files on disk: the JSON beside each .keras file, and a folder of versions.

A store is one folder: every version is a sub-folder holding ``model.keras`` and
``model.json``; ``current.json`` names the version in use (a pointer, never a copy),
so switching back to an older model is one small atomic write. Adding a version and
moving the pointer hold ``.lock`` in the store folder, so two processes never collide.
A ``current.json`` that cannot be used is an error for the command line (``strict``),
never a silent switch to the shipped default. This module only moves files and JSON,
so the GUI can list models without importing Keras.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model.data.locks import FileLock, LockedError
from model.data.masks import atomic_write_bytes, fsync_dir, new_dir_mode
from model.data.user_dirs import user_data_dir

log = logging.getLogger(__name__)

MODEL_NAME = "model.keras"
META_NAME = "model.json"
CURRENT_NAME = "current.json"
LOCK_NAME = ".lock"
LOCK_TIMEOUT_S = 30.0  # adding a version or moving the pointer takes well under a second
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
        return meta_threshold(self.meta, meta_path_for(self.path))


def meta_threshold(meta: dict, json_path: Path) -> float:
    """The ``threshold`` of a model JSON: a number in (0, 1), else ModelStoreError naming
    the file; absent (or null) means the default 0.5."""
    value = meta.get("threshold")
    if value is None:
        return DEFAULT_THRESHOLD
    try:
        if isinstance(value, bool):
            raise ValueError
        threshold = float(value)
    except (TypeError, ValueError):
        raise ModelStoreError(
            f"{json_path}: threshold {value!r} is not a number (use e.g. 0.5)"
        ) from None
    if not 0.0 < threshold < 1.0:
        raise ModelStoreError(f"{json_path}: threshold {value!r} is not in (0, 1)")
    return threshold


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

    @property
    def pointer_path(self) -> Path:
        return self.root / CURRENT_NAME

    def _read_pointer(self) -> tuple[ModelInfo | None, str]:
        """(the version ``current.json`` points at, or None; why, in words)."""
        info, why, _ = self._pointer()
        if info is None and self.pointer_path.exists():
            log.warning("%s", why)
        return info, why

    def _pointer(self) -> tuple[ModelInfo | None, str, str | None]:
        """(pointed version or None, why, the problem when current.json is unusable)."""
        pointer = self.pointer_path
        if not pointer.exists():
            return None, f"no {CURRENT_NAME} in {self.root}", None
        try:
            data = json.loads(pointer.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "version" not in data:
                raise ValueError('expected {"version": "vNNN"}')
            return self.get(str(data["version"])), f"{pointer} points at it", None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # ModelStoreError (no such version) is a ValueError too
            problem = str(exc).replace(f"{self.root}: ", "")
            return None, f"{pointer} ignored: {problem}", problem

    def pointer_problem(self, advice: bool = True) -> str | None:
        """Why ``current.json`` cannot be used (garbled, truncated, names a version that
        is gone), as a sentence naming the file and (``advice``) the command-line fix;
        None when it is fine or absent (then the shipped default is current by design)."""
        return self._problem_sentence(self._pointer()[2], advice)

    def _problem_sentence(self, problem: str | None, advice: bool) -> str | None:
        if problem is None:
            return None
        if not advice:
            return f"{self.pointer_path} cannot be used ({problem})"
        return (
            f"{self.pointer_path} cannot be used ({problem}); choose a model with "
            "`carvana models --use VERSION` (see `carvana models`), or pass --model FILE "
            "(--model default for the shipped default)"
        )

    def pointed(self) -> ModelInfo | None:
        """The version ``current.json`` points at; None when unset or the version is gone."""
        return self._read_pointer()[0]

    def current(self) -> ModelInfo | None:
        """The one answer to "which model is current": the pointer, else the shipped default."""
        return self.current_and_why()[0]

    def current_and_why(self, strict: bool = False) -> tuple[ModelInfo | None, str]:
        """The current model and why it is the one, e.g. for the CLI's "model ..." line.

        ``strict`` (the command line): a ``current.json`` that exists but cannot be used
        raises ModelStoreError naming it and the fix, instead of falling back to the
        shipped default. Without it (the GUI, listings) the fallback is taken and ``why``
        says so.
        """
        info, why, problem = self._pointer()  # current.json read once
        if problem is not None:
            if strict:
                raise ModelStoreError(self._problem_sentence(problem, advice=True))
            log.warning("%s", why)
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
        with self.lock():
            atomic_write_bytes(self.root / CURRENT_NAME, json.dumps({"version": name}).encode())
        return info

    def lock(self, timeout: float | None = None) -> FileLock:
        """The store's short exclusive lock (``.lock`` in its folder): held while a version
        is added or the pointer moves. Waits up to ``timeout`` s, then ModelStoreError."""
        return _StoreLock(
            self.root / LOCK_NAME,
            what=f"the model store {self.root}",
            timeout=LOCK_TIMEOUT_S if timeout is None else timeout,
        )

    def _next_number(self) -> int:
        numbers = [0]
        if self.root.is_dir():
            for entry in self.root.iterdir():
                match = _VERSION.match(entry.name)
                if match:
                    numbers.append(int(match["number"]))
        return max(numbers) + 1

    def add(
        self,
        model_file: Path,
        meta: dict,
        label: str = "",
        extra_files: Mapping[str, Path] | None = None,
    ) -> ModelInfo:
        """Copy a model file and its description into a new version folder, with
        ``extra_files`` (name in the folder -> file to copy) beside them.

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
            os.chmod(staging, new_dir_mode())  # mkdtemp makes 0700: others could not read it
            files = {MODEL_NAME: model_file, **(extra_files or {})}
            for name, source in files.items():
                if Path(name).name != name or name == META_NAME:
                    raise ModelStoreError(f"{name!r}: not a file name a version may hold")
                shutil.copyfile(source, staging / name)
                with open(staging / name, "rb") as handle:
                    os.fsync(handle.fileno())
            write_model_meta(staging / MODEL_NAME, meta)
            suffix = f"-{_slug(label)}" if label and _slug(label) else ""
            with self.lock():  # numbering and rename: one process at a time
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


class _StoreLock(FileLock):
    """FileLock whose "busy" error is a ModelStoreError (one error route for the store)."""

    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return super().acquire()
        except LockedError as exc:
            raise ModelStoreError(str(exc)) from None


def user_models_dir() -> Path:
    """Where the user's trained and fine-tuned models live ($CARVANA_MODELS_DIR overrides)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return user_data_dir() / "models"


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


def model_info_for_file(path: Path) -> ModelInfo:
    """A model file as a version: the shipped default by its id, a version folder's
    ``model.keras`` by the folder's name, any other file by its name."""
    path = Path(path)
    shipped = shipped_model_info()
    if shipped is not None and shipped.path.resolve() == path.resolve():
        return shipped
    version = path.parent.name if path.name == MODEL_NAME else path.stem
    return ModelInfo(version=version, path=path, meta=read_model_meta(path))


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
