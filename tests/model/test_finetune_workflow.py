"""The one fine-tune workflow: reviewed masks only, train/select/judge split by car,
keep-or-not on the judge set, cancel stores nothing, typed events, the child process."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from model.data.masks import read_mask
from model.edits.project_store import ProjectStore
from model.store.keep_or_not import decide, override_current, record_version
from model.store.versions import ModelInfo, ModelStore, read_model_meta
from model.workflows import finetune as wf
from model.workflows.finetune import FinetuneSettings, run_finetune
from model.workflows.finetune_data import (
    Sources,
    build_training_set,
    describe,
    folder_sources,
    reviewed_sources,
)
from model.workflows.finetune_events import (
    Batch,
    DataSummary,
    Epoch,
    Finished,
    Phase,
    Selection,
    from_json,
    to_json,
)
from tiny_carvana import car_id, make_image_folder, records


def review(store: ProjectStore, image_id: str, mask: np.ndarray) -> None:
    store.save_edit(image_id, mask)
    store.set_reviewed(image_id, True, mask)


@pytest.fixture
def folder(tmp_path):
    """4 cars x 2 angles with ground truth, and an empty project store beside them."""
    train, masks = make_image_folder(tmp_path / "data", cars=4, angles=2)
    return train, masks, ProjectStore.for_folder(train)


def review_all(folder, cars=range(1, 5)):
    train, masks, store = folder
    for c in cars:
        for a in (1, 2):
            image_id = f"{car_id(c)}_{a:02d}"
            review(store, image_id, read_mask(masks / f"{image_id}_mask.gif"))
    return reviewed_sources(store, records(train, masks))


def test_only_reviewed_masks_train_and_unreviewed_edits_are_counted(folder):
    train, masks, store = folder
    ids = [r.image_id for r in records(train)]
    truth = {i: read_mask(masks / f"{i}_mask.gif") for i in ids}
    review(store, ids[0], truth[ids[0]])  # edited, then reviewed
    store.save_auto_mask(ids[1], truth[ids[1]], "v001")
    store.set_reviewed(ids[1], True, truth[ids[1]])  # the auto-mask accepted as is
    store.save_edit(ids[2], truth[ids[2]])  # an unreviewed scribble: never trains
    store.save_auto_mask(ids[3], np.zeros_like(truth[ids[3]]), "v001")  # auto only
    sources = reviewed_sources(store, records(train, masks))
    found = {r.image_id: r.mask_path for r in sources.reviewed}
    assert found == {ids[0]: store.source_path(ids[0]), ids[1]: store.source_path(ids[1])}
    assert sources.unreviewed_edits == 1
    assert len(sources.ground_truth) == 8
    summary = build_training_set(sources).summary
    assert summary.reviewed == 2 and summary.unreviewed_edits == 1
    assert "1 unreviewed edits not used" in describe(summary)


def test_train_select_judge_are_disjoint_by_car_and_truth_never_joins_them(folder):
    sources = review_all(folder, cars=range(1, 4))  # 3 reviewed cars; car 4 has only truth
    ts = build_training_set(sources, include_ground_truth=True, seed=3)

    def cars(rs):
        return {r.car_id for r in rs}

    assert len(cars(ts.judge)) == 1 and len(cars(ts.select)) == 1
    assert cars(ts.judge).isdisjoint(cars(ts.select))
    assert cars(ts.train).isdisjoint(cars(ts.judge) | cars(ts.select))
    assert ts.summary.ground_truth == 2 and car_id(4) in cars(ts.train)
    assert ts.summary.judge_ids == [r.image_id for r in ts.judge]
    assert ts.summary.can_judge and not ts.summary.note
    # the same sources and seed give the same split, whatever the order
    again = build_training_set(
        Sources(sources.reviewed[::-1], 0, sources.ground_truth), include_ground_truth=True, seed=3
    )
    assert [r.image_id for r in again.judge] == [r.image_id for r in ts.judge]


def test_too_few_cars_for_a_judge_set_says_so(folder):
    sources = review_all(folder, cars=(1, 2))
    ts = build_training_set(sources)
    assert not ts.judge and len({r.car_id for r in ts.select}) == 1 and ts.train
    assert "too few reviewed cars for a judge set" in ts.summary.note
    one = build_training_set(Sources([r for r in sources.reviewed if r.car_id == car_id(1)]))
    assert not one.judge and not one.select and len(one.train) == 2


def test_plain_mask_folder_counts_every_mask_as_reviewed(folder):
    train, masks, _ = folder
    sources = folder_sources(records(train, masks))
    assert len(sources.reviewed) == 8 and sources.unreviewed_edits == 0


def test_decide():
    assert decide(0.9, None, 3).accept
    assert decide(0.95, 0.94, 3).accept
    assert not decide(0.94, 0.94, 3).accept
    rejected = decide(0.90, 0.94, 3)
    assert not rejected.accept and "0.9000" in rejected.reason and "0.9400" in rejected.reason
    assert not decide(math.nan, 0.9, 0).accept


def test_accepted_and_rejected_swaps_keep_every_version(tmp_path):
    store = ModelStore(tmp_path / "models")
    fake = tmp_path / "m.keras"
    fake.write_bytes(b"weights")
    first = store.add(fake, {"preset": "128x128"})
    store.set_current(first.version)
    worse = record_version(store, fake, decide(0.80, 0.90, 4), {"parent": first.version})
    assert store.current().version == first.version  # rejected: current unchanged
    better = record_version(store, fake, decide(0.95, 0.90, 4), {"parent": first.version})
    assert store.current().version == better.version
    assert [v.version for v in store.versions()] == [first.version, worse.version, better.version]
    meta = read_model_meta(worse.path)
    assert meta["selection"]["holdout_dice_new"] == 0.80
    assert meta["parent"] == first.version and not meta["selection"]["accepted"]
    override_current(store, worse.version)
    assert store.current().version == worse.version
    assert read_model_meta(worse.path)["selection"]["override"] is True


def test_events_cross_the_pipe_as_typed_json():
    events = [
        DataSummary(4, 1, 0, 4, 2, 2, 2, 1, 1, ["a_01"], "note"),
        Batch(1, 3, 2, 5, 0.25, 1.5, math.nan),
        Epoch(1, 3, 0.2, math.nan, 0.9, 2.0),
        Selection("v002", False, 0.9, None, "why", False),
        Finished(None, False, False, True, "cancelled: nothing stored"),
    ]
    for event in events:
        back = from_json(json.loads(json.dumps(to_json(event))))
        assert type(back) is type(event)
        for a, b in zip(vars(back).values(), vars(event).values(), strict=True):
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    with pytest.raises(ValueError):
        from_json({"type": "Nope"})


# -- the run, with training and judging faked (the rules are what is tested) ------------
class FakeRun:
    """Stands in for Keras: records what training and judging were given."""

    def __init__(self, monkeypatch, tmp_path, new=0.97, base=0.95, epochs=1, cancel=False):
        from model.nn.training import TrainResult

        self.configs, self.judged = [], []
        self.scores = {"new": new, "base": base}

        def train(config, on_progress, should_stop):
            self.configs.append(config)
            on_progress({"event": "batch", "epoch": 1, "epochs": 1, "batch": 1, "batches": 1,
                         "loss": 0.3, "images_per_s": 2.0, "eta_s": 0.0})  # fmt: skip
            if cancel:
                assert should_stop()
            model = Path(config.out_dir) / "best.keras"
            model.parent.mkdir(parents=True, exist_ok=True)
            model.write_bytes(b"weights")
            history = {"loss": [0.2] * epochs}
            return TrainResult(model, None, history, 0.2, 0.9, epochs, cancel, False)

        def judge(path, recs, on_event, which, should_stop=None, engine=None):
            self.judged.append((which, [r.image_id for r in recs]))
            return self.scores[which]

        monkeypatch.setattr(wf, "train_model", train)
        monkeypatch.setattr(wf, "judge_model", judge)


@pytest.fixture
def base_store(tmp_path):
    store = ModelStore(tmp_path / "models")
    fake = tmp_path / "base.keras"
    fake.write_bytes(b"base")
    base = store.add(fake, {"preset": "128x128", "input_size": [128, 128]})
    store.set_current(base.version)
    return store, base


def test_the_judge_set_decides_and_serves_nothing_else(folder, base_store, monkeypatch, tmp_path):
    store, base = base_store
    fake = FakeRun(monkeypatch, tmp_path, new=0.97, base=0.95)
    events = []
    outcome = run_finetune(
        review_all(folder), store, store.current(), FinetuneSettings(), events.append
    )
    (config,) = fake.configs
    judge_ids = set(outcome.summary.judge_ids)
    used = {Path(p).stem for p, _ in config.train_pairs + config.val_pairs}
    assert judge_ids and used.isdisjoint(judge_ids)  # judge images neither train nor select
    select_ids = {Path(p).stem for p, _ in config.val_pairs}
    assert len(select_ids) == outcome.summary.select_images > 0  # early stopping = select
    assert fake.judged == [("new", sorted(judge_ids)), ("base", sorted(judge_ids))]
    assert outcome.decision.accept and store.current().version == outcome.version.version
    meta = read_model_meta(outcome.version.path)
    assert meta["parent"] == base.version and meta["input_size"] == [128, 128]
    assert meta["selection"]["holdout_images"] == len(judge_ids)
    assert config.epochs == 3 and config.learning_rate == 5e-5 and config.patience == 3
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "DataSummary" and kinds[-1] == "Finished"
    assert {"Phase", "Batch", "TrainingDone", "Selection"} <= set(kinds)
    assert not any((store.root / ".runs").glob("*"))


def test_a_worse_candidate_is_kept_aside(folder, base_store, monkeypatch, tmp_path):
    store, base = base_store
    FakeRun(monkeypatch, tmp_path, new=0.90, base=0.95)
    outcome = run_finetune(review_all(folder), store, base, FinetuneSettings())
    assert outcome.stored and not outcome.decision.accept
    assert store.current().version == base.version


def test_without_a_judge_set_the_current_model_stays_unless_told(
    folder, base_store, monkeypatch, tmp_path
):
    store, base = base_store
    fake = FakeRun(monkeypatch, tmp_path)
    sources = review_all(folder, cars=(1, 2))
    outcome = run_finetune(sources, store, base, FinetuneSettings())
    assert not fake.judged and outcome.stored and not outcome.decision.accept
    assert "too few reviewed cars" in outcome.decision.reason
    assert store.current().version == base.version
    forced = run_finetune(sources, store, base, FinetuneSettings(), make_current=True)
    assert store.current().version == forced.version.version
    assert read_model_meta(forced.version.path)["selection"]["override"] is True


def test_cancel_stores_nothing_unless_kept(folder, base_store, monkeypatch, tmp_path):
    store, base = base_store
    sources = review_all(folder)
    fake = FakeRun(monkeypatch, tmp_path, epochs=1, cancel=True)
    cancelled = lambda: bool(fake.configs)  # noqa: E731 - the person cancels during training
    events = []
    outcome = run_finetune(sources, store, base, FinetuneSettings(), events.append, cancelled)
    assert not outcome.stored and outcome.cancelled and len(store.versions()) == 1
    assert isinstance(events[-1], Finished) and "nothing stored" in events[-1].message
    # kept: the finished epoch is judged like any candidate
    fake = FakeRun(monkeypatch, tmp_path, epochs=1, cancel=True)
    kept = run_finetune(sources, store, base, FinetuneSettings(), None, cancelled, True)
    assert kept.stored and kept.cancelled and kept.decision.accept
    assert read_model_meta(kept.version.path)["training"]["cancelled"] is True


def test_cancel_before_an_epoch_finished_keeps_nothing(folder, base_store, monkeypatch, tmp_path):
    store, base = base_store
    fake = FakeRun(monkeypatch, tmp_path, epochs=0, cancel=True)
    outcome = run_finetune(review_all(folder), store, base, FinetuneSettings(), None,
                           lambda: bool(fake.configs), keep_cancelled=True)  # fmt: skip
    assert not outcome.stored and len(store.versions()) == 1
    assert "before an epoch finished" in outcome.message


def test_nothing_reviewed_is_a_clear_error(folder, base_store):
    train, masks, store = folder
    store.save_edit(f"{car_id(1)}_01", read_mask(masks / f"{car_id(1)}_01_mask.gif"))
    with pytest.raises(ValueError, match=r"review at least one mask.*1 unreviewed edits"):
        run_finetune(reviewed_sources(store, records(train)), base_store[0], None,
                     FinetuneSettings())  # fmt: skip


# -- the child process -----------------------------------------------------------------
def test_cancel_during_loading_returns_within_2_s_and_stores_nothing(folder, tmp_path):
    from model.workflows.finetune_process import make_request, run_finetune_process

    store = ModelStore(tmp_path / "models")
    request = make_request(review_all(folder), store.root, None, FinetuneSettings(preset="128x128"))
    stop_at: list[float] = []
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, Phase) and event.name == "loading" and not stop_at:
            stop_at.append(time.monotonic())  # the child is importing Keras now

    finished = run_finetune_process(request, on_event, lambda: bool(stop_at), lambda: True)
    elapsed = time.monotonic() - stop_at[0]
    assert elapsed < 2.0, f"cancel took {elapsed:.1f} s"
    assert finished.cancelled and not finished.stored and finished.version is None
    assert not store.versions() and not Path(request["run_dir"]).exists()
    assert isinstance(events[0], DataSummary) and events[0].reviewed == 8


def test_child_process_reports_a_clear_error(folder, tmp_path):
    from model.workflows.finetune_process import (
        FinetuneProcessError,
        make_request,
        run_finetune_process,
    )

    request = make_request(Sources([], 2), tmp_path / "models", None, FinetuneSettings())
    with pytest.raises(FinetuneProcessError, match="review at least one mask"):
        run_finetune_process(request)


def test_request_round_trips(folder, tmp_path):
    from model.workflows.finetune_process import make_request

    sources = review_all(folder)
    base = ModelInfo("default-v005", tmp_path / "default.keras", {})
    request = json.loads(
        json.dumps(make_request(sources, tmp_path, base, FinetuneSettings(epochs=4), True))
    )
    first = sources.reviewed[0]
    assert request["reviewed"][0] == [
        first.image_id,
        str(first.path),
        first.car_id,
        first.angle,
        str(first.mask_path),
    ]
    assert request["settings"]["epochs"] == 4 and request["make_current"] is True
    assert request["base"] == {"version": "default-v005", "path": str(base.path)}


def test_a_fake_child_speaking_the_protocol(tmp_path):
    """The parent's side alone: events relayed, Finished returned (used by the GUI tests)."""
    from model.workflows.finetune_process import make_request, run_finetune_process

    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)
    request = make_request(Sources([]), tmp_path / "models", None, FinetuneSettings())
    events = []
    finished = run_finetune_process(request, events.append, command=[sys.executable, str(script)])
    assert [type(e).__name__ for e in events] == ["Batch", "Finished"]
    assert finished.version == "v009" and finished.accepted


