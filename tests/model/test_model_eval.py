"""score-model: full-resolution Dice with/without TTA on held-out cars."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.cli.main import main
from model.data.dataset import scan_folder
from model.data.masks import read_image
from model.nn.evaluation import ModelScore, score_model, training_car_records, validation_records
from model.nn.predictor import Predictor
from tiny_carvana import make_image_folder, save_tiny_model


class _Oracle(Predictor):
    """A predictor whose network output is the (model-size) truth, to test the scoring itself."""

    def __init__(self, input_size=(128, 128)) -> None:
        self.threshold = 0.5
        self.input_size = input_size
        self.name = "oracle"
        self.meta = {}
        self.edges = None
        self._queue: list[np.ndarray] = []

    def predict_probabilities(self, batch, tta=False):
        return self._queue.pop(0)


def test_validation_records_prefer_cars_named_in_model_json(tmp_path):
    make_image_folder(tmp_path, cars=4, angles=2)
    chosen = validation_records(tmp_path, {"data": {"val_cars": ["000000000002"]}})
    assert {r.car_id for r in chosen} == {"000000000002"}
    split = validation_records(tmp_path, {}, val_fraction=0.25, seed=0)
    assert len({r.car_id for r in split}) == 1 and len(split) == 2


def test_training_car_records_never_include_a_validation_car(tmp_path):
    make_image_folder(tmp_path, cars=4, angles=2)
    meta = {"data": {"val_cars": ["000000000001", "000000000003"]}}
    chosen = training_car_records(tmp_path, meta, cars=1)
    assert {r.car_id for r in chosen} == {"000000000002"} and len(chosen) == 2
    assert {r.car_id for r in training_car_records(tmp_path, meta, cars=5)} == {
        "000000000002",
        "000000000004",
    }
    with pytest.raises(ValueError, match="names no validation cars"):
        training_car_records(tmp_path, {}, cars=1)


def test_plain_and_tta_variants_score_a_perfect_and_a_mirrored_guess(tmp_path):
    train, _ = make_image_folder(tmp_path, cars=1, angles=1)
    record = scan_folder(train).images[0]
    import cv2

    from model.data.masks import read_mask

    truth = read_mask(record.mask_path).astype(np.float32)
    small = cv2.resize(truth, (128, 128), interpolation=cv2.INTER_AREA)
    oracle = _Oracle()
    # plain output = truth; mirrored-input output = all zeros -> TTA halves the probabilities.
    oracle._queue.append(np.stack([small, np.zeros_like(small)]))
    score = score_model(oracle, [record], thresholds=(0.25, 0.5))
    assert score.mean(False) > 0.97
    assert score.mean(True, 0.25) > 0.97  # 0.5 * truth still passes a 0.25 threshold
    assert score.mean(True, 0.5) < 0.5  # ... but not the model's own 0.5
    assert score.best_threshold(True) == 0.25
    assert score.worst(False, n=1)[0][0] == record.image_id


def test_a_cars_version_is_scored_with_its_edge_classifier(tmp_path):
    """score-model on a Learn-this-car version scores the masks it makes, not the bare
    network's."""
    from model.data.masks import read_mask
    from model.kaggle.metrics import dice
    from model.nn.edge_classifier import EdgeSettings, fit_edge_classifier
    from model.nn.edge_features import band_features
    from tiny_carvana import DiscEngine

    train, _ = make_image_folder(tmp_path, cars=1, angles=1)
    record = scan_folder(train).images[0]
    image, truth = read_image(record.path), read_mask(record.mask_path)
    bare = Predictor(DiscEngine())
    band, rows = band_features(image, bare.predict(image).prob, 6.0)
    edges = fit_edge_classifier(rows, truth[band], EdgeSettings(band_px=6.0, epochs=3))
    car = Predictor(DiscEngine(), edges=edges)
    for predictor in (bare, car):
        score = score_model(predictor, [record], thresholds=(0.5,))
        for tta in (False, True):
            expected = dice(predictor.predict(image, tta=tta).mask, truth)
            assert score.mean(tta, 0.5) == pytest.approx(expected, abs=1e-6)
    assert score_model(car, [record]).mean(True) != score_model(bare, [record]).mean(True)


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_score_model_cli_writes_json(tmp_path, capsys):
    make_image_folder(tmp_path, cars=3, angles=2)
    model = save_tiny_model(tmp_path / "m" / "model.keras")
    out = tmp_path / "score.json"
    assert main(["score-model", str(tmp_path), "--model", str(model), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "flip TTA: mean Dice" in text and "worst 10" in text
    report = json.loads(out.read_text())
    assert report["images"] == 2 and len(report["cars"]) == 1
    assert 0.0 <= report["variants"]["tta"]["mean_dice"] <= 1.0
    # The tiny model's JSON names no validation cars: --training-cars says why it cannot help.
    args = ["score-model", str(tmp_path), "--model", str(model), "--training-cars", "2"]
    assert main(args) == 1
    assert "names no validation cars" in capsys.readouterr().err


def test_model_score_mean_of_missing_variant_raises():
    with pytest.raises(KeyError):
        ModelScore(thresholds=(0.5,), model_threshold=0.5).mean(False)


@pytest.mark.slow
def test_pack_model_writes_float16_copy_that_predicts_like_the_original(tmp_path, capsys):
    make_image_folder(tmp_path / "data", cars=1, angles=1)
    source = save_tiny_model(tmp_path / "m" / "model.keras")
    packed = tmp_path / "ship" / "default.keras"
    assert main(["pack-model", str(source), "-o", str(packed), "--threshold", "0.45"]) == 0
    assert "float16 weights" in capsys.readouterr().out
    assert packed.stat().st_size < 0.6 * source.stat().st_size
    original = Predictor.load(source, engine="keras")
    shipped = Predictor.load(packed, engine="keras")
    assert shipped.threshold == 0.45 and shipped.meta["weights_dtype"] == "float16"
    image = np.random.default_rng(0).integers(0, 255, (96, 144, 3), dtype=np.uint8)
    np.testing.assert_allclose(shipped.predict(image).prob, original.predict(image).prob, atol=5e-3)
    assert all(str(w.dtype) == "float32" for w in shipped.engine.model.weights)
    assert main(["pack-model", str(source), "-o", str(packed), "--threshold", "2"]) == 1
