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


def test_automask_and_status_keep_a_learned_car_on_its_own_model(tmp_path, capsys, monkeypatch):
    """After Learn this car, `carvana automask --stale` masks that car with the car's
    model (not the general one), status counts its masks as current, and a second stale
    run has nothing to do; --model asks for one model for every image."""
    from model.edits.car_models import CarModels
    from model.edits.project_store import ProjectStore
    from model.store.versions import ModelStore
    from tiny_carvana import car_id, save_tiny_model

    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CARVANA_ENGINE", "keras")
    train, _ = make_image_folder(tmp_path / "data", cars=2, angles=2)
    store = ModelStore(tmp_path / "models")
    general = store.add(save_tiny_model(tmp_path / "general.keras"), {"preset": "128x128"})
    store.set_current(general.version)
    car_model = store.add(save_tiny_model(tmp_path / "car.keras", seed=1), {"kind": "car"})
    assert carvana(["automask", str(train)]) == 0
    edits = tmp_path / "data" / "train_edits"
    learned = car_id(2)
    CarModels(edits).set(learned, car_model.version, "car model", general.version)

    def versions() -> dict[str, str | None]:
        project = ProjectStore(edits)
        try:
            return {i: r.auto_version for i, r in project.records().items()}
        finally:
            project.close()

    assert set(versions().values()) == {general.version}
    capsys.readouterr()
    assert carvana(["status", str(train), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] == 2  # the learned car's two angles
    assert carvana(["automask", str(train), "--stale"]) == 0
    assert "2 images to auto-mask" in capsys.readouterr().out
    assert versions() == {
        f"{car}_{a:02d}": car_model.version if car == learned else general.version
        for car in (car_id(1), learned)
        for a in (1, 2)
    }
    assert carvana(["status", str(train), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] == 0
    assert carvana(["automask", str(train), "--stale"]) == 0
    assert "0 images to auto-mask" in capsys.readouterr().out
    assert carvana(["automask", str(train), "--select", "all", "--model", str(general.path)]) == 0
    assert set(versions().values()) == {general.version}
