"""The evaluation report's charts, drawn with matplotlib's Agg renderer into PNG bytes.

Agg is used explicitly (a ``Figure`` with its own ``FigureCanvasAgg``), never through
pyplot: no global backend is chosen, no window can open, and the GUI process (which may
one day import this) keeps its own state. Matplotlib is imported inside the functions so
that `carvana --help` and report-less commands never pay for it.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from model.data.dataset import parse_image_name

PLAIN_COLOUR = "#8a9bb0"
TTA_COLOUR = "#1f6fd1"
MAIN_COLOUR = "#1f6fd1"
MAX_CARS_SHOWN = 40  # more bars than this are unreadable: the worst cars are shown
DPI = 100


def car_of(image_id: str) -> str:
    """The car an image shows (its id before ``_NN``); other names are their own car."""
    return parse_image_name(image_id)[1] or image_id


def mean_by_car(dice: Mapping[str, float]) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for image_id, value in dice.items():
        groups[car_of(image_id)].append(value)
    return {car: float(np.mean(values)) for car, values in groups.items()}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _dice_floor(values: list[float]) -> float:
    """A y-axis start that spreads Dice values near 1 apart, rounded to a readable tick."""
    low = min(values) if values else 0.0
    span = max(1.0 - low, 1e-4)
    floor = low - 0.15 * span
    step = 10 ** math.floor(math.log10(span))
    return max(0.0, math.floor(floor / step) * step)


def dice_per_car(
    dice: Mapping[str, float], label: str, plain: Mapping[str, float] | None = None
) -> tuple[bytes, str]:
    """Bars of the mean Dice of each car, worst car first (with no-TTA bars beside them
    when ``plain`` is given). Returns the PNG and a caption."""
    by_car = mean_by_car(dice)
    cars = sorted(by_car, key=lambda c: (by_car[c], c))
    note = ""
    if len(cars) > MAX_CARS_SHOWN:
        note = f" (the {MAX_CARS_SHOWN} worst of {len(cars)} cars)"
        cars = cars[:MAX_CARS_SHOWN]
    plain_by_car = mean_by_car(plain) if plain else None
    fig = _figure(max(6.0, 0.45 * len(cars) + 2.0), 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(cars))
    values = [by_car[c] for c in cars]
    if plain_by_car is not None:
        width = 0.4
        shown = [plain_by_car[c] for c in cars]
        ax.bar(x - width / 2, shown, width, color=PLAIN_COLOUR, label="no TTA")
        ax.bar(x + width / 2, values, width, color=TTA_COLOUR, label=label)
        # beside the axes, never over the bars
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        values = values + shown
    else:
        ax.bar(x, values, 0.7, color=MAIN_COLOUR)
    ax.set_ylim(_dice_floor(values), 1.0)
    ax.set_xticks(x, cars, rotation=60, ha="right", fontsize=7)  # whole ids: searchable
    ax.set_ylabel("mean Dice")
    ax.set_title(f"Dice per car, worst first{note}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig), f"Mean Dice of each car's images ({label}){note}."


def dice_histogram(dice: Mapping[str, float], label: str) -> tuple[bytes, str]:
    values = np.array(list(dice.values()), dtype=np.float64)
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    low = _dice_floor(list(values))
    ax.hist(values, bins=np.linspace(low, 1.0, 31), color=MAIN_COLOUR, edgecolor="white")
    mean = float(values.mean()) if values.size else float("nan")
    ax.axvline(mean, color="#d14b1f", linewidth=1.2, label=f"mean {mean:.4f}")
    ax.set_xlabel("Dice")
    ax.set_ylabel("images")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Dice over {values.size} images ({label})", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    median = float(np.median(values)) if values.size else float("nan")
    return _png(fig), f"Distribution of the per-image Dice; median {median:.4f}."


def tta_scatter(plain: Mapping[str, float], tta: Mapping[str, float]) -> tuple[bytes, str]:
    """Each image's Dice without TTA (x) and with flip TTA (y): above the line TTA helped."""
    ids = sorted(set(plain) & set(tta))
    x = np.array([plain[i] for i in ids])
    y = np.array([tta[i] for i in ids])
    fig = _figure(4.6, 4.4)
    ax = fig.add_subplot()
    low = _dice_floor(list(x) + list(y))
    ax.plot([low, 1.0], [low, 1.0], color="#999999", linewidth=1, linestyle="--")
    ax.scatter(x, y, s=10, color=TTA_COLOUR, alpha=0.7)
    ax.set_xlim(low, 1.0)
    ax.set_ylim(low, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("Dice, no TTA")
    ax.set_ylabel("Dice, flip TTA")
    helped = int(np.count_nonzero(y > x))
    ax.set_title(f"Flip TTA against none ({helped} of {len(ids)} images better)", fontsize=10)
    ax.grid(alpha=0.3)
    caption = (
        f"Mean Dice {float(x.mean()):.5f} without TTA, {float(y.mean()):.5f} with flip TTA; "
        "points above the dashed line are images TTA improved."
    )
    return _png(fig), caption


def threshold_sweep(
    curves: Mapping[str, Mapping[float, float]], model_threshold: float | None
) -> tuple[bytes, str]:
    """Mean Dice against the probability threshold, one curve per variant."""
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    best_parts = []
    for (label, curve), colour in zip(curves.items(), (PLAIN_COLOUR, TTA_COLOUR), strict=False):
        ts = sorted(curve)
        ax.plot(ts, [curve[t] for t in ts], marker="o", markersize=3, color=colour, label=label)
        best = max(ts, key=lambda t: curve[t])
        best_parts.append(f"{label}: best {best:g} ({curve[best]:.5f})")
    if model_threshold is not None:
        ax.axvline(
            model_threshold, color="#d14b1f", linewidth=1, label=f"model {model_threshold:g}"
        )
    ax.set_xlabel("threshold on the probability")
    ax.set_ylabel("mean Dice")
    ax.set_title("Threshold sweep", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig), "Mean Dice at each threshold; " + "; ".join(best_parts) + "."
