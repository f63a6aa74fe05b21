"""Batch inference past one machine: the same Predictor on a Ray cluster, fed by Ray Data.

`carvana export/predict --ray ADDRESS` hand their image paths to a RayPredictor instead of
a loaded Predictor. It has the one method those commands use, ``predict_paths``, and
yields the same predictions in the same order, so the submission (rows, order, resume
fingerprint, validation, skipped-image report) or the mask files are made by the same
code as on one machine. Behind it: a Ray Data dataset of the paths, ``map_batches`` over
an actor pool, each actor holding one Predictor (same engine choice, model file and
threshold) that runs the usual pipelined ``predict_paths`` on its share and returns an
RLE string per image (plus, when asked, an 8-bit probability PNG). Masks travel as RLE
and are written by this process, so only the images need to be at the same path on
every node (a shared folder); the model file travels with the job.

Ray is imported only here and only when asked for: ``carvana --help`` and the window
never import it. It is the optional extra ``pip install "carvana-gui[cluster]"``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.kaggle.rle import rle_decode, rle_encode
from model.store.versions import (
    ModelStoreError,
    meta_path_for,
    meta_threshold,
    read_model_meta,
)

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "carvana-gui[cluster]"'
# model.nn.engines.ENGINE_ENV, named here so the driver need not import Keras to read it.
ENGINE_ENV = "CARVANA_ENGINE"
# Ray's address for "start a private Ray on this machine for this command".
LOCAL = "local"
ROWS_PER_CALL = 16  # images per actor call: amortises its pipeline start; bar steps


class RayUnavailableError(RuntimeError):
    """--ray was asked for, but Ray Data is not installed here."""


class RayBatchError(RuntimeError):
    """The cluster could not be reached, or it failed while predicting."""


class RemoteImageError(RuntimeError):
    """An image an actor could not read; str() is the actor's own message."""


def import_ray():
    """The ray module with Ray Data, or RayUnavailableError naming the extra to install."""
    try:
        import ray
        import ray.data  # the part we use; ray alone lacks it
    except ImportError as exc:
        raise RayUnavailableError(
            f"--ray needs Ray Data, which is not installed here ({exc}); install the "
            f"cluster extra: {INSTALL_HINT}"
        ) from None
    return ray


def connect(address: str) -> bool:
    """Join the Ray cluster at `address`; True when this call started Ray (so the caller
    shuts it down). ``local`` starts a private Ray on this machine; ``auto`` joins the
    cluster this machine is part of (``ray start`` here, or RAY_ADDRESS); anything else
    is a head node (``HOST:6379``) or client (``ray://HOST:10001``) address. A process
    already connected (a test, a notebook) keeps its connection."""
    ray = import_ray()
    if ray.is_initialized():
        log.info("Ray already connected: using that cluster, not %s", address)
        return False
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address == LOCAL:
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except Exception as exc:  # ConnectionError, ValueError, RuntimeError, ... by version
        raise RayBatchError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
    return True


def _quiet_ray_data() -> None:
    """The command has its own progress bar and report: Ray Data's per-run INFO lines and
    its note that its bars are off are not shown (its warnings and errors are)."""
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def live_nodes(ray) -> list[dict]:
    """The cluster's live nodes that have CPUs."""
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU")]


