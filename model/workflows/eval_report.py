"""A visual evaluation report: one self-contained HTML page with its PNG figures beside it.

``carvana score-model --report DIR`` and ``carvana evaluate --report DIR`` write it:
Dice per car, the distribution over images, flip TTA against none and the threshold sweep
(score-model only: evaluate compares fixed masks), and the worst images as crops around
their densest errors with the editor's two-colour difference overlay. Pages use relative
paths only, so the folder can be moved, zipped or opened offline.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from model.data.masks import atomic_write_bytes
from model.kaggle.difference import FALSE_CAR_RGB, MISSED_CAR_RGB
from model.workflows import report_figures
from model.workflows.worst_images import WorstImage, WorstImages

if TYPE_CHECKING:  # only the type: importing model.nn here would load Keras
    from model.nn.evaluation import ModelScore

INDEX = "index.html"
FIGURES = "figures"


@dataclass
class ReportData:
    """What a report shows; per-image values only, plus the worst images' pictures."""

    title: str
    dice: dict[str, float]  # per image, in the variant the report is about
    label: str  # that variant, e.g. "flip TTA, threshold 0.5"
    facts: list[tuple[str, str]] = field(default_factory=list)
    plain: dict[str, float] | None = None  # per image without TTA (score-model)
    tta: dict[str, float] | None = None  # per image with flip TTA (score-model)
    sweep: dict[str, dict[float, float]] | None = None  # curve -> threshold -> mean Dice
    model_threshold: float | None = None
    worst: list[WorstImage] = field(default_factory=list)


def from_model_score(
    score: ModelScore, worst: WorstImages, facts: list[tuple[str, str]], title: str
) -> ReportData:
    """A score-model report: about flip TTA at the model's threshold (the app's auto-mask
    default), with no-TTA beside it."""
    t = score.model_threshold
    return ReportData(
        title=title,
        dice=dict(score.scores[(True, t)]),
        label=f"flip TTA, threshold {t:g}",
        facts=facts,
        plain=dict(score.scores[(False, t)]),
        tta=dict(score.scores[(True, t)]),
        sweep={
            "no TTA": {th: score.mean(False, th) for th in score.thresholds},
            "flip TTA": {th: score.mean(True, th) for th in score.thresholds},
        },
        model_threshold=t,
        worst=worst.worst(),
    )


def _worst_png(picture: np.ndarray) -> bytes:
    """A photo crop as an 8-bit palette PNG: about a third of the RGB size, and the two
    difference colours keep entries of their own (no dithering blurs them)."""
    image = Image.fromarray(picture).quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _figures(data: ReportData) -> list[tuple[str, str, bytes, str]]:
    """(file name, heading, PNG, caption) of each chart the data allows."""
    f = report_figures
    charts = []
    png, cap = f.dice_per_car(data.dice, data.label, data.plain if data.tta else None)
    charts.append(("dice-per-car.png", "Dice per car", png, cap))
    png, cap = f.dice_histogram(data.dice, data.label)
    charts.append(("dice-histogram.png", "Distribution over images", png, cap))
    if data.plain and data.tta:
        png, cap = f.tta_scatter(data.plain, data.tta)
        charts.append(("tta-vs-none.png", "Flip TTA against none", png, cap))
    if data.sweep:
        png, cap = f.threshold_sweep(data.sweep, data.model_threshold)
        charts.append(("threshold-sweep.png", "Threshold sweep", png, cap))
    return charts


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1320px;
       color: #1d2329; background: #fafbfc; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table.facts td { padding: 2px 14px 2px 0; } table.facts td:first-child { color: #5a6570; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; background: #fff; border: 1px solid #dde2e7; padding: 8px; }
figcaption { font-size: 13px; color: #44505c; max-width: 620px; margin-top: 4px; }
.legend span { display: inline-block; width: 12px; height: 12px; vertical-align: -1px;
               margin: 0 4px 0 12px; }
ol.worst { padding-left: 22px; } ol.worst li { margin-bottom: 18px; }
ol.worst img { display: block; max-width: 100%; image-rendering: pixelated; }
.name { font-family: ui-monospace, monospace; font-weight: 600; }
.muted { color: #5a6570; font-size: 13px; }
"""

# Marks the body with how many pictures decoded (``data-images-loaded="k/n"``): a quick
# check that the folder is complete, used by the tests through headless Chromium.
_CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images-loaded", ok.length + "/" + images.length);
});
</script>
"""


def _rgb(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _html(data: ReportData, charts: list[tuple[str, str, str]], worst: list[str]) -> str:
    e = html.escape
    mean = float(np.mean(list(data.dice.values()))) if data.dice else float("nan")
    facts = [*data.facts, ("mean Dice", f"{mean:.5f} ({data.label})")]
    rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in facts)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(data.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(data.title)}</h1>",
        f'<table class="facts">{rows}</table>',
        '<div class="charts">',
    ]
    for name, heading, caption in charts:
        parts.append(
            f'<figure id="{e(Path(name).stem)}"><h2>{e(heading)}</h2>'
            f'<img src="{FIGURES}/{e(name)}" alt="{e(heading)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    parts.append("</div>")
    parts.append(f"<h2>The {len(data.worst)} worst images ({e(data.label)})</h2>")
    parts.append(
        '<p class="legend muted">Whole image (crop windows outlined), then crops at 1:1:'
        f'<span style="background:{_rgb(FALSE_CAR_RGB)}"></span>false car (mask, not truth)'
        f'<span style="background:{_rgb(MISSED_CAR_RGB)}"></span>missed car (truth, not mask)'
        "</p>"
    )
    parts.append('<ol class="worst">')
    for item, name in zip(data.worst, worst, strict=True):
        d = item.difference
        parts.append(
            f'<li data-image="{e(item.image_id)}"><span class="name">{e(item.image_id)}</span> '
            f"Dice {item.dice:.4f} "
            f'<span class="muted">false car {d.false_car:,} px, '
            f"missed car {d.missed_car:,} px</span>"
            f'<img src="{FIGURES}/{e(name)}" alt="errors of {e(item.image_id)}"></li>'
        )
    parts.append("</ol>")
    parts.append(_CHECK_SCRIPT)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/figures/*.png``; returns the page.

    Worst-image pictures of an earlier report in the same folder are removed first, so
    a shorter list never leaves stale pictures behind.
    """
    if not data.dice:
        raise ValueError("nothing to report: no image was scored")
    out_dir = Path(out_dir)
    figures = out_dir / FIGURES
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("worst-*.png"):
        old.unlink()
    charts = []
    for name, heading, png, caption in _figures(data):
        atomic_write_bytes(figures / name, png)
        charts.append((name, heading, caption))
    worst_names = []
    for rank, item in enumerate(data.worst, start=1):
        name = f"worst-{rank:02d}.png"
        atomic_write_bytes(figures / name, _worst_png(item.picture))
        worst_names.append(name)
    page = out_dir / INDEX
    atomic_write_bytes(page, _html(data, charts, worst_names).encode("utf-8"))
    return page
