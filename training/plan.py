"""A plan: several training runs at once on one machine, each with the same time budget, then export.

Made for a lent GPU with a fixed lease: small networks leave most of a large GPU idle between kernel
launches, so the runs of an ablation share it as concurrent processes, and each run's cosine
schedule follows its own clock (``time_budget_s``), so every run ends — annealed — inside the lease
whatever its share of the GPU turns out to be. A run that is still going at ``budget + grace`` is
killed; its last per-epoch checkpoint is exported all the same.

The plan file (YAML)::

    base: training/experiments/gpu/base.yaml   # the TrainConfig every run starts from
    budget_s: 420                               # each run's training time
    runs:
      - {name: metric, set: {attr_weight: 0.0}}
      - {name: attributes, set: {attr_weight: 0.5}}

``facegate-train plan PLAN --cache CACHE [--teacher T.npy] --runs DIR [--out OUT] [--budget S]``
trains every run into ``DIR/<name>``, exports ``DIR/<name>/package``, and with ``--out`` writes
``OUT/results.tar.partNN`` (every package, config, log, metric and plot; :func:`bundle`) and
``OUT/summary.json`` (each run's last held-out check).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

GRACE_S = 60.0  # a run's start-up (loading the cache) and last evaluation, beyond its budget
PART_BYTES = 15 * 2**20  # results come back in files of at most this size


def read_plan(path: Path) -> dict[str, Any]:
    plan = yaml.safe_load(path.read_text()) or {}
    if not isinstance(plan, dict) or not plan.get("runs"):
        raise ValueError(f"{path}: a plan needs a `runs` list")
    names = [run["name"] for run in plan["runs"]]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: run names repeat: {names}")
    return plan


def fit_command(plan: dict[str, Any], run: dict[str, Any], runs_dir: Path, overrides: dict[str, Any]) -> list[str]:
    """The ``python -m training fit`` command line of one run."""
    settings = {**overrides, **run.get("set", {}), "out": str(runs_dir / run["name"]), "progress": False}
    command = [sys.executable, "-m", "training", "fit"]
    if plan.get("base"):
        command += ["--config", str(plan["base"])]
    for key, value in settings.items():
        command += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return command


def run_plan(
    plan_path: Path,
    runs_dir: Path,
    *,
    overrides: dict[str, Any] | None = None,
    budget_s: float | None = None,
    out: Path | None = None,
    grace_s: float = GRACE_S,
    clock: Callable[[], float] = time.perf_counter,
    poll_s: float = 1.0,
) -> dict[str, Any]:
    """Train every run of the plan concurrently, export each, and (with ``out``) bundle the results.

    A run still going ``budget + grace_s`` seconds after the start is killed (its lease would end anyway).
    ``clock`` (seconds) measures that deadline: a test gives its own, so that the kill does not wait on the
    machine's speed (the runs themselves stop on their own clocks, ``time_budget_s``).
    """
    from training.export import export_package

    plan = read_plan(plan_path)
    budget = float(budget_s if budget_s is not None else plan.get("budget_s", 0))
    settings = dict(overrides or {})
    if budget > 0:
        settings["time_budget_s"] = budget
    runs_dir.mkdir(parents=True, exist_ok=True)
    started = clock()
    procs = {}
    for run in plan["runs"]:
        log = (runs_dir / f"{run['name']}.log").open("w")
        procs[run["name"]] = subprocess.Popen(
            fit_command(plan, run, runs_dir, settings), stdout=log, stderr=subprocess.STDOUT
        )
        logger.info("started %s (pid %d)", run["name"], procs[run["name"]].pid)
    deadline = started + budget + grace_s if budget > 0 else None
    codes: dict[str, int | str] = {}
    while len(codes) < len(procs):
        for name, proc in procs.items():
            if name not in codes and proc.poll() is not None:
                codes[name] = proc.returncode
                logger.info("%s ended with %d after %.0f s", name, proc.returncode, clock() - started)
        if deadline is not None and clock() > deadline:
            for name, proc in procs.items():
                if name not in codes:
                    proc.kill()
                    proc.wait()
                    codes[name] = "killed at the deadline"
                    logger.warning("%s killed at the deadline", name)
        if len(codes) < len(procs):
            time.sleep(poll_s)
    summary: dict[str, Any] = {"plan": str(plan_path), "budget_s": budget, "runs": {}}
    for run in plan["runs"]:
        name = run["name"]
        folder = runs_dir / name
        entry: dict[str, Any] = {"exit": codes[name], "set": run.get("set", {})}
        epochs = folder / "epochs.jsonl"
        if epochs.is_file() and epochs.read_text().strip():
            last = json.loads(epochs.read_text().splitlines()[-1])
            entry["last_epoch"] = {k: v for k, v in last.items() if k != "roc"}
        try:
            package = export_package(folder, folder / "package")
            entry["model_id"] = package.model_id
        except Exception as exc:  # a run that never finished an epoch has nothing to export
            entry["export_error"] = f"{type(exc).__name__}: {exc}"
            logger.error("%s: export failed: %s", name, entry["export_error"])
        summary["runs"][name] = entry
    summary["wall_s"] = round(clock() - started, 1)
    (runs_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if out is not None:
        bundle(runs_dir, out, [run["name"] for run in plan["runs"]])
    return summary


def bundle(runs_dir: Path, out: Path, names: list[str], part_bytes: int = PART_BYTES) -> list[Path]:
    """One tar of every run's exported package and of its config, logs, metrics and plots (no
    checkpoints), cut into ``results.tar.partNN`` files of at most ``part_bytes`` (a lease returns
    few files of bounded size), plus ``out/summary.json``. ``cat results.tar.part* | tar x`` joins them."""
    out.mkdir(parents=True, exist_ok=True)
    whole = out / "results.tar"
    with tarfile.open(whole, "w") as tar:
        for name in names:
            for path in sorted((runs_dir / name).rglob("*")):
                if path.is_file() and path.suffix not in (".pt", ".tmp"):
                    tar.add(path, arcname=str(path.relative_to(runs_dir)))
            log = runs_dir / f"{name}.log"
            if log.is_file():
                tar.add(log, arcname=log.name)
        tar.add(runs_dir / "summary.json", arcname="summary.json")
    parts: list[Path] = []
    with whole.open("rb") as fh:
        while chunk := fh.read(part_bytes):
            parts.append(out / f"results.tar.part{len(parts):02d}")
            parts[-1].write_bytes(chunk)
    whole.unlink()
    (out / "summary.json").write_text((runs_dir / "summary.json").read_text())
    return parts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``plan`` subcommand's options."""
    parser.add_argument("plan", type=Path)
    parser.add_argument("--cache", required=True, help="the face cache every run trains on")
    parser.add_argument("--teacher", default="", help="teacher embeddings (.npy) for runs that distil")
    parser.add_argument("--runs", type=Path, required=True, help="where the run folders go")
    parser.add_argument("--out", type=Path, help="bundle packages, logs and a summary here")
    parser.add_argument("--budget", type=float, help="each run's training seconds (default: the plan's budget_s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``plan``: :func:`run_plan`, then one line per run."""
    overrides: dict[str, Any] = {"cache": args.cache}
    if args.teacher:
        overrides["teacher_cache"] = args.teacher
    for item in args.overrides:
        key, _, raw = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(raw)
    summary = run_plan(args.plan, args.runs, overrides=overrides, budget_s=args.budget, out=args.out)
    for name, entry in summary["runs"].items():
        last = entry.get("last_epoch", {})
        logger.info(
            "%-22s exit %-4s epochs %-4s val acc %-8s TAR@1e-3 %-8s %s",
            name,
            entry["exit"],
            last.get("epoch"),
            last.get("val_accuracy"),
            last.get("val_tar@far=0.001"),
            entry.get("model_id", entry.get("export_error", "")),
        )
    return summary
