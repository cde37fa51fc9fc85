"""Auxiliary attribute loss: multi-label binary cross-entropy with missing labels.

Caruana, "Multitask Learning", Machine Learning 28, 1997 (auxiliary tasks sharing a
representation); the attribute heads follow Liu et al., "Deep Learning Face Attributes in the
Wild" (CelebA), ICCV 2015.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class AttributeLoss(nn.Module):
    """BCE-with-logits over ``A`` binary attributes, ignoring missing labels.

    Targets are ``1`` (has the attribute), ``0`` (has not), and ``NaN`` or any negative value
    (``-1``) for *missing*. Values strictly between 0 and 1 are accepted as soft targets; values
    above 1 are an error. Note that CelebA's ``list_attr_celeba.txt`` writes "has not" as ``-1``:
    map it to ``0`` before it reaches this loss, or every negative label is silently dropped.

    The loss is the mean over the present labels only (0, with a graph, when none is present).
    ``pos_weight`` (shape ``(A,)``) multiplies the positive term per attribute, as in
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` (e.g. ``#neg / #pos`` for a rare
    attribute).

    Shapes: ``loss(logits (B, A), targets (B, A)) -> ()``.
    """

    pos_weight: torch.Tensor | None

    def __init__(self, num_attributes: int, pos_weight: Sequence[float] | torch.Tensor | None = None):
        super().__init__()
        if num_attributes < 1:
            raise ValueError(f"num_attributes must be >= 1, got {num_attributes}")
        self.num_attributes = num_attributes
        if pos_weight is None:
            self.register_buffer("pos_weight", None)
        else:
            weight = torch.as_tensor(pos_weight, dtype=torch.float32).flatten()
            if weight.shape != (num_attributes,):
                raise ValueError(f"pos_weight must have {num_attributes} values, got {tuple(weight.shape)}")
            if bool((weight <= 0).any()):
                raise ValueError("pos_weight values must be > 0")
            self.register_buffer("pos_weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.num_attributes or targets.shape != logits.shape:
            raise ValueError(
                f"logits and targets must both be (B, {self.num_attributes}), "
                f"got {tuple(logits.shape)} and {tuple(targets.shape)}"
            )
        targets = targets.to(logits.dtype)
        present = ~torch.isnan(targets) & (targets >= 0)
        if bool((targets[present] > 1).any()):
            raise ValueError("attribute targets must be 1, 0, or missing (NaN or -1); got values above 1")
        filled = torch.where(present, targets, torch.zeros_like(targets))
        pos_weight = None if self.pos_weight is None else self.pos_weight.to(logits.dtype)
        per_label = F.binary_cross_entropy_with_logits(logits, filled, pos_weight=pos_weight, reduction="none")
        return (per_label * present).sum() / present.sum().clamp_min(1)

    def extra_repr(self) -> str:
        return f"num_attributes={self.num_attributes}, pos_weight={self.pos_weight is not None}"
