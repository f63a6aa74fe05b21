"""`carvana train-edge-refiner`: the Refine edge classifier from cars the model never saw;
the model's validation cars and unknown cars are refused with their ids named."""

from __future__ import annotations

import numpy as np
import pytest

from model.cli.main import main
from model.data.masks import read_image, read_mask
from model.kaggle.metrics import dice
from model.nn.edge_classifier import EdgeClassifier
from model.nn.edge_refiner import refine_edge
from model.nn.predictor import Predictor
from model.store.versions import write_model_meta
from tiny_carvana import car_id, make_image_folder, save_red_detector


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("refiner")
    train, masks = make_image_folder(root / "data", cars=3, angles=2)
    model = save_red_detector(root / "model" / "m.keras")
    write_model_meta(model, {"input_size": [128, 128], "data": {"val_cars": [car_id(3)]}})
    return root, train, masks, model


def test_trains_a_refiner_that_loads_and_refines(setup, capsys):
    root, train, masks, model = setup
    out = root / "out" / "edge_refiner.npz"
    cars = f"{car_id(1)},{car_id(2)}"
    args = ["train-edge-refiner", str(root / "data"), "--cars", cars, "-o", str(out)]
    assert main([*args, "--model", str(model), "--engine", "keras", "--pixels", "300"]) == 0
    assert "from 4 images of 2 cars" in capsys.readouterr().out
    refiner = EdgeClassifier.load(out)
    assert refiner.band_px == 6.0 and refiner.w1.shape[1] == 64
    image = read_image(train / f"{car_id(3)}_01.jpg")
    truth = read_mask(masks / f"{car_id(3)}_01_mask.gif")
    prob = Predictor.load(model, engine="keras").predict(image).prob
    mask = (prob > 0.5).astype(np.uint8)
    before = dice(mask, truth)
    refine_edge(image, prob, mask, refiner)
    assert dice(mask, truth) >= before - 0.01  # it reads this model's edge, not noise


def test_refuses_the_models_validation_cars_and_unknown_cars(setup, capsys):
    root, _train, _masks, model = setup
    out = root / "refused.npz"
    base = ["train-edge-refiner", str(root / "data"), "-o", str(out), "--model", str(model)]
    assert main([*base, "--cars", f"{car_id(1)},{car_id(3)}"]) == 1
    err = capsys.readouterr().err
    assert car_id(3) in err and "validation cars" in err
    assert main([*base, "--cars", "0123456789ab"]) == 1
    assert "0123456789ab" in capsys.readouterr().err
    empty = root / "cars.txt"
    empty.write_text("\n")
    assert main([*base, "--cars-file", str(empty)]) == 1
    assert "no car ids" in capsys.readouterr().err
    assert not out.exists()
