"""The training loop: ``train(config)`` runs (or resumes) a run in ``config.out``.

A few small functions: ``train_one_epoch``, ``evaluate`` (verification on held-out identities); the
learning-rate schedule and the time budget's clock are in ``training.schedule``, checkpoints in
``training.checkpoint``. Rank 0 writes the run folder: ``config.yaml``,
``checkpoint.pt`` (after every epoch: weights, optimiser, epoch, config), ``metrics.jsonl`` /
``metrics.csv`` (every ``log_every`` steps, each loss term separately), ``epochs.jsonl``,
``loss_terms.png`` and ``val_roc.png``. ``train()`` writes no model package: ``training.export.export_package``
(``facegate-train export``) makes one from the run folder.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training import distributed
from training.checkpoint import CHECKPOINT, initialise_from, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.data.augment import augment
from training.data.dataset import (
    FaceArrays,
    arrays_from_cache,
    epoch_batches,
    normalise_crops,
    split_by_identity,
    synthetic_arrays,
    to_tensor,
)
from training.evaluation.protocol import best_threshold, eer, roc_curve, tar_at_far
from training.model import FaceTrainingModel
from training.schedule import Clock, lr_at, lr_in_time

logger = logging.getLogger(__name__)


def jitter_faces(images: torch.Tensor, amount: float) -> torch.Tensor:
    """Random per-face zoom (1 ± ``amount``) and shift (up to ± ``amount`` × size on each axis) of
    normalised ``(B, 3, S, S)`` faces, with bilinear resampling and the border replicated: small
    alignment errors of the kind a detector makes, so 5 photos per identity stretch further."""
    if amount <= 0:
        return images
    b = images.shape[0]
    rand = torch.rand(b, 3, device=images.device) * 2.0 - 1.0
    theta = torch.zeros(b, 2, 3, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 + amount * rand[:, 0]
    theta[:, :, 2] = 2.0 * amount * rand[:, 1:]  # affine_grid's coordinates span 2 per side
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    channels_last = images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def load_data(config: TrainConfig) -> tuple[FaceArrays, FaceArrays]:
    if config.synthetic:
        data = synthetic_arrays(
            config.synthetic_identities, config.synthetic_per_identity, len(config.attributes), seed=config.seed
        )
    else:
        if not config.cache:
            raise ValueError("set `cache` (a prepared face cache) or `synthetic: true`")
        # A per-view teacher replaces precomputed descriptors (device-train passes --teacher anyway).
        teacher = Path(config.teacher_cache) if config.teacher_cache and not config.teacher_model else None
        data, _ = arrays_from_cache(Path(config.cache), config.attributes, teacher)
    return split_by_identity(data, config.val_identities, seed=config.seed)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Weight decay on weights only, not on norm parameters or biases."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)  # "adamw": TrainConfig allows no third name


def train(config: TrainConfig) -> Path:
    """Train (resuming from ``config.out/checkpoint.pt`` when present); returns the run folder."""
    info = distributed.setup(config.device)
    out = Path(config.out)
    try:
        torch.manual_seed(config.seed + info.rank)
        train_set, val_set = load_data(config)
        teacher_net = build_teacher(config, info.device)
        teacher_rows = train_set.teacher
        if teacher_net is not None:
            # The regression head starts at the teacher's mean: that of the first 512 training faces.
            teacher_rows = view_teacher(teacher_net, to_tensor(train_set.crops[:512], info.device)).cpu().numpy()
        teacher_dim = 0 if teacher_rows is None else teacher_rows.shape[1]
        model = FaceTrainingModel(config, train_set.num_classes, teacher_dim)
        if teacher_rows is not None:
            model.start_distillation_head(teacher_rows)
        model = model.to(info.device)
        if _channels_last(config, info.device):
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, config)
        start_epoch, elapsed_before = 0, 0.0
        if (out / CHECKPOINT).exists():
            start_epoch, elapsed_before = load_checkpoint(out / CHECKPOINT, model, optimizer, config)
            logger.info("resuming %s at epoch %d", out, start_epoch)
        elif config.init_from:
            fresh = initialise_from(model, Path(config.init_from))
            logger.info("weights from %s; new (untrained) parts: %s", config.init_from, fresh or "none")
            if config.init_heads == "fit":
                fit_heads(model, train_set, info.device, teacher_net)
        clock = Clock(config.time_budget_s, elapsed_before)
        # On a GPU the whole training set lives in device memory as uint8 (46,660 faces: 1.8 GB), so
        # a step never waits for the host; on the CPU batches are cut from the numpy array.
        device_crops = torch.from_numpy(train_set.crops).to(info.device) if info.device.type == "cuda" else None
        if info.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        wrapped: nn.Module = model
        if info.enabled:
            ids = [info.device.index] if info.device.type == "cuda" else None
            wrapped = DistributedDataParallel(model, device_ids=ids)
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            config.save(out / "config.yaml")
        steps_per_epoch = _steps_per_epoch(len(train_set), config, info.world_size)
        for epoch in range(start_epoch, config.epochs):
            # A fresh run always trains at least one epoch (a busy machine may take the whole budget
            # before the first step); a resume whose budget is spent adds nothing.
            if clock.spent_before:
                break
            steps = train_one_epoch(
                wrapped, optimizer, train_set, config, epoch, steps_per_epoch, info, clock, device_crops, teacher_net
            )
            # One decision per epoch, agreed by every rank (or one would wait in a collective forever):
            # the epoch that spends the budget is the last, and it is always evaluated.
            spent = _budget_spent(clock, info)
            last = epoch + 1 == config.epochs or spent
            if info.is_main and ((epoch + 1) % config.eval_every == 0 or last):
                metrics = evaluate(model.backbone, val_set, info.device, config)
                metrics.update(epoch=epoch + 1, train_identities=train_set.num_classes)
                metrics.update(steps=steps, elapsed_s=round(clock.elapsed, 1))
                _append_jsonl(out / "epochs.jsonl", metrics)
                logger.info("epoch %d: %s", epoch + 1, {k: v for k, v in metrics.items() if k != "roc"})
            if info.is_main:
                save_checkpoint(out / CHECKPOINT, model, optimizer, config, epoch + 1, clock.elapsed)
            distributed.barrier()
            if spent:
                break
        if info.is_main:
            _plot_run(out)
    finally:
        distributed.teardown()
    return out


HEAD_FIT_FACES = 2048  # faces whose teacher descriptors fit regress's affine map (init_heads: fit)
HEAD_FIT_PER_CLASS = 3  # faces per class whose mean embedding starts its centre (a CPU embeds ~100 faces/s)


def fit_heads(model: FaceTrainingModel, data: FaceArrays, device: torch.device, teacher_net: nn.Module | None) -> None:
    """``init_heads: fit`` (:mod:`training.heads`): each class centre imprinted from the embeddings of up to
    ``HEAD_FIT_PER_CLASS`` of its faces, regress's map fitted on the teacher's descriptors of ``HEAD_FIT_FACES``
    of those faces (their unaugmented views)."""
    from training.heads import fit_regression, imprint_centres

    rows = first_per_class(data.labels, HEAD_FIT_PER_CLASS)
    embeddings = embed_arrays(model.backbone, data.crops[rows], device)
    imprinted = imprint_centres(model.metric, embeddings, data.labels[rows])
    logger.info("class centres imprinted from %d faces: %d classes", len(rows), imprinted)
    if not isinstance(model.distill_proj, nn.Linear) or model.config.distill != "regress":
        return
    pick = np.sort(np.random.default_rng(model.config.seed).choice(len(rows), min(HEAD_FIT_FACES, len(rows)), False))
    if teacher_net is not None:
        batches = [data.crops[rows[pick[i : i + 256]]] for i in range(0, len(pick), 256)]
        teacher = np.concatenate([view_teacher(teacher_net, to_tensor(b, device)).cpu().numpy() for b in batches])
    elif data.teacher is not None:
        teacher = data.teacher[rows[pick]]
    else:
        return
    loss = fit_regression(model.distill_proj, embeddings[pick], teacher)
    logger.info("distillation map fitted on %d faces: regression loss %.3f (1 = the mean)", len(pick), loss)


def first_per_class(labels: np.ndarray, k: int) -> np.ndarray:
    """The indices of the first ``k`` rows of every label (in row order), ascending."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    rank = np.arange(len(order)) - np.searchsorted(ordered, ordered, side="left")
    return np.sort(order[rank < k])


