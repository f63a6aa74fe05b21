"""User preferences (a small JSON file) and window state (QSettings).

Preferences a person may want to copy or edit by hand (brush size, overlay colour,
shortcuts) live in ``config.json`` in the user config dir; window geometry and recent
folders (and the last image per folder, the list's sort order) are Qt's business and go
to an INI-format QSettings beside it. Setting
``CARVANA_GUI_CONFIG_DIR`` moves both, which is how tests isolate them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from model.data.masks import atomic_write_bytes

log = logging.getLogger(__name__)

CONFIG_ENV = "CARVANA_GUI_CONFIG_DIR"
MAX_RECENT = 10


def config_dir() -> Path:
    """$CARVANA_GUI_CONFIG_DIR, else $XDG_CONFIG_HOME/carvana-gui, else ~/.config/carvana-gui."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "carvana-gui"


@dataclass
class Preferences:
    """Editable user preferences; unknown keys in the file are ignored."""

    brush_size: int = 40
    overlay_color: str = "#1e90ff"
    overlay_opacity: float = 0.45
    outline_only: bool = False
    uncertain_low: float = 0.2
    uncertain_high: float = 0.8
    # Flip TTA on auto-mask: +0.0006 mean Dice for the default model, ~60 ms more per image.
    automask_tta: bool = True
    # action name -> key sequence, overriding the defaults (e.g. {"next_image": "PgDown"})
    shortcuts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Preferences:
        """Read the file; a broken file is reported in the log and defaults are used."""
        path = path or config_dir() / "config.json"
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(cls)}
            prefs = cls(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("%s: ignoring unreadable preferences file (%s)", path, exc)
            return cls()
        prefs.brush_size = int(min(max(prefs.brush_size, 1), 300))
        prefs.overlay_opacity = float(min(max(prefs.overlay_opacity, 0.0), 1.0))
        return prefs

    def save(self, path: Path | None = None) -> None:
        path = path or config_dir() / "config.json"
        atomic_write_bytes(path, json.dumps(asdict(self), indent=2).encode("utf-8"))


def _folder_key(folder: str | Path) -> str:
    """A QSettings key for a folder (paths hold '/', which QSettings reads as groups); the
    same folder by any spelling (relative, through a symlink) gives the same key."""
    resolved = str(Path(folder).resolve())
    return hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:16]


class WindowState:
    """Geometry, dock layout, recent folders, the last image per folder and the list's
    sort order, kept across sessions. Everything but geometry is written when it changes,
    so a crash loses none of it.
    """

    def __init__(self, path: Path | None = None) -> None:
        path = path or config_dir() / "window.ini"
        self.settings = QSettings(str(path), QSettings.Format.IniFormat)

    def recent_folders(self) -> list[str]:
        value = self.settings.value("recent_folders", [])
        if isinstance(value, str):  # QSettings returns a bare string for one item
            value = [value]
        return [str(v) for v in value or []]

    def add_recent_folder(self, folder: str) -> None:
        recent = [folder] + [f for f in self.recent_folders() if f != folder]
        self.settings.setValue("recent_folders", recent[:MAX_RECENT])
        self.settings.setValue("last_folder", folder)
        self.settings.sync()

    def last_export_dir(self) -> str | None:
        """Where the person last exported to (the export dialog proposes it again)."""
        value = self.settings.value("last_export_dir")
        return str(value) if value else None

    def set_last_export_dir(self, folder: str) -> None:
        self.settings.setValue("last_export_dir", folder)
        self.settings.sync()

    def last_folder(self) -> str | None:
        value = self.settings.value("last_folder")
        return str(value) if value else None

    def last_image(self, folder: str | Path) -> str | None:
        """The image last shown in ``folder``, to reopen there."""
        value = self.settings.value(f"last_image/{_folder_key(folder)}")
        return str(value) if value else None

    def set_last_image(self, folder: str | Path, image_id: str) -> None:
        key = f"last_image/{_folder_key(folder)}"
        if self.settings.value(key) != image_id:
            self.settings.setValue(key, image_id)
            self.settings.sync()

    def sort_order(self) -> tuple[int, bool] | None:
        """(column, descending) of the image list, or None before it was ever chosen."""
        column, descending = self.settings.value("sort_column"), self.settings.value("sort_desc")
        try:
            return int(column), str(descending).lower() in ("true", "1")
        except (TypeError, ValueError):
            return None

    def set_sort_order(self, column: int, descending: bool) -> None:
        self.settings.setValue("sort_column", int(column))
        self.settings.setValue("sort_desc", bool(descending))
        self.settings.sync()

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.settings.setValue("geometry", geometry)
        self.settings.setValue("window_state", state)
        self.settings.sync()

    def geometry(self) -> QByteArray | None:
        value = self.settings.value("geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.settings.value("window_state")
        return value if isinstance(value, QByteArray) else None
