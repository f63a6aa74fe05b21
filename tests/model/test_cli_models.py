"""`carvana models`: the shipped default is listed, chosen and rolled back to like any version."""

from __future__ import annotations

import json
import logging

import pytest

from model.cli.main import CliError, main
from model.cli.network import resolve_model
from model.store.versions import ModelStore, shipped_model_info, write_model_meta


def _fake_model(path, content=b"PK-not-really"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def fake_shipped(tmp_path, monkeypatch):
    path = _fake_model(tmp_path / "pkg" / "weights" / "default.keras", b"shipped")
    write_model_meta(path, {"version": "default-v005", "val_dice": 0.989, "preset": "768x1152"})
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: path)
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    return path


def test_models_lists_the_shipped_default_and_rolls_back_to_it(tmp_path, fake_shipped, capsys):
    models = tmp_path / "models"
    assert main(["models"]) == 0  # nothing stored: the shipped default is current
    listing = capsys.readouterr().out
    assert "* default-v005 — val Dice 0.9890 (shipped default)" in listing

    store = ModelStore(models)
    mine = store.add(_fake_model(tmp_path / "a.keras"), {"val_dice": 0.95}, label="mine")
    assert main(["models", "--use", mine.version]) == 0
    capsys.readouterr()
    assert main(["models", "--out", str(models)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  default-v005 — val Dice 0.9890 (shipped default)")
    assert lines[2].startswith(f"* {mine.version} — val Dice 0.9500")

    assert main(["models", "--use", "default"]) == 0
    assert "default-v005 is now the current model" in capsys.readouterr().out
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "* default-v005" in listing and f"  {mine.version}" in listing
    assert json.loads(fake_shipped.with_suffix(".json").read_text())["version"] == "default-v005"

    assert main(["models", "--use", mine.version]) == 0
    assert main(["models", "--use", "default-v005"]) == 0  # the full id works too
    assert ModelStore(models).current().version == "default-v005"
    capsys.readouterr()
    assert main(["models", "--use", "v999"]) == 1  # one clear line, nothing changed
    assert "no model version 'v999'" in capsys.readouterr().err
    assert ModelStore(models).current().version == "default-v005"


def test_models_in_an_empty_world(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    assert main(["models", "--out", str(tmp_path)]) == 0
    assert "no models yet" in capsys.readouterr().out
    assert main(["models", "--out", str(tmp_path), "--use", "default"]) == 1
    assert "no model version 'default'" in capsys.readouterr().err


def test_the_installed_default_is_listed(tmp_path, capsys):
    shipped = shipped_model_info()
    if shipped is None:
        pytest.skip("no model/weights/default.keras in this checkout")
    assert main(["models", "--out", str(tmp_path)]) == 0
    assert f"* {shipped.version} — val Dice" in capsys.readouterr().out


def test_predict_says_which_model_and_why(tmp_path, fake_shipped, caplog):
    caplog.set_level(logging.INFO, logger="model.cli.network")
    assert resolve_model(None).path == fake_shipped
    assert "model default-v005 (no current.json in" in caplog.text
    assert "the shipped default" in caplog.text
    caplog.clear()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "current.json").write_text('{"versi')  # truncated
    with pytest.raises(CliError, match=r"current\.json cannot be used.*carvana models --use"):
        resolve_model(None)  # never a silent switch to the shipped default
    with pytest.raises(CliError, match=r"current\.json cannot be used"):
        resolve_model(str(tmp_path / "models"))  # a store folder: the same rule
    assert resolve_model("default").path == fake_shipped  # the fallback, asked for
    assert "model default-v005 (asked for with --model default)" in caplog.text
    (tmp_path / "models" / "current.json").unlink()
    caplog.clear()
    assert resolve_model(str(tmp_path / "models")).path == fake_shipped  # a store folder
    assert "model default-v005 (" in caplog.text
