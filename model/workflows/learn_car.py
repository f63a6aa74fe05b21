"""Learn this car: from a few reviewed angles, learn how that car's edge looks, then
re-mask that car's angles nobody has edited.

A Carvana car is photographed at 16 angles on one turntable: once a person has reviewed
a few, the model can learn that very car (paint, wheels, shadow). What it learns is where
the network's edge goes wrong on this car: an edge classifier (``model.nn.edge_classifier``)
trained on the band along the edge of the reviewed angles, which then re-decides that band
on the car's other angles at full resolution, after the general edge refiner shipped
with the default model (``model.nn.edge_refiner``) has re-decided it: the car's classifier
learns what the refiner still gets wrong on this car. Chosen over fine-tuning the network
on the reviewed images (the first version of this action): with k = 4 reviewed angles it
took 18.7 % of the error off the other angles of 10 cars the default model never saw
(12.7 % on the validation cars; 15.3 % and 7.6 % without the refiner), against 6.5 % for
fine-tuning, in about 18 s instead of 130 s per car on a 2-core CPU (MODEL_CARD.md,
"Learn this car"). The one workflow behind Model → Learn this car (Ctrl+L, in a child
process), ``carvana finetune FOLDER --car CAR`` and ``bench/learn_car.py``:

1. the base (general) model masks the car's reviewed angles (``lifecycle.may_train``; at
   least ``MIN_REVIEWED``); their edge bands, labelled by the reviewed masks, train the
   classifier (``learn_edges``, settings in ``LearnCarSettings``); each reviewed angle,
   re-decided by a classifier learned from the others alone, must come out with fewer
   wrong edge pixels than the refiner's edge, else the refiner alone is kept when it beats
   the network's edge on them, else nothing is stored and the car keeps its masks;
2. the result is stored in the model store as a per-car version (``vNNN-car-CAR``: the
   base network's file, the classifier beside it, its JSON says ``kind: car``), never as
   the current model;
3. it becomes that car's active model only (``car_models.json`` of the project); other
   cars and the general model are untouched;
4. the car's images in state none or auto (``lifecycle.batch_may_replace``) are re-masked
   with it, as auto-masks: the person still reviews them. The general model's masks it
   replaces are kept aside, so ``forget_car`` puts them back.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from model.data.dataset import ImageRecord
from model.data.masks import read_image, read_mask
from model.edits.car_models import CarModels, car_model_name, may_remask
from model.edits.lifecycle import MaskRecord
from model.edits.project_store import ProjectStore
from model.nn.edge_classifier import FILE_NAME, EdgeClassifier, EdgeSettings, fit_edge_classifier
from model.nn.edge_features import band_features
from model.nn.edge_refiner import load_refiner
from model.store.versions import ModelInfo, ModelStore
from model.workflows.batch_automask import BatchProgress, run_batch_automask
from model.workflows.finetune import StopFn
from model.workflows.finetune_data import Sources, reviewed_sources
from model.workflows.finetune_events import CarLearned, EventFn, Finished, Phase, Remasked

log = logging.getLogger(__name__)

MIN_REVIEWED = 2


@dataclass
class LearnCarSettings:
    """How a car's edge is learned (chosen on training cars, see MODEL_CARD.md)."""

    # the classifier's own settings, defaults from EdgeSettings (which says why)
    band_px: float = EdgeSettings.band_px
    hidden: int = EdgeSettings.hidden
    epochs: int = EdgeSettings.epochs
    learning_rate: float = EdgeSettings.learning_rate
    blend: float = EdgeSettings.blend
    smooth_sigma: float = EdgeSettings.smooth_sigma
    seed: int = EdgeSettings.seed
    # Before anything is stored, each reviewed angle is held out in turn and re-decided by
    # a classifier learned from the others; unless that gets fewer of their edge pixels
    # wrong than the network, nothing is stored (on 10 tuning cars at k = 2 it kept the 2
    # cars that got worse as they were, 9.7 -> 10.5 % mean; at k = 4 it stored every car)
    check_held_out: bool = True
    # at most this many angles are held out, spread around the turntable: each is one more
    # fit, and k = 8 with every angle held out took 45-61 s per car against the 60 s target
    held_out_max: int = 4
    # The car's classifier learns on top of the shipped general edge refiner
    # (model.nn.edge_refiner), which re-decides the edge first: on the 10 tuning cars at
    # k = 4 (a refiner learned from the 50 other added cars, no held-out check) the car's
    # classifier alone took 15.6 % of the other angles' error off, the refiner alone
    # 7.8 %, both 19.1 %; as shipped (with the check) 15.3 -> 18.7 %, k = 2 10.5 -> 13.8 %
    on_edge_refiner: bool = True
    tta: bool = True  # the network's probabilities with flip TTA (learning and re-masking)
    engine: str | None = None  # the network's engine (model.nn.engines; None: auto)

    def edge_settings(self) -> EdgeSettings:
        return EdgeSettings(
            band_px=self.band_px,
            hidden=self.hidden,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            blend=self.blend,
            smooth_sigma=self.smooth_sigma,
            seed=self.seed,
        )


