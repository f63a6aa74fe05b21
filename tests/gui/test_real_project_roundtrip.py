"""The project lifecycle end to end on real Carvana images: CLI, window, CLI again.

`carvana automask` masks a copy of a few real images; the window opened on that folder
shows those masks; a brush stroke and Space make one image reviewed, which `carvana
status --json` reports; `carvana automask --stale` with another current model then redoes
every other auto-mask and leaves the reviewed one alone.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import open_window
from PySide6.QtCore import Qt
from test_canvas_editing import drag

from model.cli.main import main as carvana
from model.data.masks import read_mask
from tiny_carvana import save_tiny_model

CARS = ("00087a6bd4dc", "02159e548029")


def _copy_images(carvana_data, dest):
    train, masks = dest / "train", dest / "train_masks"
    train.mkdir(parents=True)
    masks.mkdir()
    for car in CARS:
        for angle in (1, 2):
            name = f"{car}_{angle:02d}"
            shutil.copy(carvana_data / "train" / f"{name}.jpg", train)
            shutil.copy(carvana_data / "train_masks" / f"{name}_mask.gif", masks)
    return dest


def _status(capsys, folder) -> dict:
    capsys.readouterr()
    assert carvana(["status", str(folder), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_automask_window_review_then_stale_automask(
    qtbot, carvana_data, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CARVANA_GUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "models"))
    folder = _copy_images(carvana_data, tmp_path / "data")
    assert carvana(["automask", str(folder)]) == 0  # the shipped default
    status = _status(capsys, folder)
    assert (status["auto"], status["total"], status["stale"]) == (4, 4, 0)
    active = status["summary"]["active_model"]
    assert active.startswith("default-")

    window = open_window(qtbot, folder / "train", None)
    image_id = window.session.current_id
    auto = read_mask(folder / "train_edits" / "auto" / f"{image_id}_auto.png")
    assert np.array_equal(window.document.mask, auto)  # the CLI's mask on the canvas
    window.canvas.set_brush_size(30)
    drag(qtbot, window, [(100, 100), (300, 120)])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.session.state_of(image_id) == "reviewed", timeout=5000)
    reviewed_mask = window.document.mask.copy()
    window.close()
    status = _status(capsys, folder)
    assert (status["reviewed"], status["auto"]) == (1, 3)

    from model.store.versions import ModelStore, user_models_dir

    store = ModelStore(user_models_dir())
    other = store.add(save_tiny_model(tmp_path / "tiny.keras"), {"preset": "128x128"})
    assert carvana(["models", "--use", other.version]) == 0
    assert _status(capsys, folder)["stale"] == 3
    assert carvana(["automask", str(folder), "--stale"]) == 0
    status = _status(capsys, folder)
    assert (status["reviewed"], status["auto"], status["stale"]) == (1, 3, 0)
    edits = folder / "train_edits"
    assert np.array_equal(read_mask(edits / "masks" / f"{image_id}_mask.png"), reviewed_mask)
