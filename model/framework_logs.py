"""Import Keras/TensorFlow without their start-up chatter on the console.

TensorFlow prints a dozen lines at import (the oneDNN notice, "Could not find cuda
drivers", the CPU-instructions note, absl's "All log messages before InitializeLog"), twice,
and later "failed call to cuInit" and, after a cancelled run, "Python interpreter state is
not initialized". None of it is actionable for a user. By default the C++ log level is
raised to errors-only and the import runs with file descriptor 2 captured; whatever was
printed that is not one of those known lines is written back to stderr, so nothing else
is lost. ``--verbose``/``--debug`` (``CARVANA_VERBOSE=1``) shows everything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

VERBOSE_ENV = "CARVANA_VERBOSE"
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:\d\d"
    r"|To enable the following instructions:|.*rebuild TensorFlow with the appropriate)"
)
_imported = False


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def show_framework_logs() -> None:
    """``--verbose``/``--debug``: let TensorFlow print everything (before it is imported)."""
    os.environ[VERBOSE_ENV] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """Route fd 2 to a temporary file; afterwards replay what was not known chatter."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines() if line and not _CHATTER.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def import_frameworks() -> None:
    """Import Keras (and its TensorFlow backend) once, quietly unless asked otherwise."""
    global _imported
    if _imported:
        return
    if verbose():
        import keras
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _stderr_captured():
            import keras  # noqa: F401
        for name in ("tensorflow", "absl", "h5py"):
            logging.getLogger(name).setLevel(logging.ERROR)
    _imported = True
