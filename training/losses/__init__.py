"""Training losses: the metric losses (ArcFace, CosFace, batch-hard triplet) and the attribute loss.

Every loss is an ``nn.Module`` called as ``loss(embeddings, labels)`` (the attribute loss as
``loss(logits, targets)``) and returns a scalar tensor. One paper per module.
"""

from training.losses.arcface import ArcFaceLoss
from training.losses.attributes import AttributeLoss
from training.losses.cosface import CosFaceLoss
from training.losses.margin import MarginSoftmaxLoss
from training.losses.registry import build_metric_loss, list_metric_losses
from training.losses.triplet import BatchHardTripletLoss

__all__ = [
    "ArcFaceLoss",
    "AttributeLoss",
    "BatchHardTripletLoss",
    "CosFaceLoss",
    "MarginSoftmaxLoss",
    "build_metric_loss",
    "list_metric_losses",
]
