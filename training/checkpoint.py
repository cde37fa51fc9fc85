"""Checkpoints of a run: ``checkpoint.pt`` holds everything a resume needs (weights, optimiser, epochs done,
seconds spent, the config); ``initialise_from`` starts a new run from another run's weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.config import TrainConfig
from training.model import FaceTrainingModel

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(
    path: Path,
    model: FaceTrainingModel,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    epoch: int,
    elapsed_s: float = 0.0,
) -> None:
    """Atomically write everything a resume needs (the config travels with the weights)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "elapsed_s": elapsed_s,
        "config": config.to_dict(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig
) -> tuple[int, float]:
    """Restore a checkpoint; returns (epochs done, wall seconds spent so far)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = {k: v for k, v in state["config"].items() if k not in ("epochs", "progress", "out", "device")}
    current = {k: v for k, v in config.to_dict().items() if k in saved}
    if saved != current:
        changed = sorted(k for k in saved if saved[k] != current.get(k))
        raise ValueError(f"{path} was trained with another config (differs in {changed}); use a new `out`")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), float(state.get("elapsed_s", 0.0))


def initialise_from(model: nn.Module, source_path: Path) -> list[str]:
    """Start ``model`` from another run's weights (fine-tuning): a run's ``checkpoint.pt``, or a model
    package folder (its backbone; a package keeps no heads). Every tensor the source and the model
    share must have the same shape (the same backbone, and the same training identities for the class
    centres); heads the source lacks (a new auxiliary loss; every head, from a package) keep their fresh
    initialisation and are returned; heads the model lacks are ignored."""
    source = _weights_of(source_path)
    target = model.state_dict()
    clash = sorted(k for k in source.keys() & target.keys() if source[k].shape != target[k].shape)
    if clash:
        raise ValueError(f"{source_path}: shapes differ from this model's in {clash[:5]}")
    if not any(k.startswith("backbone.") for k in source.keys() & target.keys()):
        raise ValueError(f"{source_path}: no backbone weights this model can take")
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in source.items() if k in target}, strict=False)
    return sorted({k.rsplit(".", 1)[0] for k in target.keys() - source.keys()})


def _weights_of(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's model state, or a package's backbone weights under ``backbone.`` (read by the
    package loader, which checks the weights' hash against model.json)."""
    if path.is_dir():
        from models.package import load_package

        package = load_package(path, network=True)
        return {f"backbone.{k}": v for k, v in package.network.state_dict().items()}
    state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return state
