"""The user's own folders for carvana-gui (XDG base directories), named in one place."""

from __future__ import annotations

import os
from pathlib import Path

APP_DIR = "carvana-gui"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/carvana-gui`` (default ``~/.local/share/carvana-gui``): models,
    edits that could not be kept beside their images."""
    home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(home) / APP_DIR


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/carvana-gui`` (default ``~/.local/state/carvana-gui``): the log."""
    home = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(home) / APP_DIR


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/carvana-gui`` (default ``~/.cache/carvana-gui``): things that
    can be made again, such as converted inference models."""
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / APP_DIR
