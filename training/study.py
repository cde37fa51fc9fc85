"""The lecture's study: each backbone with the metric loss alone, then one backbone with each auxiliary loss,
all with the same data, schedule and budget; one JSON per row; the table and the plot are generated from them.

facegate-train study run [--config YAML] [--row NAME ...] [--quick] [--fresh] [--set KEY=VALUE ...]
facegate-train study latency [--results DIR] [--runs 100]   # re-time every finished row, interleaved
facegate-train study table [--results DIR] [--doc docs/ARCHITECTURES.md] [--plot PNG]

A row goes through the project's own code paths, so its figures mean what the shipped model's mean:
``training.loop.train`` (what ``fit`` runs), ``training.export.export_package`` and
``training.evaluation.lfw.run_evaluate`` (what ``evaluate`` runs: LFW View 2, 10 folds, no flip). The study
adds what they do not measure: parameters, FLOPs (``FlopCounterMode``, batch 1), CPU milliseconds per face
(batch 1, one thread, median after a warm-up), training images/s, and the attribute head's accuracy on the
held-out identities. ``--quick`` swaps in synthetic faces and a synthetic LFW: the machinery in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from training.study_data import celeba_subset, synthetic_lfw
from training.study_report import DOC, PLOT, write_table

if TYPE_CHECKING:  # imported where it is used: the study's table command needs no training code
    from training.config import TrainConfig

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "training" / "experiments" / "study" / "study.yaml"
PUBLISHED = REPO / "docs" / "study" / "results"
AUX_KEYS = ("attr_weight", "deep_sup_weight", "recon_weight", "recon_noise_std", "distill_weight")


@dataclass(frozen=True)
class Row:
    name: str
    title: str
    kind: str  # one of KINDS
    order: int
    overrides: dict[str, Any]  # TrainConfig keys on top of the study's shared ones
    package: Path | None = None  # reference rows: an existing package, measured but not trained


@dataclass(frozen=True)
class Study:
    spec: dict[str, Any]
    rows: list[Row]
    train: dict[str, Any]
    results: Path
    quick: bool


def _path(value: str | Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else REPO / path


def load_study(
    path: Path = DEFAULT_CONFIG, *, quick: bool = False, aux_backbone: str | None = None, results: Path | None = None
) -> Study:
    """The rows and the shared training keys of a study file (``--quick``: with its ``quick`` section)."""
    spec = yaml.safe_load(Path(path).read_text())
    train = dict(spec["train"])
    if quick:
        train.update(spec["quick"]["train"])
    aux = aux_backbone or spec["aux_backbone"]
    rows = [
        Row(
            r["name"],
            r.get("title", r["name"]),
            "backbone",
            i,
            {"backbone": r.get("backbone", r["name"]), **r.get("set", {})},
        )
        for i, r in enumerate(spec.get("backbones", []))
    ]
    rows += [
        Row(f"{aux}+{r['name']}", r.get("title", r["name"]), "auxiliary", i, {"backbone": aux, **r["set"]})
        for i, r in enumerate(spec.get("auxiliary", []))
    ]
    if spec.get("reference"):
        ref = spec["reference"]
        rows.append(Row(ref["name"], ref.get("title", ref["name"]), "reference", 0, {}, _path(ref["package"])))
    return Study(spec, rows, train, results or _path(spec["results"]) / ("quick" if quick else ""), quick)


# --- measurements ------------------------------------------------------------------------------------------


def cpu_latency(
    networks: dict[str, nn.Module], input_size: int = 112, runs: int = 50, warmup: int = 10, rounds: int = 1
) -> dict[str, list[float]]:
    """Milliseconds per forward at batch 1 on one thread, ``runs`` per network after ``warmup`` untimed ones.
    With several networks the runs are cut into ``rounds`` that interleave them, so that all of them see the
    same load on a shared machine."""
    x = torch.randn(1, 3, input_size, input_size)
    times: dict[str, list[float]] = {name: [] for name in networks}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for network in networks.values():
                for _ in range(warmup):
                    network.cpu().eval()(x)
            for _ in range(rounds):
                for name, network in networks.items():
                    for _ in range(max(1, runs // rounds)):
                        started = time.perf_counter()
                        network(x)
                        times[name].append(1000 * (time.perf_counter() - started))
    finally:
        torch.set_num_threads(threads)
    return times


def latency_figures(times: list[float], warmup: int, interleaved: int = 1) -> dict[str, Any]:
    return {
        "cpu_ms_per_face": round(statistics.median(times), 3),
        "cpu_ms_p90": round(float(np.percentile(times, 90)), 3),
        "latency": {"runs": len(times), "warmup": warmup, "threads": 1, "batch": 1, "interleaved_models": interleaved}
        | {"loadavg": os.getloadavg(), "measured": datetime.now(UTC).isoformat(timespec="seconds")},
    }


def measure_cost(network: nn.Module, input_size: int = 112, runs: int = 50, warmup: int = 10) -> dict[str, Any]:
    """Parameters (all, and without the embedding head), FLOPs at batch 1, and CPU ms per face at batch 1 on
    one thread (median and p90 of ``runs`` timed forwards after ``warmup`` untimed ones)."""
    network = network.cpu().eval()
    total = sum(p.numel() for p in network.parameters())
    head = getattr(network, "head", None)  # the staged backbones' embedding head; absent elsewhere
    head_params = sum(p.numel() for p in head.parameters()) if isinstance(head, nn.Module) else 0
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        network(torch.randn(1, 3, input_size, input_size))
    times = cpu_latency({"network": network}, input_size, runs, warmup)["network"]
    cost = {"params": total, "params_body": total - head_params, "flops": int(counter.get_total_flops())}
    return cost | latency_figures(times, warmup)


def remeasure_latency(study: Study, publish: Path | None, runs: int = 100, warmup: int = 10) -> None:
    """Time every finished row's package again, all in one interleaved session (10 rounds), and update the
    results: rows trained an hour apart on a shared machine were timed under different loads."""
    from models.package import load_package

    finished = {r.name: r for r in study.rows if (study.results / r.name / "result.json").exists()}
    networks = {
        name: load_package(row.package or study.results / name / "package", warn_untrained=False).network
        for name, row in finished.items()
    }
    times = cpu_latency(networks, runs=runs, warmup=warmup, rounds=10)
    for name in finished:
        path = study.results / name / "result.json"
        result = json.loads(path.read_text())
        result["model"].update(latency_figures(times[name], warmup, interleaved=len(networks)))
        path.write_text(json.dumps(result, indent=2) + "\n")
        if publish is not None:
            (publish / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        logger.info("%s: %.2f ms/face", name, result["model"]["cpu_ms_per_face"])


def attribute_accuracy(run: Path, config: Any) -> dict[str, Any]:
    """The attribute head's accuracy on the held-out identities, per attribute, beside the majority-class
    baseline learnt from the training identities (an attribute head must beat always guessing the majority)."""
    from training.checkpoint import CHECKPOINT
    from training.data.dataset import to_tensor
    from training.loop import load_data
    from training.model import FaceTrainingModel

    train_set, val_set = load_data(config)
    model = FaceTrainingModel(config, train_set.num_classes)
    model.load_state_dict(torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)["model"])
    model.eval()
    assert model.attr_head is not None
    with torch.inference_mode():
        logits = [
            model.attr_head(model.backbone(to_tensor(val_set.crops[i : i + 256], torch.device("cpu"))))
            for i in range(0, len(val_set), 256)
        ]
    predicted = torch.cat(logits).numpy() > 0
    per_attribute = {}
    for j, name in enumerate(config.attributes):
        known = ~np.isnan(val_set.attributes[:, j])
        truth = val_set.attributes[known, j] > 0.5
        majority = bool(np.nanmean(train_set.attributes[:, j]) >= 0.5)
        per_attribute[name] = {
            "accuracy": round(float(np.mean(predicted[known, j] == truth)), 4),
            "majority_baseline": round(float(np.mean(truth == majority)), 4),
            "faces": int(known.sum()),
        }
    return {
        "held_out_identities": len(np.unique(val_set.labels)),
        "mean_accuracy": round(float(np.mean([a["accuracy"] for a in per_attribute.values()])), 4),
        "mean_majority_baseline": round(float(np.mean([a["majority_baseline"] for a in per_attribute.values()])), 4),
        "per_attribute": per_attribute,
    }


def training_figures(run: Path, seconds: float) -> dict[str, Any]:
    """Images/s (the mean over epochs of each epoch's rate, as the loop logs it), steps, final loss terms and
    the loop's own last check on held-out identities."""
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last_of_epoch = {row["epoch"]: row for row in logged}
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines() if line.strip()]
    held_out = {k: v for k, v in epochs[-1].items() if k != "roc"} if epochs else {}
    final = logged[-1]
    return {
        "images_per_s": round(statistics.mean(r["images_per_s"] for r in last_of_epoch.values()), 1),
        "wall_seconds": round(seconds, 1),
        "steps": final["step"] + 1,
        "final_terms": {k: v for k, v in final.items() if k not in ("step", "epoch", "lr", "images_per_s")},
        "held_out_check": held_out,
    }