FAKE_CHILD = """
import json, sys
sys.stdin.readline()
print(json.dumps({"type": "Batch", "epoch": 1, "epochs": 1, "batch": 1, "batches": 1,
                  "loss": 0.5, "images_per_s": 1.0, "eta_s": 0.0}), flush=True)
print(json.dumps({"type": "Finished", "version": "v009", "stored": True, "accepted": True,
                  "cancelled": False, "message": "ok"}), flush=True)
"""


# -- real training (tiny network) -------------------------------------------------------
@pytest.mark.slow
def test_finetune_end_to_end_on_a_tiny_model(folder, tmp_path):
    from tiny_carvana import save_tiny_model

    store = ModelStore(tmp_path / "models")
    base = store.add(save_tiny_model(tmp_path / "base.keras"), {"preset": "128x128"})
    store.set_current(base.version)
    events = []
    outcome = run_finetune(
        review_all(folder), store, store.current(), FinetuneSettings(epochs=1), events.append
    )
    kinds = {type(e).__name__ for e in events}
    assert {"DataSummary", "Batch", "Epoch", "Scoring", "Selection", "Finished"} <= kinds
    d = outcome.decision
    assert 0.0 <= d.new_dice <= 1.0 and 0.0 <= d.current_dice <= 1.0
    assert d.accept == (d.new_dice > d.current_dice)
    assert (store.current().version == outcome.version.version) == d.accept
    meta = read_model_meta(outcome.version.path)
    assert meta["parent"] == base.version and meta["input_size"] == [128, 128]
    assert meta["data"]["judge_images"] == len(outcome.summary.judge_ids) == 2