@dataclass
class LearnCarOutcome:
    car: str
    version: ModelInfo | None  # the per-car version; None: nothing was stored
    name: str
    remasked: list[str]
    left_to_editor: list[str]
    cancelled: bool
    seconds: float
    message: str


def car_records(images: Collection[ImageRecord], car: str) -> list[ImageRecord]:
    return sorted((r for r in images if r.car_id == car), key=lambda r: r.image_id)


def car_sources(project: ProjectStore, images: Collection[ImageRecord], car: str) -> Sources:
    """The car's reviewed masks; ValueError (naming the car) when there are too few."""
    records = car_records(images, car)
    if not records:
        raise ValueError(f"no images of car {car!r} in this folder")
    sources = reviewed_sources(project, records)
    if len(sources.reviewed) < MIN_REVIEWED:
        raise ValueError(
            f"learn car {car}: review at least {MIN_REVIEWED} of its angles first "
            f"({len(sources.reviewed)} reviewed)"
        )
    return Sources(sources.reviewed, sources.unreviewed_edits)  # never the folder's truth


def to_remask(
    project: ProjectStore, images: Collection[ImageRecord], car: str
) -> list[ImageRecord]:
    """The car's images nobody has edited (state none or auto)."""
    rows = project.records()
    return [r for r in car_records(images, car) if may_remask(rows.get(r.image_id, MaskRecord()))]


def load_predictor(path: Path, engine: str | None = None) -> Any:
    """The base model's predictor (in the worker / child / CLI only)."""
    from model.nn.predictor import Predictor

    return Predictor.load(path, engine=engine)


@dataclass(frozen=True)
class LearnedEdge:
    """The car's classifier and how it did on the reviewed angles, each held out in turn
    from a classifier learned on the others (edge-band pixels wrong): against the
    network's edge and, when it learned on top of the general edge refiner (its
    ``base``), against the refiner's edge alone."""

    classifier: EdgeClassifier
    wrong_network: int
    wrong_learned: int
    wrong_refined: int | None = None

    @property
    def to_beat(self) -> int:
        """Wrong pixels of the edge the car's classifier learned on: the refiner's, or the
        network's when it learned on the network's own edge."""
        return self.wrong_network if self.wrong_refined is None else self.wrong_refined

    @property
    def refiner_alone(self) -> bool:
        """The car's own edge adds nothing, but the general refiner helps this car."""
        return (
            self.wrong_learned >= self.to_beat
            and self.classifier.base is not None
            and self.wrong_refined is not None
            and self.wrong_refined < self.wrong_network
        )

    @property
    def chosen(self) -> EdgeClassifier | None:
        """What the car's model re-decides its edge with: the car's classifier when it
        beats what it learned on, else the general refiner alone when that beats the
        network on this car, else nothing."""
        if self.wrong_learned < self.to_beat:
            return self.classifier
        return self.classifier.base if self.refiner_alone else None


