"""Errors and warnings also go to a rotating log file a user can send with a bug report.

The file lives in the user's state folder (``$XDG_STATE_HOME/carvana-gui``, by default
``~/.local/state/carvana-gui``); Help → About shows its path.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from model.data.user_dirs import user_state_dir

LOG_NAME = "carvana-gui.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


def log_path() -> Path:
    return user_state_dir() / LOG_NAME


def install_log_file(level: int = logging.WARNING) -> Path | None:
    """Add the rotating file handler to the root logger; None when the folder is unwritable."""
    path = log_path()
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file at %s: %s", path, exc)
        return None
    handler.setLevel(level)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return path
