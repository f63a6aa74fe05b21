"""Where the model errs (issue 23): the difference painter, the worst-image keeper and the
visual evaluation report of `carvana score-model --report` and `carvana evaluate --report`.

The report tests run on real Carvana images (skipped without them): score-model's through a
predictor whose "network output" is each image's truth shifted by a known amount, so the
worst images and their order are known in advance, evaluate's on masks eroded by known
amounts. Both are fast: no network runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from model.cli.main import main
from model.data.masks import read_mask, write_mask
from model.kaggle.difference import (
    FALSE_CAR_RGB,
    MISSED_CAR_RGB,
    compare,
    difference_rgba,
    error_windows,
    paint_difference,
)
from model.nn.evaluation import validation_records
from model.nn.predictor import Predictor
from model.workflows.eval_report import ReportData, write_report
from model.workflows.worst_images import WorstImages

CHARTS = ("dice-per-car.png", "dice-histogram.png", "tta-vs-none.png", "threshold-sweep.png")
# two cars of the real data, two angles each: enough for a bar per car and an order
REAL_IMAGES = ("00087a6bd4dc_01", "00087a6bd4dc_05", "02159e548029_03", "02159e548029_09")


def _real_layout(data: Path, root: Path, ids=REAL_IMAGES) -> Path:
    """A Kaggle-layout folder of symlinks to a few real images and their truth."""
    (root / "train").mkdir(parents=True)
    (root / "train_masks").mkdir()
    for image_id in ids:
        (root / "train" / f"{image_id}.jpg").symlink_to(data / "train" / f"{image_id}.jpg")
        name = f"{image_id}_mask.gif"
        (root / "train_masks" / name).symlink_to(data / "train_masks" / name)
    return root


def _report_parts(page: Path) -> tuple[list[str], list[str]]:
    """The <img> sources of a report page, and its worst images' ids in page order."""
    text = page.read_text()
    return re.findall(r'<img src="([^"]+)"', text), re.findall(r'<li data-image="([^"]+)"', text)


def _pixels_of(png: Path, rgb: tuple[int, int, int]) -> int:
    picture = np.asarray(Image.open(png).convert("RGB"))
    return int(np.count_nonzero((picture == np.array(rgb, np.uint8)).all(axis=2)))


# -- the difference painter ---------------------------------------------------------------
def test_difference_counts_colours_and_the_densest_windows():
    truth = np.zeros((60, 90), np.uint8)
    truth[10:50, 20:70] = 1
    mask = truth.copy()
    mask[10:30, 20:25] = 0  # 100 px of car missed on the left
    mask[5:10, 75:85] = 1  # 50 px of false car at the top right
    diff = compare(mask, truth)
    assert (diff.false_car, diff.missed_car) == (50, 100)
    assert diff.dice == pytest.approx(2 * 1900 / (1950 + 2000))
    rgba = difference_rgba(mask, truth)
    assert tuple(rgba[7, 80]) == (*FALSE_CAR_RGB, 255)
    assert tuple(rgba[20, 22]) == (*MISSED_CAR_RGB, 255)
    assert rgba[30, 50, 3] == 0 and rgba[0, 0, 3] == 0  # agreement is transparent
    bgra = paint_difference(mask, truth, np.empty((60, 90, 4), np.uint8), order="bgra")
    assert tuple(bgra[7, 80]) == (*FALSE_CAR_RGB[::-1], 255)  # Qt's little-endian ARGB32
    first, second = error_windows(mask, truth, (20, 20), count=2)
    assert first[1] <= 20 < first[3] and first[3] - first[1] == 20  # the missed strip first
    assert second[1] <= 75 < second[3] and second[0] <= 5  # then the false car
    assert error_windows(truth, truth, (20, 20)) == []


def test_worst_images_keeps_the_n_lowest_in_order_and_loads_photos_only_for_them():
    truth = np.zeros((40, 60), np.uint8)
    truth[10:30, 10:50] = 1
    keeper = WorstImages(3, crop_hw=(20, 30))
    loaded = []
    for i, value in enumerate([0.9, 0.5, 0.99, 0.7, 0.5, 0.95]):
        image_id = f"car_{i:02d}"
        if keeper.wants(image_id, value):
            assert keeper.offer(image_id, value, truth, truth, lambda i=i: loaded.append(i))
        else:
            assert not keeper.offer(image_id, value, truth, truth, lambda: pytest.fail("load"))
    assert [(w.image_id, w.dice) for w in keeper.worst()] == [
        ("car_01", 0.5),
        ("car_04", 0.5),  # ties by id
        ("car_03", 0.7),
    ]
    assert loaded == [0, 1, 2, 3, 4]  # not the last: better than the three kept by then
    with pytest.raises(ValueError):
        WorstImages(-1)


