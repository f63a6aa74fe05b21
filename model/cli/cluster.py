"""`--ray ADDRESS` for `carvana predict | export`: the same work on a Ray cluster.

Only the options and the error route live here; model.workflows.ray_batch does the work
and is imported (and Ray with it) only when --ray is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model.cli.main import CliError


def add_ray_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help='run on a Ray cluster (needs pip install "carvana-gui[cluster]"): HOST:6379 '
        "(its head node), auto (the cluster `ray start` joined this machine to, or "
        "RAY_ADDRESS), or local (a Ray started on this machine for this command). The "
        "images must be at the same path on every node; the model file is sent to them",
    )
    parser.add_argument(
        "--ray-actors",
        type=int,
        metavar="N",
        help="with --ray: model copies to run (default: one per node, each using the node's cores)",
    )


def ray_predictor(args: argparse.Namespace, model_path: Path):
    """A RayPredictor for --ray (stands in for a loaded Predictor), errors as CliError."""
    from model.workflows.ray_batch import RayBatchError, RayPredictor, RayUnavailableError

    if args.ray_actors is not None and args.ray_actors < 1:
        raise CliError(f"--ray-actors must be at least 1, not {args.ray_actors}")
    try:
        return RayPredictor(
            model_path,
            args.ray,
            batch_size=args.batch_size,
            engine=getattr(args, "engine", None),
            actors=args.ray_actors,
            probabilities=bool(getattr(args, "probabilities", False)),
            refine_edge=bool(getattr(args, "refine_edge", False)),
        )
    except (RayUnavailableError, RayBatchError) as exc:
        raise CliError(str(exc)) from None
