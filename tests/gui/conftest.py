"""GUI test fixtures: isolated config/model dirs, a tiny image folder, an open window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QtMsgType

from tiny_carvana import make_image_folder

# Offscreen-platform noise that says nothing about our code.
IGNORED_QT_MESSAGES = ("propagateSizeHints",)


@pytest.fixture(autouse=True)
def fail_on_qt_warnings(qtlog):
    """Any qWarning/qCritical during a GUI test fails it."""
    yield
    bad = [
        r.message
        for r in qtlog.records
        if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
        and not any(s in r.message for s in IGNORED_QT_MESSAGES)
    ]
    assert not bad, f"Qt warnings: {bad}"


@pytest.fixture
def isolated_config(tmp_path, monkeypatch):
    """Preferences, QSettings and the model store all under tmp_path.

    The model shipped with the package is hidden too: tests bring their own tiny models.
    """
    monkeypatch.setenv("CARVANA_GUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    return tmp_path / "config"


@pytest.fixture
def image_folder(tmp_path):
    train, _masks = make_image_folder(tmp_path / "data", cars=3, angles=2)
    return train


def open_window(qtbot, folder, project_dir, discover=False):
    """A shown MainWindow with ``folder`` opened and its first image on the canvas."""
    from carvana_gui.app import create_app
    from carvana_gui.main_window import MainWindow

    create_app()
    window = MainWindow(project_dir=project_dir)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    if discover:
        window.automask.discover()
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.session.current is not None, timeout=10_000)
    window.canvas.fit()
    return window


@pytest.fixture
def window(qtbot, isolated_config, image_folder, tmp_path):
    win = open_window(qtbot, image_folder, tmp_path / "edits")
    yield win
    win.close()
