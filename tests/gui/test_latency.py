"""Event-loop latency while fine-tuning runs and brush strokes are painted (issue 5, item 2).

Runs bench/bench_latency.py --tiny in a fresh interpreter (TensorFlow's thread pools are
sized once per process, so the app's start-up settings must apply): the real main window,
a 10 ms QTimer probe, a brush stroke step every 16 ms, fine-tuning started from the panel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIMIT_MS = 100.0
QUIET_BASELINE_MS = 50.0


@pytest.mark.slow
def test_event_loop_never_stalls_while_fine_tuning(tmp_path):
    out = tmp_path / "latency.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_latency.py"),
            "--tiny",
            "--epochs",
            "3",
            "--baseline-seconds",
            "5",
            "--json",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert (
        figures["batches"] == 9
    )  # 6 training images, batch 2, 3 epochs and figures["selection"]["version"]
    assert figures["tf_threads"][1] == "1"
    assert figures["stroke_steps"] > 50  # strokes kept being applied during training
    assert figures["p99_gap_ms"] < LIMIT_MS / 2, figures
    if figures["max_gap_ms"] >= LIMIT_MS and figures["baseline_max_gap_ms"] > QUIET_BASELINE_MS:
        pytest.skip(
            f"machine too busy to judge 100 ms stalls: the probe alone, with nothing "
            f"training, already stalled {figures['baseline_max_gap_ms']:.0f} ms "
            f"(with training: max {figures['max_gap_ms']:.0f} ms, "
            f"p99 {figures['p99_gap_ms']:.0f} ms)"
        )
    assert figures["max_gap_ms"] < LIMIT_MS, figures
