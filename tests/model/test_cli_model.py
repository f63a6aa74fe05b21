"""`carvana train/finetune/predict/export` end to end on tiny synthetic data."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from model.cli.main import main
from model.data.masks import read_mask
from model.kaggle.submission import validate_submission
from model.store.versions import ModelStore, read_model_meta
from tiny_carvana import IMAGE_HW, make_image_folder

# A real `carvana train` run per module (about 40 s here): run by .ci/run's slow step
pytestmark = pytest.mark.slow


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


@pytest.mark.slow
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
    args = ["finetune", str(train_dir)] + ([str(masks_dir)] if masks_dir else [])
    return [*args, "--model", str(base), "--epochs", "1", "--workers", "1", "--out", str(models)]


class _Fake:
    """Training and judging replaced (the base itself stands in for its fine-tuned copy):
    these tests are about which masks train and the keep-or-set-aside rule; the real run
    is tested above. ``new``/``base``: judge-set Dice of each."""

    def __init__(self, monkeypatch, new: float = 0.97, base: float = 0.95, interrupt=False):
        from model.nn.training import TrainResult

        self.configs = []
        scores = {"new": new, "base": base}

        def train(config, on_progress, should_stop):
            self.configs.append(config)
            if interrupt:  # the person presses Ctrl-C during training
                os.kill(os.getpid(), signal.SIGINT)
                assert should_stop()
            return TrainResult(
                Path(config.base_model), None, {"loss": [0.1]}, 0.1, 0.9, 1, interrupt, False
            )

        monkeypatch.setattr("model.workflows.finetune.train_model", train)
        monkeypatch.setattr(
            "model.workflows.finetune.judge_model",
            lambda path, records, on_event, which, should_stop=None, engine=None: scores[which],
        )

    def masks(self) -> dict[str, Path]:
        (config,) = self.configs
        return {Path(i).stem: Path(m) for i, m in config.train_pairs + config.val_pairs}


@pytest.mark.slow
def test_finetune_adds_a_child_version_judged_against_its_parent(trained, capsys):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    assert main(_finetune_args(train_dir, masks_dir, models, parent.path)) == 0
    child = store.versions()[-1]
    assert child.version != parent.version and child.meta["parent"] == parent.version
    assert child.meta["data"]["reviewed"] == 6
    selection = child.meta["selection"]
    assert selection["holdout_images"] == 2  # the judge car's two angles
    assert 0.0 <= selection["holdout_dice_new"] <= 1.0
    assert 0.0 <= selection["holdout_dice_parent"] <= 1.0
    # current only if it won (the tiny run may go either way: the rule is what is tested)
    won = selection["holdout_dice_new"] > selection["holdout_dice_parent"]
    assert selection["accepted"] == won
    assert store.current().version == (child.version if won else parent.version)
    assert "judge-set Dice at full resolution" in capsys.readouterr().out
    store.set_current(parent.version)


def test_a_worse_finetune_is_kept_aside_and_can_be_chosen(trained, capsys, monkeypatch):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    _Fake(monkeypatch, new=0.90, base=0.95)
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
    store.set_current(parent.version)


def test_a_better_finetune_or_make_current_becomes_current(trained, monkeypatch):
    _, train_dir, masks_dir, models, _ = trained
    store = ModelStore(models)
    parent = store.current()
    _Fake(monkeypatch, new=0.97, base=0.95)
    assert main(_finetune_args(train_dir, masks_dir, models, parent.path)) == 0
    better = store.current()
    assert better.version != parent.version and better.meta["selection"]["accepted"] is True

    _Fake(monkeypatch, new=0.90, base=0.95)
    args = [*_finetune_args(train_dir, masks_dir, models, better.path), "--make-current"]
    assert main(args) == 0
    forced = store.current()
    assert forced.version != better.version
    selection = read_model_meta(forced.path)["selection"]
    assert selection["accepted"] is False and selection["override"] is True  # honest record
    store.set_current(parent.version)


def test_a_finetune_on_one_car_has_no_judge_set(trained, tmp_path, capsys, monkeypatch):
    _, _, _, models, _ = trained
    parent = ModelStore(models).current()
    _Fake(monkeypatch)
    train_dir, masks_dir = make_image_folder(tmp_path / "one", cars=1, angles=2)
    store = tmp_path / "store"
    assert main(_finetune_args(train_dir, masks_dir, store, parent.path)) == 0
    (only,) = ModelStore(store).versions()
    assert ModelStore(store).pointed() is None  # nothing proved it better
    assert only.meta["selection"]["holdout_dice_new"] is None
    assert "too few reviewed cars for a judge set" in capsys.readouterr().out


def _annotation_folder(root: Path, reviewed_cars: int, unreviewed: int = 1):
    """4 cars x 2 angles with ground truth; the first cars reviewed, plus unreviewed edits."""
    from model.edits.project_store import ProjectStore
    from tiny_carvana import car_id

    train_dir, masks_dir = make_image_folder(root, cars=4, angles=2)
    project = ProjectStore.for_folder(train_dir)
    for c in range(1, reviewed_cars + 1):
        for a in (1, 2):
            image_id = f"{car_id(c)}_{a:02d}"
            mask = read_mask(masks_dir / f"{image_id}_mask.gif")
            project.save_edit(image_id, mask)
            project.set_reviewed(image_id, True, mask)
    for a in range(1, unreviewed + 1):
        image_id = f"{car_id(4)}_{a:02d}"
        project.save_edit(image_id, read_mask(masks_dir / f"{image_id}_mask.gif"))
    return train_dir, project


def test_finetune_folder_trains_on_reviewed_masks_only(trained, tmp_path, capsys, monkeypatch):
    _, _, _, models, _ = trained
    parent = ModelStore(models).current()
    train_dir, project = _annotation_folder(tmp_path / "a", reviewed_cars=3)
    fake = _Fake(monkeypatch)
    store = tmp_path / "store"
    assert main(_finetune_args(train_dir, None, store, parent.path)) == 0
    masks = fake.masks()
    assert all(path.parent == project.root / "masks" for path in masks.values())
    assert not any(image_id.startswith(car_id_of(4)) for image_id in masks)  # unreviewed
    assert "1 unreviewed edits not used" in capsys.readouterr().out
    (child,) = ModelStore(store).versions()
    assert child.meta["data"]["unreviewed_edits"] == 1 and child.meta["data"]["judge_images"] == 2

    # --with-truth: ground truth joins training, never of a select or judge car
    fake = _Fake(monkeypatch)
    assert main([*_finetune_args(train_dir, None, store, parent.path), "--with-truth"]) == 0
    (config,) = fake.configs
    truth = [Path(m) for _, m in config.train_pairs if Path(m).parent.name == "train_masks"]
    assert truth and all(p.name.startswith(car_id_of(4)) for p in truth)
    assert not any(Path(m).parent.name == "train_masks" for _, m in config.val_pairs)


def test_finetune_edits_option_names_another_edits_folder(trained, tmp_path, monkeypatch):
    _, _, _, models, _ = trained
    parent = ModelStore(models).current()
    train_dir, project = _annotation_folder(tmp_path / "a", reviewed_cars=3)
    moved = tmp_path / "elsewhere"
    project.close()
    project.root.rename(moved)
    fake = _Fake(monkeypatch)
    args = [
        *_finetune_args(train_dir, None, tmp_path / "store", parent.path),
        "--edits",
        str(moved),
    ]
    assert main(args) == 0
    assert all(path.parent == moved / "masks" for path in fake.masks().values())
    assert main(_finetune_args(train_dir, None, tmp_path / "store", parent.path)) == 1  # none


def test_ctrl_c_stores_nothing_unless_keep_cancelled(trained, tmp_path, capsys, monkeypatch):
    _, train_dir, masks_dir, models, _ = trained
    parent = ModelStore(models).current()
    store = tmp_path / "store"
    _Fake(monkeypatch, interrupt=True)
    assert main(_finetune_args(train_dir, masks_dir, store, parent.path)) == 130
    assert not ModelStore(store).versions() and "nothing stored" in capsys.readouterr().out
    _Fake(monkeypatch, interrupt=True)
    args = [*_finetune_args(train_dir, masks_dir, store, parent.path), "--keep-cancelled"]
    assert main(args) == 0
    (kept,) = ModelStore(store).versions()
    assert kept.meta["training"]["cancelled"] is True and kept.meta["selection"]["accepted"]


def test_finetune_defaults_are_the_workflows():
    from model.cli.main import build_parser
    from model.workflows.finetune import FinetuneSettings

    args = build_parser().parse_args(["finetune", "folder"])
    defaults = FinetuneSettings()
    assert (args.epochs, args.lr, args.batch_size, args.patience, args.workers) == (
        defaults.epochs,
        defaults.learning_rate,
        defaults.batch_size,
        defaults.patience,
        defaults.workers,
    )
    assert args.masks_dir is None and not args.with_truth and not args.keep_cancelled


def car_id_of(n: int) -> str:
    from tiny_carvana import car_id

    return car_id(n)


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


@pytest.mark.slow
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
