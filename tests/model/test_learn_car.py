"""Learn this car: `carvana finetune FOLDER --car CAR` / `--forget-car CAR` on a tiny folder.

The car's reviewed angles train an edge classifier, stored with the base network as a
per-car version (never the current model), which becomes that car's model only and
re-masks the car's none/auto images; reviewed and edited ones, and every other car, are
untouched. Forgetting the car puts the general masks back.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from model.cli.main import main
from model.data.dataset import scan_folder
from model.data.masks import read_mask
from model.edits.car_models import CarModels, forget_car
from model.edits.lifecycle import MaskState
from model.edits.project_store import ProjectStore
from model.nn.edge_refiner import load_refiner
from model.nn.predictor import Predictor
from model.store.versions import ModelStore, read_model_meta
from model.workflows.learn_car import LearnCarSettings, learn_car, spread
from tiny_carvana import car_id, make_image_folder, save_red_detector

CAR, OTHER = car_id(1), car_id(2)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_red_detector(tmp_path_factory.mktemp("tiny") / "base.keras")


@pytest.fixture
def setup(tmp_path, tiny_model):
    """2 cars x 4 angles, every image auto-masked by the current (general) model."""
    train, masks = make_image_folder(tmp_path / "data", cars=2, angles=4)
    store = ModelStore(tmp_path / "models")
    base = store.add(tiny_model, {"preset": "128x128", "input_size": [128, 128]})
    store.set_current(base.version)
    project = ProjectStore.for_folder(train)
    truth = {p.name[: -len("_mask.gif")]: read_mask(p) for p in sorted(masks.glob("*.gif"))}
    general = {}
    for image_id, mask in truth.items():
        general[image_id] = np.roll(mask, 3, axis=1)  # the general model's (imperfect) mask
        project.save_auto_mask(image_id, general[image_id], base.version, uncertainty=0.01)
    return train, store, base, project, truth, general


def _review(project: ProjectStore, image_id: str, mask: np.ndarray) -> None:
    project.set_reviewed(image_id, True, mask)


def _args(train: Path, store: ModelStore, *more: str) -> list[str]:
    return ["finetune", str(train), "--out", str(store.root), *more]


def _spy_learning(monkeypatch) -> list:
    """Record the reviewed records each real ``learn_edges`` call learns from."""
    from model.workflows import learn_car as lc

    calls = []
    real = lc.learn_edges

    def spy(predictor, reviewed, settings, emit, stop):
        calls.append([Path(r.mask_path).name for r in reviewed])
        return real(predictor, reviewed, settings, emit, stop)

    monkeypatch.setattr(lc, "learn_edges", spy)
    return calls


def test_fewer_than_two_reviewed_angles_is_refused_clearly(setup, capsys):
    train, store, base, project, truth, _ = setup
    _review(project, f"{CAR}_01", truth[f"{CAR}_01"])
    assert main(_args(train, store, "--car", CAR)) == 1
    err = capsys.readouterr().err
    assert f"learn car {CAR}: review at least 2 of its angles first (1 reviewed)" in err
    assert [v.version for v in store.versions()] == [base.version]
    assert CarModels(project.root).all() == {}
    assert main(_args(train, store, "--car", "nosuchcar")) == 1
    assert "no images of car 'nosuchcar'" in capsys.readouterr().err


def test_car_and_forget_car_together_are_refused(setup, capsys):
    train, store, *_ = setup
    assert main(_args(train, store, "--car", CAR, "--forget-car", CAR)) == 1
    assert "choose one" in capsys.readouterr().err


def test_learn_car_remasks_only_that_cars_unedited_images(setup, monkeypatch, capsys):
    train, store, base, project, truth, general = setup
    for a in (1, 2):
        _review(project, f"{CAR}_{a:02d}", truth[f"{CAR}_{a:02d}"])
    project.save_edit(f"{CAR}_03", truth[f"{CAR}_03"])  # edited, not reviewed: left alone
    calls = _spy_learning(monkeypatch)
    assert main(_args(train, store, "--car", CAR)) == 0
    out = capsys.readouterr().out
    # learned from the car's two reviewed masks only (the edit and the other car are not used)
    assert calls == [[f"{CAR}_01_mask.png", f"{CAR}_02_mask.png"]]
    # a per-car version, never the current model: the base network and the car's edge
    assert store.current().version == base.version
    (car_version,) = [v for v in store.versions() if v.version != base.version]
    meta = read_model_meta(car_version.path)
    assert meta["kind"] == "car" and meta["car"] == CAR and meta["parent"] == base.version
    assert meta["reviewed"] == [f"{CAR}_01", f"{CAR}_02"]
    assert f"car-{CAR}" in car_version.version
    assert car_version.path.read_bytes() == base.path.read_bytes()
    loaded = Predictor.load(car_version.path, engine="keras")
    assert loaded.edges is not None and loaded.edges.band_px == LearnCarSettings().band_px
    # it learned on top of the shipped general edge refiner, saved in the same file
    general_refiner = load_refiner()
    assert loaded.edges.base is not None
    assert np.array_equal(loaded.edges.base.w1, general_refiner.w1)
    model = CarModels(project.root).get(CAR)
    assert model is not None and model.version == car_version.version and model.base == base.version
    assert model.name == f"{base.version}+car:{CAR}"
    # re-masked: the car's auto image; untouched: reviewed, edited and the other car
    project.refresh()
    rows = project.records()
    assert rows[f"{CAR}_04"].auto_version == car_version.version
    assert rows[f"{CAR}_04"].state is MaskState.AUTO
    assert rows[f"{CAR}_04"].dice is not None  # the folder has ground truth
    for a in (1, 2):
        assert rows[f"{CAR}_{a:02d}"].state is MaskState.REVIEWED
        assert np.array_equal(project.load_shown_mask(f"{CAR}_{a:02d}"), truth[f"{CAR}_{a:02d}"])
    assert rows[f"{CAR}_03"].state is MaskState.EDITED
    assert np.array_equal(project.load_shown_mask(f"{CAR}_03"), truth[f"{CAR}_03"])
    for a in range(1, 5):
        other = f"{OTHER}_{a:02d}"
        assert rows[other].auto_version == base.version
        assert np.array_equal(project.load_shown_mask(other), general[other])
    assert "re-masked 1 of car" in out and f"--forget-car {CAR}" in out

    # --forget-car: the general model's mask comes back, the car uses the general model
    assert main(_args(train, store, "--forget-car", CAR)) == 0
    assert "1 masks restored" in capsys.readouterr().out
    project.refresh()
    row = project.record(f"{CAR}_04")
    assert row.auto_version == base.version and row.state is MaskState.AUTO
    assert row.uncertainty == pytest.approx(0.01)
    assert np.array_equal(project.load_shown_mask(f"{CAR}_04"), general[f"{CAR}_04"])
    assert project.record(f"{CAR}_03").state is MaskState.EDITED
    assert CarModels(project.root).all() == {}
    assert not CarModels(project.root).backup_dir(CAR).exists()
    assert main(_args(train, store, "--forget-car", CAR)) == 1  # nothing left to forget
    assert "has no model of its own" in capsys.readouterr().err


def test_learning_a_car_twice_keeps_the_general_masks_to_restore(setup):
    train, store, base, project, truth, general = setup
    for a in (1, 2):
        _review(project, f"{CAR}_{a:02d}", truth[f"{CAR}_{a:02d}"])
    assert main(_args(train, store, "--car", CAR)) == 0
    assert main(_args(train, store, "--car", CAR)) == 0  # again: masks of the 1st car model
    project.refresh()
    second = CarModels(project.root).get(CAR)
    assert project.record(f"{CAR}_03").auto_version == second.version
    model, restored, stays = forget_car(project, CAR, [f"{CAR}_{a:02d}" for a in range(1, 5)])
    assert model == second and sorted(restored) == [f"{CAR}_03", f"{CAR}_04"] and stays == []
    for a in (3, 4):
        image_id = f"{CAR}_{a:02d}"
        assert project.record(image_id).auto_version == base.version
        assert np.array_equal(project.load_shown_mask(image_id), general[image_id])


def test_what_does_not_help_its_own_reviewed_angles_is_not_stored(setup, capsys):
    """Two reviewed angles that disagree (the general model's edge is 3 px right of one
    and 3 px left of the other): learned from either, the other gets worse, so nothing is
    stored and the car keeps its masks."""
    train, store, base, project, truth, general = setup
    _review(project, f"{CAR}_01", truth[f"{CAR}_01"])
    _review(project, f"{CAR}_02", np.roll(truth[f"{CAR}_02"], 6, axis=1))
    assert main(_args(train, store, "--car", CAR)) == 0  # a finished run, not a failure
    out = capsys.readouterr().out
    assert f"car {CAR}'s own edge would not help" in out and "nothing stored" in out
    assert [v.version for v in store.versions()] == [base.version]
    assert CarModels(project.root).all() == {}
    project.refresh()
    for a in (3, 4):
        image_id = f"{CAR}_{a:02d}"
        assert project.record(image_id).auto_version == base.version
        assert np.array_equal(project.load_shown_mask(image_id), general[image_id])
    # the check off (LearnCarSettings.check_held_out): the same angles are learned from
    outcome = learn_car(
        project,
        scan_folder(train).images,
        CAR,
        store,
        base,
        LearnCarSettings(check_held_out=False),
    )
    assert outcome.version is not None and not outcome.cancelled


@pytest.mark.parametrize(
    ("n", "most", "picked"),
    [(2, 4, [0, 1]), (4, 4, [0, 1, 2, 3]), (8, 4, [0, 2, 4, 6]), (5, 4, [0, 1, 2, 4])],
)
def test_held_out_angles_are_spread_around_the_turntable(n, most, picked):
    assert spread(n, most) == picked


def test_forget_says_which_masks_had_nothing_to_go_back_to(tmp_path, tiny_model, capsys):
    """A fresh folder (no auto-masks yet): Learn this car masks the car's other angles
    first; Forget has no general mask to restore there and says they stay, as stale."""
    train, masks = make_image_folder(tmp_path / "data", cars=2, angles=4)
    store = ModelStore(tmp_path / "models")
    base = store.add(tiny_model, {"preset": "128x128", "input_size": [128, 128]})
    store.set_current(base.version)
    project = ProjectStore.for_folder(train)
    for a in (1, 2):
        image_id = f"{CAR}_{a:02d}"
        _review(project, image_id, read_mask(masks / f"{image_id}_mask.gif"))
    assert main(_args(train, store, "--car", CAR)) == 0
    assert "re-masked 2 of car" in capsys.readouterr().out
    assert main(_args(train, store, "--forget-car", CAR)) == 0
    out = capsys.readouterr().out
    assert "0 masks restored; 2 made by it had no earlier mask to go back to" in out
    project.refresh()
    assert project.record(f"{CAR}_03").state is MaskState.AUTO


def test_without_the_edge_refiner_the_car_learns_from_the_network_alone(setup, monkeypatch):
    from model.workflows import learn_car as lc

    train, store, base, project, truth, _ = setup
    for a in (1, 2):
        _review(project, f"{CAR}_{a:02d}", truth[f"{CAR}_{a:02d}"])
    monkeypatch.setattr(lc, "LearnCarSettings", lambda: LearnCarSettings(on_edge_refiner=False))
    assert main(_args(train, store, "--car", CAR)) == 0
    (car_version,) = [v for v in store.versions() if v.version != base.version]
    edges = Predictor.load(car_version.path, engine="keras").edges
    assert edges is not None and edges.base is None


def test_what_the_car_keeps_after_the_held_out_check():
    """The car's classifier when it beats the edge it learned on; the general refiner
    alone when only that beats the network on this car; else nothing."""
    from model.workflows.learn_car import LearnedEdge

    refiner = object()
    car = SimpleNamespace(base=refiner)
    assert LearnedEdge(car, 100, 70, wrong_refined=80).chosen is car
    alone = LearnedEdge(car, 100, 85, wrong_refined=80)
    assert alone.chosen is refiner and alone.refiner_alone
    assert LearnedEdge(car, 100, 105, wrong_refined=101).chosen is None
    plain = SimpleNamespace(base=None)
    assert LearnedEdge(plain, 100, 90).chosen is plain
    assert LearnedEdge(plain, 100, 100).chosen is None