def learn_edges(
    predictor: Any,
    reviewed: Sequence[ImageRecord],
    settings: LearnCarSettings,
    emit: EventFn,
    should_stop: StopFn,
) -> LearnedEdge | None:
    """Train the car's edge classifier on the band of the network's masks of the
    ``reviewed`` records (``mask_path``: the reviewed mask), and check it with each
    reviewed angle held out (``settings.check_held_out``). None when stopped."""
    features, labels, probs, bands, raw = [], [], [], [], []
    general = load_refiner() if settings.on_edge_refiner else None
    for done, record in enumerate(reviewed, 1):
        if should_stop():
            return None
        image = read_image(record.path)  # read once: the network and the features use it
        truth = read_mask(record.mask_path)
        if truth.shape != image.shape[:2]:
            raise ValueError(
                f"{record.mask_path}: mask {truth.shape} does not match image "
                f"{record.path} {image.shape[:2]}"
            )
        prob = predictor.predict(image, tta=settings.tta).prob
        raw.append(prob)
        if general is not None:  # what the car's classifier re-decides: the refined edge
            prob = general.refine(image, prob, predictor.threshold)
        band, rows = band_features(image, prob, settings.band_px, predictor.threshold)
        features.append(rows)
        labels.append(truth[band] > 0)
        probs.append(prob)
        bands.append(band)
        emit(Phase("learning", f"read the edge of {done} of {len(reviewed)} reviewed angles"))
    if should_stop():
        return None
    pixels = sum(map(len, labels))
    if not pixels:
        raise ValueError(
            f"the model's masks of the {len(reviewed)} reviewed angles have no edge to learn "
            "from (it sees no car in them)"
        )
    emit(Phase("learning", f"learning the car's edge from {pixels} pixels"))
    edge = settings.edge_settings()
    classifier = fit_edge_classifier(np.concatenate(features), np.concatenate(labels), edge)
    classifier = replace(classifier, base=general)  # saved with it, applied before it
    if not settings.check_held_out:
        return LearnedEdge(classifier, 0, 0)
    held_out = spread(len(reviewed), settings.held_out_max)
    emit(Phase("learning", f"checking it on {len(held_out)} reviewed angles, each held out"))
    threshold = predictor.threshold
    checked = _held_out_errors(
        held_out, probs, bands, features, labels, edge, threshold, should_stop
    )
    if checked is None:
        return None
    learned_on, learned = checked  # wrong pixels of the edge it learned on, and its own
    if general is None:
        return LearnedEdge(classifier, learned_on, learned)
    # the general refiner's edge (what the car's classifier learned on) against the
    # network's, over the same band pixels of the same angles
    wrong_raw = sum(int(((raw[i][bands[i]] > threshold) != labels[i]).sum()) for i in held_out)
    return LearnedEdge(classifier, wrong_raw, learned, wrong_refined=learned_on)


def spread(n: int, most: int) -> list[int]:
    """At most ``most`` of the indices 0..n-1, evenly spread (the reviewed angles come in
    angle order, so these are spread around the turntable)."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * n / most) for i in range(most)})


def _held_out_errors(
    held_out: Sequence[int],
    probs: Sequence[np.ndarray],
    bands: Sequence[np.ndarray],
    features: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    edge: EdgeSettings,
    threshold: float,
    should_stop: StopFn,
) -> tuple[int, int] | None:
    """Edge pixels wrong (network, learned) over the reviewed angles, each re-decided by
    a classifier learned from the others alone, for the ``held_out`` indices. None when
    stopped."""
    wrong_network = wrong_learned = 0
    for i in held_out:
        truth = labels[i]
        if should_stop():
            return None
        rest = [j for j in range(len(labels)) if j != i]
        rest_labels = np.concatenate([labels[j] for j in rest])
        if not len(truth) or not len(rest_labels) or rest_labels.min() == rest_labels.max():
            continue  # nothing to check, or the others alone have nothing to learn from
        others = fit_edge_classifier(np.concatenate([features[j] for j in rest]), rest_labels, edge)
        prob, band = probs[i], bands[i]
        refined = others.refine_band(prob, band, features[i])[band]
        wrong_network += int(((prob[band] > threshold) != truth).sum())
        wrong_learned += int(((refined > threshold) != truth).sum())
    return wrong_network, wrong_learned


def store_car_version(
    store: ModelStore,
    base: ModelInfo,
    car: str,
    name: str,
    classifier: EdgeClassifier,
    settings: LearnCarSettings,
    reviewed: Sequence[str],
) -> ModelInfo:
    """The per-car version: the base network's file, the classifier beside it."""
    meta = {
        **base.meta,
        "kind": "car",
        "car": car,
        "name": name,
        "parent": base.version,
        "edge_classifier": FILE_NAME,
        "learn_car": asdict(settings),
        "reviewed": list(reviewed),
    }
    meta.pop("created", None)
    with tempfile.TemporaryDirectory(prefix="learn-car-") as tmp:
        file = Path(tmp) / FILE_NAME
        classifier.save(file)
        return store.add(base.path, meta, label=f"car-{car}", extra_files={FILE_NAME: file})


