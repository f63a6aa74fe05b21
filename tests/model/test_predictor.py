"""Predictor: shapes at any image size, TTA, streaming with bounded prefetch, load errors."""

from __future__ import annotations

import zipfile

import cv2
import keras
import numpy as np
import pytest

from model.nn.network import build_segnet
from model.nn.predictor import (
    ModelLoadError,
    Prediction,
    Predictor,
    from_model_output,
    to_model_input,
)
from model.store.versions import write_model_meta
from tiny_carvana import DiscEngine, save_tiny_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.keras")


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return Predictor.load(tiny_model)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("hw", [(1280, 1918), (37, 53), (301, 451), (128, 128)])
def test_prediction_has_the_image_shape(predictor, hw):
    pred = predictor.predict(_image(*hw))
    assert isinstance(pred, Prediction)
    assert pred.mask.shape == hw and pred.mask.dtype == np.uint8
    assert pred.prob.shape == hw and pred.prob.dtype == np.float32
    assert set(np.unique(pred.mask)) <= {0, 1}
    np.testing.assert_array_equal(pred.mask, (pred.prob > predictor.threshold).astype(np.uint8))


def test_padding_is_used_for_near_sizes_and_cropped_back():
    image = _image(120, 250)
    x = to_model_input(image, (128, 256))
    assert x.shape == (128, 256, 3)
    np.testing.assert_allclose(x[:120, :250], image / 255.0, atol=1e-6)  # not resampled
    prob = np.random.default_rng(1).random((128, 256), dtype=np.float32)
    np.testing.assert_array_equal(from_model_output(prob, (120, 250)), prob[:120, :250])
    resized = from_model_output(prob, (1280, 1918))  # far from the model size: bilinear
    assert resized.shape == (1280, 1918)


def test_tta_averages_with_the_flipped_prediction(predictor):
    image = _image(128, 128, seed=3)
    plain = predictor.predict(image).prob
    flipped = predictor.predict(np.ascontiguousarray(image[:, ::-1])).prob[:, ::-1]
    np.testing.assert_allclose(
        predictor.predict(image, tta=True).prob, (plain + flipped) / 2, atol=1e-5
    )


def test_predict_paths_streams_in_order_and_reports_bad_files(predictor, tmp_path):
    paths = []
    for i, hw in enumerate([(64, 96), (100, 150), (64, 96), (80, 120), (64, 96)]):
        path = tmp_path / f"img{i}.jpg"
        cv2.imwrite(str(path), _image(*hw, seed=i))
        paths.append(path)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    paths.insert(2, broken)
    errors = []
    out = list(predictor.predict_paths(paths, on_error=lambda p, e: errors.append(p)))
    assert [p for p, _ in out] == [p for p in paths if p != broken]
    assert errors == [broken]
    for path, pred in out:
        assert pred.mask.shape == cv2.imread(str(path)).shape[:2]
    one_by_one = predictor.predict(cv2.cvtColor(cv2.imread(str(paths[0])), cv2.COLOR_BGR2RGB))
    np.testing.assert_allclose(out[0][1].prob, one_by_one.prob, atol=1e-5)


def test_predict_paths_reads_paths_lazily(predictor, tmp_path):
    """Memory stays flat: only a bounded number of paths is taken ahead of the consumer."""
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), _image(64, 96))
    pulled = 0

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield path

    stream = predictor.predict_paths(endless(), prefetch=4)
    for count, _ in enumerate(stream, start=1):
        # prefetched decodes, the batch in the network and the batch being finished
        assert pulled <= count + 4 + 2 * predictor.batch_size
        if count == 12:
            break
    stream.close()


def test_threshold_and_name_come_from_the_json(tiny_model, tmp_path):
    copy = tmp_path / "named.keras"
    copy.write_bytes(tiny_model.read_bytes())
    write_model_meta(copy, {"threshold": 0.3, "name": "v007"})
    loaded = Predictor.load(copy)
    assert loaded.threshold == 0.3 and loaded.name == "v007" and loaded.input_size == (128, 128)
    write_model_meta(copy, {"threshold": 3})
    with pytest.raises(ModelLoadError, match=r"named\.json: threshold 3 is not in"):
        Predictor.load(copy)


def test_a_cars_edge_classifier_is_loaded_and_applied_on_both_paths(tiny_model, tmp_path):
    """A per-car version (Learn this car) names its edge classifier in its JSON: it
    re-decides the edge band of every prediction, one image or a stream."""
    from model.nn.edge_classifier import FILE_NAME, EdgeSettings, fit_edge_classifier
    from model.nn.edge_features import band_features

    image = _image(96, 144, seed=3)
    plain = Predictor(DiscEngine()).predict(image)
    settings = EdgeSettings(epochs=1, band_px=6.0)
    band, rows = band_features(image, plain.prob, settings.band_px)
    assert 0 < band.sum() < band.size / 2
    labels = np.arange(len(rows)) % 2  # any labels: the classifier must change the band
    classifier = fit_edge_classifier(rows, labels, settings)
    copy = tmp_path / "car.keras"
    copy.write_bytes(tiny_model.read_bytes())
    classifier.save(tmp_path / FILE_NAME)
    write_model_meta(copy, {"edge_classifier": FILE_NAME})
    edges = Predictor.load(copy).edges
    assert edges is not None and np.array_equal(edges.w1, classifier.w1)
    car = Predictor(DiscEngine(), edges=edges)
    one = car.predict(image)
    assert np.allclose(one.prob, classifier.refine(image, plain.prob), atol=1e-6)
    assert not np.allclose(one.prob[band], plain.prob[band])
    assert np.array_equal(one.prob[~band], plain.prob[~band])
    path = tmp_path / "img.png"
    cv2.imwrite(str(path), image[..., ::-1])
    ((_, streamed),) = list(car.predict_paths([path]))
    assert np.allclose(streamed.prob, one.prob, atol=1e-6)
    (tmp_path / FILE_NAME).write_bytes(b"junk")
    with pytest.raises(ModelLoadError, match="not an edge classifier"):
        Predictor.load(copy)
    (tmp_path / FILE_NAME).unlink()
    with pytest.raises(ModelLoadError, match=r"edge classifier named by .*car\.json not found"):
        Predictor.load(copy)


def test_truncated_corrupt_and_missing_files_raise_model_load_error(tiny_model, tmp_path):
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(tiny_model.read_bytes()[: tiny_model.stat().st_size // 2])
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"\x00" * 1000)
    for path in (truncated, garbage, tmp_path / "missing.keras"):
        with pytest.raises(ModelLoadError, match=path.name):
            Predictor.load(path)
    wrong_zip = tmp_path / "wrong.keras"
    with zipfile.ZipFile(wrong_zip, "w") as zf:
        zf.writestr("config.json", "{broken")
    with pytest.raises(ModelLoadError, match=r"wrong\.keras: cannot load"):
        Predictor.load(wrong_zip)


def test_a_model_that_is_not_a_mask_network_is_rejected(tmp_path):
    inputs = keras.Input((128, 128, 3))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs))
    path = tmp_path / "classifier.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match="not a mask network"):
        Predictor.load(path)


def test_unsafe_lambda_layers_are_refused(tmp_path):
    inputs = keras.Input((128, 128, 3))
    outputs = keras.layers.Lambda(lambda t: t[..., :1])(build_segnet(128, 128, 0.125)(inputs))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelLoadError, match=r"lambda\.keras"):
        Predictor.load(path)
