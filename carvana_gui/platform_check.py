"""Before Qt starts: can it open a window here? Say what to install when it cannot.

On a fresh Debian/Ubuntu desktop, Qt's "xcb" platform plugin needs a few X libraries that
the distribution does not install by default; without them Qt aborts with a generic
"Could not load the Qt platform plugin" and a core dump. We look for them first (the same
way the dynamic loader would find them) and print the one command that fixes it.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping

# library name for find_library -> the Debian/Ubuntu package that provides it
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
}


def platform_problem(
    environ: Mapping[str, str] | None = None,
    find: Callable[[str], str | None] = ctypes.util.find_library,
    platform: str = sys.platform,
) -> str | None:
    """A message saying why the window cannot open and how to fix it, or None."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: Qt's own choice
    if not chosen and not env.get("DISPLAY"):
        if env.get("WAYLAND_DISPLAY"):
            return None
        return (
            "carvana-gui: no display to open a window on (DISPLAY is not set).\n"
            "Start it from a desktop session, or over SSH with X forwarding (ssh -X)."
        )
    missing = [package for library, package in XCB_LIBRARIES.items() if find(library) is None]
    if not missing:
        return None
    return (
        "carvana-gui: Qt's window system plugin (xcb) needs libraries this system lacks: "
        f"{', '.join(missing)}.\nInstall them with:\n  sudo apt install {' '.join(missing)}"
    )