def actor_plan(nodes: list[dict], actors: int | None = None) -> tuple[int, int]:
    """(actors, CPUs each): by default one actor per node holding the smallest node's
    CPUs, so each lands on its own node; `actors` splits the cluster's CPUs among that
    many, never more than a node has."""
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes] or [1]
    actors = max(1, int(actors or len(cpus)))
    return actors, max(1, min(min(cpus), sum(cpus) // actors))


class PredictActor:
    """One loaded Predictor per actor; called with a batch of paths, returns a row per
    path: its RLE (or the reason it was skipped) and, when asked, its probability PNG."""

    def __init__(
        self,
        model_bytes,
        meta_bytes: bytes | None,
        file_name: str,
        batch_size: int,
        engine: str | None,
        tta: bool,
        probabilities: bool,
        edge_files: dict[str, bytes] | None = None,
        refiner_file: str | None = None,
    ) -> None:
        import ray

        from model.nn.edge_classifier import EdgeClassifier
        from model.nn.predictor import Predictor

        if isinstance(model_bytes, list):  # [ObjectRef]: not resolved by Ray, fetched here
            model_bytes = ray.get(model_bytes[0])
        # The model travels with the job: a node needs the package, not the model file.
        # The OpenVINO cache is keyed by the file's hash, so this copy reuses it.
        self._folder = Path(tempfile.mkdtemp(prefix="carvana-ray-"))
        path = self._folder / file_name
        path.write_bytes(model_bytes)
        if meta_bytes is not None:
            meta_path_for(path).write_bytes(meta_bytes)
        for name, data in (edge_files or {}).items():  # a car's classifier, the refiner
            (self._folder / name).write_bytes(data)
        self.predictor = Predictor.load(path, batch_size=batch_size, engine=engine)
        if refiner_file is not None and self.predictor.edges is None:
            self.predictor.edges = EdgeClassifier.load(self._folder / refiner_file)
        self.tta = tta
        self.probabilities = probabilities

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_folder", ""), ignore_errors=True)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        paths = [str(p) for p in batch["path"]]
        errors: dict[str, str] = {}
        done: dict[str, tuple[str, tuple[int, int], bytes]] = {}
        stream = self.predictor.predict_paths(
            [Path(p) for p in paths],
            tta=self.tta,
            on_error=lambda p, e: errors.__setitem__(str(p), str(e)),
            encode=rle_encode,
        )
        for path, prediction in stream:  # kept small: RLE, size, 8-bit PNG at most
            prob = _prob_png(prediction.prob) if self.probabilities else b""
            done[str(path)] = (prediction.encoded, prediction.mask.shape, prob)
        keys = ("index", "error", "rle", "height", "width", "prob", "engine")
        rows: dict[str, list] = {key: [] for key in keys}
        for index, path in zip(batch["index"].tolist(), paths, strict=True):
            rle, (height, width), prob = done.get(path, ("", (0, 0), b""))
            rows["index"].append(index)
            rows["error"].append(
                "" if path in done else errors.get(path, "no prediction came back")
            )
            rows["rle"].append(rle)
            rows["height"].append(height)
            rows["width"].append(width)
            rows["prob"].append(prob)
            rows["engine"].append(self.predictor.engine.name)
        return rows


def _prob_png(prob: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.round(prob * 255).astype(np.uint8))
    if not ok:
        raise RuntimeError("cannot encode a probability map as PNG")
    return data.tobytes()


def _edge_files(
    model_path: Path, meta: dict, refine_edge: bool
) -> tuple[dict[str, bytes], str | None, str | None]:
    """(files the actors need beside the model, the refiner's name among them or None,
    the digest of the classifier that will re-decide the edges or None); checked here, so
    a missing or broken file is an error before the cluster starts."""
    from model.nn.edge_classifier import EdgeClassifier, EdgeClassifierError
    from model.nn.edge_refiner import MISSING, REFINER_FILE, shipped_refiner_path
    from model.nn.predictor import ModelLoadError, load_edge_classifier

    try:
        own = load_edge_classifier(model_path, meta)  # a car's version names its own
    except ModelLoadError as exc:
        raise RayBatchError(str(exc)) from None
    if own is not None:
        name = str(meta["edge_classifier"])
        return {name: (model_path.parent / name).read_bytes()}, None, own.digest()
    if not refine_edge:
        return {}, None, None
    refiner = shipped_refiner_path()
    if refiner is None:
        raise RayBatchError(f"--refine-edge: {MISSING}")
    try:
        digest = EdgeClassifier.load(refiner).digest()
    except EdgeClassifierError as exc:
        raise RayBatchError(f"--refine-edge: {exc}") from None
    return {REFINER_FILE: refiner.read_bytes()}, REFINER_FILE, digest


@dataclass(frozen=True)
class ClusterEngine:
    """The engine a RayPredictor's actors run: what an export's fingerprint reads."""

    name: str


class RemotePrediction:
    """A Prediction made on the cluster: the mask is decoded from its RLE when read, so an
    export that asked for RLE (``encoded``) never decodes it. ``prob`` is the 8-bit map
    the actor sent (when probabilities were asked for), as float32 0..1."""

    def __init__(self, rle: str, hw: tuple[int, int], prob_png: bytes, encoded=None) -> None:
        self.rle = rle
        self.hw = hw
        self._prob_png = prob_png
        self._mask: np.ndarray | None = None
        self.encoded = encoded

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            self._mask = rle_decode(self.rle, self.hw)
        return self._mask

    @property
    def prob(self) -> np.ndarray:
        if not self._prob_png:
            raise ValueError("probabilities were not asked for in this Ray job")
        gray = cv2.imdecode(np.frombuffer(self._prob_png, np.uint8), cv2.IMREAD_GRAYSCALE)
        return gray.astype(np.float32) * (1.0 / 255.0)


class RayPredictor:
    """Stands in for a Predictor in export/predict: ``predict_paths`` runs on the cluster.

    Cheap to make: the model file and its JSON are only checked and read here (name,
    threshold: they identify the export for resuming, as a local Predictor's do); each
    actor loads the model itself with ``engine`` (None: the actor's CARVANA_ENGINE, else
    auto; the driver's CARVANA_ENGINE is passed on). The edge classifier a car's version
    names travels with it; ``refine_edge`` sends the shipped edge refiner for the others.
    """

    def __init__(
        self,
        model_path: Path,
        address: str,
        batch_size: int = 2,
        engine: str | None = None,
        actors: int | None = None,
        probabilities: bool = False,
        refine_edge: bool = False,
    ) -> None:
        self._ray = import_ray()  # first: a missing extra is the first thing to fix
        path = Path(model_path)
        if not path.is_file():
            raise RayBatchError(f"{path}: model file not found")
        if path.suffix != ".keras" or not zipfile.is_zipfile(path):
            raise RayBatchError(f"{path}: not a Keras 3 '.keras' model archive")
        try:
            self.meta = read_model_meta(path)
            self.threshold = meta_threshold(self.meta, meta_path_for(path))
        except ModelStoreError as exc:
            raise RayBatchError(str(exc)) from None
        self.model_path = path
        self.edge_files, self.refiner_file, self.edges_digest = _edge_files(
            path, self.meta, refine_edge
        )
        self.name = str(self.meta.get("name") or self.meta.get("version") or path.stem)
        self.batch_size = max(1, int(batch_size))
        self.engine_choice = (engine or os.environ.get(ENGINE_ENV) or "auto").strip().lower()
        # What an export's fingerprint records. Keras is Keras anywhere, so a local
        # export's partial file resumes here and back; OpenVINO's precision and "auto"
        # are settled on each node, so those partial files are only resumed by Ray runs
        # (the nodes' answers are checked after each run).
        keras_here = self.engine_choice == "keras"
        self.engine = ClusterEngine("keras" if keras_here else f"ray-{self.engine_choice}")
        self.engines_used: set[str] = set()
        self.probabilities = probabilities
        self.address = address
        self._owns_ray = connect(address)
        self.actors, self.cpus_per_actor = actor_plan(live_nodes(self._ray), actors)
        log.info(
            "Ray: %d actor(s) of %d CPUs, model %s, engine %s",
            self.actors,
            self.cpus_per_actor,
            self.name,
            self.engine_choice,
        )

    def close(self) -> None:
        """Shut down the Ray this object started (a joined cluster keeps running)."""
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_ray = False

    def predict_paths(
        self,
        paths: Iterable[Path],
        tta: bool = False,
        on_error: Callable[[Path, Exception], None] | None = None,
        encode: Callable[[np.ndarray], object] | None = None,
        **_ignored,
    ) -> Iterator[tuple[Path, RemotePrediction]]:
        """Like Predictor.predict_paths: predictions in the order of `paths`, unreadable
        images passed to `on_error(path, exc)` (in their place in that order) and skipped.
        `encode` may be rle_encode (the RLE made on the cluster is used) or any function
        of the mask (run here)."""
        paths = [Path(p) for p in paths]
        report = on_error or (lambda p, e: log.warning("skipping %s: %s", p, e))
        try:
            if paths:
                yield from self._run(paths, tta, report, encode)
        finally:
            self.close()

    def _run(self, paths: list[Path], tta: bool, report, encode) -> Iterator:
        ray = self._ray
        data = self.model_path.read_bytes()
        meta_file = meta_path_for(self.model_path)
        meta_bytes = meta_file.read_bytes() if meta_file.is_file() else None
        items = [{"index": i, "path": str(p)} for i, p in enumerate(paths)]
        rows = max(self.batch_size, ROWS_PER_CALL // self.batch_size * self.batch_size)
        # Rows in order, and no Ray progress bars (the command has its own): set on the
        # context the dataset copies when it is made (Ray >= 2.10) or reads when it runs.
        context = ray.data.DataContext.get_current()
        saved = context.execution_options.preserve_order, context.enable_progress_bars
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        _quiet_ray_data()
        ds = ray.data.from_items(items)
        ds = ds.map_batches(
            PredictActor,
            batch_size=rows,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            # Ray gives an actor OMP_NUM_THREADS=num_cpus; by default one actor per node
            # holds all its cores, so the engine uses them as it does on one machine.
            num_cpus=self.cpus_per_actor,
            fn_constructor_kwargs={
                "model_bytes": [ray.put(data)],
                "meta_bytes": meta_bytes,
                "file_name": self.model_path.name,
                "batch_size": self.batch_size,
                "engine": self.engine_choice,
                "tta": bool(tta),
                "probabilities": self.probabilities,
                "edge_files": self.edge_files,
                "refiner_file": self.refiner_file,
            },
        )
        waiting: dict[int, dict] = {}
        following = 0
        rows_in = iter(ds.iter_rows())
        try:
            for row in rows_in:
                waiting[int(row["index"])] = row
                while following in waiting:  # in order, whatever order rows arrive in
                    yield from self._emit(paths[following], waiting.pop(following), report, encode)
                    following += 1
        except ray.exceptions.RayError as exc:
            raise RayBatchError(f"the Ray job failed: {exc}") from exc
        finally:
            close = getattr(rows_in, "close", None)
            if close is not None:
                close()  # a caller that stopped early stops the cluster's work too
            context.execution_options.preserve_order, context.enable_progress_bars = saved
        if following != len(paths):
            raise RayBatchError(f"the Ray job returned {following} of {len(paths)} images")
        if len(self.engines_used) > 1:
            log.warning(
                "engine %s ran as %s on different nodes: masks may differ in a few edge "
                "pixels between them; name one with --engine",
                self.engine_choice,
                " and ".join(sorted(self.engines_used)),
            )

    def _emit(self, path: Path, row: dict, report, encode) -> Iterator:
        if row["error"]:
            report(path, RemoteImageError(str(row["error"])))
            return
        self.engines_used.add(str(row["engine"]))
        prediction = RemotePrediction(
            str(row["rle"]), (int(row["height"]), int(row["width"])), bytes(row["prob"])
        )
        if encode is rle_encode:
            prediction.encoded = prediction.rle
        elif encode is not None:
            prediction.encoded = encode(prediction.mask)
        yield path, prediction
