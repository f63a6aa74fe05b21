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
