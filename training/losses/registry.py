"""``build_metric_loss(name, num_classes, embedding_size, **cfg)``: the metric loss by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from torch import nn

from training.losses.arcface import ArcFaceLoss
from training.losses.cosface import CosFaceLoss
from training.losses.triplet import BatchHardTripletLoss

MetricLossBuilder = Callable[..., nn.Module]


def _arcface(num_classes: int, embedding_size: int, **cfg: float) -> nn.Module:
    return ArcFaceLoss(num_classes, embedding_size, **cfg)


def _cosface(num_classes: int, embedding_size: int, **cfg: float) -> nn.Module:
    return CosFaceLoss(num_classes, embedding_size, **cfg)


def _triplet(num_classes: int, embedding_size: int, **cfg: float) -> nn.Module:
    # Triplet loss has no class centres; the shared signature keeps the training config uniform.
    return BatchHardTripletLoss(**cfg)


METRIC_LOSSES: Mapping[str, MetricLossBuilder] = MappingProxyType(
    {"arcface": _arcface, "cosface": _cosface, "triplet": _triplet}
)


def list_metric_losses() -> list[str]:
    """Names accepted by :func:`build_metric_loss`, sorted."""
    return sorted(METRIC_LOSSES)


def build_metric_loss(name: str, num_classes: int, embedding_size: int, **cfg: float) -> nn.Module:
    """The metric loss registered as ``name`` ("arcface", "cosface" or "triplet").

    ``cfg`` goes to the loss's constructor: ``margin`` and ``scale`` for the margin losses,
    ``margin`` for triplet. The margin losses own parameters (the class centres): give the
    returned module to the optimiser too.
    """
    try:
        builder = METRIC_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown metric loss {name!r}; known: {', '.join(list_metric_losses())}") from None
    return builder(num_classes, embedding_size, **cfg)