# --- rows --------------------------------------------------------------------------------------------------


def _lfw(study: Study) -> tuple[Path, Path]:
    if study.quick:
        return synthetic_lfw(study.results / "_synthetic", **study.spec["quick"]["lfw"])
    return _path(study.spec["data"]["lfw_root"]), _path(study.spec["data"]["lfw_cache"])


def evaluate_lfw(study: Study, package: Path, folder: Path) -> dict[str, Any]:
    """``python -m training evaluate`` on the package (View 2 only, no flip); its headline figures."""
    from training.evaluation.lfw import add_evaluate_arguments, run_evaluate

    root, cache = _lfw(study)
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    device = study.spec.get("eval_device") or None
    argv = ["--package", str(package), "--lfw-cache", str(cache), "--lfw", str(root), "--no-view1"]
    argv += ["--out", str(folder / "lfw.json"), *(["--device", device] if device else [])]
    view2 = run_evaluate(parser.parse_args(argv))["results"][0]["view2"]
    return {
        "protocol": "LFW View 2, 10 folds, threshold from the other 9, no flip",
        "accuracy": view2["accuracy"],
        "std": view2["std"],
        "tar_at_far_1e-3": view2["tar_at_far"]["0.001"]["tar"],
        "tar_at_far_1e-2": view2["tar_at_far"]["0.01"]["tar"],
        "eer": view2["eer"],
        "pairs": view2["pairs"],
        "pairs_with_fallback": view2["pairs_with_fallback"],
    }


