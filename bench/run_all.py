"""The whole benchmark suite in one command: every figure beside its target from the issues.

Run:  python bench/run_all.py [--quick]

Sections (each is also a script of its own in bench/):
  1. default model: full-resolution Dice on the validation cars (with / without flip TTA),
     inference images/s at full resolution, `carvana export` throughput and peak memory
  2. RLE encode time vs the common numpy one-liner; scanning 100,064 file names
  3. desktop app: window start, brush stamp + repaint, image switch, one-click auto-mask
  4. event-loop latency while fine-tuning runs in the background
  5. correction effort: clicks per mask to Dice 0.995 / 0.997, brush vs smart click
  6. inference engines side by side: auto-mask ms (plain, flip TTA), export images/s and
     peak memory, Dice, each as a ratio to Keras
--quick scores 32 validation images instead of all 160 (in 1, 5 and 6), exports 16 images
instead of 64 in 6 and skips the latency run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_paths import CARVANA_DATA

BENCH = Path(__file__).resolve().parent


def section(title: str, script: str, *args: str) -> int:
    print(f"\n=== {title}  (python bench/{script} {' '.join(args)})".rstrip() + " ===", flush=True)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    start = time.perf_counter()
    code = subprocess.call([sys.executable, str(BENCH / script), *args], env=env)
    print(f"--- {time.perf_counter() - start:.0f} s, exit status {code}", flush=True)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, no latency run")
    args = parser.parse_args()
    failures = 0
    model_args = ["--dice-images", "32"] if args.quick else []
    failures += bool(section("default model", "bench_default_model.py", *model_args))
    failures += bool(section("RLE encoding", "bench_rle.py"))
    failures += bool(section("folder scan", "bench_scan.py"))
    failures += bool(section("desktop app", "bench_gui.py"))
    if not args.quick:
        failures += bool(section("event loop during fine-tuning", "bench_latency.py"))
    effort_args = ["--limit", "32"] if args.quick else []
    failures += bool(
        section("correction effort", "correction_effort.py", str(CARVANA_DATA), *effort_args)
    )
    engine_args = (
        ["--dice-images", "32", "--export-images", "16"]
        if args.quick
        else ["--dice-images", "160", "--export-images", "64"]
    )
    failures += bool(section("inference engines", "bench_engines.py", *engine_args))
    print(f"\n{failures} section(s) failed" if failures else "\nall sections ran")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
