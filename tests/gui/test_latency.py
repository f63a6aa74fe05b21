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
ATTEMPTS = 2


def _measure(tmp_path: Path, attempt: int) -> dict:
    out = tmp_path / f"latency{attempt}.json"
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
    assert figures["batches"] >= 3, figures  # the train cars' images, batch 2, 3 epochs
    # The run trained something worth keeping (not NaN, not "nothing to keep").
    assert figures["selection"] and figures["selection"]["version"], figures["panel_status"]
    assert figures["tf_threads"][1] == "1"
    assert figures["stroke_steps"] > 50  # strokes kept being applied during training
    assert figures["p99_gap_ms"] < LIMIT_MS / 2, figures
    return figures


@pytest.mark.slow
def test_event_loop_never_stalls_while_fine_tuning(tmp_path):
    # A real regression (training holding this interpreter's GIL, a redraw per batch) stalls
    # the event loop in every run. A shared 2-core CI host also descheduled this process
    # once for ~105 ms in an otherwise clean run, so one more run decides: both must stall.
    tries = []
    for attempt in range(ATTEMPTS):
        figures = _measure(tmp_path, attempt)
        tries.append(figures)
        if figures["max_gap_ms"] < LIMIT_MS:
            return
        if figures["baseline_max_gap_ms"] > QUIET_BASELINE_MS:
            pytest.skip(
                f"machine too busy to judge 100 ms stalls: the probe alone, with nothing "
                f"training, already stalled {figures['baseline_max_gap_ms']:.0f} ms "
                f"(with training: max {figures['max_gap_ms']:.0f} ms, "
                f"p99 {figures['p99_gap_ms']:.0f} ms)"
            )
    pytest.fail(
        "event loop stalled >= 100 ms during fine-tuning in every run: "
        + "; ".join(
            f"max {t['max_gap_ms']:.0f} ms, worst {t['worst_gaps_ms_after_event_at_s']}"
            for t in tries
        )
    )


GC_PROBE = """
import gc, json, sys
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info["generation"]))
from carvana_gui.jobs.runtime_tuning import collector_paused, import_model_stack
before = len(collections)
import_model_stack()
during = len(collections) - before
frozen = gc.get_freeze_count()
import_model_stack()  # a second call must not freeze again (later models stay collectable)
again = gc.get_freeze_count()
try:
    with collector_paused():
        raise RuntimeError
except RuntimeError:
    pass
print(json.dumps({"during": during, "frozen": frozen, "again": again, "enabled": gc.isenabled()}))
"""


@pytest.mark.slow  # minutes of the everyday suite on a 2-core CPU: run by .ci/run
def test_importing_the_model_stack_runs_no_collection_and_freezes_its_heap():
    # Full collections hold the GIL: during TensorFlow's import they took 50-220 ms each,
    # frozen GUI time. Fresh interpreter: keras must not be imported yet.
    run = subprocess.run(
        [sys.executable, "-c", GC_PROBE], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["during"] == 0, figures
    assert figures["frozen"] > 100_000, figures  # TensorFlow + Keras: hundreds of thousands
    assert figures["again"] == figures["frozen"], figures
    assert figures["enabled"], figures
