"""Event-loop stalls after an edit in a 100,064-image folder (Kaggle's test-set size).

Run: QT_QPA_PLATFORM=offscreen python bench/bench_scale_edit.py [--images 100064] [--strokes 5]

Builds a temporary folder of 100,064 Carvana-named JPEGs (hard links to one 1918x1280
image, so nothing big is written), a project store in which a third of them are
auto-masked and some edited (rows only), opens the real main window on it, and paints
brush strokes on the current image. After each stroke a 5 ms QTimer probe runs for 3 s:
the panels' recount one second after an edit, the autosave and the image-list refresh all
fall in that window. Prints the largest and 99th-percentile gap between probe ticks
(target: max < 100 ms). Settings and models live in the temporary folder.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROBE_MS = 5
WATCH_S = 3.0
LINKS_PER_FILE = 50_000


def _folder(tmp: Path, count: int) -> Path:
    import cv2
    import numpy as np

    folder = tmp / "test"
    folder.mkdir()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (1280, 1918, 3), dtype=np.uint8)
    for i in range(count):
        source = tmp / f"source{i // LINKS_PER_FILE}.jpg"  # file systems cap links per file
        if i % LINKS_PER_FILE == 0:
            cv2.imwrite(str(source), image)
        os.link(source, folder / f"{i // 16:012x}_{i % 16 + 1:02d}.jpg")
    return folder


def _rows(tmp: Path, folder: Path) -> None:
    from model.edits.lifecycle import MaskRecord, MaskState
    from model.edits.project_store import ProjectStore

    names = sorted(p.stem for p in folder.iterdir())
    rows = {}
    for name in names[32::3]:  # rows only: the images the window opens have none
        rows[name] = MaskRecord(MaskState.AUTO, auto_version="v001", has_auto=True)
    for name in names[33::50]:
        rows[name] = MaskRecord(MaskState.EDITED, has_edit=True, auto_version="v001")
    store = ProjectStore(tmp / "edits")
    store.put_records(rows)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_064)
    parser.add_argument("--strokes", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    os.environ["CARVANA_GUI_CONFIG_DIR"] = str(tmp / "config")
    os.environ["CARVANA_MODELS_DIR"] = str(tmp / "models")
    t0 = time.perf_counter()
    folder = _folder(tmp, args.images)
    _rows(tmp, folder)
    print(f"{args.images:,} images and their rows prepared in {time.perf_counter() - t0:.1f} s")

    from PySide6.QtCore import QTimer

    from carvana_gui.app import create_app
    from carvana_gui.main_window import MainWindow

    app = create_app()
    window = MainWindow(project_dir=tmp / "edits")
    window.resize(1500, 950)
    window.show()
    t0 = time.perf_counter()
    window.open_folder(folder)
    while window.session.current is None:
        app.processEvents()
        time.sleep(0.002)
    print(f"window open on the folder in {time.perf_counter() - t0:.1f} s")
    window.canvas.fit()
    end = time.perf_counter() + 2
    while time.perf_counter() < end:  # let the opening settle
        app.processEvents()

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(PROBE_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    canvas, tool = window.canvas, window.tools["tool_brush"]
    h, w = window.session.current.image.shape[:2]
    canvas.set_brush_size(40)
    gaps: list[float] = []
    for stroke in range(args.strokes):
        y = h // 4 + stroke * h // 10
        tool.press(canvas, w // 4, y, erase=False)
        for step in range(1, 20):
            tool.move(canvas, w // 4 + step * w // 40, y)
        tool.release(canvas, w // 4 + 19 * w // 40, y)
        ticks.clear()
        timer.start()
        end = time.perf_counter() + WATCH_S
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        stroke_gaps = [1000 * (b - a) for a, b in itertools.pairwise(ticks)]
        print(f"  stroke {stroke + 1}: largest gap {max(stroke_gaps):.0f} ms")
        gaps += stroke_gaps
    window.close()
    gaps.sort()
    p99 = gaps[int(0.99 * (len(gaps) - 1))]
    print(
        f"event-loop gaps over {args.strokes} strokes x {WATCH_S:.0f} s after each: "
        f"max {gaps[-1]:.0f} ms, p99 {p99:.0f} ms, median {statistics.median(gaps):.1f} ms "
        f"(target: max < 100 ms)"
    )


if __name__ == "__main__":
    main()
