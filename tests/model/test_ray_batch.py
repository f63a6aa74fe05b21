"""`carvana export | predict --ray`: the same files as on one machine, made on Ray.

The Ray tests start a private Ray on this machine (`--ray local`) and skip when the
cluster extra is not installed; the rest run without Ray.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from model.cli.main import main
from model.workflows.ray_batch import INSTALL_HINT, actor_plan
from tiny_carvana import make_image_folder

REPO_ROOT = Path(__file__).resolve().parents[2]


def save_red_model(path: Path) -> Path:
    """A 128x128 "network" that marks red pixels: the tiny folder's cars are red on dark
    noise, so its masks have real edges (a random tiny SegNet outputs 0.5 everywhere,
    whose masks would all be empty and prove nothing)."""
    import keras
    import numpy as np

    inputs = keras.Input((128, 128, 3))
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="red")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("red").set_weights(
        [np.array([12.0, -2.0, -2.0], np.float32).reshape(1, 1, 3, 1), np.array([-5.0])]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def folder_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    train, _ = make_image_folder(root / "data", cars=3, angles=3)
    (train / "000000000bad_01.jpg").write_bytes(b"not a jpeg")  # skipped and reported
    return train, save_red_model(root / "model" / "red.keras")


def _skipped_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("skipped ")]


@pytest.mark.slow
def test_ray_export_writes_the_local_submission_byte_for_byte(folder_and_model, tmp_path, capsys):
    pytest.importorskip("ray.data")
    train, model = folder_and_model
    local, remote = tmp_path / "local.csv", tmp_path / "ray.csv"
    common = ["--model", str(model), "--batch-size", "2"]
    assert main(["export", str(train), "-o", str(local), *common]) == 2  # 1 image skipped
    local_out = capsys.readouterr()
    assert main(["export", str(train), "-o", str(remote), *common, "--ray", "local"]) == 2
    remote_out = capsys.readouterr()
    assert remote.read_bytes() == local.read_bytes()
    rows = local.read_text().splitlines()
    assert len(rows) == 1 + 9 and all(len(row.split(",")[1]) > 10 for row in rows[1:])
    assert "valid submission, 9 rows" in remote_out.out
    assert _skipped_lines(remote_out.err) == _skipped_lines(local_out.err)
    assert len(_skipped_lines(local_out.err)) == 1


@pytest.mark.slow
def test_ray_predict_writes_the_local_masks(folder_and_model, tmp_path, capsys):
    pytest.importorskip("ray.data")
    train, model = folder_and_model
    local, remote = tmp_path / "local", tmp_path / "ray"
    common = ["--model", str(model), "--probabilities", "--format", "gif", "--tta"]
    assert main(["predict", str(train), "-o", str(local), *common]) == 2
    local_err = capsys.readouterr().err
    assert main(["predict", str(train), "-o", str(remote), *common, "--ray", "local"]) == 2
    assert _skipped_lines(capsys.readouterr().err) == _skipped_lines(local_err)
    files = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    assert len(files) == 18  # 9 masks, 9 probability maps
    assert sorted(p.relative_to(remote) for p in remote.rglob("*") if p.is_file()) == files
    for name in files:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name


def test_without_ray_installed_the_error_names_the_extra(tmp_path, monkeypatch, capsys):
    train, _ = make_image_folder(tmp_path / "data", cars=1, angles=1)
    model = tmp_path / "m.keras"
    with zipfile.ZipFile(model, "w") as archive:  # never loaded: Ray is checked first
        archive.writestr("config.json", "{}")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    args = ["export", str(train), "-o", str(tmp_path / "s.csv"), "--model", str(model)]
    assert main([*args, "--ray", "auto"]) == 1
    err = capsys.readouterr().err
    assert "--ray needs Ray Data" in err and INSTALL_HINT in err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.csv.partial").exists()


def test_help_and_the_parser_never_import_ray():  # a fresh interpreter, under a second: no Keras
    code = (
        "import sys; from model.cli.main import build_parser; build_parser(); "
        "import model.cli.network, model.cli.cluster; "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=120)


def test_actor_plan_puts_one_actor_on_each_node_by_default():
    nodes = [{"Resources": {"CPU": 8.0}}, {"Resources": {"CPU": 16.0}}]
    assert actor_plan(nodes) == (2, 8)  # one per node, each fits on the smaller node
    assert actor_plan(nodes, 6) == (6, 4)  # 24 CPUs among 6
    assert actor_plan(nodes, 100) == (100, 1)
    assert actor_plan([]) == (1, 1)


def test_the_engine_variable_is_the_engines_own():
    from model.nn.engines import ENGINE_ENV
    from model.workflows.ray_batch import ENGINE_ENV as RAY_ENGINE_ENV

    assert RAY_ENGINE_ENV == ENGINE_ENV
