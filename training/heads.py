"""Heads that start where a trained backbone already is, for fine-tuning (``init_heads: fit``).

A run that starts from another model's backbone (``init_from``, e.g. the shipped package) gets fresh class centres
for its own identities and a fresh regression map onto the teacher. Random centres give every face a near-uniform
softmax, so the first steps send the backbone large gradients that only reflect the random centres and can undo
what it had learnt. Instead, before the first step:

- each class centre is the mean unit embedding of its training faces ("weight imprinting", Qi, Brown & Lowe,
  "Low-Shot Learning with Imprinted Weights", CVPR 2018), so the margin loss starts near where a trained head
  would be;
- ``regress``'s affine map is the ridge least-squares fit of the teacher's descriptors on the unit embeddings of
  some training faces, so the distillation term starts at what the backbone can already predict rather than at 1.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def imprint_centres(metric: nn.Module, embeddings: np.ndarray, labels: np.ndarray) -> int:
    """Set ``metric.weight`` (``(C, E)`` class centres) to each class's mean unit embedding, normalised;
    ``embeddings`` ``(N, E)`` unit rows, ``labels`` ``(N,)`` in ``[0, C)``. Classes without a face keep their
    centre. Returns the number of classes imprinted."""
    weight = getattr(metric, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise ValueError("init_heads 'fit' needs a margin loss with class centres (arcface or cosface)")
    classes, dim = weight.shape
    if embeddings.shape[1] != dim or len(embeddings) != len(labels):
        shapes = f"embeddings {embeddings.shape}, labels {labels.shape}"
        raise ValueError(f"{shapes} do not fit the class centres {tuple(weight.shape)}")
    sums = np.zeros((classes, dim), np.float64)
    np.add.at(sums, labels, embeddings.astype(np.float64))
    norms = np.linalg.norm(sums, axis=1)
    have = norms > 0
    weight[torch.from_numpy(np.flatnonzero(have))] = torch.from_numpy(
        (sums[have] / norms[have, None]).astype(np.float32)
    ).to(weight.dtype)
    return int(have.sum())


@torch.no_grad()
def fit_regression(proj: nn.Linear, embeddings: np.ndarray, teacher: np.ndarray, ridge: float = 1e-3) -> float:
    """Fit the affine map ``proj`` (unit embedding → teacher descriptor) by ridge least squares on matching rows
    of ``embeddings`` ``(N, E)`` and ``teacher`` ``(N, T)`` (``ridge`` × N on the weights, none on the bias).
    Returns the fit's loss as ``regression_distillation`` reports it (1 = the mean prediction)."""
    n, dim = embeddings.shape
    if teacher.shape[0] != n or proj.in_features != dim or proj.out_features != teacher.shape[1]:
        raise ValueError(f"embeddings {embeddings.shape} and teacher {teacher.shape} do not fit {proj}")
    x = np.hstack([embeddings.astype(np.float64), np.ones((n, 1))])
    y = teacher.astype(np.float64)
    penalty = np.full(dim + 1, ridge * n)
    penalty[-1] = 0.0  # the bias is not shrunk
    solution = np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ y)
    proj.weight.copy_(torch.from_numpy(solution[:-1].T.astype(np.float32)))
    assert proj.bias is not None
    proj.bias.copy_(torch.from_numpy(solution[-1].astype(np.float32)))
    residual = ((x @ solution - y) ** 2).sum(axis=1).mean()
    spread = ((y - y.mean(axis=0)) ** 2).sum(axis=1).mean()
    return float(residual / max(spread, 1e-12))
