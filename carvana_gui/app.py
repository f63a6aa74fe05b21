"""`carvana-gui [FOLDER]`: start the desktop app.

The window is shown before anything slow happens: TensorFlow/Keras are imported later
by the model worker thread, never at import time of any carvana_gui module.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from carvana_gui.actions import ICON_DIR
from carvana_gui.log_file import install_log_file
from carvana_gui.platform_check import platform_problem
from model.framework_logs import show_framework_logs

STYLE = ICON_DIR.parent / "style.qss"


def configure_pyqtgraph() -> None:
    """Row-major arrays everywhere (numpy (H, W) masks are not transposed)."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def create_app(argv: Sequence[str] = ()) -> QApplication:
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("carvana-gui")
    app.setOrganizationName("carvana-gui")
    app.setWindowIcon(QIcon(str(ICON_DIR / "app.svg")))
    if STYLE.is_file():
        app.setStyleSheet(STYLE.read_text(encoding="utf-8"))
    configure_pyqtgraph()
    return app


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="carvana-gui", description="Carvana mask editor")
    parser.add_argument(
        "folder", nargs="?", type=Path, help="image folder to open (default: last one)"
    )
    parser.add_argument(
        "--project-dir", type=Path, help="where edited masks go (default: <folder>_edits)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress and TensorFlow's messages"
    )
    parser.add_argument("--debug", action="store_true", help="log everything, debug detail too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.verbose or args.debug:
        show_framework_logs()  # before the model worker imports Keras
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_file()
    problem = platform_problem()
    if problem is not None:
        sys.stderr.write(problem + "\n")
        return 1
    app = create_app()
    from carvana_gui.main_window import MainWindow

    window = MainWindow(project_dir=args.project_dir)
    window.show()
    QTimer.singleShot(0, lambda: window.start(args.folder))
    code = app.exec()
    # Delete the C++ window while Qt is still alive: leaving it to interpreter teardown
    # (random order) crashes PySide6 at exit.
    shiboken6.delete(window)
    return code


if __name__ == "__main__":
    sys.exit(main())
