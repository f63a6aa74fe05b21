"""`--refine-edge` on predict, export and score-model: the shipped edge refiner (the
window's Refine edge) re-decides every mask's edge band; the export's resume fingerprint
knows it, a car's own model keeps its own classifier, and a missing refiner is one clear
error. The refiner here is made to say "car" across its whole band, so its work is plain
to see: each mask grows by the band's width."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from test_ray_batch import save_red_model

from model.cli.main import main
from model.data.masks import read_mask
from model.kaggle.rle import rle_decode
from model.nn.edge_classifier import EdgeClassifier
from model.nn.edge_features import FEATURE_COUNT
from model.nn.predictor import Predictor
from model.workflows.submission_export import model_fingerprint
from tiny_carvana import IMAGE_HW, make_image_folder

BAND_PX = 3.0


def grow_everywhere(path):
    """A refiner that calls every band pixel car: the mask grows by BAND_PX."""
    hidden = 4
    EdgeClassifier(
        mean=np.zeros(FEATURE_COUNT, np.float32),
        scale=np.ones(FEATURE_COUNT, np.float32),
        w1=np.zeros((FEATURE_COUNT, hidden), np.float32),
        b1=np.zeros(hidden, np.float32),
        w2=np.zeros(hidden, np.float32),
        b2=20.0,
        band_px=BAND_PX,
        blend=1.0,
    ).save(path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    train, _ = make_image_folder(root / "data", cars=2, angles=2)
    return train, save_red_model(root / "model" / "red.keras"), grow_everywhere(root / "grow.npz")


@pytest.fixture
def shipped_grow(setup, monkeypatch):
    monkeypatch.setattr("model.nn.edge_refiner.shipped_refiner_path", lambda: setup[2])
    return setup[2]


def _grown(mask: np.ndarray) -> np.ndarray:
    """What the grow-everywhere refiner makes of ``mask``: every pixel within BAND_PX."""
    outside = cv2.distanceTransform((1 - mask).astype(np.uint8), cv2.DIST_L2, 5)
    return ((mask > 0) | (outside <= BAND_PX)).astype(np.uint8)


def test_predict_with_refine_edge_writes_the_refined_masks(setup, shipped_grow, tmp_path):
    train, model, _ = setup
    plain, refined = tmp_path / "plain", tmp_path / "refined"
    common = ["--model", str(model), "--engine", "keras"]
    assert main(["predict", str(train), "-o", str(plain), *common]) == 0
    assert main(["predict", str(train), "-o", str(refined), *common, "--refine-edge"]) == 0
    names = sorted(p.name for p in plain.glob("*_mask.png"))
    assert len(names) == 4
    for name in names:
        before, after = read_mask(plain / name), read_mask(refined / name)
        assert 0 < before.sum() < after.sum(), name
        assert np.array_equal(after, _grown(before)), name


def test_export_with_refine_edge_has_the_refined_rows_and_its_own_fingerprint(
    setup, shipped_grow, tmp_path, capsys
):
    train, model, _ = setup
    plain, refined = tmp_path / "plain.csv", tmp_path / "refined.csv"
    common = ["--model", str(model), "--engine", "keras"]
    assert main(["export", str(train), "-o", str(plain), *common]) == 0
    assert main(["export", str(train), "-o", str(refined), *common, "--refine-edge"]) == 0
    assert "valid submission, 4 rows" in capsys.readouterr().out
    rows = [dict(r.split(",") for r in f.read_text().splitlines()[1:]) for f in (plain, refined)]
    for name, rle in rows[0].items():
        after = rle_decode(rows[1][name], IMAGE_HW)
        assert np.array_equal(after, _grown(rle_decode(rle, IMAGE_HW))), name

    # a half-made export resumes only with the same refiner: the fingerprint tells them apart
    predictor = Predictor.load(model, engine="keras")
    without = model_fingerprint(model, predictor)
    predictor.edges = EdgeClassifier.load(shipped_grow)
    assert model_fingerprint(model, predictor) != without
    predictor.edges = None
    assert model_fingerprint(model, predictor) == without  # older exports still resume


def test_score_model_with_refine_edge_says_so_and_scores_the_refined_masks(
    setup, shipped_grow, tmp_path, capsys
):
    train, model, _ = setup
    from model.store.versions import write_model_meta

    write_model_meta(model, {"input_size": [128, 128], "data": {"val_cars": ["000000000002"]}})
    data = train.parent
    reports = {}
    for flag in ([], ["--refine-edge"]):
        out = tmp_path / f"score{len(flag)}.json"
        args = ["score-model", str(data), "--model", str(model), "--engine", "keras"]
        assert main([*args, "--json", str(out), *flag]) == 0
        printed = capsys.readouterr().out
        assert ("edges refined" in printed) == bool(flag)
        reports[bool(flag)] = json.loads(out.read_text())
    assert reports[False]["edge_classifier"] is None
    assert reports[True]["edge_classifier"] == EdgeClassifier.load(shipped_grow).digest()
    plain = reports[False]["variants"]["plain"]["mean_dice"]
    assert reports[True]["variants"]["plain"]["mean_dice"] < plain  # grown past the car


def test_a_cars_own_model_keeps_its_classifier(setup, shipped_grow, tmp_path):
    from model.cli.network import load_predictor
    from model.store.versions import write_model_meta

    _train, model, _ = setup
    own = tmp_path / "car" / "model.keras"
    own.parent.mkdir()
    own.write_bytes(model.read_bytes())
    grow_everywhere(own.parent / "edge_classifier.npz")
    mine = EdgeClassifier.load(own.parent / "edge_classifier.npz")
    write_model_meta(own, {"edge_classifier": "edge_classifier.npz"})
    predictor = load_predictor(own, engine="keras", refine_edge=True)
    assert predictor.edges_digest == mine.digest()
    assert load_predictor(model, engine="keras").edges is None


def test_without_a_refiner_installed_refine_edge_is_one_clear_error(
    setup, tmp_path, monkeypatch, capsys
):
    train, model, _ = setup
    monkeypatch.setattr("model.nn.edge_refiner.shipped_refiner_path", lambda: None)
    out = tmp_path / "masks"
    args = ["predict", str(train), "-o", str(out), "--model", str(model), "--engine", "keras"]
    assert main([*args, "--refine-edge"]) == 1
    err = capsys.readouterr().err
    assert "--refine-edge: no edge refiner is installed" in err and "edge_refiner.npz" in err
    assert not out.exists()


@pytest.mark.slow
def test_ray_export_with_refine_edge_writes_the_local_rows(setup, shipped_grow, tmp_path):
    pytest.importorskip("ray.data")
    train, model, _ = setup
    local, remote = tmp_path / "local.csv", tmp_path / "ray.csv"
    common = ["--model", str(model), "--engine", "keras", "--refine-edge"]
    assert main(["export", str(train), "-o", str(local), *common]) == 0
    assert main(["export", str(train), "-o", str(remote), *common, "--ray", "local"]) == 0
    assert remote.read_bytes() == local.read_bytes()


@pytest.mark.slow
def test_ray_export_of_a_cars_own_model_sends_its_classifier(setup, tmp_path):
    pytest.importorskip("ray.data")
    from model.store.versions import write_model_meta

    train, model, _ = setup
    own = tmp_path / "car" / "model.keras"
    own.parent.mkdir()
    own.write_bytes(model.read_bytes())
    grow_everywhere(own.parent / "edge_classifier.npz")
    write_model_meta(own, {"edge_classifier": "edge_classifier.npz"})
    local, remote, plain = tmp_path / "local.csv", tmp_path / "ray.csv", tmp_path / "plain.csv"
    common = ["--engine", "keras"]
    assert main(["export", str(train), "-o", str(plain), "--model", str(model), *common]) == 0
    assert main(["export", str(train), "-o", str(local), "--model", str(own), *common]) == 0
    args = ["export", str(train), "-o", str(remote), "--model", str(own), *common]
    assert main([*args, "--ray", "local"]) == 0  # the actors load the car's classifier too
    assert remote.read_bytes() == local.read_bytes() != plain.read_bytes()