# -- score-model --report on real images ---------------------------------------------------
class _ShiftedTruth(Predictor):
    """Answers each image (in scoring order) with its truth shifted right by ``shift`` model
    pixels, and its mirror with the exact truth: no TTA errs by the shift, flip TTA (their
    mean) keeps only the overlap at threshold 0.5. The larger the shift, the worse."""

    def __init__(self, records, shifts: dict[str, int], input_size=(320, 480)) -> None:
        self.threshold = 0.5
        self.input_size = input_size
        self.name = "shifted-truth"
        self.edges = None  # the general model: no car edge classifier
        self.meta = {"data": {"val_cars": sorted({r.car_id for r in records})}}
        self.engine = SimpleNamespace(name="test")
        self._answers = []
        for record in records:
            h, w = input_size
            truth = read_mask(record.mask_path).astype(np.float32)
            small = cv2.resize(truth, (w, h), interpolation=cv2.INTER_AREA)
            plain = np.roll(small, shifts[record.image_id], axis=1)
            self._answers.append(np.stack([plain, small[:, ::-1]]))

    def predict_probabilities(self, batch, tta=False):
        return self._answers.pop(0)


def test_score_model_report_on_real_images(carvana_data, tmp_path, monkeypatch, capsys):
    data = _real_layout(carvana_data, tmp_path / "data")
    shifts = dict(zip(REAL_IMAGES, (8, 0, 16, 4), strict=True))
    records = validation_records(data, {"data": {"val_cars": ["00087a6bd4dc", "02159e548029"]}})
    assert [r.image_id for r in records] == list(REAL_IMAGES)
    oracle = _ShiftedTruth(records, shifts)
    monkeypatch.setattr(
        "model.cli.network.resolve_model", lambda arg: SimpleNamespace(path=Path(arg))
    )
    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, path, **kw: oracle))
    out = tmp_path / "report"
    argv = ["score-model", str(data), "--model", "m.keras", "--report", str(out)]
    assert main([*argv, "--report-worst", "3", "--json", str(tmp_path / "s.json")]) == 0
    assert f"report: {out / 'index.html'}" in capsys.readouterr().out
    assert not oracle._answers  # every image was scored once

    sources, worst = _report_parts(out / "index.html")
    figures = [f"figures/{name}" for name in CHARTS]
    assert sources == [*figures, *(f"figures/worst-0{rank}.png" for rank in (1, 2, 3))]
    for source in sources:
        Image.open(out / source).verify()  # every picture is a whole PNG
    # the worst three by flip-TTA Dice, worst first: the largest shifts
    assert worst == ["02159e548029_03", "00087a6bd4dc_01", "02159e548029_09"]
    text = (out / "index.html").read_text()
    assert "Dice per car" in text and "Threshold sweep" in text and "Flip TTA against none" in text
    # a shifted car leaves car out on one side (missed) and claims floor on the other (false)
    missed = _pixels_of(out / "figures/worst-01.png", MISSED_CAR_RGB)
    false = _pixels_of(out / "figures/worst-01.png", FALSE_CAR_RGB)
    assert missed > 100 and false < missed / 10  # flip TTA kept about the overlap only
    assert (out / "figures/worst-01.png").stat().st_size < 150_000  # small palette PNGs


# -- evaluate --report on real images ------------------------------------------------------
def test_evaluate_report_on_real_images_orders_the_worst_with_photos(
    carvana_data, tmp_path, capsys
):
    data = _real_layout(carvana_data, tmp_path / "data")
    pred = tmp_path / "pred"
    pred.mkdir()
    erode = dict(zip(REAL_IMAGES, (2, 9, 0, 5), strict=True))  # pixels eaten off each edge
    for image_id, px in erode.items():
        truth = read_mask(data / "train_masks" / f"{image_id}_mask.gif")
        if px:
            truth = cv2.erode(truth, np.ones((2 * px + 1, 2 * px + 1), np.uint8))
        write_mask(pred / f"{image_id}.png", truth)
    out = tmp_path / "report"
    argv = ["evaluate", "--pred", str(pred), "--truth", str(data / "train_masks")]
    assert main([*argv, "--report", str(out)]) == 0
    assert "report:" in capsys.readouterr().out
    sources, worst = _report_parts(out / "index.html")
    assert sources[:2] == ["figures/dice-per-car.png", "figures/dice-histogram.png"]
    assert not (out / "figures" / "tta-vs-none.png").exists()  # fixed masks: no TTA, no sweep
    assert worst == ["00087a6bd4dc_05", "02159e548029_09", "00087a6bd4dc_01", "02159e548029_03"]
    # the photos come from train/ beside train_masks/: the crops show the car, not grey
    picture = np.asarray(Image.open(out / "figures/worst-01.png").convert("RGB"))
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 64
    assert _pixels_of(out / "figures/worst-01.png", MISSED_CAR_RGB) > 100


