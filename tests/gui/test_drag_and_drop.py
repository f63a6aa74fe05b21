"""Dropping folders, image files and model files on the window (real Qt drag/drop events)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import open_window
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tiny_carvana import make_image_folder, save_tiny_model


def _drop(window, path: Path) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = window.rect().center()
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier(0),
    )
    QApplication.sendEvent(window, drop)
    return drop


def test_dropping_an_image_of_another_folder_opens_it_at_that_image(
    qtbot, isolated_config, image_folder, tmp_path
):
    window = open_window(qtbot, image_folder, tmp_path / "edits")
    other, _ = make_image_folder(tmp_path / "other", cars=2, angles=3)
    target = sorted(other.glob("*.jpg"))[4]
    _drop(window, target)
    qtbot.waitUntil(
        lambda: window.session.current is not None and window.session.current.record.path == target,
        timeout=10_000,
    )
    assert window.image_list.current_row() >= 0
    assert window.table_model.record_at(window.image_list.current_row()).path == target
    window.close()


def test_dropping_an_image_of_the_open_folder_jumps_to_it_and_a_folder_opens(
    qtbot, isolated_config, image_folder, tmp_path
):
    window = open_window(qtbot, image_folder, tmp_path / "edits")
    target = sorted(image_folder.glob("*.jpg"))[-1]
    _drop(window, target)
    assert window.session.current.record.path == target  # at once: no rescan for the open folder
    other, _ = make_image_folder(tmp_path / "other", cars=1, angles=2)
    _drop(window, other)
    qtbot.waitUntil(lambda: window.session.current.record.path.parent == other, timeout=10_000)
    window.close()


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_dropping_a_keras_file_imports_it_as_the_current_model(
    qtbot, isolated_config, image_folder, tmp_path
):
    from model.store.versions import ModelStore, user_models_dir

    window = open_window(qtbot, image_folder, tmp_path / "edits", discover=True)
    qtbot.waitUntil(lambda: window.automask.discovered, timeout=60_000)
    model = save_tiny_model(tmp_path / "dropped" / "mine.keras")
    _drop(window, model)
    qtbot.waitUntil(lambda: window.automask.model is not None, timeout=60_000)
    current = ModelStore(user_models_dir()).current()
    assert current is not None and current.meta["imported_from"] == str(model)
    window.close()