@pytest.mark.slow
def test_fine_tuning_the_shipped_default_on_real_reviewed_masks(carvana_data, tmp_path):
    """What a fresh install does first: review a few real images, fine-tune the default."""
    from model.data.dataset import list_images
    from model.store.versions import shipped_model_info

    shipped = shipped_model_info()
    if shipped is None:
        pytest.skip("no shipped default model in this checkout")
    cars = shipped.meta["data"]["val_cars"][:3]
    images = [
        r
        for r in list_images(carvana_data / "train", carvana_data / "train_masks")
        if r.car_id in cars and r.angle in (3, 11)
    ]
    project = ProjectStore(tmp_path / "edits")
    for record in images:  # the truth stands in for the person's reviewed masks
        review(project, record.image_id, read_mask(record.mask_path))
    sources = reviewed_sources(project, images)
    outcome = run_finetune(
        sources,
        ModelStore(tmp_path / "models"),
        shipped,
        FinetuneSettings(epochs=1, learning_rate=1e-5),
    )
    assert outcome.stored, outcome.message
    assert all(math.isfinite(v) for v in outcome.history["loss"]), outcome.history
    # The shipped default scores ~0.99 on these cars; one gentle epoch keeps it there.
    assert outcome.decision.current_dice > 0.98, outcome.decision
    assert outcome.decision.new_dice > 0.98, outcome.decision
    assert read_model_meta(outcome.version.path)["parent"] == shipped.version
