"""Model store: versions, the current pointer, JSON beside the model, the shipped default."""

from __future__ import annotations

import json

import pytest

from model.store import versions
from model.store.versions import (
    ModelStore,
    ModelStoreError,
    current_model,
    read_model_meta,
    resolve_default_model,
    shipped_model_info,
    shipped_model_path,
    user_models_dir,
    write_model_meta,
)


def _fake_model(path, content=b"PK-not-really"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def no_shipped(monkeypatch):
    """An empty world: no default model installed with the package."""
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    """A shipped default of our own (model/weights/default.keras and its JSON)."""
    path = _fake_model(tmp_path / "pkg" / "weights" / "default.keras", b"shipped")
    write_model_meta(path, {"version": "default-v005", "val_dice": 0.989, "threshold": 0.45})
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: path)
    return path


def test_add_copies_with_meta_and_numbers_versions(tmp_path, no_shipped):
    store = ModelStore(tmp_path / "models")
    assert store.versions() == [] and store.current() is None
    src = _fake_model(tmp_path / "best.keras", b"one")
    first = store.add(src, {"preset": "512x768", "val_dice": 0.99}, label="512x768-w0.5-s0")
    second = store.add(_fake_model(tmp_path / "b2.keras", b"two"), {"parent": first.version})
    assert first.version == "v001-512x768-w0.5-s0" and second.version == "v002"
    assert [v.version for v in store.versions()] == [first.version, second.version]
    assert first.path.read_bytes() == b"one" and src.exists()  # a copy, source untouched
    meta = read_model_meta(first.path)
    assert meta["preset"] == "512x768" and meta["threshold"] == 0.5 and "created" in meta
    assert store.versions()[1].meta["parent"] == first.version


def test_a_version_may_hold_files_beside_its_model(tmp_path, no_shipped):
    """Learn this car's version: the base network and the car's edge classifier."""
    store = ModelStore(tmp_path / "models")
    model, extra = _fake_model(tmp_path / "m.keras", b"net"), _fake_model(tmp_path / "e", b"edge")
    info = store.add(model, {"kind": "car"}, "car-x", extra_files={"edge_classifier.npz": extra})
    assert (info.path.parent / "edge_classifier.npz").read_bytes() == b"edge"
    for bad in ("../escape.npz", "model.json", "sub/file.npz"):
        with pytest.raises(ModelStoreError, match="not a file name a version may hold"):
            store.add(model, {}, "bad", extra_files={bad: extra})
    assert [v.version for v in store.versions()] == [info.version]  # nothing half-added
    assert not list(store.root.glob(".adding-*"))


def test_current_is_a_pointer_not_a_copy(tmp_path, no_shipped):
    store = ModelStore(tmp_path)
    a = store.add(_fake_model(tmp_path / "a.keras"), {})
    b = store.add(_fake_model(tmp_path / "b.keras"), {})
    store.set_current(a.version)
    assert store.current().path == a.path
    store.set_current(b.version)
    assert json.loads((tmp_path / "current.json").read_text()) == {"version": b.version}
    assert store.current().version == b.version
    with pytest.raises(ModelStoreError, match="no model version"):
        store.set_current("v999")


def test_broken_pointer_or_meta_is_survivable(tmp_path, caplog, no_shipped):
    store = ModelStore(tmp_path)
    info = store.add(_fake_model(tmp_path / "a.keras"), {})
    (tmp_path / "current.json").write_text("{not json")
    assert store.current() is None
    (info.path.with_suffix(".json")).write_text("[1, 2]")
    with pytest.raises(ModelStoreError, match=r"model\.json: expected a JSON object"):
        read_model_meta(info.path)
    assert store.versions()[0].meta == {}  # listed anyway, with the problem logged
    assert "expected a JSON object" in caplog.text