# -- the page in a browser -----------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _small_report(out: Path) -> Path:
    """A report of synthetic images (no real data needed): two cars, every chart."""
    rng = np.random.default_rng(0)
    truth = np.zeros((90, 135), np.uint8)
    truth[20:70, 30:110] = 1
    keeper = WorstImages(2, crop_hw=(40, 60))
    dice, plain = {}, {}
    for i, image_id in enumerate(["00000000000a_01", "00000000000a_02", "00000000000b_01"]):
        mask = np.roll(truth, 2 * i + 1, axis=1)
        dice[image_id], plain[image_id] = compare(mask, truth).dice, 0.98 - 0.01 * i
        photo = rng.integers(0, 255, (*truth.shape, 3), dtype=np.uint8)
        keeper.offer(image_id, dice[image_id], mask, truth, photo)
    data = ReportData(
        title="test report",
        dice=dice,
        label="flip TTA",
        plain=plain,
        tta=dice,
        sweep={"no TTA": {0.4: 0.97, 0.5: 0.98}, "flip TTA": {0.4: 0.975, 0.5: 0.985}},
        model_threshold=0.5,
        worst=keeper.worst(),
    )
    return write_report(data, out)


def test_a_shorter_report_in_the_same_folder_leaves_no_stale_pictures(tmp_path):
    page = _small_report(tmp_path / "report")
    assert (page.parent / "figures" / "worst-02.png").is_file()
    again = ReportData(title="again", dice={"00000000000a_01": 0.9}, label="as given")
    write_report(again, page.parent)  # no worst images this time
    assert not list((page.parent / "figures").glob("worst-*.png"))
    assert "The 0 worst images" in page.read_text()


def _images_loaded_in_chromium(page: Path, tmp_path: Path) -> tuple[int, int]:
    """(decoded, all) <img> of the page in headless Chromium, as the page's own check
    script marks them on the body once everything has loaded."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'data-images-loaded="(\d+)/(\d+)"', done.stdout)
    assert found, f"no load mark in Chromium's DOM (exit {done.returncode}): {done.stderr[-2000:]}"
    return int(found[1]), int(found[2])


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install chromium)")
def test_every_picture_of_the_report_loads_in_headless_chromium(tmp_path):
    page = _small_report(tmp_path / "report")
    sources, _ = _report_parts(page)
    assert len(sources) == len(CHARTS) + 2
    assert _images_loaded_in_chromium(page, tmp_path) == (len(sources), len(sources))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install chromium)")
def test_the_browser_check_sees_a_missing_picture(tmp_path):
    page = _small_report(tmp_path / "report")
    (page.parent / "figures" / "worst-02.png").unlink()  # a folder copied incompletely
    loaded, total = _images_loaded_in_chromium(page, tmp_path)
    assert (loaded, total) == (total - 1, len(CHARTS) + 2)


# -- the shipped model's report, linked from the model card --------------------------------
MODEL_DIR = Path(__file__).resolve().parents[2] / "model"


def test_the_model_cards_report_is_linked_complete_and_small():
    page = MODEL_DIR / "report" / "index.html"
    assert "(report/index.html)" in (MODEL_DIR / "MODEL_CARD.md").read_text()
    sources, worst = _report_parts(page)
    assert [s for s in sources if not s.startswith("figures/worst-")] == [
        f"figures/{name}" for name in CHARTS
    ]
    assert len(worst) == 10 and len(sources) == len(CHARTS) + 10
    for source in sources:
        assert (page.parent / source).is_file(), source
    files = [page, *(page.parent / "figures").iterdir()]
    assert len(files) == len(sources) + 1  # nothing stale beside them
    assert sum(f.stat().st_size for f in files) < 1_500_000  # small enough to commit
