"""The margin-softmax family shared by ArcFace and CosFace.

Wang et al., "NormFace: L2 Hypersphere Embedding for Face Verification", ACM MM 2017 (normalised
features and class centres, scaled cosine logits) — the base without a margin. ArcFace
(:mod:`training.losses.arcface`) and CosFace (:mod:`training.losses.cosface`) only change the
target-class logit through :meth:`MarginSoftmaxLoss.margin_logit`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MarginSoftmaxLoss(nn.Module):
    """Cross-entropy over scaled cosine logits, with a margin hook on the target class.

    The loss owns the class centres ``W`` of shape ``(num_classes, embedding_size)``; both the
    embeddings and the centres are L2-normalised in ``forward``, so ``cos θ_j = <x̂, Ŵ_j>`` and
    the loss is ``CE(s · [cos θ_1, …, margin_logit(cos θ_y), …, cos θ_C], y)``.

    With the default (identity) :meth:`margin_logit` this is the plain normalised softmax
    (NormFace). The cosines are computed in at least float32 with autocast off, because the
    margin maths (``acos`` near ±1) is not safe in half precision.

    Args:
        num_classes: number of identities ``C`` in the training set.
        embedding_size: dimension ``E`` of the embeddings.
        scale: the scale ``s`` applied to every logit (64 in ArcFace and CosFace).
    """

    def __init__(self, num_classes: int, embedding_size: int, scale: float = 64.0):
        super().__init__()
        if num_classes < 1 or embedding_size < 1:
            raise ValueError(f"need num_classes >= 1 and embedding_size >= 1, got {num_classes}, {embedding_size}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.num_classes = num_classes
        self.embedding_size = embedding_size
        self.scale = float(scale)
        # insightface's arcface_torch initialises its class centres with N(0, 0.01).
        self.weight = nn.Parameter(torch.normal(0.0, 0.01, (num_classes, embedding_size)))

    def margin_logit(self, cos_theta_target: torch.Tensor) -> torch.Tensor:
        """The target-class logit (before scaling) from its cosine: ``(B,) -> (B,)``.

        Subclasses override this; the base applies no margin.
        """
        return cos_theta_target

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine between each embedding and each class centre: ``(B, E) -> (B, C)``, in [-1, 1]."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"embeddings must be (B, {self.embedding_size}), got {tuple(embeddings.shape)}")
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = F.normalize(embeddings.to(dtype), dim=1)
            w = F.normalize(self.weight.to(dtype), dim=1)
            return F.linear(x, w).clamp(-1.0, 1.0)

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scaled logits with the margin on each sample's target class: ``(B, E), (B,) -> (B, C)``."""
        if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
            raise ValueError(f"labels must be (B,) with B = {embeddings.shape[0]}, got {tuple(labels.shape)}")
        cos_theta = self.cosine(embeddings)
        index = labels.long().unsqueeze(1)
        target = self.margin_logit(cos_theta.gather(1, index).squeeze(1))
        return self.scale * cos_theta.scatter(1, index, target.unsqueeze(1))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy: embeddings ``(B, E)``, integer labels ``(B,)`` in ``[0, C)`` -> scalar."""
        return F.cross_entropy(self.logits(embeddings, labels), labels.long())

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, embedding_size={self.embedding_size}, scale={self.scale}"