def learn_car(
    project: ProjectStore,
    images: Collection[ImageRecord],
    car: str,
    store: ModelStore,
    base: ModelInfo,
    settings: LearnCarSettings | None = None,
    on_event: EventFn | None = None,
    should_stop: StopFn | None = None,
    protect: Collection[str] = (),
    truth_of: Callable[[str], Path | None] | None = None,
) -> LearnCarOutcome:
    """Learn ``car``'s edge on top of ``base``, make it the car's active model, re-mask
    the car.

    ``protect``: image ids left to the caller (the one open in the editor); the eligible
    ones come back in ``left_to_editor``. ``truth_of`` fills the Dice column when the
    folder has ground truth. Raises ValueError when the car has too few reviewed angles
    or a reviewed mask does not fit its image.
    """
    started = time.perf_counter()
    settings = settings or LearnCarSettings()
    emit = on_event or (lambda event: None)
    stop = should_stop or (lambda: False)
    sources = car_sources(project, images, car)
    name = car_model_name(base.version, car)
    emit(Phase("loading", f"loading {base.version}"))
    predictor = load_predictor(base.path, settings.engine)  # looked up now: tests swap it
    predictor.edges = None  # the base network's own edge is what the classifier learns from
    try:
        learned = learn_edges(predictor, sources.reviewed, settings, emit, stop)
    except ValueError as exc:
        raise ValueError(f"learn car {car}: {exc}") from None
    if learned is None:
        message = f"learning car {car} cancelled; nothing stored"
        return _finish(
            emit, LearnCarOutcome(car, None, name, [], [], True, _since(started), message)
        )
    classifier = learned.chosen if settings.check_held_out else learned.classifier
    if classifier is None:
        message = (
            f"car {car}'s own edge would not help: learned from its other reviewed angles, "
            f"it got {learned.wrong_learned:,} edge pixels of the reviewed angles wrong "
            f"against {learned.wrong_network:,} for {base.version}; nothing stored, the car "
            "keeps its masks (review more angles and try again)"
        )
        return _finish(
            emit, LearnCarOutcome(car, None, name, [], [], False, _since(started), message)
        )
    if settings.check_held_out and learned.refiner_alone:
        emit(
            Phase(
                "learning",
                f"car {car}'s own edge adds nothing to the general edge refiner's "
                f"({learned.wrong_learned:,} against {learned.wrong_refined:,} wrong edge "
                f"pixels of the reviewed angles; {base.version} alone {learned.wrong_network:,}): "
                "the car's model uses the refiner alone",
            )
        )
    emit(Phase("storing", f"storing {name}"))
    reviewed_ids = [r.image_id for r in sources.reviewed]
    info = store_car_version(store, base, car, name, classifier, settings, reviewed_ids)
    emit(Phase("remasking", f"re-masking car {car} with {name}"))
    todo = to_remask(project, images, car)
    left = [r.image_id for r in todo if r.image_id in protect]
    todo = [r for r in todo if r.image_id not in protect]
    models = CarModels(project.root)
    models.keep_replaced(project, [r.image_id for r in todo] + left)
    models.set(car, info.version, name, base.version)
    remasked: list[str] = []
    cancelled = stop()
    if todo and not cancelled:
        predictor.edges = classifier  # the car's model: the same network, its own edge

        def progress(p: BatchProgress) -> None:
            emit(Remasked(p.done, p.total, p.image_id, p.saved))

        result = run_batch_automask(
            project,
            [r.path for r in todo],
            predictor,
            info.version,
            settings.tta,
            progress,
            stop,
            truth_of=truth_of,
        )
        remasked, cancelled = result.saved_ids, result.cancelled
    seconds = _since(started)
    emit(CarLearned(car, info.version, name, remasked, left, seconds))
    message = f"{name} ({info.version}) re-masked {len(remasked)} of car {car}'s images"
    if cancelled:
        message += " (cancelled while re-masking)"
    return _finish(
        emit, LearnCarOutcome(car, info, name, remasked, left, cancelled, seconds, message)
    )


def _since(started: float) -> float:
    return time.perf_counter() - started


def _finish(emit: EventFn, outcome: LearnCarOutcome) -> LearnCarOutcome:
    version = outcome.version.version if outcome.version is not None else None
    emit(Finished(version, version is not None, False, outcome.cancelled, outcome.message))
    return outcome
