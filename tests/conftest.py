"""Shared fixtures. Keep this tiny: several people edit it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CARVANA_DATA = REPO_ROOT / ".." / "shared" / "data" / "carvana"


@pytest.fixture(scope="session")
def carvana_data() -> Path:
    """The real Kaggle-layout data beside the checkout; skip when it is absent."""
    if not (CARVANA_DATA / "train_masks.csv").is_file():
        pytest.skip(f"real Carvana data not found at {CARVANA_DATA.resolve()}")
    return CARVANA_DATA.resolve()


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir_and_keras_engine(tmp_path_factory):
    """Converted OpenVINO models go to a cache of the test run's, never the user's; and
    tests run the Keras engine unless they ask for another (converting each tiny model
    file for OpenVINO costs seconds; tests/model/test_engines.py covers that engine)."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ.setdefault("CARVANA_ENGINE", "keras")
