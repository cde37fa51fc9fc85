"""The training loop end to end on synthetic data: every loss term, checkpoints, exact resume,
export, and two gloo processes under DistributedDataParallel."""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from models.package import load_package
from training import loop, schedule
from training.checkpoint import CHECKPOINT
from training.config import TrainConfig, load_config
from training.export import export_package
from training.loop import jitter_faces, train
from training.model import FaceTrainingModel
from training.schedule import lr_at, lr_in_time


def tiny_config(out: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "synthetic": True,
        "synthetic_identities": 10,
        "synthetic_per_identity": 8,
        "val_identities": 2,
        "width": 0.125,
        "embedding_size": 64,
        "batch_size": 16,
        "epochs": 2,
        "warmup_epochs": 0.5,
        "lr": 0.05,
        "scale": 16.0,
        "out": str(out),
        "progress": False,
        "log_every": 1,
        "device": "cpu",
    }
    values.update(overrides)
    return TrainConfig.from_dict(values)


def test_lr_warms_up_then_follows_a_cosine_to_zero() -> None:
    lrs = [lr_at(s, total_steps=100, warmup_steps=10, base_lr=1.0) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[55] == pytest.approx(0.5) and lrs[100] == pytest.approx(0.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def test_lr_in_time_warms_up_by_steps_then_follows_the_clock_to_zero() -> None:
    assert lr_in_time(0, warmup_steps=10, elapsed_s=0.0, budget_s=100.0, base_lr=1.0) == pytest.approx(0.1)
    assert lr_in_time(9, 10, elapsed_s=50.0, budget_s=100.0, base_lr=1.0) == pytest.approx(1.0)  # still warming up
    assert lr_in_time(10, 10, elapsed_s=50.0, budget_s=100.0, base_lr=1.0) == pytest.approx(0.5)
    assert lr_in_time(500, 10, elapsed_s=100.0, budget_s=100.0, base_lr=1.0) == pytest.approx(0.0)
    assert lr_in_time(500, 10, elapsed_s=180.0, budget_s=100.0, base_lr=1.0) == pytest.approx(0.0)
    lrs = [lr_in_time(20, 10, t, 100.0, 1.0) for t in range(0, 101, 5)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


class FakeClock:
    """A clock that moves ``tick`` seconds each time it is read: the budget tests count reads, not
    the machine's speed."""

    def __init__(self, tick: float):
        self.tick, self.now = tick, 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_time_budget_ends_the_run_and_a_resume_adds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule, "clock_source", FakeClock(0.05))
    config = tiny_config(tmp_path / "run", epochs=1000, time_budget_s=2.0, eval_every=1000, warmup_epochs=0.0)
    run = train(config)
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert len(epochs) == 1  # eval_every skips the others; the budget's last epoch is always checked
    assert epochs[0]["elapsed_s"] >= 2.0 and 1 < epochs[0]["epoch"] < 1000
    state = torch.load(run / CHECKPOINT, weights_only=False)
    assert state["epoch"] == epochs[0]["epoch"] and state["elapsed_s"] >= 2.0
    lrs = [json.loads(line)["lr"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(a >= b for a, b in itertools.pairwise(lrs)) and lrs[-1] < 0.05  # the clock's cosine, below lr
    train(config)
    assert torch.load(run / CHECKPOINT, weights_only=False)["epoch"] == state["epoch"]


def test_a_fresh_run_trains_one_epoch_even_when_the_budget_is_gone_before_its_first_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy machine once spent the whole budget between the clock's start and the first step, and the
    # run ended with no epoch, no evaluation and no checkpoint.
    monkeypatch.setattr(schedule, "clock_source", FakeClock(10.0))
    run = train(tiny_config(tmp_path / "run", epochs=1000, time_budget_s=2.0, eval_every=1000, warmup_epochs=0.0))
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1] and epochs[0]["steps"] == 1
    assert torch.load(run / CHECKPOINT, weights_only=False)["epoch"] == 1


def test_eval_every_checks_held_out_faces_on_its_cadence_and_after_the_last_epoch(tmp_path: Path) -> None:
    run = train(tiny_config(tmp_path / "run", epochs=3, eval_every=2))
    assert [json.loads(line)["epoch"] for line in (run / "epochs.jsonl").read_text().splitlines()] == [2, 3]


def test_jitter_shifts_and_zooms_faces_but_keeps_layout_and_flat_images() -> None:
    torch.manual_seed(0)
    ramp = torch.linspace(-1, 1, 112).expand(4, 3, 112, 112).contiguous(memory_format=torch.channels_last)
    assert jitter_faces(ramp, 0.0) is ramp
    moved = jitter_faces(ramp, 0.05)
    assert moved.shape == ramp.shape and moved.is_contiguous(memory_format=torch.channels_last)
    assert (moved - ramp).abs().max() > 0.01  # something moved ...
    assert (moved - ramp).abs().max() < 0.25  # ... by a few pixels of a ramp of 2/112 per pixel, not more
    flat = torch.full((2, 3, 112, 112), 0.3)
    torch.testing.assert_close(jitter_faces(flat, 0.05), flat)  # border replicated: no black edges


def test_config_yaml_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("epochs: 7\nlr: 0.2\nattributes: [Male, Smiling]\n")
    config = load_config(tmp_path / "exp.yaml", ["lr=0.3", "synthetic=true", "width=1"])
    assert (config.epochs, config.lr, config.synthetic, config.width) == (7, 0.3, True, 1.0)
    assert config.attributes == ("Male", "Smiling")
    with pytest.raises(ValueError, match="unknown config keys: nonsense"):
        load_config(None, ["nonsense=1"])
    with pytest.raises(ValueError, match="epochs"):
        load_config(None, ["epochs=many"])


def test_synthetic_run_logs_every_term_checkpoints_and_exports(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path / "run", epochs=3, attr_weight=0.5, deep_sup_weight=0.3, recon_weight=0.2, recon_noise_std=0.1
    )
    run = train(config)
    for name in ("config.yaml", CHECKPOINT, "metrics.jsonl", "metrics.csv", "epochs.jsonl", "loss_terms.png"):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "metric", "attributes", "deep_sup", "recon", "lr", "images_per_s"} <= set(rows[0])
    first, last = rows[0], rows[-1]
    assert last["metric"] < first["metric"], (first, last)
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert 0.5 <= epochs[-1]["val_accuracy"] <= 1.0

    package = export_package(run, tmp_path / "package")
    assert not package.trained  # synthetic data: never passes as a real model
    assert "synthetic" in package.card
    reloaded = load_package(tmp_path / "package", warn_untrained=False)
    assert reloaded.model_id == package.model_id
    assert not any(k.startswith(("metric", "attr", "deep", "decoder")) for k in reloaded.network.state_dict())


def test_resume_after_a_crash_continues_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    straight = train(tiny_config(tmp_path / "a", epochs=2, attr_weight=0.5))

    one_epoch = loop.train_one_epoch

    def crash_in_second_epoch(*args: object, **kwargs: object) -> int:
        if args[4] == 1:  # the epoch argument
            raise KeyboardInterrupt("simulated crash")
        return one_epoch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path / "b", epochs=2, attr_weight=0.5))
    monkeypatch.setattr(loop, "train_one_epoch", one_epoch)
    assert torch.load(tmp_path / "b" / CHECKPOINT, weights_only=False)["epoch"] == 1
    resumed = train(tiny_config(tmp_path / "b", epochs=2, attr_weight=0.5))

    a = torch.load(straight / CHECKPOINT, weights_only=False)["model"]
    b = torch.load(resumed / CHECKPOINT, weights_only=False)["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_resume_refuses_a_changed_config(tmp_path: Path) -> None:
    train(tiny_config(tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match="lr"):
        train(tiny_config(tmp_path / "run", epochs=2, lr=0.5))


def _ddp_worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)

    one_epoch = loop.train_one_epoch

    def one_epoch_then_report(model: torch.nn.Module, *args: object, **kwargs: object) -> int:
        steps = one_epoch(model, *args, **kwargs)  # type: ignore[arg-type]
        inner = model.module if hasattr(model, "module") else model
        torch.save(inner.state_dict(), Path(out) / f"rank{rank}.pt")
        return steps

    loop.train_one_epoch = one_epoch_then_report  # type: ignore[assignment]
    loop.train(tiny_config(Path(out), epochs=1, max_steps_per_epoch=2, attr_weight=0.5))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gloo_processes_hold_identical_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0.keys() == r1.keys() and len(r0) > 10
    for key in r0:
        if key.endswith("num_batches_tracked") or "running_" in key:
            continue  # BatchNorm statistics are per-rank buffers (DDP broadcasts rank 0's before each forward)
        torch.testing.assert_close(r0[key], r1[key], rtol=0, atol=1e-6, msg=key)
    # Two steps really moved the weights (both ranks started from rank 0's initialisation).
    checkpoint = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    assert checkpoint["epoch"] == 1
    torch.manual_seed(0)  # the seed train() uses on rank 0
    fresh = FaceTrainingModel(tiny_config(tmp_path, attr_weight=0.5), num_classes=8).state_dict()
    key = "backbone.head.fc.weight"
    assert not torch.equal(fresh[key], r0[key])


def test_init_from_starts_a_run_from_another_runs_weights_and_keeps_new_heads_fresh(tmp_path: Path) -> None:
    from training.checkpoint import initialise_from

    first = train(tiny_config(tmp_path / "first", epochs=1, attr_weight=0.5))
    config = tiny_config(tmp_path / "second", epochs=1, attr_weight=0.5, deep_sup_weight=0.3)
    model = FaceTrainingModel(config, num_classes=8)
    fresh = initialise_from(model, first / CHECKPOINT)
    assert fresh and all(name.startswith("deep_heads.") for name in fresh)  # only the new loss's head
    source = torch.load(first / CHECKPOINT, weights_only=False)["model"]
    for key, value in model.state_dict().items():
        if key in source:
            torch.testing.assert_close(value, source[key], rtol=0, atol=0, msg=key)
    with pytest.raises(ValueError, match="shapes differ"):  # other identities: other class centres
        initialise_from(FaceTrainingModel(config, num_classes=5), first / CHECKPOINT)
    # Through the loop: the fine-tuning run trains on and writes its own checkpoint.
    run = train(tiny_config(tmp_path / "second", epochs=1, attr_weight=0.5, init_from=str(first / CHECKPOINT)))
    assert torch.load(run / CHECKPOINT, weights_only=False)["epoch"] == 1


def test_per_view_teacher_and_augmentation_run_end_to_end(tmp_path: Path) -> None:
    """The GPU plan's new parts on the CPU: every augmentation on, dlib's ported ResNet giving the
    distillation target of each augmented view (no teacher cache)."""
    config = tiny_config(
        tmp_path / "run",
        epochs=1,
        distill_weight=1.0,
        distill="regress",
        teacher_model="dlib_torch",
        aug_tight_prob=0.5,
        aug_lowres_prob=0.5,
        aug_colour_prob=0.5,
        aug_grey_prob=0.5,
    )
    run = train(config)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "distill" in rows[0] and all(np.isfinite(r["distill"]) for r in rows)
    with pytest.raises(ValueError, match="teacher_model"):
        train(tiny_config(tmp_path / "bad", teacher_model="vgg"))