def build_teacher(config: TrainConfig, device: torch.device) -> nn.Module | None:
    """The per-view teacher ``config.teacher_model`` names, frozen on ``device`` (``None`` for none)."""
    if not config.teacher_model:  # else "dlib_torch", the one teacher TrainConfig allows
        return None
    from training.teacher_torch import DlibResNet

    net = DlibResNet.from_dlib(config.teacher_weights or None).to(device).eval()
    for param in net.parameters():
        param.requires_grad_(False)
    return net


def view_teacher(teacher_net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The teacher's descriptors ``(B, 128)`` of the views the student sees: normalised
    ``(B, 3, 112, 112)`` faces → 0–255 → dlib's 150×150 chip (:func:`training.teacher_torch.chips_from_aligned`)."""
    from training.teacher_torch import chips_from_aligned

    with torch.no_grad():
        pixels = (images.float().contiguous() + 1.0) * 127.5
        out: torch.Tensor = teacher_net(chips_from_aligned(pixels)).float()
    return out


def _channels_last(config: TrainConfig, device: torch.device) -> bool:
    # Only on GPUs: on the CPU it gains little here, and torch 2.14's CPU conv backward
    # segfaults with channels_last at 8-channel widths (seen with width 0.125).
    return config.channels_last and device.type == "cuda"


def _steps_per_epoch(n: int, config: TrainConfig, world_size: int) -> int:
    steps = (n // world_size) // config.batch_size
    if steps == 0:
        raise ValueError(f"{n} training faces cannot fill one batch of {config.batch_size} per rank")
    return min(steps, config.max_steps_per_epoch) if config.max_steps_per_epoch > 0 else steps


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: FaceArrays,
    config: TrainConfig,
    epoch: int,
    steps_per_epoch: int,
    info: distributed.DistInfo,
    clock: Clock | None = None,
    device_crops: torch.Tensor | None = None,
    teacher_net: nn.Module | None = None,
) -> int:
    """One epoch (or, with a time budget, until the budget is spent); returns the steps taken.
    ``device_crops``: the training crops already in device memory (uint8 NHWC), indexed there.
    ``teacher_net``: the teacher run on each augmented view (else the cached ``data.teacher`` rows)."""
    model.train()
    clock = clock or Clock(0.0)
    # Seeded per (run, epoch, rank): flips, noise and dropout replay identically after a resume.
    torch.manual_seed(config.seed * 1_000_003 + epoch * 1009 + info.rank)
    total_steps = steps_per_epoch * config.epochs
    warmup = int(config.warmup_epochs * steps_per_epoch)
    use_amp = config.amp and info.device.type == "cuda"
    out = Path(config.out)
    batches = epoch_batches(len(data), config.batch_size, epoch, config.seed, info.rank, info.world_size)
    bar = tqdm(
        total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not (config.progress and info.is_main)
    )
    started, seen, taken = time.perf_counter(), 0, 0
    channels_last = _channels_last(config, info.device)
    for i, index in enumerate(batches):
        if i >= steps_per_epoch or (i > 0 and _budget_spent(clock, info)):  # at least one step per epoch
            break
        step = epoch * steps_per_epoch + i
        if config.time_budget_s > 0:
            lr = lr_in_time(step, warmup, clock.elapsed, config.time_budget_s, config.lr)
        else:
            lr = lr_at(step, total_steps, warmup, config.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if device_crops is not None:
            images = normalise_crops(device_crops[torch.from_numpy(index).to(info.device)], channels_last)
        else:
            images = to_tensor(data.crops[index], info.device, channels_last)
        flip = torch.rand(len(index), device=info.device) < 0.5  # random horizontal flip
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
        images = jitter_faces(images, config.jitter)
        images = augment(images, config)
        labels = torch.from_numpy(data.labels[index]).to(info.device)
        attributes = torch.from_numpy(data.attributes[index]).to(info.device)
        teacher: torch.Tensor | None
        if teacher_net is not None:
            teacher = view_teacher(teacher_net, images)
        else:
            teacher = None if data.teacher is None else torch.from_numpy(data.teacher[index]).to(info.device)
        with torch.autocast(device_type=info.device.type, dtype=torch.bfloat16, enabled=use_amp):
            terms = model(images, labels, attributes, teacher)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
        optimizer.step()
        seen += len(index) * info.world_size
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(f"loss became {terms['loss'].item()} at step {step}")
        if info.is_main and (i % config.log_every == 0 or i == steps_per_epoch - 1):
            rate = seen / max(time.perf_counter() - started, 1e-9)
            row = {"step": step, "epoch": epoch + 1, "lr": lr, "images_per_s": round(rate, 1)}
            row.update({k: round(float(v.detach()), 5) for k, v in terms.items()})
            _append_jsonl(out / "metrics.jsonl", row)
            _append_csv(out / "metrics.csv", row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{lr:.3g}", img_s=f"{rate:.0f}")
        bar.update(1)
        taken += 1
    bar.close()
    return taken


def _budget_spent(clock: Clock, info: distributed.DistInfo) -> bool:
    """Whether the time budget is spent, agreed by every rank (rank 0's clock decides), so that all
    ranks stop at the same step."""
    if clock.budget_s <= 0:
        return False
    if not info.enabled:
        return clock.spent
    flag = torch.tensor([1.0 if clock.spent else 0.0], device=info.device)
    torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


@torch.inference_mode()
def embed_arrays(backbone: nn.Module, crops: np.ndarray, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """Unit-norm embeddings ``(N, E)`` of aligned crops, in eval mode (restores the previous mode)."""
    was_training = backbone.training
    backbone.eval()
    out = []
    for start in range(0, len(crops), batch_size):
        x = to_tensor(crops[start : start + batch_size], device)
        out.append(F.normalize(backbone(x).float(), dim=1).cpu().numpy())
    backbone.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate(backbone: nn.Module, val: FaceArrays, device: torch.device, config: TrainConfig) -> dict[str, Any]:
    """Verification on held-out identities: every genuine pair and every impostor pair among them."""
    if len(val) < 2:
        return {}
    emb = embed_arrays(backbone, val.crops, device)
    sims = emb @ emb.T
    iu = np.triu_indices(len(val), k=1)
    scores = sims[iu]
    same = (val.labels[:, None] == val.labels[None, :])[iu]
    if same.all() or not same.any():
        return {}
    # Accuracy on a balanced pair set (every genuine pair, as many random impostor pairs): on all
    # pairs, where impostors outnumber genuine pairs ~400:1, "reject everything" would score 99.7%.
    genuine = np.flatnonzero(same)
    impostors = np.flatnonzero(~same)
    impostor = np.random.default_rng(config.seed).choice(
        impostors, size=min(len(genuine), len(impostors)), replace=False
    )
    balanced = np.concatenate([genuine, impostor])
    threshold, acc = best_threshold(scores[balanced], same[balanced])
    metrics: dict[str, Any] = {
        "val_pairs": len(scores),
        "val_genuine": int(same.sum()),
        "val_accuracy": round(float(acc), 5),
        "val_threshold": round(float(threshold), 5),
        "val_eer": round(float(eer(scores, same)[0]), 5),
    }
    for far in (1e-2, 1e-3):
        metrics[f"val_tar@far={far:g}"] = round(float(tar_at_far(scores, same, far)[0]), 5)
    far_curve, tar_curve, _ = roc_curve(scores, same)
    keep = np.unique(np.linspace(0, len(far_curve) - 1, 200).astype(int))
    metrics["roc"] = {"far": far_curve[keep].round(6).tolist(), "tar": tar_curve[keep].round(6).tolist()}
    return metrics


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    fields = ["step", "epoch", "lr", "images_per_s", "loss", "metric", "attributes", "deep_sup", "recon", "distill"]
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _plot_run(out: Path) -> None:
    from training.plots import plot_loss_terms, plot_roc

    if (out / "metrics.jsonl").exists():
        plot_loss_terms(out / "metrics.jsonl", out / "loss_terms.png")
    if (out / "epochs.jsonl").exists():
        epochs = [json.loads(line) for line in (out / "epochs.jsonl").read_text().splitlines()]
        last = next((e for e in reversed(epochs) if "roc" in e), None)
        if last:
            plot_roc(
                {"held-out identities": (np.array(last["roc"]["far"]), np.array(last["roc"]["tar"]))},
                out / "val_roc.png",
                title=f"Validation ROC after epoch {last['epoch']}",
            )
