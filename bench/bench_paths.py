"""Where the benchmark scripts find the repository and the real Carvana data.

Every script in bench/ is run as `python bench/<script>.py`, so this folder is on sys.path
and `from bench_paths import ...` works without installing anything.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The Kaggle-layout training data beside the checkout (never copied into the repository).
CARVANA_DATA = REPO.parent / "shared" / "data" / "carvana"
