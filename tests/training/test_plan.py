"""Plans (``training.plan``): concurrent runs with a time budget, exported and bundled for the trip back."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from models.package import UntrainedModelWarning, load_package
from training.plan import bundle, fit_command, read_plan, run_plan

TINY = {
    "synthetic": True,
    "synthetic_identities": 10,
    "synthetic_per_identity": 8,
    "val_identities": 2,
    "width": 0.125,
    "embedding_size": 32,
    "batch_size": 16,
    "epochs": 1_000_000,  # a cap no machine reaches in the budget: the budget ends the runs
    "warmup_epochs": 0.5,
    "lr": 0.05,
    "scale": 16.0,
    "device": "cpu",
}


def test_a_plan_trains_its_runs_at_once_within_the_budget_and_bundles_them(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(json.dumps(TINY))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        json.dumps(
            {
                "base": str(tmp_path / "base.yaml"),
                "budget_s": 4,
                "runs": [{"name": "plain", "set": {}}, {"name": "attributes", "set": {"attr_weight": 0.5}}],
            }
        )
    )
    # The runs' own clocks end them once their budget is spent, whatever the machine's speed. The plan's kill
    # deadline (budget + grace) is wall-clock: under load the runs' start-up alone (importing torch) once
    # outlasted the default 60 s grace and they were killed, so here the grace is only a hang guard.
    summary = run_plan(
        plan,
        tmp_path / "runs",
        overrides={"cache": "unused-by-synthetic-runs"},
        out=tmp_path / "out",
        grace_s=3600,
    )
    assert set(summary["runs"]) == {"plain", "attributes"}
    for name, entry in summary["runs"].items():
        assert entry["exit"] == 0, (tmp_path / "runs" / f"{name}.log").read_text()[-2000:]
        last = entry["last_epoch"]
        assert last["elapsed_s"] >= 4 and last["epoch"] >= 1  # the budget, not the epoch cap, ended it
        with pytest.warns(UntrainedModelWarning):  # synthetic data: exported, and marked untrained
            assert load_package(tmp_path / "runs" / name / "package").model_id == entry["model_id"]
    assert summary["runs"]["attributes"]["set"] == {"attr_weight": 0.5}

    parts = sorted((tmp_path / "out").glob("results.tar.part*"))
    joined = tmp_path / "joined.tar"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(joined) as tar:
        names = set(tar.getnames())
    assert {"summary.json", "plain.log", "plain/package/weights.safetensors", "attributes/epochs.jsonl"} <= names
    assert not any(n.endswith(".pt") for n in names)  # checkpoints stay behind
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["budget_s"] == 4


class JumpingClock:
    """Reads 0 at the plan's start and far past any deadline afterwards: the kill path runs at its first
    check, whatever the machine's speed (no test waits for a real deadline)."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return 0.0 if self.reads == 1 else 1e9


def test_a_run_still_going_at_the_deadline_is_killed_and_reported(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(json.dumps(TINY))
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps({"base": str(tmp_path / "base.yaml"), "runs": [{"name": "slow"}]}))
    clock = JumpingClock()
    summary = run_plan(
        plan, tmp_path / "runs", overrides={"cache": "unused"}, budget_s=1000, grace_s=60, clock=clock, poll_s=0.01
    )
    entry = summary["runs"]["slow"]
    assert entry["exit"] == "killed at the deadline"
    # Killed while still starting (importing torch): no epoch, so nothing to export, and the plan says so.
    assert "last_epoch" not in entry and entry["export_error"].startswith("FileNotFoundError")
    assert clock.reads >= 2 and summary["budget_s"] == 1000


def test_bundle_cuts_the_tar_into_parts_of_bounded_size(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "metrics.csv").write_bytes(bytes(range(256)) * 200)  # 51,200 bytes
    (runs / "a" / "checkpoint.pt").write_bytes(b"x" * 1000)
    (runs / "summary.json").write_text("{}")
    parts = bundle(runs, tmp_path / "out", ["a"], part_bytes=20_000)
    assert len(parts) >= 3 and all(p.stat().st_size <= 20_000 for p in parts)
    assert not (tmp_path / "out" / "results.tar").exists()
    joined = tmp_path / "joined.tar"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(joined) as tar:
        member = tar.extractfile("a/metrics.csv")
        assert member is not None and member.read() == bytes(range(256)) * 200
        assert "a/checkpoint.pt" not in tar.getnames()


def test_plan_files_are_checked_and_settings_become_fit_flags(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("runs: []\n")
    with pytest.raises(ValueError, match="needs a `runs` list"):
        read_plan(plan)
    plan.write_text("runs: [{name: a}, {name: a}]\n")
    with pytest.raises(ValueError, match="run names repeat"):
        read_plan(plan)
    command = fit_command(
        {"base": "b.yaml"},
        {"name": "r", "set": {"width": 0.5, "decoder": "unet"}},
        tmp_path,
        {"cache": "/c", "time_budget_s": 30.0},
    )
    flags = [command[i + 1] for i, part in enumerate(command) if part == "--set"]
    assert command[command.index("--config") + 1] == "b.yaml"
    assert flags == [
        "cache=/c",
        "time_budget_s=30.0",
        "width=0.5",
        "decoder=unet",
        f"out={tmp_path / 'r'}",
        "progress=false",
    ]


def test_the_issue_11_gpu_plan_runs_in_synthetic_mode(tmp_path: Path) -> None:
    """Every run of training/experiments/gpu/plan_views.yaml, with the settings it will have on the GPU (per-view
    dlib teacher, every augmentation), trained in-process on synthetic faces for one step: the plan's own
    process launcher (tested above) kills a run a minute past its budget, too tight for two teacher runs at
    once on a busy CPU, so this test builds each run's config the way the launcher does and trains it."""
    from training.config import load_config
    from training.loop import train
    from training.plan import fit_command, read_plan

    path = Path(__file__).resolve().parents[2] / "training" / "experiments" / "gpu" / "plan_views.yaml"
    plan = read_plan(path)
    assert [run["name"] for run in plan["runs"]] == ["views_w025", "views_w050"]
    tiny = {**TINY, "synthetic_identities": 6, "synthetic_per_identity": 4, "epochs": 1, "log_every": 1}
    for run in plan["runs"]:
        command = fit_command(plan, run, tmp_path / "runs", {"cache": "unused-by-synthetic-runs", "teacher_cache": "t"})
        flags = [command[i + 1] for i, arg in enumerate(command) if arg == "--set"]
        config = load_config(command[command.index("--config") + 1], flags + [f"{k}={v}" for k, v in tiny.items()])
        assert config.teacher_model == "dlib_torch" and config.aug_tight_prob > 0 and config.distill_weight > 0
        out = train(config)
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert "distill" in rows[0] and rows[0]["distill"] > 0
