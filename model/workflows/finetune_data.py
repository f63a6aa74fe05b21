"""What a fine-tune trains on, and how the reviewed cars are split.

Only masks a person reviewed (``lifecycle.may_train``) train, select or judge; unreviewed
edits are counted and reported, never used; a plain masks folder counts as reviewed. The
reviewed images are split BY CAR into train / select (early stopping, checkpoint choice) /
judge (keep-or-not, nothing else). Ground-truth masks, when asked for, only add training
images, never of a select or judge car. Pure: no Keras.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from model.data.dataset import ImageRecord
from model.edits import lifecycle
from model.edits.project_store import ProjectStore
from model.workflows.finetune_events import DataSummary

JUDGE_FRACTION = 0.2  # of the reviewed cars
SELECT_FRACTION = 0.2
MIN_CARS_TO_JUDGE = 3  # one car each for train, select and judge
MAX_JUDGE_IMAGES = 32  # judging runs at full resolution: keep it to seconds, not minutes


@dataclass
class Sources:
    """The masks a run may use: reviewed ones (mask_path = that mask), the count of
    unreviewed edits left out, and the folder's ground truth (used only when asked)."""

    reviewed: list[ImageRecord]
    unreviewed_edits: int = 0
    ground_truth: list[ImageRecord] = field(default_factory=list)


def reviewed_sources(store: ProjectStore, images: Iterable[ImageRecord]) -> Sources:
    """Ask the lifecycle which masks of ``images`` may train; count the unreviewed edits."""
    rows = store.records()
    reviewed, unreviewed, truth = [], 0, []
    for record in images:
        row = rows.get(record.image_id)
        if record.mask_path is not None:
            truth.append(record)
        if row is None:
            continue
        if lifecycle.may_train(row):
            path = store.source_path(record.image_id)
            if path is not None and path.is_file():
                reviewed.append(replace(record, mask_path=path))
        elif lifecycle.is_unreviewed_edit(row):
            unreviewed += 1
    return Sources(reviewed, unreviewed, truth)


def folder_sources(images: Iterable[ImageRecord]) -> Sources:
    """A plain images + masks folder: every mask there counts as reviewed."""
    return Sources([r for r in images if r.mask_path is not None])


@dataclass
class TrainingSet:
    train: list[ImageRecord]
    select: list[ImageRecord]
    judge: list[ImageRecord]
    summary: DataSummary


def _car(record: ImageRecord) -> str:
    return record.car_id if record.car_id is not None else f"\0{record.image_id}"


def _cars(records: Iterable[ImageRecord]) -> int:
    return len({_car(r) for r in records})


def build_training_set(
    sources: Sources, include_ground_truth: bool = False, seed: int = 0
) -> TrainingSet:
    """Split the reviewed images by car into train / select / judge; add ground truth.

    Same sources and seed give the same split, whatever the order.
    """
    groups: dict[str, list[ImageRecord]] = defaultdict(list)
    for record in sources.reviewed:
        groups[_car(record)].append(record)
    cars = sorted(groups)
    random.Random(seed).shuffle(cars)
    judge_cars: list[str] = []
    select_cars: list[str] = []
    note = ""
    if len(cars) >= MIN_CARS_TO_JUDGE:
        n_judge = max(1, round(len(cars) * JUDGE_FRACTION))
        n_select = max(1, round(len(cars) * SELECT_FRACTION))
        n_judge = min(n_judge, len(cars) - 2)
        n_select = min(n_select, len(cars) - 1 - n_judge)
        images = 0
        for car in cars[:n_judge]:  # whole cars only, up to the cap
            if judge_cars and images + len(groups[car]) > MAX_JUDGE_IMAGES:
                break
            judge_cars.append(car)
            images += len(groups[car])
        rest = [c for c in cars if c not in judge_cars]
        select_cars = rest[:n_select]
    else:
        if len(cars) == 2:
            select_cars = cars[:1]
        note = (
            f"too few reviewed cars for a judge set ({len(cars)}; {MIN_CARS_TO_JUDGE} needed: "
            "train, select, judge): the current model stays unless you make the new one current"
        )
    judge_set, select_set = set(judge_cars), set(select_cars)

    def pick(wanted: set[str]) -> list[ImageRecord]:
        return sorted((r for c in wanted for r in groups[c]), key=lambda r: r.image_id)

    judge, select = pick(judge_set), pick(select_set)
    train = pick(set(cars) - judge_set - select_set)
    ground_truth = 0
    if include_ground_truth:
        taken = {r.image_id for r in sources.reviewed}
        for record in sources.ground_truth:
            # Another angle of a select or judge car would leak the answer.
            car = _car(record)
            if record.image_id not in taken and car not in judge_set and car not in select_set:
                train.append(record)
                ground_truth += 1
    summary = DataSummary(
        reviewed=len(sources.reviewed),
        unreviewed_edits=sources.unreviewed_edits,
        ground_truth=ground_truth,
        train_images=len(train),
        select_images=len(select),
        judge_images=len(judge),
        train_cars=_cars(train),
        select_cars=len(select_set),
        judge_cars=len(judge_set),
        judge_ids=[r.image_id for r in judge],
        note=note,
    )
    return TrainingSet(train, select, judge, summary)


def describe(summary: DataSummary) -> str:
    """One paragraph for the panel and the CLI: what trains, selects, judges, and what not."""
    text = (
        f"{summary.reviewed} reviewed masks: {summary.train_images} train "
        f"({summary.train_cars} cars"
        + (f", {summary.ground_truth} of them ground truth" if summary.ground_truth else "")
        + f"), {summary.select_images} select ({summary.select_cars} cars), "
        f"{summary.judge_images} judge ({summary.judge_cars} cars)."
    )
    if summary.unreviewed_edits:
        text += f" {summary.unreviewed_edits} unreviewed edits not used."
    if summary.note:
        text += f" Note: {summary.note}."
    return text