def train_config(study: Study, row: Row, folder: Path, overrides: list[str]) -> TrainConfig:
    """The row's TrainConfig, written as ``train.yaml`` and read back through ``load_config`` (the same checks
    as ``fit --config``; ``python -m training fit --config <row>/train.yaml`` replays it)."""
    from training.config import load_config

    values = {**study.train, **row.overrides, "out": str(folder / "run")}
    if not study.quick:
        data = study.spec["data"]
        source = _path(data["celeba_cache"])
        identities = int(data.get("identities") or 0)
        subset = study.results / f"celeba_subset_{identities}_seed{data.get('seed', 0)}"
        values["cache"] = str(celeba_subset(source, subset, identities, data.get("seed", 0)) if identities else source)
    (folder / "train.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return load_config(folder / "train.yaml", overrides)


def run_row(study: Study, row: Row, *, fresh: bool = False, overrides: list[str] | None = None) -> dict[str, Any]:
    """Train (unless a reference), export, evaluate and measure one row; write ``<results>/<row>/result.json``."""
    from models.package import load_package

    folder = study.results / row.name
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"row": row.name, "title": row.title, "kind": row.kind, "order": row.order}
    result.update(
        quick=study.quick, budget=study.spec.get("budget", ""), date=datetime.now(UTC).isoformat(timespec="seconds")
    )
    if row.package is not None:
        package_dir = row.package
        result["training"] = None
    else:
        from training.export import export_package
        from training.loop import train

        config = train_config(study, row, folder, overrides or [])
        started = time.perf_counter()
        run = train(config)
        result["training"] = training_figures(run, time.perf_counter() - started)
        result["aux"] = {k: getattr(config, k) for k in AUX_KEYS if getattr(config, k) > 0}
        if config.recon_weight > 0:
            result["aux"]["decoder"] = config.decoder
        result["data"] = {"cache": config.cache or "synthetic", "val_identities": config.val_identities}
        package_dir = folder / "package"
        export_package(run, package_dir)
        if config.attr_weight > 0:
            result["attributes"] = attribute_accuracy(run, config)
    result["lfw"] = evaluate_lfw(study, package_dir, folder)
    package = load_package(package_dir, warn_untrained=False)
    cfg = package.config
    result["model"] = {"backbone": cfg.backbone, "backbone_cfg": cfg.backbone_cfg, "embedding_size": cfg.embedding_size}
    result["model"].update(model_id=package.model_id, trained=package.trained)
    timing = study.spec["quick"]["timing"] if study.quick else study.spec["timing"]
    result["model"].update(measure_cost(package.network, cfg.input_size, **timing))
    result["machine"] = {"cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    (folder / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


# --- command line ------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``study`` subcommand's three commands: ``run``, ``latency`` and ``table``."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="study_command", required=True, metavar="run|latency|table")
    r = sub.add_parser("run", help="train, export, evaluate and measure rows (all by default), sequentially")
    r.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    r.add_argument("--row", action="append", default=[], help="a row name (repeatable); default: every row")
    r.add_argument("--quick", action="store_true", help="synthetic faces and LFW: the machinery in seconds")
    r.add_argument("--aux-backbone", help="the backbone of the auxiliary-loss rows (default: the config's)")
    r.add_argument("--results", type=Path, help="results folder (default: the config's)")
    r.add_argument("--publish", type=Path, help="copy each result.json here (default: the config's)")
    r.add_argument("--fresh", action="store_true", help="delete a row's folder first (default: resume it)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    lat = sub.add_parser("latency", help="time every finished row's package again, interleaved, and update the JSONs")
    lat.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    lat.add_argument("--results", type=Path, help="results folder (default: the config's)")
    lat.add_argument("--publish", type=Path, default=PUBLISHED)
    lat.add_argument("--runs", type=int, default=100)
    t = sub.add_parser("table", help="the markdown table in the doc and the accuracy/latency plot, from the JSONs")
    t.add_argument("--results", type=Path, default=PUBLISHED)
    t.add_argument("--doc", type=Path, default=DOC)
    t.add_argument("--plot", type=Path, default=PLOT)


def run(args: argparse.Namespace) -> None:
    if args.study_command == "table":
        logger.info("table:\n%s", write_table(args.results, args.doc, args.plot))
        return
    if args.study_command == "latency":
        remeasure_latency(load_study(args.config, results=args.results), args.publish, runs=args.runs)
        return
    study = load_study(args.config, quick=args.quick, aux_backbone=args.aux_backbone, results=args.results)
    publish = args.publish or (None if args.quick else _path(study.spec.get("publish", PUBLISHED)))
    known = {row.name: row for row in study.rows}
    unknown = [name for name in args.row if name not in known]
    if unknown:
        raise SystemExit(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(known)}")
    for row in [known[name] for name in args.row] or study.rows:
        logger.info("row %s (%s)", row.name, row.title)
        result = run_row(study, row, fresh=args.fresh, overrides=args.overrides)
        if publish is not None:
            publish.mkdir(parents=True, exist_ok=True)
            (publish / f"{row.name}.json").write_text(json.dumps(result, indent=2) + "\n")
        logger.info("row %s: LFW %s; model %s", row.name, result["lfw"], result["model"])
