"""`carvana status` only reads: a folder nobody edited gets no edits folder beside it."""

from __future__ import annotations

import json

from model.cli.main import main as carvana
from tiny_carvana import make_image_folder


def test_status_of_an_unedited_folder_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    train, _ = make_image_folder(tmp_path / "data", cars=2, angles=2)
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert carvana(["status", str(train), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["none"], status["total"], status["stale"]) == (4, 4, 0)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before  # no train_edits/
