"""Model → Versions lists the shipped default like any version, and can switch back to it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QMenu

from carvana_gui.panels.versions_menu import ModelVersionsMenu
from model.store.versions import ModelStore, write_model_meta

SHIPPED_TEXT = "default-v005 — val Dice 0.9890 (shipped default)"


def _fake_model(path, content=b"PK-not-really"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    path = _fake_model(tmp_path / "pkg" / "weights" / "default.keras", b"shipped")
    write_model_meta(path, {"version": "default-v005", "val_dice": 0.989})
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: path)
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    return path


def test_the_shipped_default_is_listed_and_can_be_switched_to(tmp_path, qtbot, fake_shipped):
    store = ModelStore(tmp_path / "models")
    menu = QMenu()
    versions = ModelVersionsMenu(store, menu)
    actions = versions.menu.actions()
    assert [a.text() for a in actions] == [SHIPPED_TEXT]
    assert actions[0].isChecked()  # no pointer: the shipped default is current

    mine = store.add(_fake_model(tmp_path / "a.keras"), {})
    store.set_current(mine.version)
    versions.rebuild()
    actions = versions.menu.actions()
    assert [a.text() for a in actions] == [mine.version, SHIPPED_TEXT]  # newest first
    assert [a.isChecked() for a in actions] == [True, False]
    assert actions[1].toolTip() == str(fake_shipped)

    with qtbot.waitSignal(versions.current_changed) as switched:
        actions[1].trigger()  # roll back to the shipped model
    assert switched.args[0].version == "default-v005" == store.current().version
    assert switched.args[0].path == fake_shipped
    assert [a.isChecked() for a in versions.menu.actions()] == [False, True]


def test_an_empty_world_says_so(tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    menu = QMenu()
    versions = ModelVersionsMenu(ModelStore(tmp_path), menu)
    (only,) = versions.menu.actions()
    assert "no models yet" in only.text() and not only.isEnabled()


def test_the_active_model_is_named_by_its_version_id(tmp_path, fake_shipped, monkeypatch):
    """Auto-masks record the active model's name: the id, so a new default makes them stale."""
    from carvana_gui.jobs import automask

    monkeypatch.setattr(automask, "import_model_stack", lambda: None)
    active = automask._discover(None)
    assert (active.path, active.name) == (fake_shipped, "default-v005")
    store = ModelStore(tmp_path / "models")
    mine = store.add(_fake_model(tmp_path / "a.keras"), {})
    store.set_current(mine.version)
    assert automask._discover(None).name == mine.version
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    store.set_current(mine.version)
    (store.root / "current.json").unlink()
    assert automask._discover(None) is None