def test_other_folders_are_not_versions(tmp_path):
    (tmp_path / "runs" / "x").mkdir(parents=True)
    (tmp_path / "v003").mkdir()  # no model.keras inside
    assert ModelStore(tmp_path).versions() == []


def test_missing_model_file_is_an_error(tmp_path):
    with pytest.raises(ModelStoreError, match="not found"):
        ModelStore(tmp_path).add(tmp_path / "nope.keras", {})


def test_user_models_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "m"))
    assert user_models_dir() == tmp_path / "m"
    monkeypatch.delenv("CARVANA_MODELS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_models_dir() == tmp_path / "xdg" / "carvana-gui" / "models"


def test_default_model_prefers_the_user_store_then_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "user"))
    monkeypatch.setattr(versions, "__file__", str(tmp_path / "pkg" / "store" / "versions.py"))
    assert shipped_model_path() is None and resolve_default_model() is None
    assert current_model() is None and ModelStore(tmp_path / "user").choices() == []
    shipped = _fake_model(tmp_path / "pkg" / "weights" / "default.keras")
    write_model_meta(shipped, {"threshold": 0.45})
    assert shipped_model_path() == shipped and resolve_default_model() == shipped
    assert shipped_model_info().version == "default"  # a JSON without "version"
    assert read_model_meta(shipped)["threshold"] == 0.45
    store = ModelStore(tmp_path / "user")
    info = store.add(_fake_model(tmp_path / "mine.keras"), {})
    assert resolve_default_model() == shipped  # added but not current yet
    store.set_current(info.version)
    assert resolve_default_model() == info.path and current_model().version == info.version


def test_the_shipped_default_is_a_version_like_the_others(tmp_path, fake_shipped):
    store = ModelStore(tmp_path / "models")
    assert store.versions() == [] and store.pointed() is None
    shipped = store.current()  # no pointer: the shipped default
    assert shipped.version == "default-v005" and shipped.path == fake_shipped
    assert shipped.threshold == 0.45
    assert [i.version for i in store.choices()] == ["default-v005"]
    mine = store.add(_fake_model(tmp_path / "a.keras"), {})
    store.set_current(mine.version)
    assert [i.version for i in store.choices()] == ["default-v005", mine.version]
    assert store.current().version == mine.version
    assert store.get("default").path == store.get("default-v005").path == fake_shipped

    store.set_current("default")  # roll back to the shipped model
    assert store.current().version == store.pointed().version == "default-v005"
    # the pointer names "the shipped default", so it survives shipping a newer one
    assert json.loads((store.root / "current.json").read_text()) == {"version": "default"}
    write_model_meta(fake_shipped, {"version": "default-v006"})
    assert store.current().version == "default-v006"
    store.set_current("default-v006")  # the full id works too
    assert store.current().version == "default-v006"
    with pytest.raises(ModelStoreError, match="default-v005"):
        store.set_current("default-v005")  # no longer shipped


def test_a_garbled_pointer_falls_back_to_the_shipped_default_and_says_why(
    tmp_path, fake_shipped, caplog
):
    store = ModelStore(tmp_path)
    info, why = store.current_and_why()
    assert info.version == "default-v005" and "no current.json" in why and "shipped" in why
    (tmp_path / "current.json").write_text('{"vers')  # truncated
    info, why = store.current_and_why()
    assert info.version == "default-v005"
    assert "current.json ignored" in why and "the shipped default" in why
    assert "current.json ignored" in caplog.text
    (tmp_path / "current.json").write_text('{"version": "v009"}')  # the version is gone
    info, why = store.current_and_why()
    assert info.version == "default-v005" and "v009" in why


def test_the_installed_default_names_its_version():
    info = shipped_model_info()
    if info is None:
        pytest.skip("no model/weights/default.keras in this checkout")
    assert info.path.name == "default.keras" and info.path.parent.name == "weights"
    assert info.version == read_model_meta(info.path)["version"]
    assert info.version.startswith("default-v") and info.meta["val_dice"] > 0.9
