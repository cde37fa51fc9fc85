"""Command line of the training side: `facegate-train` (also `python -m training`). Every training tool is a
subcommand; `facegate-train <command> --help` describes each.

facegate-train prepare --source celeba --images DIR --labels ../shared/data/celeba --out CACHE
facegate-train prepare --source folder --images MY_PEOPLE --out CACHE
facegate-train prepare --source lfw --images LFW --crop tight --out CACHE   (faces that fill the picture)
facegate-train teacher CACHE --images DIR --out teacher.npy                (dlib descriptors, distillation)
facegate-train fit --config training/experiments/cpu_r18w025.yaml --set cache=CACHE --set out=RUN
facegate-train plan PLAN --cache CACHE --runs DIR [--out OUT] [--budget S]  (concurrent time-budgeted runs)
facegate-train shards pack CACHE OUT [--teacher T.npy] | shards unpack PACK CACHE
facegate-train export RUN --out PKG
facegate-train export-untrained PKG                                        (the random placeholder package)
facegate-train export-onnx PKG          (adds embedder.onnx to a package folder)
facegate-train export-mtcnn [--out DIR]  (facenet-pytorch's P/R/O-Net as ONNX graphs, default models/mtcnn)
facegate-train evaluate --package PKG --lfw-cache CACHE --lfw ../shared/data/lfw [--flip] [--reference dlib]
    [--calibrate] [--folds N] [--out results.json]
facegate-train evaluate-pairs --cache ATT_CACHE --images ../shared/data/att_faces [--reference dlib]
facegate-train reference LFW_ROOT CACHE.npz [PAIRS...]                    (dlib's LFW embeddings, cached)
facegate-train study run|latency|table                                     (the backbone/loss study)
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module.add`` declares its options on a parser, ``module.run`` carries out parsed ones.
    The module is imported only when its command is the one given (most import torch), so that
    ``facegate-train --help`` and each command's start stay quick."""

    help: str
    module: str
    add: str = "add_arguments"
    run: str = "run"

    def function(self, name: str) -> Callable[..., Any]:
        function: Callable[..., Any] = getattr(importlib.import_module(self.module), name)
        return function


COMMANDS: dict[str, Command] = {
    "prepare": Command("detect + align raw images into a cache of 112x112 faces", "training.prepare"),
    "teacher": Command("dlib's descriptor of every face of a cache (distillation targets)", "training.teacher"),
    "fit": Command(
        "train (or resume) a run; the config file and --set flags override defaults",
        "training.cli",
        "add_fit",
        "run_fit",
    ),
    "plan": Command("train a plan's runs concurrently, each with a time budget, and export them", "training.plan"),
    "shards": Command("pack a face cache into compact shards, or unpack them", "training.shards"),
    "export": Command("write the backbone of a run's last checkpoint as a model package", "training.export"),
    "export-untrained": Command(
        "write an untrained placeholder package (random weights, plainly marked)",
        "training.export",
        "add_untrained_arguments",
        "run_untrained",
    ),
    "export-onnx": Command(
        "add the package's network as an ONNX graph (embedder.onnx)",
        "training.export",
        "add_onnx_arguments",
        "run_onnx",
    ),
    "export-mtcnn": Command(
        "write facenet-pytorch's MTCNN stages as ONNX graphs", "training.export", "add_mtcnn_arguments", "run_mtcnn"
    ),
    "evaluate": Command(
        "LFW View 2 / View 1 figures, ROC, dlib reference, threshold calibration",
        "training.evaluation.lfw",
        "add_evaluate_arguments",
        "run_evaluate",
    ),
    "evaluate-pairs": Command(
        "every pair of a prepared cache (AT&T), optionally beside dlib",
        "training.evaluation.allpairs",
        "add_evaluate_pairs_arguments",
        "run_evaluate_pairs",
    ),
    "reference": Command(
        "dlib's embeddings of LFW pair images, into the reference cache", "training.evaluation.reference"
    ),
    "study": Command(
        "the backbone and auxiliary-loss study: run rows, re-time them, write the table", "training.study"
    ),
}


def add_fit(parser: argparse.ArgumentParser) -> None:
    """The ``fit`` subcommand's options."""
    parser.add_argument("--config", type=Path, help="YAML experiment file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run_fit(args: argparse.Namespace) -> None:
    """``fit``: defaults ← ``--config`` ← ``--set``, then train (resuming the run folder when it has a checkpoint)."""
    from training.config import load_config
    from training.loop import train

    run = train(load_config(args.config, args.overrides))
    logging.getLogger("training").info("run folder: %s", run)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand with its help; only ``command``'s options are declared (its module imported)."""
    parser = argparse.ArgumentParser(
        prog="facegate-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, spec in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=spec.help, description=spec.help)
        if name == command:
            spec.function(spec.add)(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    import sys

    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in args_list if not arg.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(args_list)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = COMMANDS[args.command]
    spec.function(spec.run)(args)


if __name__ == "__main__":
    main()
