"""`carvana train/finetune/predict/export` end to end on tiny synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.cli.main import main
from model.data.masks import read_mask
from model.kaggle.submission import validate_submission
from model.store.versions import ModelStore, read_model_meta
from tiny_carvana import IMAGE_HW, make_image_folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train_dir, masks_dir = make_image_folder(root / "data", cars=3, angles=2)
    models = root / "models"
    args = ["train", str(root / "data"), "--preset", "128x128", "--width", "0.125"]
    args += ["--epochs", "1", "--batch-size", "2", "--workers", "1", "--out", str(models)]
    assert main(args) == 0
    return root, train_dir, masks_dir, models, args


def test_train_stores_a_current_version_with_its_json(trained):
    _, _, _, models, _ = trained
    store = ModelStore(models)
    current = store.current()
    assert current is not None and [v.version for v in store.versions()] == [current.version]
    meta = json.loads(current.path.with_suffix(".json").read_text())
    assert meta["preset"] == "128x128" and meta["input_size"] == [128, 128]
    assert meta["data"]["images"] == 6 and len(meta["data"]["val_cars"]) == 1
    assert meta["threshold"] == 0.5 and meta["parent"] is None and meta["created"]
    assert (models / "runs" / "128x128-w0.125-s0" / "best.keras").is_file()


def test_rerunning_train_resumes_the_same_run(trained, capsys):
    _, _, _, models, args = trained
    more = [*args]
    more[more.index("--epochs") + 1] = "2"
    assert main(more) == 0
    state = json.loads((models / "runs" / "128x128-w0.125-s0" / "train_state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert len(ModelStore(models).versions()) == 2
    assert main(more) == 0  # finished already: nothing trained, no duplicate version
    assert "already trained" in capsys.readouterr().out
    assert len(ModelStore(models).versions()) == 2


def test_export_and_predict_with_the_stored_model(trained, tmp_path):
    _, train_dir, _, models, _ = trained
    sub = tmp_path / "sub.csv"
    assert main(["export", str(train_dir), "-o", str(sub), "--model", str(models), "--tta"]) == 0
    report = validate_submission(sub, shape=IMAGE_HW)
    assert report.ok and report.rows == 6
    out = tmp_path / "masks"
    assert (
        main(["predict", str(train_dir), "-o", str(out), "--model", str(models), "--probabilities"])
        == 0
    )
    masks = sorted(out.glob("*_mask.png"))
    assert len(masks) == 6 and read_mask(masks[0]).shape == IMAGE_HW
    assert len(list((out / "probabilities").glob("*.png"))) == 6


def _finetune_args(train_dir, masks_dir, models, base) -> list[str]:
    args = ["finetune", str(train_dir), str(masks_dir), "--model", str(base)]
    return [*args, "--epochs", "1", "--workers", "1", "--out", str(models)]


def _fake_scores(monkeypatch, new: float, base: float) -> None:
    """Held-out Dice of the new model (scored first) and of the base (scored second).

    Training is replaced too (the base itself stands in for its fine-tuned copy): these
    tests are about the keep-or-set-aside rule, and the real run is tested above.
    """
    from model.kaggle.metrics import DiceReport
    from model.nn.training import TrainResult

    def fake_training(config):
        return TrainResult(
            Path(config.base_model), None, {"loss": [0.1]}, 0.1, 0.9, 1, False, False
        )

    monkeypatch.setattr("model.cli.finetune.train_with_bar", fake_training)
    calls = iter([new, base])
    monkeypatch.setattr(
        "model.workflows.finetune.score_predictor",
        lambda predictor, records: DiceReport({r.image_id: next(calls) for r in records[:1]}),
    )


def test_finetune_adds_a_child_version_scored_against_its_parent(trained, capsys):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    assert main(_finetune_args(train_dir, masks_dir, models, parent.path)) == 0
    child = store.versions()[-1]
    assert child.version != parent.version and child.meta["parent"] == parent.version
    assert child.meta["data"]["images"] == 6
    selection = child.meta["selection"]
    assert selection["holdout_images"] == 2  # the held-out car's two angles
    assert 0.0 <= selection["holdout_dice_new"] <= 1.0
    assert 0.0 <= selection["holdout_dice_parent"] <= 1.0
    # current only if it won (the tiny run may go either way: the rule is what is tested)
    won = selection["holdout_dice_new"] > selection["holdout_dice_parent"]
    assert selection["accepted"] == won
    assert store.current().version == (child.version if won else parent.version)
    assert "held-out Dice at full resolution" in capsys.readouterr().out


def test_a_worse_finetune_is_kept_aside_and_can_be_chosen(trained, capsys, monkeypatch):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    _fake_scores(monkeypatch, new=0.90, base=0.95)
    assert main(_finetune_args(train_dir, masks_dir, models, parent.path)) == 0
    worse = store.versions()[-1]
    assert store.current().version == parent.version  # unchanged
    out = capsys.readouterr().out
    assert "kept aside" in out and f"--use {worse.version}" in out
    assert worse.meta["selection"]["accepted"] is False

    assert main(["models", "--out", str(models)]) == 0
    listing = capsys.readouterr().out
    assert f"* {parent.version}" in listing
    expected = f"  {worse.version} — Dice 0.9000 vs 0.9500, from {parent.version} (kept aside)"
    assert expected in listing

    assert main(["models", "--out", str(models), "--use", worse.version]) == 0
    assert store.current().version == worse.version
    assert read_model_meta(worse.path)["selection"]["override"] is True
    capsys.readouterr()
    assert main(["models", "--out", str(models)]) == 0
    assert f"* {worse.version}" in capsys.readouterr().out
    assert main(["models", "--out", str(models), "--use", "v999"]) == 1
    assert "v999" in capsys.readouterr().err
    store.set_current(parent.version)


def test_a_better_finetune_or_make_current_becomes_current(trained, monkeypatch):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    _fake_scores(monkeypatch, new=0.97, base=0.95)
    assert main(_finetune_args(train_dir, masks_dir, models, parent.path)) == 0
    better = store.current()
    assert better.version != parent.version and better.meta["selection"]["accepted"] is True

    _fake_scores(monkeypatch, new=0.90, base=0.95)
    args = [*_finetune_args(train_dir, masks_dir, models, better.path), "--make-current"]
    assert main(args) == 0
    forced = store.current()
    assert forced.version != better.version
    selection = read_model_meta(forced.path)["selection"]
    assert selection["accepted"] is False and selection["override"] is True  # honest record
    store.set_current(parent.version)


def test_a_finetune_on_one_car_has_nothing_to_compare_on(trained, tmp_path, capsys):
    _, _, _, models, _ = trained
    parent = ModelStore(models).current()
    train_dir, masks_dir = make_image_folder(tmp_path / "one", cars=1, angles=2)
    store = tmp_path / "store"
    assert main(_finetune_args(train_dir, masks_dir, store, parent.path)) == 0
    (only,) = ModelStore(store).versions()
    assert ModelStore(store).current() is None  # nothing proved it better
    assert only.meta["selection"]["holdout_dice_new"] is None
    assert "no held-out images" in capsys.readouterr().out


def test_errors_are_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CARVANA_MODELS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr("model.store.versions.shipped_model_path", lambda: None)
    images = tmp_path / "imgs"
    make_image_folder(images, cars=1, angles=1)
    assert main(["export", str(images / "train"), "-o", str(tmp_path / "s.csv")]) == 1
    assert "no model" in capsys.readouterr().err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"nope")
    assert (
        main(["predict", str(images / "train"), "-o", str(tmp_path / "o"), "--model", str(bad)])
        == 1
    )
    assert "bad.keras" in capsys.readouterr().err
    assert main(["train", str(images), "--preset", "300x300", "--out", str(tmp_path)]) == 1
    assert "300x300" in capsys.readouterr().err


def test_augment_choice_reaches_the_run(trained, tmp_path):
    root, *_ = trained
    args = ["train", str(root / "data"), "--preset", "128x128", "--width", "0.125"]
    args += ["--epochs", "1", "--batch-size", "2", "--workers", "1", "--out", str(tmp_path)]
    assert main([*args, "--augment", "flip", "--run-name", "flip"]) == 0
    state = json.loads((tmp_path / "runs" / "flip" / "train_state.json").read_text())
    no_colour = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue_deg": 0.0}
    assert state["config"]["augment"] == {
        "shift": 0.0,
        "scale": 0.0,
        "rotate_deg": 0.0,
        "hflip": True,
        **no_colour,
    }
    assert main([*args, "--augment", "flip-colour", "--run-name", "colour"]) == 0
    state = json.loads((tmp_path / "runs" / "colour" / "train_state.json").read_text())
    assert state["config"]["augment"]["hue_deg"] > 0 and state["config"]["augment"]["shift"] == 0
    assert main([*args, "--no-augment", "--run-name", "plain"]) == 0
    state = json.loads((tmp_path / "runs" / "plain" / "train_state.json").read_text())
    assert state["config"]["augment"] is None
