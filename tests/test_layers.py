"""Layer rules checked at run time, in clean interpreters.

Pure-array modules must not pull in keras/tensorflow/Qt (they load in milliseconds
and run anywhere); no module of model/ may pull in Qt. Modules are discovered by
glob, so new ones are covered automatically.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO_ROOT / "model"
PURE_PACKAGES = ("data", "kaggle", "edits", "store")
HEAVY = ("keras", "tensorflow", "jax", "PySide6", "pyqtgraph")
QT = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "carvana_gui")
# The OpenVINO inference path: a converted model runs without Keras or TensorFlow, so
# `carvana export`/`predict` on that engine start 7-10 s sooner than through Keras.
KERAS_FREE = ("cli.main", "cli.network", "nn.predictor", "nn.engines", "nn.openvino_engine",
              "workflows.submission_export")  # fmt: skip


def existing_model_modules() -> list[str]:
    """Dotted names below model/ ("cli.main", "edits.lifecycle", "__init__"...)."""
    names = []
    for path in MODEL_DIR.rglob("*.py"):
        if path.stem == "__main__":
            continue
        parts = path.relative_to(MODEL_DIR).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


def pure_modules() -> list[str]:
    return [m for m in existing_model_modules() if m.split(".")[0] in PURE_PACKAGES]


def loaded_after_import(module: str, watched: tuple[str, ...]) -> list[str]:
    """Import ``module`` in a fresh interpreter and list which watched packages got loaded."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", pure_modules())
def test_pure_module_imports_no_framework(name):
    assert loaded_after_import(f"model.{name}", HEAVY) == []


@pytest.mark.parametrize("name", KERAS_FREE)
def test_the_openvino_inference_path_imports_no_framework(name):
    assert loaded_after_import(f"model.{name}", ("keras", "tensorflow", "jax")) == []


def test_all_pure_packages_exist():
    """The pure layer is the foundation the rest builds on; it must not silently vanish."""
    assert [p for p in PURE_PACKAGES if not (MODEL_DIR / p / "__init__.py").exists()] == []
    assert "edits.lifecycle" in pure_modules()


@pytest.fixture(scope="module")
def qt_sweep() -> dict[str, list[str]]:
    """Import every model module in ONE fresh interpreter, noting Qt packages each one adds.

    One interpreter instead of one per module: keras/tensorflow load once (seconds,
    not a minute). Blame is exact for the first module that pulls Qt in.
    """
    modules = ["model" if n == "__init__" else f"model.{n}" for n in existing_model_modules()]
    code = (
        "import importlib, json, sys, traceback\n"
        f"watched = {list(QT)!r}\n"
        "out = {}\n"
        f"for name in {modules!r}:\n"
        "    before = {m for m in watched if m in sys.modules}\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        out[name] = ['import failed: ' + traceback.format_exc(limit=3)]\n"
        "        continue\n"
        "    out[name] = sorted(m for m in watched if m in sys.modules and m not in before)\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", existing_model_modules())
def test_model_module_imports_no_qt(name, qt_sweep):
    module = "model" if name == "__init__" else f"model.{name}"
    assert qt_sweep[module] == []


def test_no_import_cycles_between_our_modules():
    """A cycle hides a layering mistake (it once joined canvas and tools, training and its
    callbacks); every import, TYPE_CHECKING ones included, must point one way."""
    import grimp

    graph = grimp.build_graph("model", "carvana_gui")
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.find_shortest_chain(importer=imported, imported=module):
                cycles.add(tuple(sorted((module, imported))))
    assert sorted(cycles) == []
