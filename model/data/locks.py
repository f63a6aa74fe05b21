"""Exclusive lock files, so two processes never write the same output at once.

``FileLock(path)`` holds ``path`` (e.g. ``s.csv.lock``) with ``fcntl.flock``: the kernel
drops the lock when its process dies, so a crash never leaves a lock that blocks the
next run. The file records who holds it (pid, host, since when) for the error message,
and is removed on release. Where ``fcntl`` is missing (Windows) the file is created with
``O_EXCL`` instead, and a lock whose pid is no longer running on this host is stale and
taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_POLL_S = 0.05


class LockedError(RuntimeError):
    """Another process holds the lock; the message names the file and the holder."""


def _holder_text(info: dict | None) -> str:
    if not info:
        return "another process"
    pid, host = info.get("pid"), info.get("host")
    since = info.get("since")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    when = f", since {since}" if since else ""
    return f"process {pid}{where}{when}"


def read_holder(path: Path) -> dict | None:
    """What a lock file says about its holder, or None when it is empty or unreadable."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


class FileLock:
    """An exclusive lock on ``path``; ``what`` names the thing it protects in messages.

    ``timeout`` 0 fails at once when the lock is held; otherwise waits up to that many
    seconds. Use as a context manager, or ``acquire()`` / ``release()``.
    """

    def __init__(self, path: str | os.PathLike[str], what: str = "", timeout: float = 0.0):
        self.path = Path(path)
        self.what = what or str(self.path)
        self.timeout = timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FileLock:
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + max(0.0, self.timeout)
        while True:
            fd = self._try_once()
            if fd is not None:
                self._fd = fd
                self._write_holder(fd)
                return self
            if time.monotonic() >= deadline:
                holder = _holder_text(read_holder(self.path))
                raise LockedError(
                    f"{self.what} is in use by {holder} (lock file {self.path}); wait for it "
                    "to finish, or stop it, and try again"
                )
            time.sleep(_POLL_S)

    def _try_once(self) -> int | None:
        if fcntl is None:  # pragma: no cover - Windows
            return self._try_exclusive_create()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        try:  # the holder before us may have removed the file after we opened it
            same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self._try_once()
        return fd

    def _try_exclusive_create(self) -> int | None:  # pragma: no cover - Windows
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            info = read_holder(self.path)
            if (
                info
                and info.get("host") == socket.gethostname()
                and not _pid_alive(info.get("pid"))
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # stale: its process is gone
                return self._try_exclusive_create()
            return None

    @staticmethod
    def _write_holder(fd: int) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # still held, so nobody else has it yet
        os.close(fd)  # drops the flock

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()
