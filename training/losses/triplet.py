"""Batch-hard triplet loss.

Hermans, Beyer and Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
arXiv:1703.07737, 2017 (the "batch hard" variant, eq. 5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# sqrt has an infinite gradient at 0 (two identical embeddings); clamping the squared distance
# first gives those pairs a zero gradient instead of NaN.
_MIN_SQUARED_DISTANCE = 1e-12


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between L2-normalised rows: ``(B, E) -> (B, B)``, in ``[0, 2]``."""
    x = F.normalize(embeddings, dim=1)
    squared = (2.0 - 2.0 * x @ x.T).clamp_min(_MIN_SQUARED_DISTANCE)
    return squared.sqrt()


class BatchHardTripletLoss(nn.Module):
    """For each anchor, ``max(0, d(a, hardest positive) − d(a, hardest negative) + margin)``.

    Distances are Euclidean between L2-normalised embeddings. The hardest positive is the
    farthest other sample with the anchor's label, the hardest negative the closest sample with
    another label. Anchors with no positive or no negative in the batch are ignored; the loss is
    the mean over the remaining anchors (zero terms included, as in the paper). With no valid
    anchor it is 0, still attached to the graph so that ``backward()`` works (and gives zeros).

    No parameters: ``num_classes`` and ``embedding_size`` are not needed.

    Args:
        margin: the hinge margin (the paper uses 0.2–0.5 on normalised embeddings); ``> 0``.

    Shapes: ``loss(embeddings (B, E), labels (B,)) -> ()``.
    """

    def __init__(self, margin: float = 0.3):
        super().__init__()
        if margin <= 0:
            raise ValueError(f"triplet margin must be > 0, got {margin}")
        self.margin = float(margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (B, E), got {tuple(embeddings.shape)}")
        if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
            raise ValueError(f"labels must be (B,) with B = {embeddings.shape[0]}, got {tuple(labels.shape)}")
        distances = pairwise_distances(embeddings)
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        self_pair = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive = same & ~self_pair
        negative = ~same
        valid = positive.any(dim=1) & negative.any(dim=1)
        if not bool(valid.any()):
            return embeddings.sum() * 0.0
        inf = torch.tensor(float("inf"), dtype=distances.dtype, device=distances.device)
        hardest_positive = torch.where(positive, distances, -inf).amax(dim=1)
        hardest_negative = torch.where(negative, distances, inf).amin(dim=1)
        terms = F.relu(hardest_positive[valid] - hardest_negative[valid] + self.margin)
        return terms.mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
