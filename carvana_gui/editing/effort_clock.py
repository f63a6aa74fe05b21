"""Seconds a person actually spends on an image, for the correction-effort figures.

Time counts while an image is shown and being worked on; a pause longer than
``idle_cap`` between two interactions counts only as ``idle_cap`` (a coffee break
must not look like a hard image).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class EffortClock:
    def __init__(self, idle_cap: float = 30.0, now: Callable[[], float] = time.monotonic) -> None:
        self.idle_cap = idle_cap
        self._now = now
        self._last: float | None = None
        self._seconds = 0.0

    def start(self) -> None:
        """A new image is shown: restart counting from zero."""
        self._last, self._seconds = self._now(), 0.0

    def touch(self) -> None:
        """The person did something (stroke, key, navigation)."""
        if self._last is None:
            return
        now = self._now()
        self._seconds += min(now - self._last, self.idle_cap)
        self._last = now

    def take(self) -> float:
        """Seconds counted since the last take/start (the clock keeps running)."""
        self.touch()
        seconds, self._seconds = self._seconds, 0.0
        return seconds
