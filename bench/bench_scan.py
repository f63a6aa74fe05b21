"""Benchmark: scanning a folder of 100,064 image names (the size of Kaggle's test set).

Run:  python bench/bench_scan.py [--repeat N]

Creates empty files with Carvana names in a temporary folder and times scan_folder
(no image is decoded at scan time). Target (issue 2): well under a second.
Also times the batch panel's count of what to predict over the same 100k images (it runs
on the GUI thread, so it must stay a fraction of a second).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from model.data.dataset import scan_folder
from model.edits.lifecycle import MaskRecord, MaskState
from model.edits.project_store import ProjectStore
from model.workflows.batch_automask import select_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "test"
        folder.mkdir()
        for c in range(6254):
            for a in range(1, 17):
                (folder / f"{c:012x}_{a:02d}.jpg").touch()
        wall, cpu = [], []
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            layout = scan_folder(folder)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        assert len(layout.images) == 100_064
        print(
            f"scan of 100,064 names: median {statistics.median(wall):.3f} s wall, "
            f"{statistics.median(cpu):.3f} s CPU (best {min(wall):.3f} s)  (target < 1 s)"
        )
        project = ProjectStore(Path(tmp) / "test_edits")
        paths = [r.path for r in layout.images]
        rows = {}  # a third already auto-masked, a few hand-edited (rows only, no files)
        for path in paths[::3]:
            rows[path.stem] = MaskRecord(MaskState.AUTO, auto_version="v1", has_auto=True)
        for path in paths[1::50]:
            rows[path.stem] = MaskRecord(MaskState.EDITED, has_edit=True)
        project.put_records(rows)
        counts = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            chosen, protected = select_images(project, paths, "without-mask", "v2")
            counts.append(time.perf_counter() - t0)
        assert protected == len(paths[1::50]) and chosen
    print(
        f"batch-panel count over 100,064 images: median {statistics.median(counts):.3f} s "
        f"(best {min(counts):.3f} s)  (target: no visible freeze, < 0.25 s)"
    )


if __name__ == "__main__":
    main()
